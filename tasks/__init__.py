"""Thin Prefect tasks: each opens a connection and calls one segpipe function."""
