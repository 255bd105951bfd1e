"""Segment lifecycle (docs/lifecycle.md).

usage.py (who uses what, live use) · classify.py (inactivity) · schedule.py (scheduled activation/deactivation) ·
operations.py (archive, unarchive, resume, clone, rename, delete + guards) · bulk.py (per-key transactions) ·
status.py (status changes and the lifecycle log) · catalog.py (list and show) · trend.py (member-count trend).
"""
