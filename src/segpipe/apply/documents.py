"""The declarative objects of contract §3 as pydantic models, and turning a read document into one.

Strict on purpose: unknown top-level fields are refused (a typo such as `exlude:` must not silently widen an
audience), keys and names must be strings, enumerations are exact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from segpipe.apply.files import RawDocument
from segpipe.rules.model import SEGMENT_KEY_RE

CONSUMER_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def _segment_key(value: str) -> str:
    if not SEGMENT_KEY_RE.fullmatch(value):
        raise ValueError(f"invalid segment key {value!r}: must match {SEGMENT_KEY_RE.pattern}")
    return value


def _consumer_key(value: str) -> str:
    if not CONSUMER_KEY_RE.fullmatch(value):
        raise ValueError(f"invalid key {value!r}: must match {CONSUMER_KEY_RE.pattern}")
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError(f"{value!r} must not start or end with whitespace")
    return value


SegmentKey = Annotated[str, AfterValidator(_segment_key)]
ConsumerKey = Annotated[str, AfterValidator(_consumer_key)]
Name = Annotated[str, AfterValidator(_name)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _share(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1 (a share of members: 0.2 = 20%), got {value}")
    return value


class GuardDoc(_Document):
    """`guard: {max_drop: F}`: the share of members a refresh may remove while the segment is used live."""

    max_drop: Annotated[float, AfterValidator(_share)]


class SegmentDoc(_Document):
    kind: Literal["Segment"]
    key: SegmentKey
    name: Name
    description: str | None = None
    rules: Any
    keep_active: bool = False
    """Exempt from classify's automatic inactivation (docs/lifecycle.md)."""
    guard: GuardDoc | None = None


class CampaignDoc(_Document):
    kind: Literal["Campaign"]
    key: ConsumerKey
    name: Name | None = None
    description: str | None = None
    channel: Literal["email", "sms", "push"] = "email"
    status: Literal["draft", "scheduled", "sending", "sent", "cancelled"] = "draft"
    include: list[str] = []
    exclude: list[str] = []
    test_list: str | None = None
    test_lists: list[str] = []
    """Test lists attached from the campaign's side (a test list's own `campaign`/`used_by` works too)."""


class JourneyDoc(_Document):
    kind: Literal["Journey"]
    key: ConsumerKey
    name: Name | None = None
    description: str | None = None
    status: Literal["draft", "live", "paused", "stopped"] = "draft"
    segments: list[str] = []


class TestListDoc(_Document):
    __test__ = False
    kind: Literal["TestList"]
    key: ConsumerKey
    name: Name | None = None
    description: str | None = None
    segment: str
    campaign: str | None = None
    used_by: list[str] = []


class MessageDoc(_Document):
    kind: Literal["Message"]
    key: ConsumerKey
    name: Name | None = None
    description: str | None = None
    segments: list[str] = []
    used_by: list[str] = []


class ReportDoc(_Document):
    kind: Literal["Report"]
    key: ConsumerKey
    name: Name | None = None
    description: str | None = None
    segments: list[str] = []


ConsumerDoc = CampaignDoc | JourneyDoc | TestListDoc | MessageDoc | ReportDoc
Document = SegmentDoc | ConsumerDoc

MODELS: dict[str, type[_Document]] = {
    "Segment": SegmentDoc,
    "Campaign": CampaignDoc,
    "Journey": JourneyDoc,
    "TestList": TestListDoc,
    "Message": MessageDoc,
    "Report": ReportDoc,
}
CONSUMER_KINDS: dict[str, str] = {
    "Campaign": "campaign",
    "Journey": "journey",
    "TestList": "test_list",
    "Message": "message",
    "Report": "report",
}


def segment_roles(doc: ConsumerDoc) -> list[tuple[str, str, str]]:
    """The (JSON path, segment key, role) of each segment a consumer references; role include/exclude/uses."""
    if isinstance(doc, CampaignDoc):
        return [(f"include[{i}]", k, "include") for i, k in enumerate(doc.include)] + [
            (f"exclude[{i}]", k, "exclude") for i, k in enumerate(doc.exclude)
        ]
    if isinstance(doc, TestListDoc):
        return [("segment", doc.segment, "uses")]
    return [(f"segments[{i}]", k, "uses") for i, k in enumerate(doc.segments)]


def link_targets(doc: ConsumerDoc) -> list[tuple[str, str, tuple[str, ...]]]:
    """The (JSON path, key, kinds it may name) of each object a consumer is attached to (`campaign`, `used_by`)."""
    if isinstance(doc, TestListDoc):
        named = [("campaign", doc.campaign)] if doc.campaign else []
        named += [(f"used_by[{i}]", k) for i, k in enumerate(doc.used_by)]
        return [(path, key, ("campaign",)) for path, key in named]
    if isinstance(doc, MessageDoc):
        return [(f"used_by[{i}]", k, ("campaign", "journey")) for i, k in enumerate(doc.used_by)]
    return []


