"""Loading profiles, events, subscriptions and activity: read, stage with COPY, merge set-based."""
