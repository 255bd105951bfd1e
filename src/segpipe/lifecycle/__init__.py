"""Segment lifecycle: usage, inactivity, archive, clone, rename, protected delete."""
