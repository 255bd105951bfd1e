"""Audited bulk profile deletion."""
