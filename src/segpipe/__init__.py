"""segpipe: the segment-lifecycle pipeline over Postgres."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Public API, imported on first use so that `import segpipe` stays cheap: name -> module defining it.
_LAZY = {"identify": "segpipe.tracking", "track": "segpipe.tracking", "is_member": "segpipe.live_membership"}
__all__ = ["identify", "is_member", "track"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segpipe' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
