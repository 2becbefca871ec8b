from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from agent_vault.errors import AgentVaultError, IntegrityError
from agent_vault.trust import KnownVaults, MarkStore

VID = "0123456789abcdef0123456789abcdef"
VK1 = "ed25519:" + "A" * 43 + "="
VK2 = "ed25519:" + "B" * 43 + "="
SHA1, SHA2 = "1" * 64, "2" * 64


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


# -- known_vaults ---------------------------------------------------------------------------------------------


def test_known_vaults_first_use(isolated_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    kv = KnownVaults(isolated_home)
    assert kv.check(VID, VK1) is False
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        kv.record(VID, VK1)
    assert [r.name for r in caplog.records] == ["agent_vault"]
    assert "first use" in caplog.text and VID in caplog.text and "pinned" in caplog.text
    assert kv.path.read_text() == f"{VID} {VK1}\n"
    assert mode(kv.path) == 0o600 and mode(isolated_home) == 0o700
    assert kv.check(VID, VK1) is True


def test_known_vaults_other_key(isolated_home: Path) -> None:
    kv = KnownVaults(isolated_home)
    kv.record(VID, VK1)
    with pytest.raises(IntegrityError, match="differs"):
        kv.check(VID, VK2)


def test_known_vaults_keeps_other_lines(isolated_home: Path) -> None:
    isolated_home.mkdir(mode=0o700)
    kv = KnownVaults(isolated_home)
    kv.path.write_text("# comment\n\nffffffffffffffffffffffffffffffff " + VK2)  # no final newline
    assert kv.check(VID, VK1) is False
    kv.record(VID, VK1)
    lines = kv.path.read_text().splitlines()
    assert lines[-2:] == [f"ffffffffffffffffffffffffffffffff {VK2}", f"{VID} {VK1}"]
    assert kv.check(VID, VK1) and kv.check("f" * 32, VK2)


# -- high-water marks -----------------------------------------------------------------------------------------


def test_marks_absent_is_zero(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    assert m.load().version == 0
    assert m.check_root(1, SHA1) is True
    assert m.check_secret("a/b", 1) is True


def test_marks_raise_and_files(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    m.raise_marks(root=(3, SHA1), secrets={"a/b": 2})
    assert mode(isolated_home) == 0o700 and mode(isolated_home / "state") == 0o700 and mode(m.path) == 0o600
    assert json.loads(m.path.read_text()) == {"version": 3, "root_sha256": SHA1, "secrets": {"a/b": 2}}
    assert not [p for p in m.path.parent.iterdir() if p != m.path]  # no temporary file left


def test_rollback_and_fork(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    m.raise_marks(root=(3, SHA1))
    assert m.check_root(3, SHA1) is False
    assert m.check_root(4, SHA2) is True
    with pytest.raises(IntegrityError, match="rollback"):
        m.check_root(2, SHA2)
    with pytest.raises(IntegrityError, match="fork"):
        m.check_root(3, SHA2)


def test_secret_rollback(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    m.raise_marks(secrets={"a/b": 5})
    assert m.check_secret("a/b", 5) is False
    assert m.check_secret("a/b", 6) is True
    assert m.check_secret("other", 1) is True
    with pytest.raises(IntegrityError, match="rollback.*'a/b'"):
        m.check_secret("a/b", 4)


def test_never_lowers_a_mark_written_meanwhile(isolated_home: Path) -> None:
    mine = MarkStore(isolated_home, VID)
    mine.raise_marks(root=(2, SHA1), secrets={"a": 1})
    assert mine.load().version == 2
    # another process (the CLI) raises the marks; it also keeps fields this reader does not know
    other = {"version": 9, "root_sha256": SHA2, "secrets": {"a": 7, "b": 3}, "future": True}
    mine.path.write_text(json.dumps(other))
    mine.raise_marks(root=(5, SHA1), secrets={"a": 4, "c": 2})
    got = json.loads(mine.path.read_text())
    assert got == {"version": 9, "root_sha256": SHA2, "secrets": {"a": 7, "b": 3, "c": 2}, "future": True}


def test_no_write_when_nothing_rises(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    m.raise_marks(root=(2, SHA1))
    before = os.stat(m.path).st_ino
    m.raise_marks(root=(2, SHA1), secrets={})
    assert os.stat(m.path).st_ino == before


def test_fork_seen_at_write_time(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    m.raise_marks(root=(2, SHA1))
    with pytest.raises(IntegrityError, match="fork"):
        m.raise_marks(root=(2, SHA2))


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"version": "3"}', '{"version": 1, "secrets": {"a": "x"}}', '{"root_sha256": 5}'],
)
def test_corrupt_marks(isolated_home: Path, content: str) -> None:
    m = MarkStore(isolated_home, VID)
    (isolated_home / "state").mkdir(parents=True)
    m.path.write_text(content)
    with pytest.raises(AgentVaultError) as e:
        m.check_root(1, SHA1)
    assert e.value.kind == "error" and str(m.path) in str(e.value)


def test_marks_reread_when_file_changes(isolated_home: Path) -> None:
    m = MarkStore(isolated_home, VID)
    m.raise_marks(root=(2, SHA1))
    assert m.check_root(2, SHA1) is False
    m.path.write_text(json.dumps({"version": 3, "root_sha256": SHA2, "secrets": {}}))
    with pytest.raises(IntegrityError, match="rollback"):
        m.check_root(2, SHA1)
