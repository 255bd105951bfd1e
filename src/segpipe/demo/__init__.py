"""The quickstart's demo data: realistic profiles, events, subscriptions and activity, plus demo objects."""
