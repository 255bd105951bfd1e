"""Registers every command module on the app; a module exposes `register(app)`."""

from __future__ import annotations

import importlib

import typer

# Each name is a module of segpipe.cli with a `register(app: typer.Typer)` function.
MODULES: tuple[str, ...] = (
    "apply",
    "db",
    "refresh",
    "members",
    "load",
    "check",
    "explain",
    "segments",
    "classify",
    "deletion",
    "permissions",
    "presend",
    "serve",
    "alerts",
    "catalog",
    "quickstart",
)


def register(app: typer.Typer) -> None:
    for name in MODULES:
        importlib.import_module(f"segpipe.cli.{name}").register(app)
