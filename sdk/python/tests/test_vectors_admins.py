"""The admins set of the shared test vectors (testdata/vectors/expected-admins.json; its README.md).

Vaults whose admin set changed (format.md 4.1): the chain of admin changes followed from the pinned founding key,
chains altered by someone who can push, a removed admin's signatures, and marks that saw admin changes. Every case
runs as those of expected.json do; ``home_after`` names the marks the read must leave. A missing
expected-admins.json is a failure, not a skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from test_vectors import VECTORS, run_vector, vector_params

EXPECTED_ADMINS = VECTORS / "expected-admins.json"


def test_expected_admins_json_format() -> None:
    assert EXPECTED_ADMINS.is_file(), f"{EXPECTED_ADMINS} is missing: run 'make vectors'"
    doc = json.loads(EXPECTED_ADMINS.read_text(encoding="utf-8"))
    assert doc["format"] == 2
    assert doc["cases"], "expected-admins.json has no cases"
    assert any(case.get("home_after") for case in doc["cases"]), "no case checks the marks a read leaves"


@pytest.mark.parametrize("case", vector_params(EXPECTED_ADMINS, "admins-"))
def test_admins_vector(case: dict[str, Any] | None, tmp_path: Path, isolated_home: Path) -> None:
    if case is None:
        pytest.fail(f"{EXPECTED_ADMINS} is missing: the Go generator (make vectors) writes it")
    run_vector(case, tmp_path, isolated_home)
    check_home_after(case, isolated_home)


def check_home_after(case: dict[str, Any], home: Path) -> None:
    """``home_after`` (optional): each file it names must be a JSON object holding the given top-level fields, with
    the same values (the marks a read records, e.g. the last admin change it verified)."""
    for rel, fields in (case.get("home_after") or {}).items():
        got = json.loads((home / rel).read_text(encoding="utf-8"))
        assert isinstance(got, dict), f"home_after: {rel} is not a JSON object"
        for field, want in fields.items():
            assert got.get(field) == want, f"home_after: {rel} has {field} = {got.get(field)!r}, want {want!r}"
