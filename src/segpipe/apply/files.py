"""Reading `apply` inputs: YAML files (multi-document), JSON files (an object or a list), folders of them.

YAML is read with the YAML 1.2 core schema, not PyYAML's YAML 1.1 default: `NO` (Norway), `on`, `yes` stay
strings, `2026-03-01T00:00:00Z` stays the string the rule language expects, `010` is ten. Duplicate mapping
keys are refused in YAML and JSON alike (PyYAML and `json` silently keep the last one).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
TOO_DEEP = "nested too deeply (a rule tree has at most 32 nodes on a root-to-leaf path)"
"""Why a document nested past the parser's recursion limit (far past the rule depth limit) is refused unread."""


@dataclass(frozen=True)
class RawDocument:
    """One document as read: `data` is the parsed value, or `error` says why the file could not be read."""

    source: str
    data: Any = None
    error: str | None = None


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and refusal of duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    return sign * int(digits, 10)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    return math.nan if text == ".nan" else float(text)


_Loader.yaml_implicit_resolvers = {}
_RESOLVERS: tuple[tuple[str, str, str], ...] = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$", "-+.0123456789"),
    ("float", r"^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$", "-+."),
    ("merge", r"^(?:<<)$", "<"),
)
for _tag, _pattern, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), [*_first])
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def read_documents(paths: Sequence[str]) -> list[RawDocument]:
    """Every document of every file named (folders: their .yaml/.yml/.json files, recursively, sorted)."""
    documents: list[RawDocument] = []
    seen: set[Path] = set()
    for arg in paths:
        try:
            files = _expand(arg)
        except _Unreadable as exc:
            documents.append(RawDocument(arg, error=str(exc)))
            continue
        for display, path in files:
            if path is not None:
                resolved = path.resolve()
                if resolved in seen:
                    continue
                seen.add(resolved)
            documents.extend(_read_file(display, path))
    return documents


class _Unreadable(Exception):
    pass


def _expand(arg: str) -> list[tuple[str, Path | None]]:
    if arg == STDIN:
        return [("<stdin>", None)]
    path = Path(arg)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p.relative_to(path)))
        if not files:
            raise _Unreadable(f"no .yaml, .yml or .json files in folder {arg}")
        return [(str(p), p) for p in files]
    if not path.exists():
        raise _Unreadable("no such file or folder")
    if path.suffix.lower() not in SUFFIXES:
        raise _Unreadable("not a .yaml, .yml or .json file")
    return [(arg, path)]


def _wanted(relative: Path) -> bool:
    return relative.suffix.lower() in SUFFIXES and not any(part.startswith(".") for part in relative.parts)


def _read_file(display: str, path: Path | None) -> Iterator[RawDocument]:
    try:
        text = sys.stdin.read() if path is None else path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield RawDocument(display, error=f"cannot read: {exc}")
        return
    if path is not None and path.suffix.lower() == ".json":
        yield from _json_documents(display, text)
    else:
        yield from _yaml_documents(display, text)


def _yaml_documents(display: str, text: str) -> Iterator[RawDocument]:
    """Each YAML document; a document that is a list gives its items, as a JSON list does (YAML ⊇ JSON)."""
    number = 0
    try:
        for data in yaml.load_all(text, Loader=_Loader):
            for item in data if isinstance(data, list) else [data]:
                number += 1
                if item is not None:
                    yield RawDocument(f"{display}#{number}", item)
    except yaml.YAMLError as exc:
        yield RawDocument(f"{display}#{number + 1}", error=_yaml_error(display, exc))
    except RecursionError:
        yield RawDocument(f"{display}#{number + 1}", error=f"invalid YAML in {display}: {TOO_DEEP}")


def _yaml_error(display: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark else display
    problem = getattr(exc, "problem", None) or str(exc)
    return f"invalid YAML at {where}: {problem}"


def _refuse_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_documents(display: str, text: str) -> Iterator[RawDocument]:
    try:
        data = json.loads(text, object_pairs_hook=_refuse_pairs, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        yield RawDocument(display, error=f"invalid JSON at {display}:{exc.lineno}:{exc.colno}: {exc.msg}")
        return
    except RecursionError:
        yield RawDocument(display, error=f"invalid JSON in {display}: {TOO_DEEP}")
        return
    except ValueError as exc:
        yield RawDocument(display, error=f"invalid JSON in {display}: {exc}")
        return
    if isinstance(data, dict):
        yield RawDocument(f"{display}#1", data)
    elif isinstance(data, list):
        for number, item in enumerate(data, start=1):
            yield RawDocument(f"{display}#{number}", item)
    else:
        yield RawDocument(display, error="a JSON file must hold an object or a list of objects")
