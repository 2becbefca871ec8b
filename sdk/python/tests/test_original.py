"""A vault written by the original agent-vault 0.1 (``testdata/original/original.tar``, made with the real original
CLI by ``scripts/make-original-fixtures.sh``): unconverted, this SDK refuses it with VaultNotFoundError naming
``agent-vault migrate`` (never IntegrityError); converted by the CLI (``$AGENT_VAULT_BIN migrate``), it reads every
value with the original's own agent key files, unpinned and then pinned with ``agent-vault pin``.

A missing binary fails these tests: they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agent_vault import IntegrityError, NotAuthorizedError, SecretMetadata, Vault, VaultNotFoundError
from agent_vault.crypto import decrypt_secret, load_identity, load_identity_from_str
from agent_vault.errors import ManifestError
from agent_vault.manifest import Manifest

FIXTURE = Path(__file__).resolve().parents[3] / "testdata" / "original" / "original.tar"


def _bin() -> str:
    path = os.environ.get("AGENT_VAULT_BIN", "")
    assert path and os.access(path, os.X_OK), "AGENT_VAULT_BIN must name the agent-vault binary (make test-python)"
    return path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture extracted into tmp_path (home/ is the owner's HOME); the SDK reads as an agent's machine whose
    agent-vault home is tmp_path/agent-home."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="tar")
    (tmp_path / "gitconfig").write_text("[user]\n\tname = Owner\n\temail = owner@example.com\n")
    for k in list(os.environ):
        if k.startswith("AGENT_VAULT_") and k != "AGENT_VAULT_BIN":
            monkeypatch.delenv(k)
    monkeypatch.setenv("AGENT_VAULT_HOME", str(tmp_path / "agent-home"))
    return tmp_path


def _cli(world: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_VAULT_", "GIT_"))}
    env.update(HOME=str(world / "home"), GIT_CONFIG_GLOBAL=str(world / "gitconfig"), GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run([_bin(), *args], cwd=world / "proj", env=env, capture_output=True, text=True, check=False)


def _key(world: Path, agent: str) -> Path:
    return world / "home" / ".agent-vault" / "agents" / f"{agent}.key"


def test_unconverted_is_vault_not_found_naming_migrate(world: Path) -> None:
    for key in (_key(world, "ci"), world / "home" / ".agent-vault" / "owner.key"):
        v = Vault(world / "proj", key_path=key, auto_pull=False)
        with pytest.raises(VaultNotFoundError, match="agent-vault migrate") as e:
            v.get("stripe/api-key")
        assert not isinstance(e.value, IntegrityError)
        with pytest.raises(VaultNotFoundError, match="agent-vault migrate"):
            v.list_secrets()


def test_deleted_state_of_a_converted_vault_stays_integrity(world: Path) -> None:
    assert _cli(world, "migrate").returncode == 0
    (world / "proj" / ".agent-vault" / "state" / "root").unlink()
    with pytest.raises(IntegrityError, match="state/root is missing"):
        Vault(world / "proj", key_path=_key(world, "ci"), auto_pull=False, writer_wait=0.05).get("stripe/api-key")


def test_migrated_vault_reads_with_the_original_key_files(world: Path) -> None:
    done = _cli(world, "migrate")
    assert done.returncode == 0, done.stderr
    assert "agent-vault pin" in done.stdout
    ci = Vault(world / "proj", key_path=_key(world, "ci"), auto_pull=False)
    assert ci.get("stripe/api-key") == "sk_live_original"
    assert ci.get("stripe/webhook") == "whsec_original"
    with pytest.raises(NotAuthorizedError):
        ci.get("misc/token")
    deployer = Vault(world / "proj", key_path=_key(world, "deployer"), auto_pull=False)
    assert deployer.get("db/password") == 'line one\nline "two" $HOME\n'
    assert deployer.get("misc/token") == "tok_original"
    by_name = {s.name: s for s in Vault(world / "proj", key_path=_key(world, "ci"), auto_pull=False).list_secrets()}
    assert set(by_name) == {"stripe/api-key", "stripe/webhook"}
    assert by_name["stripe/webhook"].expires is not None and by_name["stripe/webhook"].expires.year == 2099

    pinned = _cli(world, "pin", str(_key(world, "ci")))
    assert pinned.returncode == 0, pinned.stderr
    assert "# agent-vault-vault-id: " in _key(world, "ci").read_text()
    shutil.rmtree(world / "agent-home")  # a fresh agent machine: the pins, not first use, are the anchor
    assert Vault(world / "proj", key_path=_key(world, "ci"), auto_pull=False).get("stripe/api-key") == "sk_live_original"


ORIGINAL_AGENTS = [{"name": "ci", "groups": ["stripe"]}, {"name": "deployer", "groups": ["db"]},
                   {"name": "idle", "groups": []}]


def _vault_file(world: Path, rel: str) -> Path:
    return world / "proj" / ".agent-vault" / rel


def test_original_helpers_read_its_own_unconverted_files_unverified(world: Path) -> None:
    manifest_file = _vault_file(world, "manifest.yaml")
    for m in (Manifest.load(manifest_file), Manifest(yaml.safe_load(manifest_file.read_text()))):
        assert m.list_agents() == ORIGINAL_AGENTS
        assert m.list_groups() == ["db", "ops", "stripe"]
        assert m.agent_groups("ci") == ["stripe"] and m.agent_groups("nobody") == []
        assert m.group_secrets("stripe") == ["stripe/api-key", "stripe/webhook"]
        assert m.agents_for_secret("db/password") == ["deployer"]
        assert m.agents_for_secret("misc/token") == []  # group ops has no members; --agents is not in the manifest
        assert m.list_secrets() == ["db/password", "misc/token", "stripe/api-key", "stripe/webhook"]
        assert m.list_secrets("ops") == ["misc/token"]
    with pytest.raises(ManifestError, match="^Manifest not found: "):
        Manifest.load(world / "nope.yaml")
    (world / "bad.yaml").write_text("agents: [unclosed\n")
    with pytest.raises(ManifestError, match="^Invalid manifest YAML"):
        Manifest.load(world / "bad.yaml")
    (world / "list.yaml").write_text("- a\n")
    with pytest.raises(ManifestError, match="^Invalid manifest YAML: not a mapping"):
        Manifest.load(world / "list.yaml")

    webhook = SecretMetadata.load(_vault_file(world, "secrets/stripe/webhook.meta"))
    assert (webhook.name, webhook.group, list(webhook.authorized_agents)) == ("stripe/webhook", "stripe", ["ci"])
    assert webhook.expires is not None and webhook.expires.isoformat() == "2099-01-31T00:00:00+00:00"
    assert webhook.created.year == 2026 and webhook.created.microsecond > 0  # the original's nanoseconds parse
    token = SecretMetadata.load(_vault_file(world, "secrets/misc/token.meta"))
    assert (token.group, token.expires, list(token.authorized_agents)) == ("ops", None, ["deployer"])

    # agent_vault.crypto: plain age on the original's own ciphertexts and key files (no pins, no newline).
    ci = load_identity(_key(world, "ci"))
    assert decrypt_secret(_vault_file(world, "secrets/stripe/api-key.enc").read_bytes(), ci) == "sk_live_original"
    deployer = load_identity_from_str(_key(world, "deployer").read_text())
    assert decrypt_secret(_vault_file(world, "secrets/db/password.enc").read_bytes(), deployer) == 'line one\nline "two" $HOME\n'
    with pytest.raises(NotAuthorizedError, match="^Cannot decrypt"):
        decrypt_secret(_vault_file(world, "secrets/db/password.enc").read_bytes(), ci)
    (world / "empty.key").write_text("# no key here\n")
    calls: list[Callable[[], object]] = [lambda: load_identity(world / "empty.key"), lambda: load_identity_from_str("AGE-SECRET-KEY-1BAD")]
    for call in calls:
        with pytest.raises(ValueError, match="^No age secret key found in ") as e:
            call()
        assert isinstance(e.value, VaultNotFoundError) and "AGE-SECRET-KEY-1BAD" not in str(e.value)


def test_migrated_vault_lists_the_original_policy_times_and_extra_agents(world: Path) -> None:
    created = SecretMetadata.load(_vault_file(world, "secrets/stripe/webhook.meta")).created
    assert _cli(world, "migrate").returncode == 0
    ci = Vault(world / "proj", key_path=_key(world, "ci"), auto_pull=False)
    items = ci.list_secrets()
    assert [s.name for s in items] == ["stripe/api-key", "stripe/webhook"]
    assert items[1].created == created.replace(microsecond=0)  # carried over, to the second
    assert list(items[1].authorized_agents) == ["ci"]
    assert ci.list_secrets("ops") == []
    assert ci.list_agents() == ORIGINAL_AGENTS
    deployer = Vault(world / "proj", key_path=_key(world, "deployer"), auto_pull=False)
    assert [(s.name, list(s.authorized_agents)) for s in deployer.list_secrets()] == [
        ("db/password", ["deployer"]), ("misc/token", ["deployer"])]
    m = deployer.manifest
    assert m.list_groups() == ["db", "ops", "stripe"]
    assert m.agents_for_secret("misc/token") == ["deployer"]  # the original's --agents extra carried over
    assert m.group_secrets("stripe") == ["stripe/api-key", "stripe/webhook"]
    # This format's manifest.yaml lists agents and groups but no secrets (it does not grow with the vault).
    view = Manifest.load(_vault_file(world, "manifest.yaml"))
    assert view.list_agents() == ORIGINAL_AGENTS and view.list_groups() == ["db", "ops", "stripe"]
    assert view.list_secrets() == []
