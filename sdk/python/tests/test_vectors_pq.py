"""The post-quantum set of the shared test vectors (testdata/vectors/expected-pq.json; its README.md).

This SDK cannot read post-quantum vaults yet (docs/format.md 3.8: pyrage has no ML-KEM-768 + X25519 support), so
every case must end, whatever its own outcome for the Go and Node readers, with the error named by its
``error_without_pq`` (``vault_not_found``): a ``VaultNotFoundError`` that points to the CLI and the MCP server, and
never an ``IntegrityError`` (a post-quantum vault is not tampering) nor a value. A missing expected-pq.json is a
failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent_vault import AgentVaultError, Vault, VaultNotFoundError
from test_vectors import VECTORS, _write_private

EXPECTED_PQ = VECTORS / "expected-pq.json"


def _cases() -> list[Any]:
    try:
        doc = json.loads(EXPECTED_PQ.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [pytest.param(None, id="expected-pq.json-missing")]
    return [pytest.param(case, id=f"pq-{i:03d}-{case.get('name', '?')}") for i, case in enumerate(doc["cases"])]


def test_expected_pq_json_format() -> None:
    assert EXPECTED_PQ.is_file(), f"{EXPECTED_PQ} is missing: run 'make vectors'"
    doc = json.loads(EXPECTED_PQ.read_text(encoding="utf-8"))
    assert doc["format"] == 2
    assert doc["cases"], "expected-pq.json has no cases"
    for case in doc["cases"]:
        assert case.get("error_without_pq") == "vault_not_found", case["name"]


@pytest.mark.parametrize("case", _cases())
def test_pq_vector_refused(case: dict[str, Any] | None, tmp_path: Path, isolated_home: Path) -> None:
    if case is None:
        pytest.fail(f"{EXPECTED_PQ} is missing: the Go generator (make vectors) writes it")

    isolated_home.mkdir(mode=0o700)
    os.chmod(isolated_home, 0o700)
    for rel, content in (case.get("home") or {}).items():
        _write_private(isolated_home / rel, content.encode("utf-8"), isolated_home)
    src = VECTORS / "keys" / case["key"]
    key_path = tmp_path / "keys" / case["key"]
    key_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, src.read_bytes(), tmp_path)
    if case.get("owner_key"):
        _write_private(isolated_home / "owner.key", src.read_bytes(), isolated_home)
    repo = tmp_path / "vaults" / case["vault"]
    shutil.copytree(VECTORS / "vaults" / case["vault"], repo, symlinks=True)

    with pytest.raises(AgentVaultError) as info:
        with Vault(repo, key_path=key_path, auto_pull=False) as vault:
            if (case.get("op") or "get") == "list":
                vault.list_secrets(case.get("list_group"), strict=True)
            else:
                vault.get_bytes(case["secret"])
    e = info.value
    assert isinstance(e, VaultNotFoundError), f"{type(e).__name__} (kind {e.kind}): {e}"
    assert e.kind == case["error_without_pq"]
    message = str(e)
    assert "post-quantum" in message and "agent-vault get" in message and "MCP server" in message, message
