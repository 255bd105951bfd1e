"""Prefect flows: composition of tasks only (order, fan-out, parameters, run names)."""
