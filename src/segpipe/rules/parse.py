"""Rule documents → validated `Node`, with every fault reported as `<json path>: <reason>` (InvalidInput)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from segpipe.errors import InvalidInput
from segpipe.rules.check import MAX_DEPTH, check_limits
from segpipe.rules.model import KINDS, TAG_PREFIX, Node, RuleNode

_ADAPTER: TypeAdapter[RuleNode] = TypeAdapter(Node)

_LITERAL_NOUNS = {
    "op": "operator",
    "aggregate": "aggregate",
    "subscription": "channel",
    "status": "subscription status",
}
_TYPE_MESSAGES = {
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "list_type": "expected a list",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "too_short": "needs at least one entry",
    "string_too_short": "must not be empty",
    "greater_than_equal": "must be ≥ 0",
}


def parse_rules(data: Any, path: str = "rules") -> RuleNode:
    """Validate a rule tree (contract §4); raises InvalidInput whose message starts with the JSON path.

    >>> parse_rules({"attribute": "country", "op": "eq", "value": "DE"}).op
    'eq'
    """
    _check_raw_depth(data, path)
    try:
        node = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown key (a typo such as `vaule`) is usually the cause of the other faults: name it first.
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise InvalidInput(_reason(error), where=_error_path(path, error)) from None
    check_limits(node, path)
    return node


def rule_faults(data: Any, path: str = "rules") -> list[str]:
    """Every fault of a rule tree as `<json path>: <reason>` (empty when `parse_rules` accepts it): for reports
    that list all faults at once. The first is the one `parse_rules` raises."""
    try:
        parse_rules(data, path)
    except InvalidInput as exc:
        first = str(exc)
    else:
        return []
    try:
        _ADAPTER.validate_python(data)
    except (ValidationError, RecursionError) as exc:
        errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else []
        more = [f"{_error_path(path, e)}: {_reason(e)}" for e in errors]
        return list(dict.fromkeys([first, *more]))
    return [first]


def json_path(root: str, loc: tuple[str | int, ...]) -> str:
    """`("node:all", "all", 2, "node:attribute", "op")` under `rules` → `rules.all[2].op`."""
    text = root
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not part.startswith(TAG_PREFIX):
            text += f".{part}"
    return text


def _error_path(root: str, error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    if error["type"] in {"extra_forbidden", "missing"} and loc:
        loc = loc[:-1]
    return json_path(root, loc)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return repr(value)


def _reason(error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    field = loc[-1] if loc else None
    if kind == "extra_forbidden":
        return f"unknown key {_show(field)}"
    if kind == "missing":
        return f"missing key {_show(field)}"
    if kind == "literal_error" and field in _LITERAL_NOUNS:
        valid = error.get("ctx", {}).get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"unknown {_LITERAL_NOUNS[field]} {_show(error['input'])}" + (f"; valid: {valid}" if valid else "")
    if kind == "node_kind":
        return _node_kind_reason(error["input"])
    if kind == "string_pattern_mismatch" and field == "segment":
        return f"invalid segment key {_show(error['input'])}"
    return _TYPE_MESSAGES.get(kind) or error["msg"][:1].lower() + error["msg"][1:]


def _node_kind_reason(value: Any) -> str:
    expected = ", ".join(KINDS)
    if not isinstance(value, dict):
        return f"expected a rule node (a mapping with one of {expected}), got {_show(value)}"
    found = [key for key in KINDS if key in value]
    if found:
        return f"a node has exactly one of {expected}; found {', '.join(found)}"
    keys = ", ".join(str(key) for key in value) or "none"
    return f"expected one of {expected} (found keys: {keys})"


def _check_raw_depth(data: Any, path: str) -> None:
    """Refuse deep nesting before pydantic recurses into it (a hostile document could be thousands deep)."""
    stack: list[tuple[Any, str, int]] = [(data, path, 1)]
    while stack:
        value, where, depth = stack.pop()
        if not isinstance(value, dict):
            continue
        if depth > MAX_DEPTH:
            raise InvalidInput(f"more than {MAX_DEPTH} nodes on a root-to-leaf path", where=where)
        for key in ("all", "any"):
            if isinstance(value.get(key), list):
                stack.extend((child, f"{where}.{key}[{i}]", depth + 1) for i, child in enumerate(value[key]))
        if "not" in value:
            stack.append((value["not"], f"{where}.not", depth + 1))


def rules_json_schema() -> str:
    """The JSON Schema of a rule node (docs/segment-rules.schema.json is this text; a test keeps it current).

    Structure only: value-versus-operator checks, depth and leaf limits are enforced by `parse_rules`.
    """
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://segpipe.dev/schemas/segment-rules.schema.json",
        "title": "segpipe segment rules",
        "description": "One rule node (contract §4). Generated from segpipe.rules.model; do not edit by hand.",
        **_ADAPTER.json_schema(by_alias=True),
    }
    schema["$defs"]["Any"] = schema["$defs"].pop("Any_")  # the class is Any_ only to spare typing.Any
    return json.dumps(schema, indent=2, ensure_ascii=False).replace("#/$defs/Any_", "#/$defs/Any") + "\n"
