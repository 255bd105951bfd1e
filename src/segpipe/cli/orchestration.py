"""Whether a command runs its Prefect flow or calls the same domain functions directly.

`SEGPIPE_ORCHESTRATION`: `auto` (default) runs the flow when a Prefect API is configured — `PREFECT_API_URL` in
the environment, or in the active profile of Prefect's profiles file — and otherwise calls the domain directly
(without an API, Prefect would start a temporary server, about 10 s per command); `prefect` always runs the flow;
`direct` never does. Both ways print the same output. Deciding imports nothing from Prefect (it is slow to import).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from segpipe.errors import InvalidInput

ENV = "SEGPIPE_ORCHESTRATION"
MODES = ("auto", "prefect", "direct")


def mode(env: Mapping[str, str] | None = None) -> str:
    value = (env if env is not None else os.environ).get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise InvalidInput(f"must be one of {', '.join(MODES)}, got '{value}'", where=ENV)
    return value


def _profiles_path(env: Mapping[str, str]) -> Path:
    if env.get("PREFECT_PROFILES_PATH"):
        return Path(env["PREFECT_PROFILES_PATH"]).expanduser()
    return Path(env.get("PREFECT_HOME") or "~/.prefect").expanduser() / "profiles.toml"


def prefect_api_configured(env: Mapping[str, str] | None = None) -> bool:
    """PREFECT_API_URL in the environment, or in the active profile (PREFECT_PROFILE or the file's `active`)."""
    env = env if env is not None else os.environ
    if env.get("PREFECT_API_URL"):
        return True
    try:
        data = tomllib.loads(_profiles_path(env).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = env.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = data.get("profiles", {}).get(active, {})
    return bool(isinstance(profile, dict) and profile.get("PREFECT_API_URL"))


def use_prefect(env: Mapping[str, str] | None = None, *, auto_means_prefect: bool = False) -> bool:
    """Whether to run the flow; `auto_means_prefect` is for one-off commands (quickstart) worth the server start."""
    chosen = mode(env)
    return chosen == "prefect" or (chosen == "auto" and (auto_means_prefect or prefect_api_configured(env)))


def quiet_prefect(env: MutableMapping[str, str] | None = None) -> None:
    """Prefect logs each flow and task run on the console; a CLI shows its own progress and result instead (the
    run logs still go to the Prefect API).

    A temporary local server (no API configured) gets time to start on a busy machine and sends no analytics;
    values the user set win. Its database and files live under segpipe's home (`$SEGPIPE_HOME/prefect`), never
    in the user's own Prefect home, where its runs would later show up in their server.
    """
    env = env if env is not None else os.environ
    # Quiet console, full run logs: the console handler shows warnings only, while INFO lines still reach the API
    # (each run's Logs tab; docs/orchestration.md, "Logs").
    env.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not prefect_api_configured(env):
        home = temporary_prefect_home(env)
        home.mkdir(parents=True, exist_ok=True)
        env["PREFECT_HOME"] = str(home)


def temporary_prefect_home(env: Mapping[str, str]) -> Path:
    """Where a temporary Prefect server keeps its data: beside segpipe's own (SEGPIPE_HOME, as Settings reads it)."""
    from segpipe.config import Settings

    return Settings.from_env(dict(env)).home / "prefect"
