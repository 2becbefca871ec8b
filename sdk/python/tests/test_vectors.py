"""The shared test vectors (testdata/vectors/, written by the Go generator; see its README.md).

Every case of expected.json runs in a fresh agent-vault home, with no pull. A ``get`` case (``op`` absent or
``"get"``) must end with exactly the bytes of ``value_base64``; a ``list`` case (``op: "list"``, optionally for the
group ``list_group``) with exactly the entries of ``list``; either may instead expect an error of the kind named by
``error``. A missing expected.json is a failure, not a skip.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agent_vault import (
    AgentVaultError,
    IntegrityError,
    NotAuthorizedError,
    SecretInfo,
    SecretNotFoundError,
    Vault,
    VaultNotFoundError,
)

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"
EXPECTED = VECTORS / "expected.json"
KIND_CLASS: dict[str, type[AgentVaultError]] = {
    "vault_not_found": VaultNotFoundError,
    "not_found": SecretNotFoundError,
    "not_authorized": NotAuthorizedError,
    "integrity": IntegrityError,
    "usage": AgentVaultError,
    "error": AgentVaultError,
}


def vector_params(expected: Path, id_prefix: str = "") -> list[Any]:
    """One pytest parameter per case of an expected file; a single None when the file is missing (the test fails)."""
    try:
        doc = json.loads(expected.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [pytest.param(None, id=f"{expected.name}-missing")]
    return [pytest.param(case, id=f"{id_prefix}{i:03d}-{case.get('name', '?')}") for i, case in enumerate(doc["cases"])]


def _cases() -> list[Any]:
    return vector_params(EXPECTED)


def _op(case: dict[str, Any]) -> str:
    op = case.get("op") or "get"
    assert op in ("get", "list"), f"unknown op {op!r} in case {case.get('name')!r}"
    return str(op)


def test_expected_json_format() -> None:
    assert EXPECTED.is_file(), f"{EXPECTED} is missing: run 'make vectors'"
    doc = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert doc["format"] == 2
    assert doc["cases"], "expected.json has no cases"
    for case in doc["cases"]:
        result = case.get("list") if _op(case) == "list" else case.get("value_base64")
        assert (result is None) != (case.get("error") is None), case["name"]
        if case.get("error") is not None:
            assert case["error"] in KIND_CLASS, case["name"]


def _time(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).isoformat()


def _as_listed(info: SecretInfo) -> dict[str, Any]:
    """An entry of the SDK's listing in the shape of expected.json (times normalised for comparison)."""
    return {
        "name": info.name,
        "group": info.group,
        "created": info.created.isoformat(),
        "rotated": info.rotated.isoformat(),
        "expires": info.expires.isoformat() if info.expires is not None else "",
        "authorized_agents": list(info.authorized_agents),
        "allow_hosts": list(info.allow_hosts),
    }


def _expected_listed(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    for k in ("created", "rotated"):
        out[k] = _time(entry[k])
    out["expires"] = _time(entry["expires"]) if entry.get("expires") else ""
    out["allow_hosts"] = list(entry.get("allow_hosts") or [])
    out["authorized_agents"] = list(entry.get("authorized_agents") or [])
    return out


def _write_private(path: Path, data: bytes, home: Path) -> None:
    """Create ``path`` 0600, with the directories between ``home`` and it 0700."""
    rel = path.relative_to(home)
    d = home
    for part in rel.parts[:-1]:
        d = d / part
        if not d.exists():
            d.mkdir(mode=0o700)
            os.chmod(d, 0o700)
    path.write_bytes(data)
    os.chmod(path, 0o600)


@pytest.mark.parametrize("case", _cases())
def test_vector(case: dict[str, Any] | None, tmp_path: Path, isolated_home: Path) -> None:
    if case is None:
        pytest.fail(f"{EXPECTED} is missing: the Go generator (make vectors) writes it")
    run_vector(case, tmp_path, isolated_home)


def run_vector(case: dict[str, Any], tmp_path: Path, isolated_home: Path) -> None:
    """Runs one case of an expected file (expected.json or expected-pq.json) and checks its outcome."""
    # A fresh home, holding the files the case asks for.
    isolated_home.mkdir(mode=0o700)
    os.chmod(isolated_home, 0o700)
    for rel, content in (case.get("home") or {}).items():
        _write_private(isolated_home / rel, content.encode("utf-8"), isolated_home)

    # Key files are committed with whatever mode Git gives them; the reader refuses loose modes, so the
    # test hands it a private copy of the same bytes.
    key_path: Path | None = None
    if case.get("key") is not None:
        src = VECTORS / "keys" / case["key"]
        key_path = tmp_path / "keys" / case["key"]
        key_path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(key_path, src.read_bytes(), tmp_path)
        if case.get("owner_key"):
            _write_private(isolated_home / "owner.key", src.read_bytes(), isolated_home)

    # The vault is copied (symbolic links kept as links) so that an upward search cannot reach this repository.
    repo = tmp_path / "vaults" / case["vault"]
    src_vault = VECTORS / "vaults" / case["vault"]
    if src_vault.exists():
        shutil.copytree(src_vault, repo, symlinks=True)

    op = _op(case)
    expected: Any = case.get("list") if op == "list" else case.get("value_base64")
    try:
        with Vault(repo, key_path=key_path, auto_pull=False) as vault:
            if op == "list":
                # strict: a group the vault does not have is an error, as for the CLI's list --group (the
                # default returns [] as agent-vault 0.1 did; test_compat.py tests both).
                got: Any = [_as_listed(i) for i in vault.list_secrets(case.get("list_group"), strict=True)]
            else:
                got = vault.get_bytes(case["secret"])
    except AgentVaultError as e:
        if expected is not None:
            pytest.fail(f"expected a result, got {type(e).__name__} (kind {e.kind}): {e}")
        assert e.kind == case["error"], f"expected kind {case['error']}, got {e.kind}: {e}"
        assert isinstance(e, KIND_CLASS[case["error"]])
        return
    if expected is None:
        pytest.fail(f"expected an error of kind {case['error']}, got a result")
    if op == "list":
        assert got == [_expected_listed(e) for e in expected]
        assert [e["name"] for e in expected] == sorted(e["name"] for e in expected)
    else:
        assert got == base64.b64decode(expected)
