"""Git sync: URL detection, clones into the cache, pulls on access, and failures that only warn.

Everything runs against local repositories (file:// URLs and paths); no network is used.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from agent_vault import Vault, VaultNotFoundError
from agent_vault.gitsync import Puller, cache_dir_for, is_git_url, redact
from vaultgen import VaultBuilder, write_key


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("https://github.com/acme/secrets.git", True),
        ("http://git.local/x", True),
        ("ssh://git@github.com/acme/secrets.git", True),
        ("git://host/repo", True),
        ("file:///srv/git/secrets.git", True),
        ("git@github.com:acme/secrets.git", True),
        ("deploy@host.example:repo", True),
        ("/home/me/repo", False),
        ("./repo", False),
        ("repo", False),
        ("C:/x", False),
        ("-oProxyCommand=x", False),
        ("ext::sh -c touch% /tmp/pwned", False),
        ("https://", False),
    ],
)
def test_is_git_url(value: str, url: bool) -> None:
    assert is_git_url(value) is url


def test_cache_dir(tmp_path: Path) -> None:
    url = "https://example.invalid/r.git"
    assert cache_dir_for(url, tmp_path) == tmp_path / "cache" / hashlib.sha256(url.encode()).hexdigest()[:16]


def test_redact() -> None:
    assert redact("fatal: https://user:tok3n@host/x failed") == "fatal: https://***@host/x failed"
    assert redact("git@github.com:acme/x") == "git@github.com:acme/x"


@pytest.fixture()
def remote(tmp_path: Path) -> tuple[VaultBuilder, Path]:
    """A bare repository with a vault pushed to it, and the builder's working clone."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--bare", "-q", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    vb = VaultBuilder(work)
    vb.add_agent("ci")
    vb.add_group("app", ["ci"])
    vb.set_secret("app/token", "v1")
    vb.write()
    git(work, "add", "-A")
    git(work, "commit", "-qm", "v1")
    git(work, "push", "-q", "origin", "HEAD:main")
    return vb, bare


def publish(vb: VaultBuilder, value: str) -> None:
    vb.set_secret("app/token", value)
    vb.write()
    git(vb.repo, "add", "-A")
    git(vb.repo, "commit", "-qm", value)
    git(vb.repo, "push", "-q", "origin", "HEAD:main")


def test_clone_url_and_pull(remote: tuple[VaultBuilder, Path], tmp_path: Path, isolated_home: Path) -> None:
    vb, bare = remote
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    url = bare.as_uri()
    v = Vault(url, key_path=key, pull_interval=0)
    assert v.path == cache_dir_for(url, isolated_home) / ".agent-vault"
    assert v.get("app/token") == "v1"
    publish(vb, "v2")
    assert v.get("app/token") == "v2"
    # a second Vault reuses the clone
    assert Vault(url, key_path=key, auto_pull=False).get("app/token") == "v2"
    assert [p.name for p in (isolated_home / "cache").iterdir()] == [cache_dir_for(url, isolated_home).name]


def test_pulls_are_coalesced(remote: tuple[VaultBuilder, Path], tmp_path: Path) -> None:
    vb, bare = remote
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    v = Vault(bare.as_uri(), key_path=key, pull_interval=3600)
    assert v.get("app/token") == "v1"
    publish(vb, "v2")
    assert v.get("app/token") == "v1"  # the fresh clone counts as the last pull


def test_auto_pull_off(remote: tuple[VaultBuilder, Path], tmp_path: Path) -> None:
    vb, bare = remote
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    v = Vault(bare.as_uri(), key_path=key, auto_pull=False)
    publish(vb, "v2")
    assert v.get("app/token") == "v1"


def test_local_checkout_with_upstream(remote: tuple[VaultBuilder, Path], tmp_path: Path) -> None:
    vb, bare = remote
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(bare), str(checkout))
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    v = Vault(checkout / ".agent-vault", key_path=key, pull_interval=0)
    assert v.get("app/token") == "v1"
    publish(vb, "v2")
    assert v.get("app/token") == "v2"


def test_offline_warns_once_and_uses_local_copy(
    remote: tuple[VaultBuilder, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vb, bare = remote
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    v = Vault(bare.as_uri(), key_path=key, pull_interval=0)
    shutil.rmtree(bare)
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        assert v.get("app/token") == "v1"
        assert v.get("app/token") == "v1"
        assert [s.name for s in v.list_secrets()] == ["app/token"]
    warnings = [r for r in caplog.records if "git pull" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].name == "agent_vault"
    assert "v1" not in warnings[0].getMessage()


def test_no_upstream_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vb = VaultBuilder(tmp_path / "repo")
    vb.add_agent("ci")
    vb.add_group("app", ["ci"])
    vb.set_secret("app/token", "v1")
    vb.write()
    git(vb.repo, "init", "-q")
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        assert Vault(vb.repo, key_path=key, pull_interval=0).get("app/token") == "v1"
    assert caplog.records == []


def test_not_a_git_tree_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = Puller(tmp_path, interval=0)
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        p.maybe_pull()
        p.maybe_pull()
    assert caplog.records == []


def test_clone_failure_message(tmp_path: Path, remote: tuple[VaultBuilder, Path]) -> None:
    vb, _ = remote
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    with pytest.raises(VaultNotFoundError, match="cannot clone"):
        Vault((tmp_path / "missing.git").as_uri(), key_path=key, auto_pull=False)
    assert not list((Path.home() / ".agent-vault" / "cache").glob("*/.git"))


def test_repository_without_vault(tmp_path: Path) -> None:
    bare = tmp_path / "empty.git"
    git(tmp_path, "init", "--bare", "-q", str(bare))
    work = tmp_path / "w"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    (work / "README").write_text("x")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "x")
    git(work, "push", "-q", "origin", "HEAD:main")
    vb = VaultBuilder(tmp_path / "v")
    vb.add_agent("ci")
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    with pytest.raises(VaultNotFoundError, match="no .agent-vault"):
        Vault(bare.as_uri(), key_path=key, auto_pull=False)
