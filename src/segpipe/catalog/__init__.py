"""The segment catalog: server-rendered, read-only web pages over segpipe's state (docs/catalog.md).

`/segments` (the index), `/segments/{key}` (one segment), `/campaigns/{key}` and `/healthz`. Pages read only
the small tables (segments, segment_refreshes, segment_counts, usage, history); they never scan events or
memberships. Starlette, Jinja2 and uvicorn are imported only by `app` and `server`, when the catalog runs.
"""