def attached_test_lists(doc: ConsumerDoc) -> list[tuple[str, str]]:
    """The (JSON path, key) of each test list a campaign names; read back from its spec by the live-use rule."""
    if not isinstance(doc, CampaignDoc):
        return []
    named = [("test_list", doc.test_list)] if doc.test_list else []
    return named + [(f"test_lists[{i}]", k) for i, k in enumerate(doc.test_lists)]


@dataclass
class Candidate:
    """A document on its way through the plan: the parsed model, or the first fault found in it."""

    source: str
    kind: str | None
    key: str | None
    doc: Document | None = None
    fault: str | None = None
    exit_code: int = 2
    rules: Any = None
    """The parsed rule tree of a Segment (None until parsed, or when its rules are invalid)."""
    refs: frozenset[str] = frozenset()
    """The segment keys a Segment's rules reference directly."""
    segment_roles: list[tuple[str, str]] = field(default_factory=list)
    """A consumer's resolved (segment key, role) references."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """A consumer's resolved (target kind, target key) links."""

    @property
    def label(self) -> str:
        if self.kind in MODELS:
            return f"{self.source} ({self.kind} {self.key})" if self.key else f"{self.source} ({self.kind})"
        return self.source

    more_faults: list[str] = field(default_factory=list)
    """Faults found after the first: a report lists them all; the first decides the exit code."""

    @property
    def faults(self) -> list[str]:
        return [self.fault, *self.more_faults] if self.fault is not None else []

    def refuse(self, reason: str, exit_code: int = 2) -> None:
        """Record a fault; later checks skip a document that has one, so its first fault leads."""
        if self.fault is None:
            self.fault, self.exit_code = reason, exit_code
        elif reason not in self.faults:
            self.more_faults.append(reason)


def parse_document(raw: RawDocument) -> Candidate:
    """Validate one read document against the model of its kind."""
    if raw.error is not None:
        return Candidate(raw.source, None, None, fault=raw.error)
    data = raw.data
    if not isinstance(data, dict):
        return Candidate(raw.source, None, None, fault=f"a document must be a mapping, got {_type_name(data)}")
    kind, key = data.get("kind"), data.get("key")
    storable = isinstance(key, str) and "\x00" not in key  # a NUL key is refused below; never looked up
    candidate = Candidate(raw.source, kind if isinstance(kind, str) else None, key if storable else None)
    if kind is None:
        candidate.refuse(f"missing 'kind' (one of {', '.join(MODELS)})")
    elif not isinstance(kind, str) or kind not in MODELS:
        candidate.refuse(f"unknown kind {kind!r} (expected one of {', '.join(MODELS)})")
    elif (bad := _non_finite(data)) is not None:
        candidate.refuse(f"{bad}: not a finite number")
    elif (bad := _with_nul(data)) is not None:
        candidate.refuse(f"{bad}: contains a NUL character (\\u0000), which Postgres text cannot store")
    else:
        try:
            candidate.doc = MODELS[kind].model_validate(_with_defaults(data))  # type: ignore[assignment]
        except ValidationError as exc:
            for message in describe_all(exc, MODELS[kind]):
                candidate.refuse(message)
    return candidate


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A Segment without a `name` is named after its key (the contract does not make `name` required)."""
    if data["kind"] == "Segment" and "name" not in data and isinstance(data.get("key"), str):
        return {**data, "name": data["key"]}
    return data


def describe_errors(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first validation error as one line; `(+N more)` when there are others."""
    errors = exc.errors(include_url=False)
    message = _describe(errors[0], model)
    return f"{message} (+{len(errors) - 1} more)" if len(errors) > 1 else message


def describe_all(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """Every validation error, one line each."""
    return list(dict.fromkeys(_describe(error, model) for error in exc.errors(include_url=False)))


def _describe(error: Any, model: type[BaseModel]) -> str:
    loc = _path(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field '{loc}' (allowed: {', '.join(model.model_fields)})"
    if kind == "missing":
        return f"missing required field '{loc}'"
    if kind == "literal_error":
        return f"{loc}: must be {error['ctx']['expected']}, got {error['input']!r}"
    if kind == "value_error":
        return f"{loc}: {error['ctx']['error']}"
    message = error["msg"].replace("Input should be", "must be")
    return f"{loc}: {message}, got {_type_name(error['input'])}"


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinity (YAML `.inf`), which JSON and Postgres jsonb cannot hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        sub = f"{path}[{k}]" if isinstance(k, int) else (f"{path}.{k}" if path else str(k))
        if (found := _non_finite(v, sub)) is not None:
            return found
    return None


def _with_nul(value: Any, path: str = "") -> str | None:
    """The path of the first key or string holding a NUL character, which Postgres text and jsonb refuse."""
    if isinstance(value, str):
        return (path or "value") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        sub = f"{path}[{k}]" if isinstance(k, int) else (f"{path}.{k}" if path else str(k))
        if isinstance(k, str) and "\x00" in k:
            return sub
        if (found := _with_nul(v, sub)) is not None:
            return found
    return None
