"""The CLI's progress bar: the domain's Progress protocol drawn by Rich on stderr, only on a terminal."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segpipe.cli.output import err_console
from segpipe.progress import NullProgress
from segpipe.progress import Progress as ProgressSink


class RichProgress:
    """A transient Rich bar labelled `label`; a step's description is shown through `detail`
    (a format string with `{label}` and `{detail}`)."""

    def __init__(self, label: str, detail: str = "{label} {detail}") -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._bar = Progress(*columns, console=err_console, transient=True)
        self._label = label
        self._detail = detail
        self._task: Any = None

    def start(self, total: int | None, description: str = "") -> None:
        self._bar.start()
        self._task = self._bar.add_task(description or self._label, total=total)

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        if description:
            text = self._detail.format(label=self._label, detail=description)
            self._bar.update(self._task, advance=steps, description=text)
        else:
            self._bar.update(self._task, advance=steps)

    def finish(self) -> None:
        self._bar.stop()


def progress_for(as_json: bool, label: str = "refresh", detail: str = "{label} {detail}") -> ProgressSink:
    """A Rich bar when stderr is a terminal and the output is not JSON; else a sink that reports to nobody."""
    return RichProgress(label, detail) if err_console.is_terminal and not as_json else NullProgress()
