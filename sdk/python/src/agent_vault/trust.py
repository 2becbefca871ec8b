"""Local trust records in the agent-vault home (format.md sections 6.2 and 6.3).

* ``<home>/known_vaults``: one ``<vault_id> <verify_key>`` line per vault trusted on first use.
* ``<home>/state/<vault_id>.json``: high-water marks ``{"version", "root_sha256", "secrets": {path: version}}``
  shared by the CLI, the SDKs and the MCP server of one machine.

Marks only ever rise: a write re-reads the file and merges (maximum per mark), so a mark raised meanwhile by
another process is kept. Files are written atomically, 0600, in 0700 directories.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AgentVaultError, IntegrityError, VaultNotFoundError
from .home import atomic_write, ensure_dir
from .layout import StatKey

__all__ = ["KnownVaults", "MarkStore", "Marks"]

log = logging.getLogger("agent_vault")



class BelowMarkError(IntegrityError):
    """A verified state below this machine's high-water mark (a rollback or a fork of the root). A reader with
    two local candidates (format.md section 6.8) reads the other one before it reports it."""

class KnownVaults:
    """The ``known_vaults`` file of a home (trust on first use, format.md section 6.2): ``<vault_id> <verify_key>``
    lines, ``key <recipient> <vault_id> <verify_key>`` lines (the one vault a key without pins trusts) and
    ``repo <vault_id> <directory>`` lines (the vault a repository's ``.agent-vault`` directory held). Unknown and
    malformed lines are ignored; for a repeated vault, key or directory the first line counts."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "known_vaults"

    def _parse(self) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as e:
            raise AgentVaultError(f"cannot read {self.path}: {e}") from None
        owners: dict[str, str] = {}
        keys: dict[str, tuple[str, str]] = {}
        repos: dict[str, str] = {}
        for line in text.split("\n"):
            line = line.removesuffix("\r")
            if line.startswith("repo "):
                vid, _, d = line[5:].partition(" ")
                if _is_vault_id(vid) and os.path.isabs(d):
                    repos.setdefault(d, vid)
                continue
            f = line.split()
            if len(f) == 4 and f[0] == "key" and _is_vault_id(f[2]):
                keys.setdefault(f[1], (f[2], f[3]))
            elif len(f) == 2 and _is_vault_id(f[0]):
                owners.setdefault(f[0], f[1])
        return owners, keys, repos

    def lookup(self, vault_id: str) -> set[str]:
        """The verify keys recorded for ``vault_id`` (empty when the vault is unknown or the file is absent)."""
        known = self._parse()[0].get(vault_id)
        return {known} if known else set()

    def dirs_of(self, vault_id: str) -> list[str]:
        """The directories known to have held ``vault_id``: repo lines, and the owner tools' ``vault_paths``."""
        out = [d for d, v in self._parse()[2].items() if v == vault_id]
        try:
            for line in (self.home / "vault_paths").read_text(encoding="utf-8").split("\n"):
                vid, _, d = line.partition(" ")
                if vid == vault_id and d:
                    out.append(d)
        except (OSError, UnicodeDecodeError):
            pass
        return out

    def check(self, vault_id: str, verify_key: str, recipient: str = "", directory: str = "") -> bool:
        """Return True when ``vault_id`` is recorded with ``verify_key``, False when it is not recorded at all (a
        first use). Raise IntegrityError when it is recorded with another key, or when ``directory`` held another
        vault; VaultNotFoundError when the key ``recipient`` trusts another vault."""
        owners, keys, repos = self._parse()
        known = owners.get(vault_id)
        if known is not None and known != verify_key:
            raise IntegrityError(
                f"vault {vault_id}: the repository's owner verify key {verify_key} differs from the one trusted "
                f"in {self.path}; the repository may have been replaced"
            )
        held = repos.get(directory) if directory else None
        if held is not None and held != vault_id:
            raise IntegrityError(
                f"{directory} held vault {held} when this machine first trusted it, but now holds vault {vault_id}: "
                f"the repository was replaced; if its owner re-created the vault deliberately, delete the lines "
                f"naming {directory} from {self.path} and read again, or use a pinned key file (agent-vault pins)"
            )
        bound = keys.get(recipient) if recipient else None
        if bound is not None and bound != (vault_id, verify_key):
            if bound[0] == vault_id:
                raise IntegrityError(
                    f"vault {vault_id} now publishes owner verify key {verify_key}, but this key trusted {bound[1]} "
                    f"on first use; refusing"
                )
            dirs = self.dirs_of(bound[0])
            where = ", ".join(dirs) if dirs else "a directory this machine does not know"
            raise VaultNotFoundError(
                f"this key ({recipient}) belongs to vault {bound[0]} ({where}), but {directory} holds vault "
                f"{vault_id}; use that vault's key, or read vault {bound[0]} there. To trust vault {vault_id} with "
                f"this key deliberately, delete the line 'key {recipient} ...' from {self.path}"
            )
        return known is not None

    def record(self, vault_id: str, verify_key: str, recipient: str = "", directory: str = "") -> None:
        """Append the lines that trusting ``vault_id`` with ``recipient`` in ``directory`` needs and that are not
        there yet (creating the file 0600 and the home 0700); log a warning when the vault itself was new."""
        owners, keys, repos = self._parse()
        lines = ""
        first = vault_id not in owners
        if first:
            lines += f"{vault_id} {verify_key}\n"
        if recipient and recipient not in keys:
            lines += f"key {recipient} {vault_id} {verify_key}\n"
        if directory and directory not in repos and "\n" not in directory and "\r" not in directory:
            lines += f"repo {vault_id} {directory}\n"
        if not lines:
            return
        ensure_dir(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            st = os.fstat(fd)
            prefix = b""
            if st.st_size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        prefix = b"\n"
            os.write(fd, prefix + lines.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if first:
            log.warning(
                "agent-vault: trusted the owner key %s of vault %s on first use (recorded in %s); "
                "a pinned key file avoids this (the owner prints the pins with 'agent-vault pins')",
                verify_key,
                vault_id,
                self.path,
            )

    def wrong_vault(self, directory: str, want: str, got: str) -> AgentVaultError:
        """The error for a key pinned to vault ``want`` used on ``directory``, which holds another, self-consistent
        vault ``got`` (format.md section 6.1): VaultNotFoundError naming the key's vault and its directory when
        known, or IntegrityError when ``directory`` is known to have held the key's own vault."""
        dirs = self.dirs_of(want)
        if any(os.path.realpath(d) == directory for d in dirs):
            return IntegrityError(
                f"{directory} held vault {want}, the vault this key is pinned to, but its signed state now belongs "
                f"to vault {got}: the repository was replaced"
            )
        where = "at " + ", ".join(dirs) if dirs else "its directory is not known on this machine"
        return VaultNotFoundError(
            f"this key belongs to vault {want} ({where}), but {directory} holds vault {got}: use the key of vault "
            f"{got} here, or read vault {want} where it is"
        )


def _is_vault_id(s: str) -> bool:
    return len(s) == 32 and all(c in "0123456789abcdef" for c in s)


@dataclass
class Marks:
    """High-water marks of one vault. ``other`` keeps unknown fields so a rewrite preserves them."""

    version: int = 0
    root_sha256: str = ""
    secrets: dict[str, int] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        obj: dict[str, Any] = dict(self.other)
        obj.update(version=self.version, root_sha256=self.root_sha256, secrets=dict(sorted(self.secrets.items())))
        return (json.dumps(obj, indent=None, separators=(",", ":")) + "\n").encode("utf-8")


class MarkStore:
    """Reads, checks and raises the high-water marks of one vault. Reads are cached by the file's stat."""

    def __init__(self, home: Path, vault_id: str) -> None:
        self.path = home / "state" / f"{vault_id}.json"
        self.vault_id = vault_id
        self._cached: tuple[StatKey, Marks] | None = None

    def _parse(self, data: bytes) -> Marks:
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise AgentVaultError(f"{self.path}: not valid JSON; fix or remove it") from None
        if not isinstance(obj, dict):
            raise AgentVaultError(f"{self.path}: not a JSON object; fix or remove it")
        version = obj.pop("version", 0)
        root_sha = obj.pop("root_sha256", "")
        secrets = obj.pop("secrets", {})
        if (
            type(version) is not int
            or not isinstance(root_sha, str)
            or not isinstance(secrets, dict)
            or not all(isinstance(k, str) and type(v) is int for k, v in secrets.items())
        ):
            raise AgentVaultError(f"{self.path}: malformed high-water marks; fix or remove it")
        return Marks(version=version, root_sha256=root_sha, secrets=dict(secrets), other=obj)

    def load(self) -> Marks:
        """The current marks (all zero when the file is absent). The returned object must not be mutated."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._cached = None
            return Marks()
        key = StatKey.of(st)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._cached = None
            return Marks()
        except OSError as e:
            raise AgentVaultError(f"cannot read {self.path}: {e.strerror}") from None
        marks = self._parse(data)
        self._cached = (key, marks)
        return marks

    def check_root(self, version: int, root_sha256: str) -> bool:
        """Check a verified root against the mark. Raise IntegrityError on rollback (version below the mark) or
        fork (same version, other hash). Return True when the root is above the mark (the caller raises it)."""
        marks = self.load()
        if version < marks.version:
            raise BelowMarkError(
                f"vault {self.vault_id}: rollback: state/root has version {version} but version {marks.version} "
                f"was already seen on this machine"
            )
        if version == marks.version and root_sha256 != marks.root_sha256:
            raise BelowMarkError(
                f"vault {self.vault_id}: fork: state/root version {version} differs from the version {version} "
                f"already seen on this machine"
            )
        return version > marks.version

    def admin_mark(self) -> tuple[int, str] | None:
        """The last admin change this machine verified (format.md section 4.1), or None."""
        a = self.load().other.get("admins")
        if isinstance(a, dict) and type(a.get("version")) is int and isinstance(a.get("sha256"), str):
            return a["version"], a["sha256"]
        return None

    def raise_admin_mark(self, version: int, sha256: str) -> None:
        """Record admin change ``version`` (root file hash ``sha256``) when it is newer than the recorded one."""
        current = self.load()
        seen = self.admin_mark()
        if seen is not None and seen[0] >= version:
            return
        other = dict(current.other)
        other["admins"] = {"version": version, "sha256": sha256}
        merged = Marks(version=current.version, root_sha256=current.root_sha256, secrets=dict(current.secrets), other=other)
        try:
            atomic_write(self.path, merged.to_json())
        except OSError as e:
            raise AgentVaultError(f"cannot write {self.path}: {e.strerror}") from None

    def check_secret(self, path: str, version: int) -> bool:
        """Check a secret's index version against its mark. Raise IntegrityError on rollback; return True when the
        version is above the mark."""
        mark = self.load().secrets.get(path, 0)
        if version < mark:
            raise IntegrityError(
                f"vault {self.vault_id}: rollback: secret {path!r} has version {version} but version {mark} was "
                f"already seen on this machine"
            )
        return version > mark

    def raise_marks(
        self, root: tuple[int, str] | None = None, secrets: dict[str, int] | None = None
    ) -> None:
        """Raise the root mark to ``root = (version, sha256)`` and secret marks to ``secrets``, merging with the
        file as it is now (never lowering anything). Raise IntegrityError when the file now holds the same root
        version with another hash (a fork seen by another process)."""
        current = self.load()
        merged = Marks(
            version=current.version,
            root_sha256=current.root_sha256,
            secrets=dict(current.secrets),
            other=dict(current.other),
        )
        changed = False
        if root is not None:
            version, sha = root
            if version > merged.version:
                merged.version, merged.root_sha256 = version, sha
                changed = True
            elif version == merged.version and sha != merged.root_sha256:
                raise IntegrityError(
                    f"vault {self.vault_id}: fork: state/root version {version} differs from the one recorded in "
                    f"{self.path}"
                )
        for path, version in (secrets or {}).items():
            if version > merged.secrets.get(path, 0):
                merged.secrets[path] = version
                changed = True
        if not changed:
            return
        try:
            atomic_write(self.path, merged.to_json())
        except OSError as e:
            raise AgentVaultError(f"cannot write {self.path}: {e.strerror}") from None
        self._cached = None
