"""Safe reading of files below ``.agent-vault/`` (format.md sections 1 and 6.5).

Every component below the vault directory is opened relative to its parent's descriptor with ``O_NOFOLLOW``, so a
symbolic link anywhere on the path (the vault directory itself included) is refused as an integrity error rather
than followed, with no window between check and use. Files must be regular. A file the signed state vouches for
must have exactly the size it vouches for (checked on ``fstat`` and while reading, before the hash); any other file
must be within a size limit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import AgentVaultError, IntegrityError, VaultNotFoundError

__all__ = [
    "LIMIT_ROOT",
    "LIMIT_UNTRUSTED",
    "VAULT_DIR",
    "FileMissing",
    "StatKey",
    "VaultDir",
    "VouchFailure",
]

VAULT_DIR = ".agent-vault"
#: The largest root a reader accepts (format.md section 4).
LIMIT_ROOT = 16 << 20
#: The largest unvouched file a reader reads: an untrusted ``config.yaml`` (format.md section 6.5, "Limits").
LIMIT_UNTRUSTED = 64 << 10

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass(frozen=True)
class StatKey:
    """Identity of a file version, used to cache what was verified: device, inode, size, mtime and ctime."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> StatKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileMissing(IntegrityError):
    """A file (or one of its directories) below the vault does not exist. Callers decide what that means; left
    uncaught it is an integrity error."""

    def __init__(self, rel: str) -> None:
        super().__init__(f"{VAULT_DIR}/{rel} is missing")
        self.rel = rel


class VouchFailure(IntegrityError):
    """A *vouching failure* (format.md section 6.6): ``state/root`` missing or failing its signature, a file the
    signed state vouches for missing or of another size or hash, or the files of a secret the state does not
    list. During a change by the owner or Git such a failure
    is a race, not tampering, so readers retry it (see :mod:`agent_vault.snapshot`); on a stable state it stands as
    an integrity error."""


class _WrongType(IntegrityError):
    """Something other than a directory where a directory is expected (or the reverse)."""


class VaultDir:
    """The ``.agent-vault`` directory of a vault. Paths are given as lists of components below it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"VaultDir({str(self.path)!r})"

    # -- internals -------------------------------------------------------------------------------------------

    def _fail(self, err: OSError, parent_fd: int | None, name: str, rel: str) -> AgentVaultError:
        """Turn an open error into FileMissing or an integrity error naming what is wrong."""
        if err.errno == errno.ENOENT:
            if parent_fd is None:
                return VaultNotFoundError(f"vault directory {self.path} no longer exists")
            return FileMissing(rel)
        if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            try:
                st = os.lstat(name, dir_fd=parent_fd) if parent_fd is not None else os.lstat(name)
            except OSError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                return IntegrityError(f"{VAULT_DIR}/{rel}: symbolic link refused")
            return _WrongType(f"{VAULT_DIR}/{rel}: unexpected file type")
        return AgentVaultError(f"{VAULT_DIR}/{rel}: cannot read: {err.strerror}")

    def _open_parent(self, parts: Sequence[str]) -> int:
        """Open the directory holding ``parts[-1]``; return its descriptor (caller closes)."""
        try:
            fd = os.open(self.path, _O_DIR)
        except OSError as e:
            raise self._fail(e, None, str(self.path), "") from None
        for i, name in enumerate(parts[:-1]):
            try:
                nfd = os.open(name, _O_DIR, dir_fd=fd)
            except OSError as e:
                err = self._fail(e, fd, name, "/".join(parts[: i + 1]))
                os.close(fd)
                raise err from None
            os.close(fd)
            fd = nfd
        return fd

    # -- API -------------------------------------------------------------------------------------------------

    def _open_file(self, parts: Sequence[str]) -> tuple[int, os.stat_result]:
        """Open the regular file at ``parts``; return its descriptor (caller closes) and its ``fstat``."""
        rel = "/".join(parts)
        dfd = self._open_parent(parts)
        try:
            try:
                fd = os.open(parts[-1], _O_FILE, dir_fd=dfd)
            except OSError as e:
                raise self._fail(e, dfd, parts[-1], rel) from None
        finally:
            os.close(dfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise IntegrityError(f"{VAULT_DIR}/{rel}: not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    @staticmethod
    def _read_fd(fd: int, most: int) -> bytes:
        """Read from ``fd`` until end of file or ``most`` bytes."""
        chunks: list[bytes] = []
        total = 0
        while total < most:
            chunk = os.read(fd, min(most - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)

    def read(self, parts: Sequence[str], limit: int, known: StatKey | None = None) -> tuple[StatKey, bytes | None]:
        """Read the regular file at ``parts``, refusing symlinks, other file types and files over ``limit``.

        Returns ``(key, data)``; when ``known`` equals the file's current :class:`StatKey`, ``data`` is ``None``
        and nothing is read. Raises :class:`FileMissing` when the file or a directory on its path is absent and
        :class:`IntegrityError` for a symlink, a non-regular file or a size over the limit.
        """
        rel = "/".join(parts)
        fd, st = self._open_file(parts)
        try:
            key = StatKey.of(st)
            if known is not None and key == known:
                return key, None
            if st.st_size > limit:
                raise IntegrityError(f"{VAULT_DIR}/{rel}: larger than the limit of {limit} bytes")
            data = self._read_fd(fd, limit + 1)
            if len(data) > limit:
                raise IntegrityError(f"{VAULT_DIR}/{rel}: larger than the limit of {limit} bytes")
            return key, data
        finally:
            os.close(fd)

    def read_vouched(
        self, parts: Sequence[str], size: int, sha256: str, known: StatKey | None = None
    ) -> tuple[StatKey, bytes | None]:
        """Read a file the signed state vouches for with ``size`` and ``sha256``: the size is compared (on
        ``fstat`` and while reading, never reading more than ``size + 1`` bytes) before the hash.

        Returns ``(key, data)``; when ``known`` equals the file's current :class:`StatKey`, ``data`` is ``None``
        and nothing is read (the caller vouched for that version before). A missing file (or directory on its
        path), another size or another hash raises :class:`VouchFailure`; a symlink or a non-regular file an
        :class:`IntegrityError`.
        """
        rel = "/".join(parts)
        try:
            fd, st = self._open_file(parts)
        except FileMissing:
            raise VouchFailure(f"{VAULT_DIR}/{rel} is missing but the signed state vouches for it") from None
        try:
            key = StatKey.of(st)
            if known is not None and key == known:
                return key, None
            if st.st_size != size:
                raise VouchFailure(
                    f"{VAULT_DIR}/{rel}: size {st.st_size} differs from the {size} bytes the signed state vouches for"
                )
            data = self._read_fd(fd, size + 1)
        finally:
            os.close(fd)
        if len(data) != size:
            raise VouchFailure(f"{VAULT_DIR}/{rel}: changed size while it was read")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise VouchFailure(f"{VAULT_DIR}/{rel}: hash does not match the signed state")
        return key, data

    def exists(self, parts: Sequence[str]) -> bool:
        """True when anything (a file, directory or link) is at ``parts``. A symlink in place of a directory of the
        path raises an integrity error; a missing directory, or a file in place of one, means False."""
        try:
            dfd = self._open_parent(parts)
        except (FileMissing, _WrongType):
            return False
        try:
            os.lstat(parts[-1], dir_fd=dfd)
            return True
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            return False
        finally:
            os.close(dfd)
