"""The unified diffs a plan shows: a segment's definition, a consumer's spec, as YAML text before → after."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from segpipe.lifecycle.history import definition_diff

__all__ = ["definition_diff", "spec_diff"]


def spec_diff(before: dict[str, Any], after: dict[str, Any], label: str) -> str:
    """A consumer's stored spec against the new one, fields in the new document's order (jsonb reorders keys)."""
    order = [*after, *(key for key in before if key not in after)]
    return "".join(
        difflib.unified_diff(
            _yaml({k: before[k] for k in order if k in before}).splitlines(keepends=True),
            _yaml(after).splitlines(keepends=True),
            fromfile=f"{label} (stored)",
            tofile=f"{label} (new)",
        )
    )


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
