"""The catalog's web application (Starlette): routes, error pages and the template environment.

Read-only by construction: the engine it is given opens read-only transactions (server.py), every endpoint only
reads, and every value reaches Postgres as a bound parameter (SQLAlchemy Core). Escaping is Jinja2's autoescape;
the Content-Security-Policy forbids scripts altogether, so the pages work, and are safe, without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from segpipe.catalog import campaigns, details, index
from segpipe.catalog.options import CatalogOptions
from segpipe.catalog.usage_cache import UsageCache
from segpipe.errors import InvalidInput, NotFound
from segpipe.lifecycle.catalog import DEFAULT_SORT
from segpipe.lifecycle.trend import TrendPoint, member_count_trend, render_trend
from segpipe.store.segments import require_segment

CHART_POINTS = 1000
"""The chart shows at most the last this many points of the trend."""
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def when(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def signed(value: int | None) -> str:
    return "—" if value is None else "±0" if value == 0 else f"{value:+,}"


def template_environment() -> Environment:
    """Templates shipped in the package; autoescape on for every template (and for strings rendered directly)."""
    env = Environment(
        loader=PackageLoader("segpipe.catalog", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(when=when, number=number, signed=signed)
    return env


@lru_cache(maxsize=256)
def trend_svg(points: tuple[TrendPoint, ...], title: str) -> bytes:
    """The chart of `segment trend --output X.svg`, kept while its points are unchanged (drawing takes ~0.1 s)."""
    return render_trend(points, title, "svg")


def create_app(engine: Engine, options: CatalogOptions | None = None) -> Starlette:
    """The catalog over `engine` (give it a read-only one: `server.catalog_engine`)."""
    options = options or CatalogOptions()
    templates = Jinja2Templates(env=template_environment())
    usage = UsageCache()

    def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
        context = {"options": options, **context}
        return templates.TemplateResponse(request, name, context, status_code=status_code, headers=HEADERS)

    def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
        return page(request, "error.html", {"title": title, "message": message}, status_code)

    routes = [
        Route("/", lambda request: RedirectResponse("/segments", status_code=307)),
        Route("/segments", _index_endpoint(engine, page)),
        Route("/segments/{key}", _segment_endpoint(engine, page, options, usage)),
        Route("/segments/{key}/trend.svg", _trend_endpoint(engine)),
        Route("/campaigns/{key}", _campaign_endpoint(engine, page, usage)),
        Route("/healthz", _health_endpoint(engine)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_page(request, 404, "Not found", str(exc) if isinstance(exc, NotFound) else "no such page")

    async def invalid(request: Request, exc: Exception) -> Response:
        return error_page(request, 400, "Invalid request", str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        return error_page(request, code, "Not found" if code == 404 else "Error", str(getattr(exc, "detail", "")))

    handlers: dict[Any, Any] = {NotFound: not_found, InvalidInput: invalid, HTTPException: http_error}
    return Starlette(routes=routes, exception_handlers=handlers)


Page = Callable[..., Response]


def _index_endpoint(engine: Engine, page: Page) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        params = request.query_params
        status, search = params.get("status") or "active", params.get("search") or None
        sort = params.get("sort") or DEFAULT_SORT
        with engine.connect() as conn:
            rows = index.index_rows(conn, status, search, sort)
        field, descending = index.parse_sort(sort)
        context = {"rows": rows, "status": status, "search": search or "", "sort": sort, "statuses": index.STATUSES}
        return page(request, "index.html", {**context, "sort_field": field, "descending": descending})

    return endpoint


def _segment_endpoint(
    engine: Engine, page: Page, options: CatalogOptions, usage: UsageCache
) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        with engine.connect() as conn:
            data = details.segment_page(conn, request.path_params["key"], options.show_members, usage.get(conn))
        return page(request, "segment.html", {"page": data, "s": data.segment})

    return endpoint


def _trend_endpoint(engine: Engine) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        with engine.connect() as conn:
            segment = require_segment(conn, request.path_params["key"])
            points = member_count_trend(conn, segment.id, last=CHART_POINTS)
        svg = trend_svg(tuple(points), f"{segment.name} ({segment.key}): members")
        return Response(svg, media_type="image/svg+xml", headers=HEADERS)

    return endpoint


def _campaign_endpoint(engine: Engine, page: Page, usage: UsageCache) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        with engine.connect() as conn:
            data = campaigns.campaign_page(conn, request.path_params["key"], usage.get(conn))
        return page(request, "campaign.html", {"page": data, "c": data.campaign})

    return endpoint


def _health_endpoint(engine: Engine) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported, not raised
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    return endpoint
