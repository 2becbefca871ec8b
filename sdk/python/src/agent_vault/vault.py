"""The :class:`Vault` reader (format.md section 6).

A Vault opens one ``.agent-vault/`` directory (a local path, or a Git URL cloned into ``<home>/cache/``) with one
key, and reads secrets from it. Every read decides only from the signed root and from files whose size and hash the
root vouches for, directly (index shards) or through an index shard (``.enc`` files): a ``get`` reads the root, one
shard and one ``.enc``; a listing reads the root and the shards, never a ``.meta``. Reads follow the snapshot
protocol of section 6.6 (:mod:`agent_vault.snapshot`), so a change by the owner or a ``git pull`` in progress is
waited for rather than reported as tampering. The verified root and shards are cached in the object, keyed by the
file's stat (device, inode, size, mtime, ctime), and re-verified whenever it changes; a secret's ``.enc`` is read
and hashed on every call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .adminchain import apply_chain_mark, check_root_admins, read_admin_chain, verify_with_any
from .decrypt import decrypt_value
from .discovery import locate_vault
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
from .keys import ResolvedKey, derive_owner_verify_key, recipient_kind, resolve_key
from .layout import LIMIT_ROOT, LIMIT_UNTRUSTED, VAULT_DIR, FileMissing, StatKey, VaultDir, VouchFailure
from .manifest import Manifest
from .names import check_name, check_secret_path, shard_of
from .signed import ROOT_DOMAIN, ROOT_DOMAIN_V1, parse_verify_key, signature_ok, split_signed
from .snapshot import WRITER_WAIT, Failed, WriterProbe, read_snapshot
from .state import Root, SecretInfo, Shard, parse_config, parse_root, parse_root_v1, parse_shard
from .trust import BelowMarkError, KnownVaults, MarkStore
from .view import other_dir, reading_dir

__all__ = ["Vault", "locate_vault"]

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11; annotations only, never imported at run time

T = TypeVar("T")

log = logging.getLogger("agent_vault")


@dataclass(frozen=True)
class _Anchor:
    vault_id: str | None  # None: any (owner anchor)
    verify_key: str
    mode: str  # "pinned", "owner", "admin" (another admin's owner key, format.md 4.1) or "tofu"
    first_use: bool


@dataclass(frozen=True)
class _VerifiedRoot:
    stat: StatKey
    root: Root
    role: str | None  # None: the owner; else the agent's name


class _RootMissing(VouchFailure):
    """``state/root`` does not exist (a vouching failure until the state is stable)."""


def _other_kind(recipient: str, vault_id: str, vault_recipient: str) -> NotAuthorizedError | None:
    """The error for a key whose kind (classic or post-quantum) is not the vault's (format.md 3.8: not authorized,
    never integrity), None when the kinds match."""
    mine, theirs = recipient_kind(recipient), recipient_kind(vault_recipient)
    if mine == theirs:
        return None
    return NotAuthorizedError(
        f"this key is a {mine} key, but vault {vault_id} uses {theirs} keys: use the key file the owner made for "
        "this vault (after 'agent-vault migrate --pq', the agent's new key file; the owner key of a post-quantum "
        "vault is ~/.agent-vault/owner-pq.key)"
    )


def _unverified_owner(body: bytes) -> str:
    """The owner recipient a root body names, read unverified (only to choose a message), or ""."""
    try:
        owner = json.loads(body).get("owner")
        recipient = owner.get("recipient") if isinstance(owner, dict) else None
    except (ValueError, AttributeError):
        return ""
    return recipient if isinstance(recipient, str) else ""


def _secret_file(path: str, suffix: str) -> list[str]:
    parts = path.split("/")
    return ["secrets", *parts[:-1], parts[-1] + suffix]


class Vault:
    """Read access to one agent-vault with one key.

    ``repo_path`` is a local path (the directory holding ``.agent-vault/``, or any directory below it; the search
    upwards passes over the agent-vault home) or a Git URL (``https://``, ``ssh://``, ``git://``, ``file://`` or
    ``user@host:path``), cloned with ``git`` into ``<home>/cache/<sha256(url)[:16]>/``. The key is ``key_path`` (a
    key file), or ``key_str`` (key-file content, a bare ``AGE-SECRET-KEY-1...`` line, or a path), else
    ``$AGENT_VAULT_KEY``, else ``<home>/owner.key``.

    With ``auto_pull`` (the default), reads first fetch the working tree's upstream, when its branch has one, into
    the pull view (format.md section 6.8: only the upstream's ``.agent-vault/`` is written, under the Git
    directory; the working tree is never changed), at most once every ``pull_interval`` seconds (default 5), each
    git step bounded by ``pull_timeout`` seconds (default 10); a failure logs one warning on the ``agent_vault``
    logger and what is on disk is used. Every read (with or without ``auto_pull``) verifies the view while it is
    newer than the working tree's vault.

    A read that meets the vault half-changed (an owner command or Git at work) waits for the writer, at most
    ``writer_wait`` seconds in all (default 10), and reads again; a writer still at work then raises
    AgentVaultError of kind ``error`` naming it (format.md section 6.6).

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
        writer_wait: float = WRITER_WAIT,
    ) -> None:
        self._lock = threading.RLock()
        self._writer_keys: tuple[str, ...] = ()
        self._closed = False
        self._home = home_dir()
        self._key: ResolvedKey | None = resolve_key(key_path, key_str, self._home)
        self._recipient = self._key.key.recipient.lower()

        repo = os.fspath(repo_path)
        cloned_now = False
        if not os.path.exists(os.path.expanduser(repo)) and is_git_url(repo):
            try:
                top, cloned_now = clone_or_reuse(repo, self._home)
            except VaultNotFoundError as e:
                # agent-vault 0.1's leading words, then the reason.
                raise VaultNotFoundError(f"Failed to clone/update {redact(repo)}: {e}") from None
            vault_path = top / VAULT_DIR
            if os.path.islink(vault_path):
                raise IntegrityError(f"{vault_path} is a symbolic link, which a vault never is")
            if not os.path.isdir(vault_path):
                raise VaultNotFoundError(
                    f"No vault found at {redact(repo)}: the repository has no {VAULT_DIR}/ directory at its top"
                )
        else:
            vault_path = locate_vault(repo, self._home)
        self._vault_path = vault_path
        self._dir = VaultDir(vault_path)
        self._pull_timeout = pull_timeout
        self._puller = Puller(vault_path.parent, timeout=pull_timeout, interval=pull_interval) if auto_pull else None
        if self._puller is not None and cloned_now:
            self._puller.mark_pulled()

        self._known = KnownVaults(self._home)
        # The directory trust records name (format.md section 6.2): absolute, symbolic links resolved.
        self._trust_dir = os.path.realpath(vault_path)
        self._derived_vk: str | None = None
        self._root: _VerifiedRoot | None = None
        self._shards: dict[str, tuple[StatKey, Shard]] = {}
        self._marks: MarkStore | None = None
        self._writer_wait = writer_wait
        self._probe = WriterProbe(self._dir, self._anchor_verify_key)

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
        """Return the exact bytes of secret ``path`` (format.md section 6.5)."""
        with self._lock:
            key = self._open_key()
            path = check_secret_path(path)
            self._pull()
            return self._snapshot(lambda: self._attempt(lambda root, role: self._get_once(path, key, root, role)))

    def list_secrets(self, group: str | None = None, *, strict: bool = False) -> list[SecretInfo]:
        """Return the metadata of the secrets this key can read (all of them for the owner), sorted by name,
        optionally only those of ``group``. The metadata comes from the verified index shards: no ``.meta`` is
        read and nothing is decrypted.

        A ``group`` the vault does not have gives ``[]``, as in agent-vault 0.1; with ``strict=True`` it raises
        SecretNotFoundError, as ``agent-vault list --group`` exits 4 (a typo is caught). A malformed group name
        raises AgentVaultError of kind ``usage`` either way.
        """
        with self._lock:
            self._open_key()
            if group is not None:
                check_name(group, "group name")
            self._pull()
            return self._snapshot(
                lambda: self._attempt(lambda root, role: self._list_once(group, root, role, strict))
            )

    def list_agents(self) -> list[dict[str, Any]]:
        """Every agent of the vault and its groups, from the verified root: ``[{"name": "ci", "groups":
        ["stripe"]}, ...]``, sorted by name, groups sorted (agent-vault 0.1's shape). Any key of the vault (the
        owner's or an agent's) may list them; nothing is decrypted."""
        return self.manifest.list_agents()

    @property
    def manifest(self) -> Manifest:
        """The access policy (agents, groups, the secrets of each group) of the verified state, as agent-vault
        0.1's ``Manifest`` offered it. Reads the root and every index shard, verifying them as
        :meth:`list_secrets` does; pulls first as reads do."""
        with self._lock:
            self._open_key()
            self._pull()
            return self._snapshot(lambda: self._attempt(self._manifest_once))

    def pull(self) -> None:
        """Pull now (also with ``auto_pull=False``): fetch the working tree's upstream into the pull view, as
        reads do before they verify (format.md section 6.8); the working tree is never changed. A tree without an
        upstream is left alone. Never raises: a failure (offline, remote gone, timeout) logs a warning on the
        ``agent_vault`` logger, every time, and later reads use what is on disk (agent-vault 0.1's best effort)."""
        with self._lock:
            self._open_key()
            puller = self._puller or Puller(self._vault_path.parent, timeout=self._pull_timeout)
            # Pull now whatever the interval, and warn on a failure even if the last automatic pull warned.
            puller._last = None
            puller._failing = False
            try:
                puller.maybe_pull()
            except Exception as e:  # noqa: BLE001  # pragma: no cover - maybe_pull does not raise; pull() must not either
                log.warning("agent-vault: git pull failed (%s); using the local copy", type(e).__name__)

    def reload(self) -> None:
        """Forget the cached verified state, so the next read verifies the vault from disk afresh (agent-vault
        0.1 re-read its manifest here). Reads already notice a changed file; this also drops the choice between
        the working tree and the pull view."""
        with self._lock:
            self._open_key()
            self._root = None
            self._shards.clear()

    def close(self) -> None:
        """Forget the key and the caches. Later calls raise AgentVaultError (kind ``usage``)."""
        with self._lock:
            self._closed = True
            self._key = None
            self._root = None
            self._shards.clear()

    def __enter__(self) -> Self:
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

    # -- one attempt of a read ---------------------------------------------------------------------------------

    def _get_once(self, path: str, key: ResolvedKey, root: Root, role: str | None) -> bytes:
        """Steps 3 to 6 of format.md section 6.5, from a verified root."""
        shard_id = shard_of(path)
        entry = self._shard(root, shard_id).secrets.get(path) if shard_id in root.index else None
        if entry is None:
            if self._dir.exists(_secret_file(path, ".enc")) or self._dir.exists(_secret_file(path, ".meta")):
                # A vouching failure: a writer (or Git) puts a new secret's files in place before the root.
                raise VouchFailure(
                    f"secret {path!r} has files under {VAULT_DIR}/secrets/ but is not in the signed state "
                    f"(unsigned secret)"
                )
            raise SecretNotFoundError(f"Secret not found: {path} (no secret {path!r} in vault {root.vault_id})")
        if role is not None and role not in root.groups[entry.group].members and role not in entry.extra_agents:
            raise NotAuthorizedError(
                f"Cannot decrypt {path!r}: agent {role!r} is not granted secret {path!r} (group {entry.group!r})"
            )
        marks = self._mark_store(root.vault_id)
        rises = self._mark_checked(root.sha256, lambda: marks.check_secret(path, entry.version))
        _, enc = self._dir.read_vouched(_secret_file(path, ".enc"), entry.enc_size, entry.enc_sha256)
        assert enc is not None
        try:
            value = decrypt_value(enc, key.key.identity, f"secret {path!r}")
        except NotAuthorizedError as e:
            raise NotAuthorizedError(f"Cannot decrypt {path!r}: {e}") from None
        if rises:
            marks.raise_marks(secrets={path: entry.version})
        return value

    def _list_once(self, group: str | None, root: Root, role: str | None, strict: bool) -> list[SecretInfo]:
        """Listing (format.md section 6.5), from a verified root: every shard is read and verified, and every
        group's count of secrets is checked against the entries that name it."""
        if strict and group is not None and group not in root.groups:
            raise SecretNotFoundError(f"Group not found: {group} (no group {group!r} in vault {root.vault_id})")
        out: list[SecretInfo] = []
        counts: Counter[str] = Counter()
        for shard_id in sorted(root.index):
            for path, entry in self._shard(root, shard_id).secrets.items():
                counts[entry.group] += 1
                if group is not None and entry.group != group:
                    continue
                if role is not None and role not in root.groups[entry.group].members and role not in entry.extra_agents:
                    continue
                out.append(SecretInfo.of(path, entry, root))
        self._check_counts(root, counts)
        out.sort(key=lambda s: s.name)
        return out

    # -- internals -------------------------------------------------------------------------------------------

    def _manifest_once(self, root: Root, role: str | None) -> Manifest:
        """The manifest of a verified root: every shard read and verified, group counts checked."""
        entries: dict[str, tuple[str, frozenset[str]]] = {}
        counts: Counter[str] = Counter()
        for shard_id in sorted(root.index):
            for path, entry in self._shard(root, shard_id).secrets.items():
                counts[entry.group] += 1
                entries[path] = (entry.group, entry.extra_agents)
        self._check_counts(root, counts)
        return Manifest.from_state(root, entries)

    @staticmethod
    def _check_counts(root: Root, counts: Counter[str]) -> None:
        for g in sorted(root.groups):
            if counts[g] != root.groups[g].secrets:
                raise IntegrityError(
                    f"{VAULT_DIR}/state/index: {counts[g]} entries name group {g!r} but the root says "
                    f"{root.groups[g].secrets}"
                )

    def _open_key(self) -> ResolvedKey:
        if self._closed or self._key is None:
            raise usage_error("the vault is closed")
        return self._key

    def _pull(self) -> None:
        """Pull (when due) into the pull view, then read from the directory format.md section 6.8 chooses: the view
        while it is newer than the working tree's vault, else the working tree's. Trust records keep naming the
        working tree (``_trust_dir``)."""
        if self._puller is not None:
            self._puller.maybe_pull()
        self._use_dir(reading_dir(self._vault_path))

    def _use_dir(self, path: Path) -> None:
        """Read from the vault directory ``path`` (the working tree's or a pull view) from now on."""
        if path != self._dir.path:
            self._dir = VaultDir(path)
            self._probe = WriterProbe(self._dir, self._anchor_verify_key)
            self._root = None
            self._shards.clear()

    def _snapshot(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` under the snapshot protocol (format.md section 6.6) and settle a failure that stands."""
        try:
            return read_snapshot(attempt, self._current_root_sha256, self._probe, self._writer_wait)
        except _RootMissing:
            if self._dir.exists(["config.yaml"]):
                raise IntegrityError(f"{VAULT_DIR}/state/root is missing: the vault has no signed state") from None
            raise VaultNotFoundError(f"{self._dir.path} is not an agent-vault vault (no state/root)") from None
        except VouchFailure as f:
            raise IntegrityError(str(f)) from None

    def _attempt(self, read: Callable[[Root, str | None], T]) -> T:
        """One attempt: verify the root, then ``read`` from it; a vouching failure is raised as :class:`Failed`
        with the hash of the root the attempt used."""
        verified = self._verified_root()
        try:
            return read(verified.root, verified.role)
        except VouchFailure as f:
            raise Failed(f, verified.root.sha256) from None

    def _current_root_sha256(self) -> str | None:
        """The hash of ``state/root`` as it is now (read afresh), or None when it is missing."""
        try:
            _, data = self._dir.read(["state", "root"], LIMIT_ROOT)
        except FileMissing:
            return None
        assert data is not None
        return hashlib.sha256(data).hexdigest()

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
            cfg = self._config()
            if cfg is None or cfg[1] == self._derived_vk:
                return _Anchor(None, self._derived_vk, "owner", False)
            # Another admin's owner key (format.md section 4.1): trusted as a key without pins is, and only when the
            # verified state lists it as an admin.
            # No key line: an admin key, like the owner's, may serve several vaults.
            known = self._known.check(cfg[0], cfg[1], "", self._trust_dir)
            return _Anchor(cfg[0], cfg[1], "admin", not known)
        try:
            _, data = self._dir.read(["config.yaml"], LIMIT_UNTRUSTED)
        except FileMissing:
            raise IntegrityError(f"{VAULT_DIR}/config.yaml is missing") from None
        assert data is not None
        vault_id, verify_key = parse_config(data)
        known = self._known.check(vault_id, verify_key, self._recipient, self._trust_dir)
        return _Anchor(vault_id, verify_key, "tofu", not known)

    def _config(self) -> tuple[str, str] | None:
        """The vault id and owner verify key config.yaml names (unverified), or None when it cannot be read."""
        try:
            _, data = self._dir.read(["config.yaml"], LIMIT_UNTRUSTED)
            assert data is not None
            return parse_config(data)
        except (FileMissing, AgentVaultError, ValueError):
            return None

    def _anchor_verify_key(self) -> list[Ed25519PublicKey]:
        """The keys that may sign a change, for the writer probe: the anchor's and those of the current admins of
        the admin chain last read (format.md section 4.1); none when they cannot be known now."""
        try:
            return [parse_verify_key(k) for k in (self._anchor().verify_key, *self._writer_keys)]
        except (AgentVaultError, ValueError):
            return []

    def _verified_root(self) -> _VerifiedRoot:
        """Read, verify and parse ``state/root`` (or reuse the cached result while the file is unchanged), work out
        the key's role, then apply the high-water mark.

        The order follows format.md section 6.5: signature and anchor, then the mark, then the role; a vault is
        recorded in ``known_vaults`` and the mark raised only once the key is known to be the owner's or an
        agent's. A missing root or one that fails its signature raises :class:`Failed`; a format 1 root that
        verifies raises VaultNotFoundError naming ``agent-vault migrate`` (section 11)."""
        cached = self._root
        try:
            stat_key, data = self._dir.read(["state", "root"], LIMIT_ROOT, cached.stat if cached else None)
        except FileMissing:
            raise Failed(_RootMissing(f"{VAULT_DIR}/state/root is missing"), None) from None
        if data is None:
            assert cached is not None
            marks = self._mark_store(cached.root.vault_id)
            version, sha = cached.root.version, cached.root.sha256
            if self._mark_checked(sha, lambda: marks.check_root(version, sha)):
                marks.raise_marks(root=(version, sha))
            return cached

        self._root = None
        self._shards.clear()
        sha = hashlib.sha256(data).hexdigest()
        anchor = self._anchor()
        signer = {
            "pinned": f"the owner key pinned in {self._open_key().key.source}",
            "owner": "this machine's owner key",
            "tofu": f"the owner key trusted for vault {anchor.vault_id}",
            "admin": f"the founding owner key trusted for vault {anchor.vault_id}",
        }[anchor.mode]
        try:
            vk = parse_verify_key(anchor.verify_key)
        except ValueError as e:  # pragma: no cover - anchors are validated when read
            raise IntegrityError(f"trust anchor: {e}") from None
        what = f"{VAULT_DIR}/state/root (checked with {signer})"
        try:
            body, sig = split_signed(data, what)
        except IntegrityError as e:
            raise Failed(VouchFailure(str(e)), sha) from None
        try:
            # Every link has the anchor's vault id (format.md 4.1 step 2): the pinned one, or config.yaml's for trust on
            # first use and an admin's key; this machine's owner key anchors no vault id.
            chain = read_admin_chain(self._dir, anchor.verify_key, anchor.vault_id)
        except VouchFailure as f:
            raise Failed(f, sha) from None
        self._writer_keys = chain.keys
        if chain.links and verify_with_any(data, chain.keys, what) is None:
            raise Failed(VouchFailure(f"{what}: signature does not verify with the key of any current admin"), sha)
        if not chain.links and not signature_ok(body, sig, vk, ROOT_DOMAIN):
            if signature_ok(body, sig, vk, ROOT_DOMAIN_V1):
                self._format1(body, sha, anchor, signer)
            if anchor.mode == "pinned":
                self._other_vault(body, sig, sha, anchor)
            theirs = _unverified_owner(body) if anchor.mode == "owner" else ""
            wrong = _other_kind(self._recipient, "in this repository", theirs) if theirs else None
            if wrong is not None:
                # An owner key of the other kind (classic for a post-quantum vault, or the reverse) is the wrong
                # key, not tampering (format.md 3.8).
                raise wrong
            raise Failed(VouchFailure(f"{what}: bad signature (not signed by the trusted owner key)"), sha)
        root = parse_root(body, sha)
        try:
            check_root_admins(chain, root)
        except VouchFailure as f:
            raise Failed(f, sha) from None
        if anchor.mode == "pinned" and root.vault_id != anchor.vault_id and self._config_names(root.vault_id, root.owner_verify_key):
            assert anchor.vault_id is not None
            raise self._known.wrong_vault(self._trust_dir, anchor.vault_id, root.vault_id)
        self._check_anchor(root.vault_id, root.owner_verify_key, anchor, signer)
        marks = self._mark_store(root.vault_id)
        rises = self._mark_checked(sha, lambda: marks.check_root(root.version, root.sha256))
        apply_chain_mark(marks, chain, root)
        if anchor.mode == "admin" and root.admins is None:
            wrong = _other_kind(self._recipient, root.vault_id, root.owner_recipient)
            if wrong is not None:
                raise wrong
            # Only the founding owner administers a vault without admins: another owner key meeting one is the
            # case of a vault re-signed by someone else.
            raise IntegrityError(f"{VAULT_DIR}/state/root: bad signature (the vault is not signed by this owner key)")
        role = self._role(root)
        if anchor.mode == "owner" and role is not None:
            raise IntegrityError(
                f"{VAULT_DIR}/state/root is signed by this machine's owner key but names another owner recipient"
            )
        if anchor.mode in ("tofu", "admin"):
            assert anchor.vault_id is not None
            rcpt = self._recipient if anchor.mode == "tofu" else ""
            self._known.record(anchor.vault_id, anchor.verify_key, rcpt, self._trust_dir)
        if rises:
            marks.raise_marks(root=(root.version, root.sha256))
        self._root = _VerifiedRoot(stat_key, root, role)
        return self._root

    def _config_names(self, vault_id: str, verify_key: str) -> bool:
        """True when config.yaml names ``vault_id`` and ``verify_key``: the repository holds one whole vault."""
        try:
            _, data = self._dir.read(["config.yaml"], LIMIT_UNTRUSTED)
            assert data is not None
            return parse_config(data) == (vault_id, verify_key)
        except (FileMissing, AgentVaultError, ValueError):
            return False

    def _other_vault(self, body: bytes, sig: bytes, sha: str, anchor: _Anchor) -> None:
        """A pinned key used on another vault (format.md section 6.1): the root does not verify with the pin, but
        does with the owner key config.yaml publishes, and belongs to the vault config.yaml names, which is not the
        pinned one. Raises the configuration error; returns when the repository is not such a vault."""
        try:
            _, data = self._dir.read(["config.yaml"], LIMIT_UNTRUSTED)
            assert data is not None
            vault_id, verify_key = parse_config(data)
            if vault_id == anchor.vault_id or not signature_ok(body, sig, parse_verify_key(verify_key), ROOT_DOMAIN):
                return
            root = parse_root(body, sha)
        except (FileMissing, AgentVaultError, ValueError):
            return
        if root.vault_id == vault_id and root.owner_verify_key == verify_key:
            assert anchor.vault_id is not None
            raise self._known.wrong_vault(self._trust_dir, anchor.vault_id, root.vault_id)

    @staticmethod
    def _check_anchor(vault_id: str, verify_key: str, anchor: _Anchor, signer: str) -> None:
        if anchor.vault_id is not None and vault_id != anchor.vault_id:
            what = "pin mismatch: the key file is pinned to" if anchor.mode == "pinned" else "config.yaml says"
            raise IntegrityError(f"{VAULT_DIR}/state/root belongs to vault {vault_id}; {what} {anchor.vault_id}")
        if verify_key != anchor.verify_key:
            raise IntegrityError(f"{VAULT_DIR}/state/root names another owner verify key than {signer}")

    def _format1(self, body: bytes, sha: str, anchor: _Anchor, signer: str) -> None:
        """A root signed with the format 1 domain by the anchor (format.md section 11): rollback and fork are
        integrity errors; otherwise the vault must be migrated (VaultNotFoundError). Always raises."""
        old = parse_root_v1(body, sha)
        self._check_anchor(old.vault_id, old.owner_verify_key, anchor, signer)
        marks = self._mark_store(old.vault_id)
        self._mark_checked(sha, lambda: marks.check_root(old.version, old.sha256))
        raise VaultNotFoundError(
            f"{self._dir.path} holds a format 1 vault (version {old.version}), which this reader no longer reads: "
            f"the owner must convert it with `agent-vault migrate`"
        )

    def _mark_checked(self, root_sha256: str, check: Callable[[], bool]) -> bool:
        """Run a high-water-mark ``check`` for a read from the root ``root_sha256``.

        A rollback or fork is decided on the first attempt (format.md section 6.6) -- unless ``state/root`` has
        changed since this attempt read it: the owner's writer on this machine raises the mark right after it
        replaces the root (and another reader right after it reads the new one), so a reader that read the old
        root just before can meet the new mark. Its read then starts over from the new root, as for a vouching
        failure; a rollback on a root that stays is reported.
        """
        try:
            return check()
        except IntegrityError as e:
            if self._current_root_sha256() != root_sha256:
                raise Failed(VouchFailure(str(e)), root_sha256) from None
            # Below the mark in this directory: with a pull view, the other candidate may be the newer one
            # (section 6.8: another reader read it while the agent's own git pull was replacing this one).
            # The read starts over there; a rollback in both stays a rollback.
            other = other_dir(self._vault_path, self._dir.path)
            if other is not None and isinstance(e, BelowMarkError):
                self._use_dir(other)
                raise Failed(VouchFailure(str(e)), root_sha256) from None
            raise

    def _mark_store(self, vault_id: str) -> MarkStore:
        if self._marks is None or self._marks.vault_id != vault_id:
            self._marks = MarkStore(self._home, vault_id)
        return self._marks

    def _role(self, root: Root) -> str | None:
        """None for the owner, else the name of the agent whose recipient is this key's; neither: not
        authorized."""
        if root.admins is None:
            if self._recipient == root.owner_recipient:
                return None
        else:
            for a in root.admins.members.values():
                if a.recipient == self._recipient:
                    if self._derived_vk is not None and self._open_key().is_home_owner_key and a.verify_key != self._derived_vk:
                        raise IntegrityError(f"{VAULT_DIR}/state/root names this key's recipient for an admin with another verify key")
                    return None
        agent = root.agent_by_recipient.get(self._recipient)
        if agent is None:
            wrong = _other_kind(self._recipient, root.vault_id, root.owner_recipient)
            if wrong is not None:
                raise wrong
            raise NotAuthorizedError(
                f"the key {self._recipient} is neither the owner nor an agent of vault {root.vault_id}"
            )
        return agent

    def _shard(self, root: Root, shard_id: str) -> Shard:
        """The verified index shard ``shard_id`` (which must be in ``root.index``), cached by stat while the root
        is unchanged."""
        ref = root.index[shard_id]
        cached = self._shards.get(shard_id)
        stat_key, data = self._dir.read_vouched(
            ["state", "index", f"{shard_id}.json"], ref.size, ref.sha256, cached[0] if cached else None
        )
        if data is None:
            assert cached is not None
            return cached[1]
        shard = parse_shard(data, root, shard_id)
        self._shards[shard_id] = (stat_key, shard)
        return shard

