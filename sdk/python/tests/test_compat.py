"""agent-vault 0.1's Python API (``agent-vault-sdk`` 0.1.0), kept: one test per call its users' code makes, on
vaults written by the real CLI (the fixtures of test_live.py). Written from the published API (names,
signatures, return shapes and leading words of messages), not from its code or tests."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path

import pytest

import agent_vault
from agent_vault import (
    AgentVaultError,
    IntegrityError,
    NotAuthorizedError,
    SecretNotFoundError,
    Vault,
    VaultError,
    VaultNotFoundError,
)
from agent_vault.errors import ManifestError
from agent_vault.manifest import Manifest
from agent_vault.metadata import SecretMetadata
from test_live import CI_READABLE, EXPIRES, TEXT_NEW, World, agent_vault_warnings, as_owner, publish


def test_original_names_are_exported() -> None:
    for name in ("Vault", "VaultError", "VaultNotFoundError", "SecretNotFoundError", "NotAuthorizedError"):
        assert name in agent_vault.__all__ and hasattr(agent_vault, name)
    # VaultError is the common base of every error, the old ones and the new ones.
    for cls in (VaultNotFoundError, SecretNotFoundError, NotAuthorizedError, ManifestError, IntegrityError,
                AgentVaultError):
        assert issubclass(cls, VaultError)
    assert SecretMetadata is agent_vault.SecretInfo


def test_the_original_module_paths_and_version() -> None:
    from agent_vault import crypto, errors, manifest, metadata, vault

    assert vault.Vault is Vault and manifest.Manifest is agent_vault.Manifest
    assert metadata.SecretMetadata is SecretMetadata
    for name in ("VaultError", "VaultNotFoundError", "SecretNotFoundError", "NotAuthorizedError", "ManifestError"):
        assert getattr(errors, name) is getattr(agent_vault, name)
    assert callable(crypto.load_identity) and callable(crypto.load_identity_from_str) and callable(crypto.decrypt_secret)
    assert isinstance(agent_vault.__version__, str) and agent_vault.__version__


def test_key_path_with_a_tilde_is_in_the_home_directory(world: World, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    from vaultgen import write_key

    home = tmp_path / "user-home"
    home.mkdir()
    write_key(home / "ci.key", world.agent_key().read_text())
    monkeypatch.setenv("HOME", str(home))
    assert Vault(world.repo, key_path="~/ci.key", auto_pull=False).get("app/text") == "sk_live_abc123"


def test_constructor_positional_arguments_and_context_manager(world: World) -> None:
    # Vault(repo_path, key_path, key_str, auto_pull), positionally as the original's signature allows.
    with Vault(str(world.repo), str(world.agent_key()), None, False) as v:
        assert isinstance(v, Vault)
        assert v.get("app/text") == "sk_live_abc123"
    # The context manager does not swallow exceptions.
    with pytest.raises(SecretNotFoundError), Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        v.get("app/nope")


def test_key_str_and_AGENT_VAULT_KEY(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    content = world.agent_key().read_text()
    assert Vault(world.repo, key_str=content, auto_pull=False).get("app/text") == "sk_live_abc123"
    # key_str overrides key_path (agent-vault 0.1's README): the intruder's key file is not used.
    v = Vault(world.repo, key_path=world.agent_key("intruder"), key_str=content, auto_pull=False)
    assert v.get("app/text") == "sk_live_abc123"
    monkeypatch.setenv("AGENT_VAULT_KEY", content)
    assert Vault(world.repo, auto_pull=False).get("app/text") == "sk_live_abc123"


def test_get_errors_keep_the_original_leading_words(world: World) -> None:
    v = Vault(world.repo, key_path=world.agent_key(), auto_pull=False)
    with pytest.raises(SecretNotFoundError, match=r"^Secret not found: app/nope\b") as e:
        v.get("app/nope")
    assert isinstance(e.value, VaultError)
    intruder = Vault(world.repo, key_path=world.agent_key("intruder"), auto_pull=False)
    with pytest.raises(NotAuthorizedError, match=r"^Cannot decrypt 'app/text': ") as e2:
        intruder.get("app/text")
    assert "sk_live" not in str(e2.value)


def test_no_vault_and_no_key_keep_the_original_leading_words(world: World, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VaultNotFoundError, match=r"^No vault found at "):
        Vault(empty, key_path=world.agent_key())
    with pytest.raises(VaultNotFoundError, match=r"^No key provided"):
        Vault(world.repo)
    with pytest.raises(VaultError, match=r"^Failed to clone/update "):
        Vault((tmp_path / "gone.git").as_uri(), key_path=world.agent_key())


def test_list_secrets_items_have_the_original_attributes(world: World) -> None:
    v = Vault(world.repo, key_path=world.agent_key(), auto_pull=False)
    items = v.list_secrets()
    assert isinstance(items, list) and [i.name for i in items] == CI_READABLE
    exp = {i.name: i for i in items}["app/expiring"]
    assert isinstance(exp, SecretMetadata)
    assert exp.name == "app/expiring" and exp.group == "app"
    assert isinstance(exp.created, datetime) and isinstance(exp.rotated, datetime)
    assert exp.expires is not None and exp.expires.isoformat().startswith(EXPIRES[:19])
    assert list(exp.authorized_agents) == ["ci"]
    assert {i.name: i for i in items}["app/text"].expires is None
    assert [i.name for i in v.list_secrets(group="app")] == [p for p in CI_READABLE if p != "infra/extra"]


def test_list_secrets_of_an_unknown_group_is_empty(world: World) -> None:
    v = Vault(world.repo, key_path=world.agent_key(), auto_pull=False)
    assert v.list_secrets("no-such-group") == []
    with pytest.raises(SecretNotFoundError, match="^Group not found: no-such-group"):
        v.list_secrets("no-such-group", strict=True)


def test_list_agents(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [{"name": "ci", "groups": ["app"]}, {"name": "intruder", "groups": []}]
    assert Vault(world.repo, key_path=world.agent_key(), auto_pull=False).list_agents() == expected
    as_owner(monkeypatch, world)
    assert Vault(world.repo, auto_pull=False).list_agents() == expected


def test_manifest(world: World) -> None:
    m = Vault(world.repo, key_path=world.agent_key(), auto_pull=False).manifest
    assert isinstance(m, Manifest)
    assert m.list_groups() == ["app", "infra"]
    assert m.agent_groups("ci") == ["app"] and m.agent_groups("nobody") == []
    assert m.group_secrets("infra") == ["infra/db-url", "infra/extra"] and m.group_secrets("nope") == []
    assert m.agents_for_secret("infra/extra") == ["ci"] and m.agents_for_secret("infra/db-url") == []
    assert m.list_secrets("app") == [p for p in CI_READABLE if p != "infra/extra"]
    assert len(m.list_secrets()) == len(CI_READABLE) + 1
    assert m.list_agents()[0] == {"name": "ci", "groups": ["app"]}


def test_pull_then_reload_reads_a_pushed_rotation_with_auto_pull_off(world: World) -> None:
    remote = world.base / "remote.git"
    publish(world, remote)
    clone = world.base / "agent-clone"
    world.git(world.base, "clone", "-q", str(remote), str(clone))
    with Vault(clone, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"
        world.set("app/text", TEXT_NEW)
        world.cli("add-agent", "late")
        world.git(world.repo, "push", "-q")
        assert v.get("app/text") == "sk_live_abc123"  # auto_pull off: nothing pulled yet
        assert v.pull() is None  # type: ignore[func-returns-value]  # 0.1's pull returned None: checked at run time
        v.reload()
        assert v.get_bytes("app/text") == TEXT_NEW
        assert "late" in [a["name"] for a in v.list_agents()]


def test_pull_warns_instead_of_raising_when_offline(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent_vault")
    remote = world.base / "remote.git"
    publish(world, remote)
    clone = world.base / "agent-clone"
    world.git(world.base, "clone", "-q", str(remote), str(clone))
    shutil.rmtree(remote)
    with Vault(clone, key_path=world.agent_key(), auto_pull=False) as v:
        v.pull()
        v.pull()  # an explicit pull warns every time it fails
        assert v.get("app/text") == "sk_live_abc123"
    warnings = agent_vault_warnings(caplog)
    assert len(warnings) == 2 and all("git pull" in w for w in warnings), warnings
    assert "sk_live" not in caplog.text


def test_pull_without_an_upstream_is_quiet(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent_vault")
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        v.pull()
        v.reload()
        assert v.get("app/text") == "sk_live_abc123"
    assert agent_vault_warnings(caplog) == []


def test_closed_vault_refuses_the_original_calls(world: World) -> None:
    v = Vault(world.repo, key_path=world.agent_key(), auto_pull=False)
    v.close()
    for call in (v.list_agents, v.pull, v.reload, lambda: v.manifest):
        with pytest.raises(AgentVaultError, match="closed"):
            call()


def test_list_agents_with_a_foreign_key_is_not_authorized(world: World, tmp_path: Path) -> None:
    from vaultgen import Key, write_key

    key = write_key(tmp_path / "foreign.key", Key.generate().identity_str + "\n")
    with pytest.raises(NotAuthorizedError):
        Vault(world.repo, key_path=key, auto_pull=False).list_agents()


def test_secret_metadata_load_parses_a_meta_file_unverified(world: World, tmp_path: Path) -> None:
    meta = SecretMetadata.load(world.repo / ".agent-vault" / "secrets" / "app" / "expiring.meta")
    listed = {i.name: i for i in Vault(world.repo, key_path=world.agent_key(), auto_pull=False).list_secrets()}
    assert meta.name == "app/expiring" and meta.group == "app"
    assert meta.expires == listed["app/expiring"].expires and meta.created == listed["app/expiring"].created
    assert list(meta.authorized_agents) == ["ci"]
    (tmp_path / "empty.meta").write_text("")
    assert SecretMetadata.load(tmp_path / "empty.meta").expires is None
    (tmp_path / "list.meta").write_text("- a\n")
    with pytest.raises(ManifestError, match="^Invalid metadata YAML"):
        SecretMetadata.load(tmp_path / "list.meta")
    (tmp_path / "bad.meta").write_text("a: [unclosed\n")
    with pytest.raises(ManifestError, match="^Invalid metadata YAML"):
        SecretMetadata.load(tmp_path / "bad.meta")
    (tmp_path / "big.meta").write_text("x" * (64 * 1024 + 1))
    with pytest.raises(ManifestError, match="larger than"):
        SecretMetadata.load(tmp_path / "big.meta")
