"""Issue 10, the reader's share: first-use trust bound to the key and the repository (item 1), key values never
echoed and key content recognised as the Go reader does (item 7), and a pinned key of another vault as a
configuration error (item 9)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from agent_vault import IntegrityError, Vault, VaultNotFoundError
from agent_vault.keys import is_key_content
from vaultgen import Key, VaultBuilder, write_key

VALUE = "sk_live_issue10_value"


def build(repo: Path, ci: Key | None = None, value: str = VALUE) -> VaultBuilder:
    b = VaultBuilder(repo)
    if ci is not None:
        b.agents["ci"] = ci
    else:
        b.add_agent("ci")
    b.add_group("stripe", ["ci"])
    b.set_secret("stripe/api-key", value)
    b.write()
    return b


def test_first_use_cannot_be_obtained_again_with_a_new_vault_id(tmp_path: Path, isolated_home: Path) -> None:
    real = build(tmp_path / "repo")
    ci = real.agents["ci"]
    assert Vault(real.repo, key_str=ci.identity_str, auto_pull=False).get("stripe/api-key") == VALUE
    # The attacker pushes a whole new vault (new id, own owner key) that lists ci's real recipient.
    shutil.rmtree(real.dir)
    forged = build(tmp_path / "repo", ci=ci, value="FORGED")
    assert forged.vault_id != real.vault_id
    with pytest.raises(IntegrityError, match="the repository was replaced"):
        Vault(real.repo, key_str=ci.identity_str, auto_pull=False).get("stripe/api-key")
    # Elsewhere: the key trusts one vault only (a configuration error naming it and how to reset).
    elsewhere = build(tmp_path / "elsewhere", ci=ci, value="FORGED")
    with pytest.raises(VaultNotFoundError, match=f"belongs to vault {real.vault_id}") as e:
        Vault(elsewhere.repo, key_str=ci.identity_str, auto_pull=False).get("stripe/api-key")
    assert "known_vaults" in str(e.value) and "FORGED" not in str(e.value)
    # A deliberate reset lets the key trust the new vault.
    (isolated_home / "known_vaults").unlink()
    assert Vault(elsewhere.repo, key_str=ci.identity_str, auto_pull=False).get("stripe/api-key") == "FORGED"


def test_pinned_key_of_another_vault_is_a_configuration_error(tmp_path: Path) -> None:
    a = build(tmp_path / "a")
    b = build(tmp_path / "b", ci=a.agents["ci"])
    key = write_key(tmp_path / "ci.key", a.key_file("ci"))
    with pytest.raises(VaultNotFoundError, match=f"this key belongs to vault {a.vault_id} .*holds vault {b.vault_id}"):
        Vault(b.repo, key_path=key, auto_pull=False).get("stripe/api-key")
    # A forgery of the key's own vault stays an integrity error.
    (a.dir / "state" / "root").write_bytes((b.dir / "state" / "root").read_bytes())
    with pytest.raises(IntegrityError):
        Vault(a.repo, key_path=key, auto_pull=False).get("stripe/api-key")


@pytest.mark.parametrize(
    "value",
    [
        "base64",
        "mangled",
        "pq",
        "raw",
    ],
)
def test_key_value_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    real = build(tmp_path / "repo")
    secret = real.agents["ci"].identity_str
    v = {
        "base64": base64.b64encode(secret.encode()).decode(),
        "mangled": "AGE-SECRET-KEY_1" + secret[16:],
        "pq": "AGE-SECRET-KEY-PQ-1" + secret[16:],
        "raw": "\x01" + secret[16:] + "\x7f",
    }[value]
    for how in ("key_str", "env"):
        if how == "env":
            monkeypatch.setenv("AGENT_VAULT_KEY", v)
            key_str = None
        else:
            monkeypatch.delenv("AGENT_VAULT_KEY", raising=False)
            key_str = v
        with pytest.raises(VaultNotFoundError) as e:
            Vault(real.repo, key_str=key_str, auto_pull=False)
        assert v not in str(e.value) and secret[16:40] not in str(e.value) and secret[16:40].lower() not in str(e.value)


def test_is_key_content_matches_go() -> None:
    # The table of vault/keyvalue_test.go TestIsKeyContent.
    for value, want in {
        "AGE-SECRET-KEY-1ABC": True,
        "age-secret-key-1abc": True,
        "Age-Secret-Key-PQ-1abc": True,
        "# comment\nsomething": True,
        "line\r": True,
        "~/.agent-vault/agents/ci": False,
        "/tmp/AGE-SECRET-KEY": False,
        "QUdFLVNFQ1JFVC1LRVktMQ==": False,
        "": False,
    }.items():
        assert is_key_content(value) is want, value


def test_key_path_fifo_fails_at_once(tmp_path: Path) -> None:
    real = build(tmp_path / "repo")
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(VaultNotFoundError, match="not a regular file"):
        Vault(real.repo, key_path=fifo, auto_pull=False)
