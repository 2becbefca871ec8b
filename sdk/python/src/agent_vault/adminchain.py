"""The chain of admin changes (format.md section 4.1).

The roots that changed a vault's admin set are kept as ``state/admins/<version>`` and verified in order of version
from the reader's anchor: each is signed by an admin of the set before it (the anchor's key for the first), belongs
to the anchor's vault, made its own admin set, and links to the link before it by hash. The current root must then
be signed by an admin of the last set and name exactly that set. A vault without admin changes has no chain. The
last link this machine verified is kept in the marks file (``admins``), and a chain without it is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from .errors import IntegrityError
from .layout import LIMIT_ROOT, FileMissing, VaultDir, VouchFailure
from .signed import ROOT_DOMAIN, parse_verify_key, signature_ok, split_signed
from .state import Root, RootAdmins, parse_root
from .trust import MarkStore

ADMIN_CHAIN_DIR = "state/admins"
_DECIMAL = re.compile(r"^[1-9][0-9]{0,15}$")


@dataclass(frozen=True)
class ChainLink:
    version: int
    sha256: str
    admins: RootAdmins


@dataclass(frozen=True)
class AdminChain:
    """A verified admin chain: its links, and the verify keys that may sign the current root."""

    links: tuple[ChainLink, ...]
    keys: tuple[str, ...]


def read_admin_chain(vdir: VaultDir, anchor_key: str, vault_id: str | None) -> AdminChain:
    """Read and verify ``state/admins/`` from the anchor's verify key (and vault id, when known). Vouching failures
    (format.md section 6.6: a writer adds a link just before the root that names it) raise VouchFailure."""
    try:
        names = os.listdir(vdir.path / "state" / "admins")
    except FileNotFoundError:
        return AdminChain((), (anchor_key,))
    except OSError as e:
        raise IntegrityError(f"{ADMIN_CHAIN_DIR} cannot be read: {e.strerror}") from None
    for n in names:
        if not _DECIMAL.match(n):
            raise IntegrityError(f"{ADMIN_CHAIN_DIR}/{n[:80]!r} is not a link of the admin chain (planted file)")
    keys: tuple[str, ...] = (anchor_key,)
    prev = ""
    links: list[ChainLink] = []
    for v in sorted(int(n) for n in names):
        rel = f"{ADMIN_CHAIN_DIR}/{v}"
        try:
            _, data = vdir.read(["state", "admins", str(v)], LIMIT_ROOT)
        except FileMissing:
            raise VouchFailure(f"{rel} is missing") from None
        assert data is not None
        body = verify_with_any(data, keys, rel)
        if body is None:
            raise VouchFailure(f"{rel} is not signed by an admin of the admin set before it")
        sha = hashlib.sha256(data).hexdigest()
        r = parse_root(body, sha)
        if r.version != v or r.admins is None or r.admins.since != v:
            raise VouchFailure(f"{rel} is not the root that made an admin set at version {v}")
        if (vault_id is not None and r.vault_id != vault_id) or r.owner_verify_key != anchor_key:
            raise IntegrityError(f"{rel} belongs to another vault")
        if r.admins.prev_sha256 != prev:
            raise VouchFailure(f"{rel} does not follow the admin change before it (a link of the admin chain is missing or replaced)")
        vault_id, prev = r.vault_id, sha
        links.append(ChainLink(v, sha, r.admins))
        keys = tuple(m.verify_key for m in r.admins.members.values())
    return AdminChain(tuple(links), keys)


def verify_with_any(data: bytes, keys: tuple[str, ...], what: str) -> bytes | None:
    """The body of the signed root ``data`` verified with one of ``keys``, or None when none verifies it."""
    try:
        body, sig = split_signed(data, what)
    except IntegrityError:
        return None
    for k in keys:
        if signature_ok(body, sig, parse_verify_key(k), ROOT_DOMAIN):
            return body
    return None


def same_admins(a: RootAdmins | None, b: RootAdmins | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.since == b.since and a.prev_sha256 == b.prev_sha256 and dict(a.members) == dict(b.members)


def check_root_admins(chain: AdminChain, root: Root) -> None:
    """The current root names exactly the admin set of the chain's last link (none without a chain)."""
    if not chain.links:
        if root.admins is not None:
            raise VouchFailure(f"state/root names admins, but {ADMIN_CHAIN_DIR} holds no chain of admin changes")
        return
    last = chain.links[-1]
    if not same_admins(root.admins, last.admins):
        raise VouchFailure(f"state/root does not name the admin set of the last admin change ({ADMIN_CHAIN_DIR}/{last.version})")


def apply_chain_mark(marks: MarkStore, chain: AdminChain, root: Root) -> None:
    """Hold a verified state to the last admin change this machine saw, then record the chain's last link when it
    is newer."""
    seen = marks.admin_mark()
    if seen is not None and seen[0] > 0:
        if root.admins is None:
            raise IntegrityError(
                f"rollback: the vault's signed state has no admin set, but admin change {seen[0]} was already seen on this machine"
            )
        link = next((l for l in chain.links if l.version == seen[0]), None)
        if link is None:
            raise IntegrityError(f"rollback: admin change {seen[0]}, already seen on this machine, is missing from {ADMIN_CHAIN_DIR}")
        if link.sha256 != seen[1]:
            raise IntegrityError(f"fork: admin change {seen[0]} differs from the one this machine already saw")
    if chain.links and (seen is None or chain.links[-1].version > seen[0]):
        marks.raise_admin_mark(chain.links[-1].version, chain.links[-1].sha256)
