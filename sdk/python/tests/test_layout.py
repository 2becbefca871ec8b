from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agent_vault.errors import IntegrityError, VaultNotFoundError
from agent_vault.layout import FileMissing, VaultDir, VouchFailure


@pytest.fixture()
def vdir(tmp_path: Path) -> VaultDir:
    d = tmp_path / ".agent-vault"
    (d / "state" / "index").mkdir(parents=True)
    (d / "state" / "root").write_bytes(b"root\n")
    (d / "state" / "index" / "3f.json").write_bytes(b"{}\n")
    return VaultDir(d)


def test_read(vdir: VaultDir) -> None:
    key, data = vdir.read(["state", "root"], 100)
    assert data == b"root\n"
    again, none = vdir.read(["state", "root"], 100, known=key)
    assert again == key and none is None


def test_change_is_seen(vdir: VaultDir) -> None:
    key, _ = vdir.read(["state", "root"], 100)
    p = vdir.path / "state" / "root"
    tmp = p.with_name("root.new")
    tmp.write_bytes(b"other\n")
    os.replace(tmp, p)
    key2, data = vdir.read(["state", "root"], 100, known=key)
    assert key2 != key and data == b"other\n"


def test_missing(vdir: VaultDir) -> None:
    with pytest.raises(FileMissing) as e:
        vdir.read(["state", "nope"], 100)
    assert isinstance(e.value, IntegrityError) and e.value.rel == "state/nope"
    with pytest.raises(FileMissing):
        vdir.read(["secrets", "a", "b.enc"], 100)


def test_size_limit(vdir: VaultDir) -> None:
    assert vdir.read(["state", "root"], 5)[1] == b"root\n"
    with pytest.raises(IntegrityError, match="limit of 4 bytes"):
        vdir.read(["state", "root"], 4)


def test_symlinked_file(vdir: VaultDir, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", vdir.path / "state" / "link")
    with pytest.raises(IntegrityError, match="symbolic link"):
        vdir.read(["state", "link"], 100)
    assert vdir.exists(["state", "link"])


def test_dangling_symlink(vdir: VaultDir, tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere", vdir.path / "state" / "dangling")
    with pytest.raises(IntegrityError, match="symbolic link"):
        vdir.read(["state", "dangling"], 100)


def test_symlinked_directory(vdir: VaultDir, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "x.enc").write_bytes(b"x")
    os.symlink(real, vdir.path / "secrets")
    with pytest.raises(IntegrityError, match="secrets: symbolic link"):
        vdir.read(["secrets", "x.enc"], 100)
    with pytest.raises(IntegrityError, match="symbolic link"):
        vdir.exists(["secrets", "x.enc"])


def test_symlinked_vault_dir(tmp_path: Path, vdir: VaultDir) -> None:
    link = tmp_path / "linked"
    os.symlink(vdir.path, link)
    with pytest.raises(IntegrityError, match="symbolic link"):
        VaultDir(link).read(["state", "root"], 100)


def test_vault_dir_gone(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFoundError):
        VaultDir(tmp_path / "gone").read(["state", "root"], 100)


def test_directory_where_file_expected(vdir: VaultDir) -> None:
    with pytest.raises(IntegrityError, match="not a regular file"):
        vdir.read(["state", "index"], 100)


def test_file_where_directory_expected(vdir: VaultDir) -> None:
    with pytest.raises(IntegrityError):
        vdir.read(["state", "root", "x"], 100)


def test_fifo_is_refused_without_blocking(vdir: VaultDir) -> None:
    os.mkfifo(vdir.path / "state" / "fifo")
    with pytest.raises(IntegrityError, match="not a regular file"):
        vdir.read(["state", "fifo"], 100)


def test_exists(vdir: VaultDir) -> None:
    assert vdir.exists(["state", "root"])
    assert not vdir.exists(["state", "nope"])
    assert not vdir.exists(["secrets", "a", "b.enc"])
    assert not vdir.exists(["state", "root", "x"])


def _vouch(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def test_read_vouched(vdir: VaultDir) -> None:
    key, data = vdir.read_vouched(["state", "index", "3f.json"], *_vouch(b"{}\n"))
    assert data == b"{}\n"
    again, none = vdir.read_vouched(["state", "index", "3f.json"], *_vouch(b"{}\n"), known=key)
    assert again == key and none is None


def test_read_vouched_size_before_hash(vdir: VaultDir) -> None:
    size, digest = _vouch(b"{}\n")
    with pytest.raises(VouchFailure, match="size 3 differs from the 2 bytes"):
        vdir.read_vouched(["state", "index", "3f.json"], size - 1, "0" * 64)
    with pytest.raises(VouchFailure, match="size 3 differs from the 4 bytes"):
        vdir.read_vouched(["state", "index", "3f.json"], size + 1, digest)
    with pytest.raises(VouchFailure, match="hash does not match"):
        vdir.read_vouched(["state", "index", "3f.json"], size, "0" * 64)


def test_read_vouched_no_fixed_limit(vdir: VaultDir) -> None:
    big = b"x" * (5 << 20)
    (vdir.path / "state" / "big").write_bytes(big)
    assert vdir.read_vouched(["state", "big"], *_vouch(big))[1] == big


def test_read_vouched_missing(vdir: VaultDir) -> None:
    for parts in (["state", "index", "00.json"], ["secrets", "a", "b.enc"]):
        with pytest.raises(VouchFailure, match="missing"):
            vdir.read_vouched(parts, 1, "0" * 64)


def test_read_vouched_symlink_is_not_a_race(vdir: VaultDir, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(b"{}\n")
    os.symlink(tmp_path / "elsewhere", vdir.path / "state" / "link")
    with pytest.raises(IntegrityError, match="symbolic link") as e:
        vdir.read_vouched(["state", "link"], *_vouch(b"{}\n"))
    assert not isinstance(e.value, VouchFailure)
