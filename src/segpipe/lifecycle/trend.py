"""The member-count trend of a segment: its points (segment_counts), a sparkline, a chart, a Markdown table.

One point per successful refresh that computed the segment, or per count correction (source says which).
matplotlib is imported only when a chart is drawn, with the Agg backend (no display needed).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import InvalidInput

SPARK_BARS = "▁▂▃▄▅▆▇█"
CHART_FORMATS = (".png", ".svg")
_c = t.segment_counts


@dataclass(frozen=True)
class TrendPoint:
    at: datetime
    member_count: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "member_count": self.member_count, "source": self.source}


def member_count_trend(
    conn: Connection, segment_id: int, *, since: datetime | None = None, last: int | None = None
) -> list[TrendPoint]:
    """The segment's points in time order: all of them, those at or after `since`, or the `last` N."""
    query = sa.select(_c.c.at, _c.c.member_count, _c.c.source).where(_c.c.segment_id == segment_id)
    if since is not None:
        query = query.where(_c.c.at >= since)
    query = query.order_by(_c.c.at.desc(), _c.c.member_count.desc())
    if last is not None:
        query = query.limit(last)
    return [TrendPoint(*row) for row in reversed(conn.execute(query).all())]


def sparkline(values: Sequence[int]) -> str:
    """`▁▂▃▅▇`: one bar per value, scaled between the smallest and the largest (flat when all are equal)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK_BARS[len(SPARK_BARS) // 2 - 1] * len(values)
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[round((value - low) / (high - low) * top)] for value in values)


def chart_format(path: Path) -> str:
    """`png` or `svg` from the file's extension; anything else is invalid input (exit 2)."""
    suffix = path.suffix.lower()
    if suffix not in CHART_FORMATS:
        raise InvalidInput(f"'{path}': the chart is written as .png or .svg, got '{suffix or 'no extension'}'")
    return suffix[1:]


def render_trend(points: Sequence[TrendPoint], title: str, fmt: str = "svg") -> bytes:
    """The member-count chart as PNG or SVG bytes: what `segment trend --output` writes and the catalog shows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(8, 3.5), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    times: Any = [p.at for p in points]  # matplotlib's stubs do not list datetimes; its date converter takes them
    axes.plot(times, [p.member_count for p in points], marker="o", markersize=3, linewidth=1.5)
    # A name is text, never mathtext: `$` in a segment name must not be parsed (or fail to parse).
    axes.set_title(title, parse_math=False)
    axes.set_ylabel("members")
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    if points:
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        axes.text(0.5, 0.5, "no refresh yet", ha="center", va="center", transform=axes.transAxes)
    axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()


def draw_trend(points: Sequence[TrendPoint], path: Path, title: str) -> Path:
    """Draw member count over time to a .png or .svg file (written whole: a temporary file, then renamed)."""
    fmt = chart_format(path)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(render_trend(points, title, fmt))
    partial.replace(path)
    return path
