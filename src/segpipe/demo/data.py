"""Generate the demo data set as files (vectorized with pyarrow/numpy), ready for the normal loaders.

Times are relative to `now`, so the demo segments' windows ("in the last 30 days") always have members.
Event ids are deterministic, so running the quickstart again loads no duplicate events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

COUNTRIES = np.array(["DE", "FR", "US", "GB", "NL", "ES"])
COUNTRY_WEIGHTS = np.array([0.3, 0.15, 0.25, 0.12, 0.1, 0.08])
PLANS = np.array(["free", "pro", "enterprise"])
DOMAINS = np.array(["gmail.com", "example.com", "web.de", "outlook.com"])
EVENTS = np.array(["page_view", "login", "add_to_cart", "purchase", "email_open"])
EVENT_WEIGHTS = np.array([0.45, 0.2, 0.15, 0.1, 0.1])
CAMPAIGNS = np.array(["spring-sale", "welcome-series", "black-friday"])
KINDS = np.array(["sent", "delivered", "open", "click", "bounce", "unsubscribe"])
FIRST_DEMO_ID = "demo-000001"
KIND_WEIGHTS = np.array([0.4, 0.35, 0.15, 0.06, 0.03, 0.01])


@dataclass(frozen=True)
class DemoFiles:
    profiles: Path
    events: Path
    subscriptions: Path
    activity: Path

    def in_load_order(self) -> list[tuple[str, Path]]:
        return [
            ("profiles", self.profiles),
            ("events", self.events),
            ("subscriptions", self.subscriptions),
            ("activity", self.activity),
        ]


def _iso(now: datetime, seconds_ago: np.ndarray) -> np.ndarray:
    base = np.datetime64(now.replace(tzinfo=None), "s")
    stamps = base - seconds_ago.astype("timedelta64[s]")
    return np.char.add(np.datetime_as_string(stamps, unit="s").astype(str), "Z")


def _profiles(rng: np.random.Generator, ids: np.ndarray, now: datetime) -> pa.Table:
    n = len(ids)
    country = rng.choice(COUNTRIES, n, p=COUNTRY_WEIGHTS)
    plan = rng.choice(PLANS, n, p=[0.7, 0.25, 0.05])
    ltv = np.round(rng.gamma(2.0, 150.0, n), 2)
    attributes = [
        json.dumps({"country": c, "plan": p, "lifetime_value": float(v), "vip": bool(v > 800)})
        for c, p, v in zip(country, plan, ltv, strict=True)
    ]
    email = np.char.add(np.char.add(ids, "@"), rng.choice(DOMAINS, n))
    created = _iso(now, rng.integers(0, 400 * 86400, n))
    return pa.table({"external_id": ids, "email": email, "created_at": created, "attributes": attributes})


def _events(rng: np.random.Generator, ids: np.ndarray, now: datetime, per_profile: int) -> pa.Table:
    n = len(ids) * per_profile
    activity = rng.permutation(1.0 / np.arange(1, len(ids) + 1) ** 0.9)
    who = rng.choice(ids, n, p=activity / activity.sum())
    name = rng.choice(EVENTS, n, p=EVENT_WEIGHTS)
    when = _iso(now, rng.integers(60, 90 * 86400, n))
    amount = np.round(rng.gamma(2.0, 40.0, n), 2)
    properties = [
        json.dumps({"amount": float(a)}) if e == "purchase" else "{}" for e, a in zip(name, amount, strict=True)
    ]
    event_id = np.char.add("demo-ev-", np.arange(n).astype(str))
    return pa.table(
        {"external_id": who, "event": name, "occurred_at": when, "properties": properties, "event_id": event_id}
    )


def _subscriptions(rng: np.random.Generator, ids: np.ndarray, now: datetime) -> pa.Table:
    n = len(ids) * 2
    who = np.repeat(ids, 2)
    channel = np.tile(np.array(["email", "sms"]), len(ids))
    status = rng.choice(np.array(["subscribed", "unsubscribed"]), n, p=[0.8, 0.2])
    updated = _iso(now, rng.integers(86400, 200 * 86400, n))
    return pa.table({"external_id": who, "channel": channel, "status": status, "updated_at": updated})


def _activity(rng: np.random.Generator, ids: np.ndarray, now: datetime, rows: int) -> pa.Table:
    return pa.table(
        {
            "external_id": rng.choice(ids, rows),
            "campaign": rng.choice(CAMPAIGNS, rows),
            "kind": rng.choice(KINDS, rows, p=KIND_WEIGHTS),
            "occurred_at": _iso(now, rng.integers(3600, 90 * 86400, rows)),
        }
    )


def write_demo_files(folder: Path, now: datetime, profiles: int = 5000, seed: int = 7) -> DemoFiles:
    """Write the demo files into `folder`: profiles as CSV, events as Parquet, the rest as JSON Lines."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("demo-", np.char.zfill(np.arange(1, profiles + 1).astype(str), 6))
    files = DemoFiles(
        folder / "profiles.csv", folder / "events.parquet", folder / "subscriptions.jsonl", folder / "activity.jsonl"
    )
    pa_csv.write_csv(_profiles(rng, ids, now), files.profiles)
    pq.write_table(_events(rng, ids, now, per_profile=10), files.events)
    _write_jsonl(_subscriptions(rng, ids, now), files.subscriptions)
    _write_jsonl(_activity(rng, ids, now, rows=profiles * 3), files.activity)
    return files


def _write_jsonl(table: pa.Table, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in table.to_pylist():
            out.write(json.dumps(row) + "\n")
