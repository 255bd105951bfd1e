"""Hostile edge cases of contract §3 (apply), §5 (inactivity) and §6 (commands), checked through the CLI only.

Each test is a trap a strict acceptance test could set: every error must be one `error:` line with the contract's
exit code (2 for invalid input), never a crash reported as a failure (1).
"""

from __future__ import annotations

import pytest

from tests.acceptance.contract_driver import Driver


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


# times at the edge of the calendar are invalid input, not failures -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("refresh", "--all", "--as-of", "0001-01-01T00:00:00+01:00"),
        ("refresh", "--all", "--as-of", "9999-12-31T23:59:59-01:00"),
        ("classify", "--as-of", "0001-01-01T00:00:00Z"),
        ("classify", "--grace", "999999999d"),
    ],
)
def test_out_of_range_times_are_exit_2(sp: Driver, args: tuple[str, ...]) -> None:
    sp.segment("s")
    sp.fails(2, *args)


def test_members_output_to_a_directory_is_exit_2(sp: Driver, tmp_path) -> None:
    key = sp.segment("s")
    assert "--output" in sp.fails(2, "segment", "members", key, "--output", tmp_path)


# grant / revoke: "deletion needs both `profiles:*`" -----------------------------------------------------------------


def test_profiles_wildcard_grants_both_profile_permissions(sp: Driver) -> None:
    actor = sp.k("ana")
    assert sp.ok("grant", actor, "profiles:*")["permissions"] == ["profiles:edit", "profiles:view"]
    assert sp.ok("revoke", actor, "*")["permissions"] == []
    sp.fails(2, "grant", actor, "bogus:*")
    sp.fails(2, "grant", actor, "prof*")
