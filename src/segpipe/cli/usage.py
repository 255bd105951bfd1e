"""Usage errors (unknown command or option, missing argument, bad option value) reported like every other error.

Click prints them as a boxed, multi-line usage message; segpipe's contract is one `error: ...` line on stderr
(and, with `--json`, a JSON object with `error` on stdout), exit code 2. The root command catches them for every
subcommand, since subcommands are parsed while the root command is invoked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Context as ClickContext

from segpipe.cli.output import fail

_ARGV = "segpipe.argv"


@contextmanager
def one_line_errors(argv: Sequence[str]) -> Iterator[None]:
    as_json = "--json" in argv
    try:
        yield
    except typer.TyperException as exc:
        # Typer vendors Click: its ClickException, UsageError, ... derive from TyperException.
        if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
            raise
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "segpipe"
        fail(f"{where}: {exc.format_message()} (see '{where} --help')", getattr(exc, "exit_code", 2), as_json)
    except typer.Abort:
        fail("aborted", 1, as_json)


class SegpipeGroup(TyperGroup):
    """The `segpipe` root command, with one-line usage errors."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: ClickContext | None = None, **extra: Any
    ) -> ClickContext:
        argv = list(args)
        with one_line_errors(argv):
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.meta[_ARGV] = argv
        return ctx

    def invoke(self, ctx: ClickContext) -> Any:
        with one_line_errors(ctx.meta.get(_ARGV, ())):
            return super().invoke(ctx)
