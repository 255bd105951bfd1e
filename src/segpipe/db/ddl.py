"""`CREATE … TABLE name AS <select>` as a SQLAlchemy construct, so the select keeps its bound parameters."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement


class CreateTableAs(Executable, ClauseElement):
    """`CREATE UNLOGGED TABLE name AS …` (a run's shared scans) or `CREATE TEMP TABLE name ON COMMIT DROP AS …`
    (a transaction's scratch table)."""

    inherit_cache = False

    def __init__(self, table: sa.Table, select: sa.SelectBase, kind: Literal["unlogged", "temp"]) -> None:
        self.table = table
        self.select = select
        self.kind = kind


@compiles(CreateTableAs)
def _compile_create_table_as(element: CreateTableAs, compiler: Any, **kw: Any) -> str:
    name = compiler.preparer.format_table(element.table)
    select = compiler.process(element.select, **kw)
    if element.kind == "temp":
        return f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}"
    return f"CREATE UNLOGGED TABLE {name} AS {select}"
