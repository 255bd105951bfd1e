"""A progress sink for flows run in this process (the CLI's Rich bar); flows run elsewhere report to nobody.

Flow parameters travel through the Prefect API, so a sink cannot be one: the CLI installs it here around the
flow call instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from segpipe.progress import NullProgress, Progress

_sink: Progress = NullProgress()


def current() -> Progress:
    return _sink


@contextmanager
def reporting_to(progress: Progress) -> Iterator[None]:
    global _sink
    previous, _sink = _sink, progress
    try:
        yield
    finally:
        _sink = previous
