"""Repositories: (conn, ...) -> typed rows, one module per table group, no business rules."""
