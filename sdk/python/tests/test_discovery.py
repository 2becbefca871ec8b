"""Finding the vault (format.md section 6.4): the upward search passes over the agent-vault home and plain files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_vault import IntegrityError, Vault, VaultNotFoundError
from agent_vault.discovery import locate_vault
from vaultgen import Key, VaultBuilder, write_key


def _home_with_keys(home: Path) -> Path:
    """Give ``home`` (a HOME) an agent-vault home holding an owner key and an agent key, as a real machine has."""
    av = home / ".agent-vault"
    write_key(av / "owner.key", Key.generate().identity_str + "\n")
    write_key(av / "agents" / "ci.key", Key.generate().identity_str + "\n")
    os.chmod(av, 0o700)
    return av


def test_home_is_not_a_vault(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = isolated_home.parent  # $HOME; $AGENT_VAULT_HOME is $HOME/.agent-vault
    _home_with_keys(home)
    project = home / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    with pytest.raises(VaultNotFoundError, match="agent-vault home") as e:
        Vault(".", auto_pull=False)  # the key: <home>/owner.key, found
    assert e.value.kind == "vault_not_found" and e.value.exit_code == 3
    with pytest.raises(VaultNotFoundError):
        Vault(project, key_path=home / ".agent-vault" / "agents" / "ci.key", auto_pull=False)
    with pytest.raises(VaultNotFoundError):
        Vault(home, auto_pull=False)  # from $HOME itself


def test_tilde_home_passed_over_when_AGENT_VAULT_HOME_is_elsewhere(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = isolated_home.parent
    _home_with_keys(home)
    other = tmp_path / "elsewhere" / ".agent-vault"
    other.mkdir(parents=True)
    monkeypatch.setenv("AGENT_VAULT_HOME", str(other))
    (home / "project").mkdir()
    with pytest.raises(VaultNotFoundError):
        locate_vault(home / "project")
    # and $AGENT_VAULT_HOME itself
    (other.parent / "sub").mkdir()
    with pytest.raises(VaultNotFoundError):
        locate_vault(other.parent / "sub")


def test_search_goes_on_above_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A HOME inside a repository that holds a vault: the home is passed over and the vault above is found."""
    vb = VaultBuilder(tmp_path / "repo")
    vb.add_agent("ci")
    vb.add_group("app", ["ci"])
    vb.set_secret("app/token", "value")
    vb.write()
    home = vb.repo / "home"
    _home_with_keys(home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGENT_VAULT_HOME", str(home / ".agent-vault"))
    (home / "project").mkdir()
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    v = Vault(home / "project", key_path=key, auto_pull=False)
    assert v.path == vb.dir
    assert v.get("app/token") == "value"


def test_symlinked_home_is_passed_over(isolated_home: Path, tmp_path: Path) -> None:
    home = isolated_home.parent
    real = _home_with_keys(tmp_path / "dotfiles")
    os.symlink(real, home / ".agent-vault")
    (home / "project").mkdir()
    with pytest.raises(VaultNotFoundError):
        locate_vault(home / "project")


def test_plain_file_is_passed_over(tmp_path: Path) -> None:
    vb = VaultBuilder(tmp_path / "repo")
    vb.write()
    sub = vb.repo / "a" / "b"
    sub.mkdir(parents=True)
    (vb.repo / "a" / ".agent-vault").write_text("not a vault\n")
    assert locate_vault(sub) == vb.dir
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / ".agent-vault").write_text("")
    with pytest.raises(VaultNotFoundError):
        locate_vault(tmp_path / "lone")


def test_other_symlink_is_integrity(tmp_path: Path) -> None:
    vb = VaultBuilder(tmp_path / "repo")
    vb.write()
    (tmp_path / "other").mkdir()
    os.symlink(vb.dir, tmp_path / "other" / ".agent-vault")
    with pytest.raises(IntegrityError, match="symbolic link"):
        locate_vault(tmp_path / "other")


def test_missing_start(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFoundError, match="does not exist"):
        locate_vault(tmp_path / "nope")
