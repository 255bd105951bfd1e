"""Where invalid rows go: without `--skip-invalid` the first one aborts the load; with it, a JSON Lines file.

Each line of the reject file is `{"row": N, "reason": "...", "record": ...}`: `record` is the row as read (the
JSON object, or the CSV row as {column: cell}, or the Parquet row), or the raw line text when it is not JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from segpipe.errors import InvalidInput
from segpipe.load.readers import Source

SUFFIX = ".rejects.jsonl"


def default_rejects_path(source: Source) -> Path:
    """Beside the input (`people.csv` → `people.csv.rejects.jsonl`); for stdin, in the current directory."""
    if source.path is None:
        return Path("stdin" + SUFFIX)
    return source.path.with_name(source.path.name + SUFFIX)


def _encode(entry: dict[str, Any]) -> bytes:
    text = json.dumps(entry, ensure_ascii=False, default=str)
    try:
        # surrogateescape writes the original bytes of a row that was not valid UTF-8 back as they were.
        return (text + "\n").encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return (json.dumps(entry, default=str) + "\n").encode()


class Rejects:
    """Collects invalid rows. `path=None` means abort at the first one with `file:row: reason` (exit 2).

    The reject file is (re)written on every load that uses it, empty when no row was rejected, and removed
    again when the load fails (then nothing was written to the database either).
    """

    def __init__(self, source: Source, path: Path | None) -> None:
        self.source = source
        self.path = path
        self.count = 0
        self._handle: BinaryIO | None = None

    def __enter__(self) -> Rejects:
        if self.path is not None:
            try:
                self._handle = self.path.open("wb")
            except OSError as exc:
                raise InvalidInput(
                    f"cannot write the reject file: {exc.strerror or exc}", where=str(self.path)
                ) from None
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._handle is None:
            return
        self._handle.close()
        if exc is not None and self.path is not None:
            self.path.unlink(missing_ok=True)

    @property
    def collecting(self) -> bool:
        """True with `--skip-invalid` (rows go to the file); False when the first invalid row aborts the load."""
        return self._handle is not None

    def add(self, row: int, reason: str, record: Any) -> None:
        if self._handle is None:
            raise InvalidInput(reason, where=f"{self.source.name}:{row}")
        self._handle.write(_encode({"row": row, "reason": reason, "record": record}))
        self.count += 1
