"""The post-quantum set of the shared test vectors (testdata/vectors/expected-pq.json; its README.md).

The SDK reads post-quantum vaults (agent_vault.hybrid, through pyca/cryptography's ML-KEM-768 + X25519 HPKE), so
every case must reach its own outcome, as for expected.json. Each case also names ``error_without_pq``, what a
reader without post-quantum support answers (``vault_not_found``): this SDK gives exactly that, pointing to the CLI
and the MCP server, for every case read with a post-quantum key when the installed cryptography has no ML-KEM
(simulated here). A missing expected-pq.json is a failure, not a skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import UnsupportedAlgorithm

from agent_vault import AgentVaultError, Vault, VaultNotFoundError, hybrid
from test_vectors import VECTORS, _write_private, run_vector, vector_params

EXPECTED_PQ = VECTORS / "expected-pq.json"


def _load() -> list[dict[str, Any]]:
    return list(json.loads(EXPECTED_PQ.read_text(encoding="utf-8"))["cases"])


def test_expected_pq_json_format() -> None:
    assert EXPECTED_PQ.is_file(), f"{EXPECTED_PQ} is missing: run 'make vectors'"
    doc = json.loads(EXPECTED_PQ.read_text(encoding="utf-8"))
    assert doc["format"] == 2
    assert doc["cases"], "expected-pq.json has no cases"
    for case in doc["cases"]:
        assert case.get("error_without_pq") == "vault_not_found", case["name"]


@pytest.mark.parametrize("case", vector_params(EXPECTED_PQ, "pq-"))
def test_pq_vector(case: dict[str, Any] | None, tmp_path: Path, isolated_home: Path) -> None:
    if case is None:
        pytest.fail(f"{EXPECTED_PQ} is missing: the Go generator (make vectors) writes it")
    run_vector(case, tmp_path, isolated_home)


def test_without_mlkem_pq_keys_are_refused_naming_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cryptography build without ML-KEM: every case read with a post-quantum key ends in error_without_pq."""

    def unsupported(cls: type, identity: str) -> hybrid.HybridIdentity:
        raise UnsupportedAlgorithm("ML-KEM is not supported by this backend")

    monkeypatch.setattr(hybrid.HybridIdentity, "from_str", classmethod(unsupported))
    monkeypatch.delenv("AGENT_VAULT_KEY", raising=False)
    pq_cases = [c for c in _load() if c["key"].startswith("pq-")]
    assert pq_cases
    for i, case in enumerate(pq_cases):
        home = tmp_path / f"home-{i}"
        home.mkdir(mode=0o700)
        monkeypatch.setenv("AGENT_VAULT_HOME", str(home))
        key_path = tmp_path / f"key-{i}"
        _write_private(key_path, (VECTORS / "keys" / case["key"]).read_bytes(), tmp_path)
        with (
            pytest.raises(AgentVaultError) as info,
            Vault(VECTORS / "vaults" / case["vault"], key_path=key_path, auto_pull=False) as vault,
        ):
            vault.get_bytes(case["secret"] or "stripe/api-key")
        e = info.value
        assert isinstance(e, VaultNotFoundError) and e.kind == case["error_without_pq"], f"{case['name']}: {e!r}"
        assert "agent-vault get" in str(e) and "MCP server" in str(e), str(e)
