"""Several admins (format.md section 4.1), live: vaults written by the real CLI (``$AGENT_VAULT_BIN``), read by this
SDK. A pinned agent follows the chain of admin changes from the founding owner's key; a second admin reads with its
own owner key; a removed admin's later signatures and an admin added by someone without an admin key are refused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent_vault import IntegrityError, NotAuthorizedError, Vault


def _bin() -> str:
    path = os.environ.get("AGENT_VAULT_BIN", "")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("AGENT_VAULT_BIN must name the agent-vault binary (make test-python sets it)", pytrace=False)
    return path


class World:
    def __init__(self, base: Path) -> None:
        self.base, self.repo, self.gitcfg = base, base / "repo", base / "gitconfig"
        self.gitcfg.write_text("[user]\n\tname = Vault Owner\n\temail = owner@example.invalid\n[init]\n\tdefaultBranch = main\n")

    def home(self, who: str) -> Path:
        h = self.base / f"{who}-home"
        h.mkdir(exist_ok=True)
        return h

    def av(self, who: str) -> Path:
        return self.home(who) / ".agent-vault"

    def cli(self, who: str, *args: str, stdin: bytes = b"", cwd: Path | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_VAULT_", "GIT_"))}
        env.update(HOME=str(self.home(who)), GIT_CONFIG_GLOBAL=str(self.gitcfg), GIT_CONFIG_NOSYSTEM="1")
        res = subprocess.run([_bin(), *args], cwd=cwd or self.repo, env=env, input=stdin, capture_output=True, timeout=60, check=False)
        assert res.returncode == 0, f"agent-vault {' '.join(args)} ({who}) exited {res.returncode}: {res.stderr.decode()}"
        return res.stdout.decode()


def _agent(w: World, monkeypatch: pytest.MonkeyPatch, who: str = "agent") -> Vault:
    monkeypatch.setenv("AGENT_VAULT_HOME", str(w.av(who)))
    return Vault(w.repo, key_path=w.av("owner") / "agents" / "ci.key", auto_pull=False)


def test_admins_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(tmp_path)
    w.cli("owner", "init", str(w.repo), cwd=tmp_path)
    w.cli("owner", "add-agent", "ci")
    w.cli("owner", "set", "app/key", stdin=b"v-owner")
    w.cli("owner", "grant", "ci", "app")
    keys = w.cli("bob", "admin", "key")
    rcpt = re.search(r"^recipient: (\S+)$", keys, re.MULTILINE).group(1)  # type: ignore[union-attr]
    vk = re.search(r"^verify-key: (\S+)$", keys, re.MULTILINE).group(1)  # type: ignore[union-attr]
    w.cli("owner", "admin", "add", "bob", "--recipient", rcpt, "--verify-key", vk)
    w.cli("bob", "set", "app/bob", stdin=b"v-bob")

    assert _agent(w, monkeypatch).get("app/bob") == "v-bob"
    monkeypatch.setenv("AGENT_VAULT_HOME", str(w.av("bob")))
    bob = Vault(w.repo, key_path=w.av("bob") / "owner.key", auto_pull=False)
    assert bob.get("app/key") == "v-owner"
    # An admin's key may serve several vaults: no first-use line binds it to this one.
    assert not any(l.startswith("key ") for l in (w.av("bob") / "known_vaults").read_text().splitlines())

    vault_dir = w.repo / ".agent-vault"
    before = tmp_path / "before-removal"
    shutil.copytree(vault_dir, before, symlinks=True)
    w.cli("owner", "admin", "remove", "bob")
    assert _agent(w, monkeypatch).get("app/bob") == "v-bob"
    monkeypatch.setenv("AGENT_VAULT_HOME", str(w.av("bob")))
    with pytest.raises(NotAuthorizedError):
        Vault(w.repo, key_path=w.av("bob") / "owner.key", auto_pull=False).get("app/key")

    # Bob signs, from the copy he kept, a later state without his removal: refused where the removal was seen.
    removed = tmp_path / "after-removal"
    vault_dir.rename(removed)
    shutil.copytree(before, vault_dir, symlinks=True)
    w.av("bob2").mkdir(mode=0o700)
    shutil.copy(w.av("bob") / "owner.key", w.av("bob2") / "owner.key")
    for p in ("app/b1", "app/b2", "app/b3"):
        w.cli("bob2", "set", p, stdin=b"forked")
    with pytest.raises(IntegrityError, match=r"admin change \d+"):
        _agent(w, monkeypatch).get("app/b3")
    shutil.rmtree(vault_dir)
    removed.rename(vault_dir)

    # Someone without an admin key adds themselves to the admin set: the signature no longer verifies.
    chain = vault_dir / "state" / "admins"
    last = max(chain.iterdir(), key=lambda p: int(p.name))
    for f in (last, vault_dir / "state" / "root"):
        text = f.read_text().replace('"members":{', f'"members":{{"mallory":{{"recipient":"{rcpt}","verify_key":"{vk}"}},', 1)
        f.write_text(text)
    for who in ("agent", "fresh"):
        with pytest.raises(IntegrityError):
            _agent(w, monkeypatch, who).get("app/key")
