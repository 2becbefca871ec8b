"""Live tests: vaults written by the real CLI (``$AGENT_VAULT_BIN``), read by this SDK.

Every vault here is made during the test by the ``agent-vault`` binary (``make test-python`` points
``AGENT_VAULT_BIN`` at the freshly built ``bin/agent-vault``): ``init``, ``add-agent``, ``set`` with values on
standard input, ``grant``, ``revoke``, and Git pushes to local bare remotes. Each test works in its own copy of a
template made once per session, with its own HOMEs (so ``~/.agent-vault`` is isolated): one for the owner, who
runs the CLI, and one for the agent's machine, where the SDK reads. Git takes its identity from a
``GIT_CONFIG_GLOBAL`` file, with ``GIT_CONFIG_NOSYSTEM=1``. No network is used: remotes are local bare
repositories, reached by path or by ``file://`` URL.

A missing binary fails every test here: these tests are never skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent_vault import (
    AgentVaultError,
    IntegrityError,
    NotAuthorizedError,
    SecretNotFoundError,
    Vault,
    VaultNotFoundError,
)

# The values the template vault holds, set through the CLI's standard input.
VALUES: dict[str, bytes] = {
    "app/text": b"sk_live_abc123",
    "app/binary": bytes(range(256)) + b"\x00\xff\r\n",
    "app/multiline": b"line one\nline two\r\n\n  indented\tand tabbed\n",
    "app/unicode": "pässwörd – 日本語 ✓ 🔑".encode(),
    "app/expiring": b"short-lived",
    "app/large": bytes((i * 2654435761 >> 13) & 0xFF for i in range(1 << 20)),  # 1 MiB, the largest value
    "shared/token": b"placed in group app",
    "infra/db-url": b"postgres://u:p@db.internal/app",
    "infra/extra": b"readable by ci as an extra recipient",
}
EXPIRES = "2031-01-02T03:04:05Z"
# Options given to `set` beyond the value.
SET_FLAGS: dict[str, tuple[str, ...]] = {
    "app/expiring": ("--expires", EXPIRES),
    "shared/token": ("--group", "app"),  # placed in a group other than its first segment
    "infra/extra": ("--agents", "ci"),  # ci is not a member of infra, but an extra recipient of this secret
    "infra/db-url": ("--allow-host", "db.internal"),
}
# What agent ci (granted group app) can read.
CI_READABLE = sorted([p for p in VALUES if p.startswith("app/")] + ["shared/token", "infra/extra"])
TEXT_NEW = b"sk_live_rotated_456"


def _bin() -> str:
    path = os.environ.get("AGENT_VAULT_BIN", "")
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            f"AGENT_VAULT_BIN={path!r} is not an executable agent-vault binary. These live tests need the CLI: "
            "run `make test-python`, or build it (`make build`) and export AGENT_VAULT_BIN=$PWD/bin/agent-vault.",
            pytrace=False,
        )
    return path


def _base_env(home: Path, gitcfg: Path) -> dict[str, str]:
    """The environment of a CLI or git process: the caller's, without any AGENT_VAULT_* or GIT_* variable, with
    its own HOME and Git identity file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_VAULT_", "GIT_"))}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(gitcfg), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


