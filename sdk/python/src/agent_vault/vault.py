"""The :class:`Vault` reader (format.md section 6).

A Vault opens one ``.agent-vault/`` directory (a local path, or a Git URL cloned into ``<home>/cache/``) with one
key, and reads secrets from it. Every read decides only from the signed root and from files whose hash the root
vouches for, directly or through a group index. The verified root and group indexes are cached in the object,
keyed by the file's stat (device, inode, size, mtime, ctime), and re-verified whenever it changes; a secret's
``.enc`` is read and hashed on every call.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pyrage

from .errors import (
    AgentVaultError,
    IntegrityError,
    NotAuthorizedError,
    SecretNotFoundError,
    VaultNotFoundError,
    usage_error,
)
from .gitsync import PULL_INTERVAL, PULL_TIMEOUT, Puller, clone_or_reuse, is_git_url, redact
from .home import home_dir
from .keys import ResolvedKey, derive_owner_verify_key, resolve_key
from .layout import LIMIT_ENC, LIMIT_INDEX, LIMIT_OTHER, LIMIT_ROOT, VAULT_DIR, FileMissing, StatKey, VaultDir
from .names import check_name, check_secret_path
from .signed import parse_verify_key, verify_signed
from .state import GroupIndex, Root, SecretInfo, parse_config, parse_index, parse_meta, parse_root
from .trust import KnownVaults, MarkStore

__all__ = ["Vault", "locate_vault"]


def locate_vault(repo_path: str | os.PathLike[str]) -> Path:
    """Return the ``.agent-vault`` directory in ``repo_path`` or in the nearest parent that has one.

    Raises VaultNotFoundError when ``repo_path`` does not exist or no such directory is found, and IntegrityError
    when the nearest ``.agent-vault`` is a symbolic link (a vault never is one).
    """
    start = Path(os.path.abspath(os.path.expanduser(os.fspath(repo_path))))
    if not start.exists():
        raise VaultNotFoundError(f"{start} does not exist")
    for d in (start, *start.parents):
        candidate = d / VAULT_DIR
        try:
            st = os.lstat(candidate)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise IntegrityError(f"{candidate} is a symbolic link, which a vault never is")
        if stat.S_ISDIR(st.st_mode):
            return candidate
    raise VaultNotFoundError(f"no {VAULT_DIR}/ directory in {start} or any parent directory")


@dataclass(frozen=True)
class _Anchor:
    vault_id: str | None  # None: any (owner anchor)
    verify_key: str
    mode: str  # "pinned", "owner" or "tofu"
    first_use: bool


def _secret_file(path: str, suffix: str) -> list[str]:
    parts = path.split("/")
    return ["secrets", *parts[:-1], parts[-1] + suffix]


class Vault:
    """Read access to one agent-vault with one key.

    ``repo_path`` is a local path (the directory holding ``.agent-vault/``, or any directory below it) or a Git
    URL (``https://``, ``ssh://``, ``git://``, ``file://`` or ``user@host:path``), cloned with ``git`` into
    ``<home>/cache/<sha256(url)[:16]>/``. The key is ``key_path`` (a key file), or ``key_str`` (key-file content,
    a bare ``AGE-SECRET-KEY-1...`` line, or a path), else ``$AGENT_VAULT_KEY``, else ``<home>/owner.key``.

    With ``auto_pull`` (the default), reads first run ``git pull --ff-only`` when the working tree's branch has
    an upstream, at most once every ``pull_interval`` seconds (default 5), bounded by ``pull_timeout`` seconds
    (default 10); a failure logs one warning on the ``agent_vault`` logger and the local copy is used.

    The constructor raises :class:`VaultNotFoundError` when no key or no vault is found. Instances are safe to
    share between threads. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        repo_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
        key_str: str | None = None,
        auto_pull: bool = True,
        *,
        pull_timeout: float = PULL_TIMEOUT,
        pull_interval: float = PULL_INTERVAL,
    ) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._home = home_dir()
        self._key: ResolvedKey | None = resolve_key(key_path, key_str, self._home)
        self._recipient = self._key.key.recipient.lower()

        repo = os.fspath(repo_path)
        cloned_now = False
        if not os.path.exists(os.path.expanduser(repo)) and is_git_url(repo):
            top, cloned_now = clone_or_reuse(repo, self._home)
            vault_path = top / VAULT_DIR
            if not os.path.lexists(vault_path):
                raise VaultNotFoundError(f"the repository {redact(repo)} has no {VAULT_DIR}/ directory at its top")
            if os.path.islink(vault_path):
                raise IntegrityError(f"{vault_path} is a symbolic link, which a vault never is")
        else:
            vault_path = locate_vault(repo)
        self._dir = VaultDir(vault_path)
        self._puller = Puller(vault_path.parent, timeout=pull_timeout, interval=pull_interval) if auto_pull else None
        if self._puller is not None and cloned_now:
            self._puller.mark_pulled()

        self._known = KnownVaults(self._home)
        self._derived_vk: str | None = None
        self._root: tuple[StatKey, Root, frozenset[str] | None] | None = None
        self._indexes: dict[str, tuple[StatKey, GroupIndex]] = {}
        self._marks: MarkStore | None = None

    # -- public API ------------------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The ``.agent-vault`` directory this object reads."""
        return self._dir.path

    @property
    def recipient(self) -> str:
        """The age recipient (public key) of the key in use."""
        return self._recipient

    def get(self, path: str) -> str:
        """Return the value of secret ``path`` decoded as UTF-8.

        Raises AgentVaultError (kind ``usage``) for a malformed name, SecretNotFoundError, NotAuthorizedError,
        IntegrityError, and AgentVaultError (kind ``error``) when the value is not UTF-8 (use :meth:`get_bytes`).
        """
        data = self.get_bytes(path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # raised below, outside the handler, so the error does not carry the value as its context
        raise AgentVaultError(f"secret {path!r} is not UTF-8 text; read it with get_bytes()")

    def get_bytes(self, path: str) -> bytes:
        """Return the exact bytes of secret ``path`` (format.md section 6.4)."""
        with self._lock:
            key = self._open_key()
            path = check_secret_path(path)
            self._pull()
            root, agents = self._verified_root()
            group = root.group_of(path)
            gentry = root.groups.get(group)
            entry = self._index(root, group).secrets.get(path) if gentry is not None else None
            if gentry is None or entry is None:
                if self._dir.exists(_secret_file(path, ".enc")) or self._dir.exists(_secret_file(path, ".meta")):
                    raise IntegrityError(
                        f"secret {path!r} has files under {VAULT_DIR}/secrets/ but is not in the signed state "
                        f"(unsigned secret)"
                    )
                raise SecretNotFoundError(f"secret {path!r} not found in vault {root.vault_id}")
            if agents is not None and not (agents & (gentry.members | entry.extra_agents)):
                raise NotAuthorizedError(
                    f"agent {_names(agents)} is not granted secret {path!r} (group {group!r})"
                )
            marks = self._mark_store(root)
            rises = marks.check_secret(path, entry.version)
            enc = self._read_vouched(path, ".enc", LIMIT_ENC, entry.enc_sha256)
            try:
                value: bytes = pyrage.decrypt(enc, [key.key.identity])
            except pyrage.DecryptError:
                raise NotAuthorizedError(f"the key cannot decrypt secret {path!r}") from None
            if rises:
                marks.raise_marks(secrets={path: entry.version})
            return value

    def list_secrets(self, group: str | None = None) -> list[SecretInfo]:
        """Return the metadata of the secrets this key can read (all of them for the owner), sorted by name,
        optionally only those of ``group``. Each ``.meta`` file's hash is verified; nothing is decrypted.

        Raises SecretNotFoundError when ``group`` is not a group of the vault.
        """
        with self._lock:
            self._open_key()
            if group is not None:
                check_name(group, "group name")
            self._pull()
            root, agents = self._verified_root()
            if group is not None and group not in root.groups:
                raise SecretNotFoundError(f"group {group!r} not found in vault {root.vault_id}")
            out: list[SecretInfo] = []
            for g in [group] if group is not None else sorted(root.groups):
                gentry = root.groups[g]
                member = agents is None or bool(agents & gentry.members)
                for path, entry in self._index(root, g).secrets.items():
                    if not member and not (agents is not None and agents & entry.extra_agents):
                        continue
                    meta = self._read_vouched(path, ".meta", LIMIT_OTHER, entry.meta_sha256)
                    out.append(parse_meta(meta, path, g))
            out.sort(key=lambda s: s.name)
            return out

    def _read_vouched(self, path: str, suffix: str, limit: int, want_sha256: str) -> bytes:
        """Read a secret's ``.enc`` or ``.meta`` file, which the signed state vouches for, and check its hash.
        A missing file or a hash mismatch is an IntegrityError."""
        rel = f"secrets/{path}{suffix}"
        try:
            _, data = self._dir.read(_secret_file(path, suffix), limit)
        except FileMissing:
            raise IntegrityError(f"{VAULT_DIR}/{rel} is missing but the signed state lists it") from None
        assert data is not None
        if hashlib.sha256(data).hexdigest() != want_sha256:
            raise IntegrityError(f"{VAULT_DIR}/{rel}: hash does not match the signed state")
        return data

    def close(self) -> None:
        """Forget the key and the caches. Later calls raise AgentVaultError (kind ``usage``)."""
        with self._lock:
            self._closed = True
            self._key = None
            self._root = None
            self._indexes.clear()

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<agent_vault.Vault {str(self._dir.path)!r} recipient={self._recipient!r} {state}>"

    # -- internals -------------------------------------------------------------------------------------------

    def _open_key(self) -> ResolvedKey:
        if self._closed or self._key is None:
            raise usage_error("the vault is closed")
        return self._key

    def _pull(self) -> None:
        if self._puller is not None:
            self._puller.maybe_pull()

    def _anchor(self) -> _Anchor:
        """The trust anchor (format.md section 6.1): the key's pins; else, for this machine's owner key, the verify
        key derived from it (any vault id: the owner signs it); else trust on first use of the vault id and verify
        key published in config.yaml, checked against ``known_vaults``."""
        resolved = self._open_key()
        pins = resolved.key.pins
        if pins is not None:
            return _Anchor(pins.vault_id, pins.verify_key, "pinned", False)
        if resolved.is_home_owner_key:
            if self._derived_vk is None:
                self._derived_vk = derive_owner_verify_key(resolved.key)
            return _Anchor(None, self._derived_vk, "owner", False)
        try:
            _, data = self._dir.read(["config.yaml"], LIMIT_OTHER)
        except FileMissing:
            raise IntegrityError(f"{VAULT_DIR}/config.yaml is missing") from None
        assert data is not None
        vault_id, verify_key = parse_config(data)
        known = self._known.check(vault_id, verify_key)
        return _Anchor(vault_id, verify_key, "tofu", not known)

    def _verified_root(self) -> tuple[Root, frozenset[str] | None]:
        """Read, verify and parse ``state/root`` (or reuse the cached result while the file is unchanged), work out
        the key's role, then apply the high-water mark. Returns the root and the role (see :meth:`_role`).

        The order follows format.md section 6.4: signature and anchor, then the mark, then the role; a vault is
        recorded in ``known_vaults`` and the mark raised only once the key is known to be the owner's or an
        agent's."""
        cached = self._root
        try:
            stat_key, data = self._dir.read(["state", "root"], LIMIT_ROOT, cached[0] if cached else None)
        except FileMissing:
            if self._dir.exists(["config.yaml"]):
                raise IntegrityError(f"{VAULT_DIR}/state/root is missing: the vault has no signed state") from None
            raise VaultNotFoundError(f"{self._dir.path} is not an agent-vault vault (no state/root)") from None
        if data is None:
            assert cached is not None
            _, root, role = cached
            marks = self._mark_store(root)
            if marks.check_root(root.version, root.sha256):
                marks.raise_marks(root=(root.version, root.sha256))
            return root, role

        self._root = None
        self._indexes.clear()
        anchor = self._anchor()
        signer = {
            "pinned": f"the owner key pinned in {self._open_key().key.source}",
            "owner": "this machine's owner key",
            "tofu": f"the owner key trusted for vault {anchor.vault_id}",
        }[anchor.mode]
        try:
            vk = parse_verify_key(anchor.verify_key)
        except ValueError as e:  # pragma: no cover - anchors are validated when read
            raise IntegrityError(f"trust anchor: {e}") from None
        body = verify_signed(data, vk, what=f"{VAULT_DIR}/state/root (checked with {signer})")
        root = parse_root(body, hashlib.sha256(data).hexdigest())
        if anchor.vault_id is not None and root.vault_id != anchor.vault_id:
            what = "pin mismatch: the key file is pinned to" if anchor.mode == "pinned" else "config.yaml says"
            raise IntegrityError(f"{VAULT_DIR}/state/root belongs to vault {root.vault_id}; {what} {anchor.vault_id}")
        if root.owner_verify_key != anchor.verify_key:
            raise IntegrityError(f"{VAULT_DIR}/state/root names another owner verify key than {signer}")
        marks = self._mark_store(root)
        rises = marks.check_root(root.version, root.sha256)
        role = self._role(root)
        if anchor.mode == "owner" and role is not None:
            raise IntegrityError(
                f"{VAULT_DIR}/state/root is signed by this machine's owner key but names another owner recipient"
            )
        if anchor.first_use:
            assert anchor.vault_id is not None
            self._known.record(anchor.vault_id, anchor.verify_key)
        if rises:
            marks.raise_marks(root=(root.version, root.sha256))
        self._root = (stat_key, root, role)
        return root, role

    def _mark_store(self, root: Root) -> MarkStore:
        if self._marks is None or self._marks.vault_id != root.vault_id:
            self._marks = MarkStore(self._home, root.vault_id)
        return self._marks

    def _role(self, root: Root) -> frozenset[str] | None:
        """None for the owner, else the names of the agents whose recipient is this key's; neither: not
        authorized."""
        if self._recipient == root.owner_recipient.lower():
            return None
        agents = root.by_recipient.get(self._recipient)
        if not agents:
            raise NotAuthorizedError(
                f"the key {self._recipient} is neither the owner nor an agent of vault {root.vault_id}"
            )
        return agents

    def _index(self, root: Root, group: str) -> GroupIndex:
        """The verified index of ``group`` (which must be in ``root.groups``), cached by stat."""
        cached = self._indexes.get(group)
        rel = f"state/groups/{group}.json"
        try:
            stat_key, data = self._dir.read(
                ["state", "groups", f"{group}.json"], LIMIT_INDEX, cached[0] if cached else None
            )
        except FileMissing:
            raise IntegrityError(f"{VAULT_DIR}/{rel} is missing but the signed root lists group {group!r}") from None
        if data is None:
            assert cached is not None
            return cached[1]
        if hashlib.sha256(data).hexdigest() != root.groups[group].index_sha256:
            raise IntegrityError(f"{VAULT_DIR}/{rel}: hash does not match the signed root")
        index = parse_index(data, root, group)
        self._indexes[group] = (stat_key, index)
        return index


def _names(agents: frozenset[str]) -> str:
    return "/".join(sorted(agents))
