"""Refresh engine: dependency order, membership by diff, run history, locks, audience snapshots."""