@dataclass
class World:
    """A directory holding a vault repository made by the CLI, the owner's HOME, the agent's HOME and the Git
    identity file. Paths are relative to ``base`` so that a copy of the directory is an independent world."""

    base: Path

    @property
    def repo(self) -> Path:
        return self.base / "repo"

    @property
    def gitcfg(self) -> Path:
        return self.base / "gitconfig"

    @property
    def owner_home(self) -> Path:
        return self.base / "owner-home"

    @property
    def agent_home(self) -> Path:
        return self.base / "agent-home"

    def agent_key(self, name: str = "ci") -> Path:
        """The agent's key file as the owner's add-agent wrote it."""
        return self.owner_home / ".agent-vault" / "agents" / f"{name}.key"

    def cli(
        self,
        *args: str,
        stdin: bytes = b"",
        home: Path | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the CLI (as the owner unless ``home`` says otherwise) in ``cwd`` (default: the repository)."""
        full_env = _base_env(home or self.owner_home, self.gitcfg)
        full_env.update(env or {})
        res = subprocess.run(
            [_bin(), *args], input=stdin, capture_output=True, cwd=cwd or self.repo, env=full_env, timeout=60, check=False
        )
        if check and res.returncode != 0:
            raise AssertionError(f"agent-vault {' '.join(args)} exited {res.returncode}: {res.stderr.decode()}")
        return res

    def set(self, path: str, value: bytes, *flags: str, cwd: Path | None = None) -> None:
        """``agent-vault set`` with the value on standard input (never in argv)."""
        self.cli("set", path, *flags, stdin=value, cwd=cwd)

    def git(self, cwd: Path, *args: str) -> str:
        res = subprocess.run(
            ["git", *args], cwd=cwd, env=_base_env(self.owner_home, self.gitcfg), capture_output=True, timeout=60, check=False
        )
        if res.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} in {cwd} exited {res.returncode}: {res.stderr.decode()}")
        return res.stdout.decode()

    def vault_id(self) -> str:
        for line in (self.repo / ".agent-vault" / "config.yaml").read_text().splitlines():
            if line.startswith("vault_id:"):
                return line.split(":", 1)[1].strip().strip('"')
        raise AssertionError("no vault_id in config.yaml")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build, once, a vault with the CLI: owner key, agents ``ci`` (granted ``app``) and ``intruder`` (granted
    nothing), the values of VALUES with the options of SET_FLAGS."""
    _bin()
    w = World(tmp_path_factory.mktemp("live-template"))
    w.gitcfg.write_text(
        "[user]\n\tname = Vault Owner\n\temail = owner@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
    )
    w.owner_home.mkdir()
    w.agent_home.mkdir()
    w.cli("init", str(w.repo), cwd=w.base)
    w.cli("add-agent", "ci")
    w.cli("add-agent", "intruder")
    for path, value in VALUES.items():
        w.set(path, value, *SET_FLAGS.get(path, ()))
    w.cli("grant", "ci", "app")
    # The commits carry the identity from GIT_CONFIG_GLOBAL.
    assert w.git(w.repo, "log", "-1", "--format=%an <%ae>").strip() == "Vault Owner <owner@example.invalid>"
    return w.base


@pytest.fixture()
def world(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A private copy of the template. The SDK in this process reads as the agent's machine (its HOME and
    agent-vault home) unless a test switches to the owner with :func:`as_owner`."""
    w = World(tmp_path / "world")
    shutil.copytree(template, w.base, symlinks=True)
    for k in list(os.environ):
        if k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(w.gitcfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    as_home(monkeypatch, w.agent_home)
    yield w


def as_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Make the SDK (for Vault objects created after this call) use ``home`` as HOME and its ``.agent-vault``."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGENT_VAULT_HOME", str(home / ".agent-vault"))


def as_owner(monkeypatch: pytest.MonkeyPatch, w: World) -> None:
    as_home(monkeypatch, w.owner_home)


def agent_vault_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agent_vault" and r.levelno >= logging.WARNING]


# -- reading -----------------------------------------------------------------------------------------------------


def test_owner_reads_every_value_exactly(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    as_owner(monkeypatch, world)
    with Vault(world.repo, auto_pull=False) as v:  # no key given: <home>/owner.key
        for path, value in VALUES.items():
            assert v.get_bytes(path) == value, path
            # The CLI prints the same bytes.
            assert world.cli("get", path, "--no-pull").stdout == value, path
        assert v.get("app/unicode") == "pässwörd – 日本語 ✓ 🔑"
        assert v.get("app/multiline") == "line one\nline two\r\n\n  indented\tand tabbed\n"
        assert v.get("infra/db-url") == "postgres://u:p@db.internal/app"


def test_agent_reads_with_key_path(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent_vault")
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        for path in CI_READABLE:
            assert v.get_bytes(path) == VALUES[path], path
        assert v.get("app/text") == "sk_live_abc123"
    # The key file is pinned: no trust on first use, nothing recorded in known_vaults.
    assert agent_vault_warnings(caplog) == []
    assert not (world.agent_home / ".agent-vault" / "known_vaults").exists()
    marks = json.loads((world.agent_home / ".agent-vault" / "state" / f"{world.vault_id()}.json").read_text())
    assert marks["version"] >= 1 and "app/text" in marks["secrets"]


def test_agent_reads_with_key_str_holding_the_whole_file(world: World) -> None:
    content = world.agent_key().read_text()
    assert content.count("\n") > 3 and "# agent-vault-owner-verify-key:" in content
    with Vault(world.repo, key_str=content, auto_pull=False) as v:
        assert v.get("app/unicode") == "pässwörd – 日本語 ✓ 🔑"
        assert v.get_bytes("app/binary") == VALUES["app/binary"]


def test_agent_reads_from_a_subdirectory_of_the_repository(world: World) -> None:
    sub = world.repo / "src" / "deep"
    sub.mkdir(parents=True)
    with Vault(sub, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"


@pytest.mark.parametrize("form", ["whole file", "identity line", "path"])
def test_agent_reads_with_AGENT_VAULT_KEY(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    caplog.set_level(logging.INFO, logger="agent_vault")
    content = world.agent_key().read_text()
    identity = next(line for line in content.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    value = {"whole file": content, "identity line": identity, "path": str(world.agent_key())}[form]
    monkeypatch.setenv("AGENT_VAULT_KEY", value)
    with Vault(world.repo, auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"
        assert v.get("app/multiline") == VALUES["app/multiline"].decode()
    # The CLI takes the same variable in the same forms.
    assert world.cli("get", "app/text", "--no-pull", home=world.agent_home, env={"AGENT_VAULT_KEY": value}).stdout == (
        b"sk_live_abc123"
    )
    known = world.agent_home / ".agent-vault" / "known_vaults"
    if form == "identity line":
        # No pins: trust on first use, said once, and recorded for the next reader.
        warnings = agent_vault_warnings(caplog)
        assert len(warnings) == 1 and "first use" in warnings[0], warnings
        assert known.read_text().split()[0] == world.vault_id()
    else:
        assert agent_vault_warnings(caplog) == []


def test_list_secrets_metadata(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        infos = v.list_secrets()
        assert [i.name for i in infos] == CI_READABLE
        assert [i.name for i in v.list_secrets("app")] == sorted(p for p in CI_READABLE if p != "infra/extra")
        assert [i.name for i in v.list_secrets("infra")] == ["infra/extra"]
        assert v.list_secrets("no-such-group") == []  # as agent-vault 0.1 did
        with pytest.raises(SecretNotFoundError):
            v.list_secrets("no-such-group", strict=True)
    by_name = {i.name: i for i in infos}
    exp = by_name["app/expiring"]
    assert exp.expires == datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert exp.group == "app" and exp.authorized_agents == ("ci",)
    assert by_name["shared/token"].group == "app"
    assert by_name["infra/extra"].group == "infra" and by_name["infra/extra"].authorized_agents == ("ci",)
    assert by_name["infra/extra"].allow_hosts == ()
    for info in infos:
        assert info.created.tzinfo is not None and info.rotated >= info.created
        if info.name != "app/expiring":
            assert info.expires is None

    # The same metadata as the CLI's `list --json` for the same key.
    cli = json.loads(world.cli("list", "--json", "--key", str(world.agent_key()), home=world.agent_home).stdout)
    assert [c["name"] for c in cli] == [i.name for i in infos]
    for c in cli:
        i = by_name[c["name"]]
        assert c["group"] == i.group and tuple(c["authorized_agents"]) == i.authorized_agents
        assert tuple(c["allow_hosts"]) == i.allow_hosts
        assert datetime.fromisoformat(c["created"].replace("Z", "+00:00")) == i.created
        assert datetime.fromisoformat(c["rotated"].replace("Z", "+00:00")) == i.rotated
        assert (c["expires"] and datetime.fromisoformat(c["expires"].replace("Z", "+00:00"))) == (i.expires or None)

    as_owner(monkeypatch, world)
    with Vault(world.repo, auto_pull=False) as owner:
        assert [i.name for i in owner.list_secrets()] == sorted(VALUES)
        assert {i.name: i.authorized_agents for i in owner.list_secrets("infra")} == {
            "infra/db-url": (),
            "infra/extra": ("ci",),
        }
        assert {i.name: i.allow_hosts for i in owner.list_secrets("infra")} == {
            "infra/db-url": ("db.internal",),
            "infra/extra": (),
        }


def test_a_rotated_value_is_read_by_the_same_vault_object(world: World) -> None:
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"
        created = {i.name: i for i in v.list_secrets()}["app/text"].created
        world.set("app/text", TEXT_NEW)
        assert v.get_bytes("app/text") == TEXT_NEW
        info = {i.name: i for i in v.list_secrets()}["app/text"]
        assert info.created == created and info.rotated >= created


def test_deleted_and_recreated_secret(world: World) -> None:
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"
        world.cli("rm", "app/text")
        with pytest.raises(SecretNotFoundError):
            v.get("app/text")
        assert "app/text" not in [i.name for i in v.list_secrets()]
        world.set("app/text", TEXT_NEW)  # a new entry: its version is above the mark the first read left
        assert v.get_bytes("app/text") == TEXT_NEW


def test_recovered_agent_key_replaces_the_old_one(world: World) -> None:
    old_key = world.agent_home / "ci-old.key"
    shutil.copy2(world.agent_key(), old_key)
    with Vault(world.repo, key_path=old_key, auto_pull=False) as old:
        assert old.get("app/text") == "sk_live_abc123"
        world.cli("recover-agent", "ci")  # writes a new key file in place of the old one
        with pytest.raises(NotAuthorizedError):
            old.get("app/text")
    assert world.agent_key().read_text() != old_key.read_text()
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as new:
        assert new.get("app/text") == "sk_live_abc123"
        assert [i.name for i in new.list_secrets()] == CI_READABLE


# -- every error kind ------------------------------------------------------------------------------------------


def test_no_vault_is_vault_not_found(world: World, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-vault"
    empty.mkdir()
    with pytest.raises(VaultNotFoundError) as e:
        Vault(empty, key_path=world.agent_key(), auto_pull=False)
    assert e.value.kind == "vault_not_found" and e.value.exit_code == 3
    res = world.cli("get", "app/text", "--key", str(world.agent_key()), cwd=empty, home=world.agent_home, check=False)
    assert res.returncode == 3 and res.stdout == b""


def test_no_key_is_vault_not_found(world: World) -> None:
    # The agent's machine has no owner.key and AGENT_VAULT_KEY is unset.
    with pytest.raises(VaultNotFoundError) as e:
        Vault(world.repo, auto_pull=False)
    assert e.value.exit_code == 3
    assert world.cli("get", "app/text", home=world.agent_home, check=False).returncode == 3


def test_unknown_secret_is_secret_not_found(world: World) -> None:
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v, pytest.raises(SecretNotFoundError) as e:
        v.get("app/no-such-secret")
    assert e.value.kind == "not_found" and e.value.exit_code == 4
    res = world.cli("get", "app/no-such-secret", "--key", str(world.agent_key()), home=world.agent_home, check=False)
    assert res.returncode == 4


def test_ungranted_agent_is_not_authorized(world: World) -> None:
    with Vault(world.repo, key_path=world.agent_key("intruder"), auto_pull=False) as v:
        with pytest.raises(NotAuthorizedError) as e:
            v.get("app/text")
        assert v.list_secrets() == []
    assert e.value.kind == "not_authorized" and e.value.exit_code == 5
    assert "sk_live" not in str(e.value)
    # ci is granted app but not infra.
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v, pytest.raises(NotAuthorizedError):
        v.get("infra/db-url")
    res = world.cli("get", "app/text", "--key", str(world.agent_key("intruder")), home=world.agent_home, check=False)
    assert res.returncode == 5 and res.stdout == b""


def test_revoked_and_removed_agents_are_not_authorized(world: World) -> None:
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"
        world.cli("revoke", "ci", "app")
        with pytest.raises(NotAuthorizedError):
            v.get("app/text")
        with pytest.raises(NotAuthorizedError):
            v.get("shared/token")  # placed in app
        assert [i.name for i in v.list_secrets()] == ["infra/extra"]  # an extra recipient, not through app
        assert v.get("infra/extra") == VALUES["infra/extra"].decode()
        world.cli("grant", "ci", "app")
        assert v.get("app/text") == "sk_live_abc123"
        world.cli("remove-agent", "ci")
        with pytest.raises(NotAuthorizedError) as e:
            v.get("app/text")
    assert "neither the owner nor an agent" in str(e.value)


def test_tampered_ciphertext_is_an_integrity_error(world: World) -> None:
    enc = world.repo / ".agent-vault" / "secrets" / "app" / "text.enc"
    data = bytearray(enc.read_bytes())
    data[-1] ^= 0x01
    enc.write_bytes(bytes(data))
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        with pytest.raises(IntegrityError) as e:
            v.get("app/text")
        assert "text.enc" in str(e.value)
        assert v.get("app/unicode") == "pässwörd – 日本語 ✓ 🔑"  # the other secrets still read
    assert e.value.kind == "integrity" and e.value.exit_code == 6
    res = world.cli("get", "app/text", "--key", str(world.agent_key()), home=world.agent_home, check=False)
    assert res.returncode == 6 and res.stdout == b""


def test_rolled_back_state_is_an_integrity_error(world: World, tmp_path: Path) -> None:
    old = tmp_path / "old-copy"
    shutil.copytree(world.repo, old, symlinks=True)
    world.set("app/text", TEXT_NEW)
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get_bytes("app/text") == TEXT_NEW
    with Vault(old, key_path=world.agent_key(), auto_pull=False) as v:
        with pytest.raises(IntegrityError) as e:
            v.get("app/text")
        assert "rollback" in str(e.value)
        with pytest.raises(IntegrityError):
            v.list_secrets()  # the root itself is older than the mark


def test_usage_and_other_errors(world: World) -> None:
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        for bad in ("../app/text", "/app/text", "app//text", ""):
            with pytest.raises(AgentVaultError) as e:
                v.get(bad)
            assert type(e.value) is AgentVaultError and e.value.kind == "usage" and e.value.exit_code == 2
        # A binary value through get(): kind "error", and the message does not carry the value.
        with pytest.raises(AgentVaultError) as e:
            v.get("app/binary")
        assert type(e.value) is AgentVaultError and e.value.kind == "error" and e.value.exit_code == 1
        assert "get_bytes" in str(e.value) and e.value.__context__ is None
    with pytest.raises(AgentVaultError) as e:
        v.get("app/text")
    assert e.value.kind == "usage"  # closed


def test_a_key_file_others_can_read_is_refused(world: World) -> None:
    key = world.agent_home / "loose.key"
    shutil.copy(world.agent_key(), key)
    key.chmod(0o644)
    with pytest.raises(VaultNotFoundError):
        Vault(world.repo, key_path=key, auto_pull=False)
    assert world.cli("get", "app/text", "--key", str(key), home=world.agent_home, check=False).returncode == 3


# -- pulling -----------------------------------------------------------------------------------------------------


def publish(w: World, remote: Path) -> None:
    """Make ``remote`` a bare clone of the owner's repository and the owner's upstream."""
    w.git(w.base, "clone", "-q", "--bare", str(w.repo), str(remote))
    w.git(w.repo, "remote", "add", "origin", str(remote))
    w.git(w.repo, "fetch", "-q", "origin")
    w.git(w.repo, "branch", "-q", "--set-upstream-to=origin/main")


def test_pull_from_a_local_bare_remote(world: World) -> None:
    remote = world.base / "remote.git"
    publish(world, remote)
    clone = world.base / "agent-clone"
    world.git(world.base, "clone", "-q", str(remote), str(clone))
    head = world.git(clone, "rev-parse", "HEAD")
    with Vault(clone, key_path=world.agent_key(), auto_pull=True, pull_interval=0) as v:
        assert v.get("app/text") == "sk_live_abc123"
        world.set("app/text", TEXT_NEW)
        world.git(world.repo, "push", "-q")
        assert v.get_bytes("app/text") == TEXT_NEW
    # The new state is read from the pull view (format.md 6.8); the agent's checkout stays where it was.
    assert world.git(clone, "rev-parse", "HEAD") == head != world.git(world.repo, "rev-parse", "HEAD")


def test_auto_pull_false_reads_the_local_copy(world: World) -> None:
    remote = world.base / "remote.git"
    publish(world, remote)
    clone = world.base / "agent-clone"
    world.git(world.base, "clone", "-q", str(remote), str(clone))
    world.set("app/text", TEXT_NEW)
    world.git(world.repo, "push", "-q")
    with Vault(clone, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"


def test_file_url_is_cloned_into_the_cache_and_pulled_after_the_interval(world: World) -> None:
    remote = world.base / "remote.git"
    publish(world, remote)
    url = remote.as_uri()
    assert url.startswith("file:///")
    interval = 1.5
    opened = time.monotonic()
    with Vault(url, key_path=world.agent_key(), pull_interval=interval) as v:
        cache = world.agent_home / ".agent-vault" / "cache" / hashlib.sha256(url.encode()).hexdigest()[:16]
        assert v.path == cache / ".agent-vault"
        assert (cache / ".git").is_dir()
        assert v.get("app/text") == "sk_live_abc123"

        world.set("app/text", TEXT_NEW)
        world.git(world.repo, "push", "-q")
        first = v.get_bytes("app/text")
        if time.monotonic() - opened < interval:
            assert first == VALUES["app/text"]  # the clone counts as a pull: none before the interval is over
        # Bounded wait: the new value must show up once the interval has passed.
        deadline = time.monotonic() + interval + 10
        while v.get_bytes("app/text") != TEXT_NEW:
            assert time.monotonic() < deadline, "the pushed value never arrived"
            time.sleep(0.2)
    # A second Vault object reuses the clone.
    with Vault(url, key_path=world.agent_key(), pull_interval=interval) as v2:
        assert v2.path == cache / ".agent-vault"
        assert v2.get_bytes("app/text") == TEXT_NEW


def test_unreachable_remote_warns_once_and_reads_the_local_copy(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent_vault")
    remote = world.base / "remote.git"
    publish(world, remote)
    clone = world.base / "agent-clone"
    world.git(world.base, "clone", "-q", str(remote), str(clone))
    shutil.rmtree(remote)  # the remote's URL now names a deleted path
    with Vault(clone, key_path=world.agent_key(), auto_pull=True, pull_interval=0) as v:
        assert v.get("app/text") == "sk_live_abc123"
        assert v.get("app/unicode") == "pässwörd – 日本語 ✓ 🔑"
        assert len(v.list_secrets()) == len(CI_READABLE)
    warnings = agent_vault_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "git pull" in warnings[0] and "local copy" in warnings[0]
    assert "sk_live" not in caplog.text


def test_unreachable_file_url_is_vault_not_found(world: World) -> None:
    url = (world.base / "no-such-remote.git").as_uri()
    with pytest.raises(VaultNotFoundError) as e:
        Vault(url, key_path=world.agent_key())
    assert "cannot clone" in str(e.value)


# -- high-water marks shared with the CLI ----------------------------------------------------------------------


def test_marks_raised_by_the_cli_refuse_an_older_copy_in_the_sdk(world: World, tmp_path: Path) -> None:
    old = tmp_path / "old-copy"
    shutil.copytree(world.repo, old, symlinks=True)
    world.set("app/text", TEXT_NEW)  # the owner's machine: the agent's home does not see this
    with Vault(old, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"  # nothing newer seen on this machine yet
    # The CLI, on the agent's machine, reads the newer state ...
    key = str(world.agent_key())
    assert world.cli("get", "app/text", "--no-pull", "--key", key, home=world.agent_home).stdout == TEXT_NEW
    # ... so the SDK there now refuses the older copy.
    with Vault(old, key_path=world.agent_key(), auto_pull=False) as v, pytest.raises(IntegrityError) as e:
        v.get("app/text")
    assert "rollback" in str(e.value)


def test_marks_raised_by_the_sdk_refuse_an_older_copy_in_the_cli(world: World, tmp_path: Path) -> None:
    old = tmp_path / "old-copy"
    shutil.copytree(world.repo, old, symlinks=True)
    world.set("app/text", TEXT_NEW)
    key = str(world.agent_key())
    assert world.cli("get", "app/text", "--key", key, cwd=old, home=world.agent_home).stdout == b"sk_live_abc123"
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get_bytes("app/text") == TEXT_NEW
    res = world.cli("get", "app/text", "--key", key, cwd=old, home=world.agent_home, check=False)
    assert res.returncode == 6 and res.stdout == b""
    assert b"rollback" in res.stderr


# -- what readers no longer read ---------------------------------------------------------------------------------


def test_meta_files_are_a_view_that_readers_do_not_read(world: World) -> None:
    """The index entry holds a secret's metadata: an edited or missing .meta changes nothing for get and list."""
    secrets = world.repo / ".agent-vault" / "secrets"
    meta = secrets / "app" / "text.meta"
    meta.write_text(meta.read_text().replace('"app"', '"evil"') + 'expires: "2000-01-01T00:00:00Z"\n')
    (secrets / "app" / "unicode.meta").unlink()
    with Vault(world.repo, key_path=world.agent_key(), auto_pull=False) as v:
        assert v.get("app/text") == "sk_live_abc123"
        assert v.get_bytes("app/unicode") == VALUES["app/unicode"]
        info = {i.name: i for i in v.list_secrets()}
        assert info["app/text"].group == "app" and info["app/text"].expires is None
        assert [i.name for i in v.list_secrets()] == CI_READABLE
    key = str(world.agent_key())
    assert world.cli("get", "app/text", "--key", key, home=world.agent_home).stdout == b"sk_live_abc123"


# -- finding the vault -------------------------------------------------------------------------------------------


def test_the_agent_vault_home_is_not_a_vault(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner's HOME has ~/.agent-vault full of keys (made by init and add-agent); a project below HOME with no
    vault of its own is not a vault, for the constructor as for the CLI."""
    as_owner(monkeypatch, world)
    assert (world.owner_home / ".agent-vault" / "owner.key").is_file()
    project = world.owner_home / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    with pytest.raises(VaultNotFoundError) as e:
        Vault(".", auto_pull=False)
    assert e.value.exit_code == 3
    assert world.cli("get", "app/text", cwd=project, check=False).returncode == 3


# -- reading while the vault changes (format.md section 6.6) -------------------------------------------------------

BULK = 200
CYCLES = 3


def bulk_path(i: int) -> str:
    return f"bulk/s{i:03d}"


def bulk_value(i: int, generation: int) -> bytes:
    return f"value {generation} of secret {i}: ".encode() + bytes([i % 256]) * (i % 7 + 1)


@pytest.fixture(scope="session")
def bulk_template(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template plus a group ``bulk`` of BULK secrets that ``ci`` is granted. The secrets are set with Git
    moved aside (no commit each, which keeps this fixture fast) and then committed at once."""
    w = World(tmp_path_factory.mktemp("live-bulk"))
    shutil.copytree(template, w.base, symlinks=True, dirs_exist_ok=True)
    os.rename(w.repo / ".git", w.base / "git-aside")
    try:
        for i in range(BULK):
            w.set(bulk_path(i), bulk_value(i, 0))
    finally:
        os.rename(w.base / "git-aside", w.repo / ".git")
    w.git(w.repo, "add", "-A", ".agent-vault")
    w.git(w.repo, "commit", "-q", "-m", "bulk secrets")
    w.cli("grant", "ci", "bulk")
    return w.base


@pytest.fixture()
def bulk_world(bulk_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    w = World(tmp_path / "bulk-world")
    shutil.copytree(bulk_template, w.base, symlinks=True)
    for k in list(os.environ):
        if k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(w.gitcfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    as_home(monkeypatch, w.agent_home)
    return w


class Reader(threading.Thread):
    """Reads random bulk secrets (and now and then lists the group) until stopped and at least ``min_gets`` gets
    are done. Every value must be one the owner set (``accepted``), never older than one this reader already saw;
    ``may_be_revoked`` readers may also meet NotAuthorizedError. Anything else is recorded in ``errors``."""

    def __init__(
        self,
        name: str,
        vault: Vault,
        accepted: dict[str, list[bytes]],
        lock: threading.Lock,
        stop: threading.Event,
        may_be_revoked: bool,
        min_gets: int = 500,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.vault, self.accepted, self.lock, self.stop = vault, accepted, lock, stop
        self.may_be_revoked, self.min_gets = may_be_revoked, min_gets
        self.gets = self.lists = self.denied = 0
        self.errors: list[str] = []
        self.seen: dict[str, int] = {}

    def run(self) -> None:
        rng = random.Random(self.name)
        n = 0
        try:
            while not (self.stop.is_set() and self.gets >= self.min_gets):
                n += 1
                if n % 25 == 0:
                    self._list()
                else:
                    self._get(rng.randrange(BULK))
                if self.errors:
                    return
        except BaseException as e:  # noqa: BLE001  # pragma: no cover - every failure is handed to the test
            self.errors.append(f"{type(e).__name__}: {e}")

    def _get(self, i: int) -> None:
        path = bulk_path(i)
        try:
            value = self.vault.get_bytes(path)
        except NotAuthorizedError:
            if not self.may_be_revoked:
                raise
            self.denied += 1
            return
        except AgentVaultError as e:
            self.errors.append(f"get {path}: {type(e).__name__} (kind {e.kind}): {e}")
            return
        self.gets += 1
        with self.lock:
            history = list(self.accepted[path])
        if value not in history:
            self.errors.append(f"get {path}: a value the owner never set ({len(value)} bytes)")
            return
        generation = history.index(value)
        if generation < self.seen.get(path, 0):
            self.errors.append(f"get {path}: generation {generation} after {self.seen[path]}")
        self.seen[path] = generation

    def _list(self) -> None:
        try:
            names = [i.name for i in self.vault.list_secrets("bulk")]
        except AgentVaultError as e:
            self.errors.append(f"list: {type(e).__name__} (kind {e.kind}): {e}")
            return
        self.lists += 1
        full = [bulk_path(i) for i in range(BULK)]
        if names != full and not (self.may_be_revoked and names == []):
            self.errors.append(f"list: {len(names)} names, not the {BULK} of the group")


def run_readers(readers: list[Reader], stop: threading.Event, writer: Callable[[], None]) -> None:
    for r in readers:
        r.start()
    try:
        writer()
    finally:
        stop.set()
        for r in readers:
            r.join(timeout=60)
    for r in readers:
        assert not r.is_alive(), f"reader {r.name} did not finish"
        assert r.errors == [], f"reader {r.name}: {r.errors[:5]}"
        assert r.gets >= r.min_gets and r.lists > 0, (r.name, r.gets, r.lists)


def test_reads_stay_consistent_while_the_owner_changes_the_vault(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers loop over get and list while the CLI, in the same working tree, revokes and grants the group of
    BULK secrets (re-encrypting every one) and sets values: no integrity error, every value right."""
    w = bulk_world
    accepted = {bulk_path(i): [bulk_value(i, 0)] for i in range(BULK)}
    lock, stop = threading.Lock(), threading.Event()
    as_owner(monkeypatch, w)
    owner = Vault(w.repo, auto_pull=False)  # <home>/owner.key: the owner anchor, the owner's marks
    as_home(monkeypatch, w.agent_home)
    agent = Vault(w.repo, key_path=w.agent_key(), auto_pull=False)
    assert owner.get_bytes(bulk_path(0)) == agent.get_bytes(bulk_path(0)) == bulk_value(0, 0)
    readers = [
        Reader("owner", owner, accepted, lock, stop, may_be_revoked=False),
        Reader("ci", agent, accepted, lock, stop, may_be_revoked=True),
    ]

    def set_next(generation: int, i: int) -> None:
        value = bulk_value(i, generation)
        with lock:
            accepted[bulk_path(i)].append(value)  # acceptable from before the change starts
        w.set(bulk_path(i), value)

    def writer() -> None:
        for cycle in range(1, CYCLES + 1):
            w.cli("revoke", "ci", "bulk")
            set_next(cycle, cycle)
            w.cli("grant", "ci", "bulk")
            set_next(cycle, BULK - cycle)

    run_readers(readers, stop, writer)
    for i in (1, BULK - 1):
        assert agent.get_bytes(bulk_path(i)) == accepted[bulk_path(i)][-1]
    assert readers[1].denied > 0 or readers[1].gets > 0


def test_reads_stay_consistent_while_git_pull_updates_the_clone(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers loop over a second clone while Git pulls into it what the owner pushes: no integrity error."""
    w = bulk_world
    remote = w.base / "remote.git"
    publish(w, remote)
    clone = w.base / "agent-clone"
    w.git(w.base, "clone", "-q", str(remote), str(clone))
    accepted = {bulk_path(i): [bulk_value(i, 0)] for i in range(BULK)}
    lock, stop = threading.Lock(), threading.Event()
    agent = Vault(clone, key_path=w.agent_key(), auto_pull=False)
    other_key = w.owner_home / ".agent-vault" / "owner.key"  # the owner key, read with the agent's home
    owner = Vault(clone, key_path=other_key, auto_pull=False)
    readers = [
        Reader("owner", owner, accepted, lock, stop, may_be_revoked=False),
        Reader("ci", agent, accepted, lock, stop, may_be_revoked=True),
    ]
    pulled = threading.Event()
    pull_errors: list[str] = []

    def puller() -> None:
        while not pulled.is_set():
            after_the_last_push = stop.is_set()  # the writer pushed everything before it set stop
            try:
                w.git(clone, "pull", "-q", "--ff-only")
            except AssertionError as e:  # pragma: no cover - reported below
                pull_errors.append(str(e))
                return
            if after_the_last_push:
                pulled.set()
            time.sleep(0.02)

    def set_next(generation: int, i: int) -> None:
        value = bulk_value(i, generation)
        with lock:
            accepted[bulk_path(i)].append(value)
        w.set(bulk_path(i), value)

    def writer() -> None:
        pulling.start()
        for cycle in range(1, CYCLES + 1):
            w.cli("revoke", "ci", "bulk")
            w.git(w.repo, "push", "-q")
            set_next(cycle, cycle)
            w.cli("grant", "ci", "bulk")
            w.git(w.repo, "push", "-q")
            set_next(cycle, BULK - cycle)
            w.git(w.repo, "push", "-q")
            time.sleep(0.3)  # let the clone catch up now and then

    pulling = threading.Thread(target=puller, daemon=True)
    try:
        run_readers(readers, stop, writer)
    finally:
        stop.set()
        pulling.join(timeout=60)
    assert pull_errors == [] and pulled.is_set()
    assert w.git(clone, "rev-parse", "HEAD") == w.git(w.repo, "rev-parse", "HEAD")
    for i in (1, BULK - 1):
        assert agent.get_bytes(bulk_path(i)) == accepted[bulk_path(i)][-1]
