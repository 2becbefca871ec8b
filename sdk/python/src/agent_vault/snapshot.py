"""A snapshot or nothing: reading while the vault changes (format.md section 6.6).

The owner's writer and Git replace files one at a time, so a read can meet a root and a file of two different
versions. Only *vouching failures* (:class:`~agent_vault.layout.VouchFailure`: ``state/root`` missing or failing its
signature, a vouched file missing or of another size or hash, an unsigned secret's files) can come from such a
race; :func:`read_snapshot` runs a read and treats them as section 6.6 says:

1. remember the root the failed attempt used;
2. wait for writers -- a ``.pending/root`` that is a signed successor of that root (an owner change, or a
   fast-forward from it that ``.pending/from`` names), or Git's ``index.lock`` -- polling every 10 ms, at most ``writer_wait`` seconds (10) in all; a writer still there then
   stops the read with an error of kind ``error`` that names it;
3. read the root again: if a writer was seen, or the root changed, start over (at most 5 attempts, pausing 10, 20,
   40, 80 ms between them; a root that keeps changing through all of them is an error of kind ``error``);
4. otherwise the state is stable and the failure stands as an integrity error.

Every other failure (rollback, fork, a bad name, an unknown format, ...) is raised at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import AgentVaultError
from .layout import LIMIT_ROOT, VAULT_DIR, VaultDir, VouchFailure
from .original import refuse_original
from .signed import ROOT_DOMAIN, signature_ok, split_signed

__all__ = [
    "ATTEMPTS",
    "PAUSES",
    "POLL",
    "WRITER_WAIT",
    "Failed",
    "WriterProbe",
    "find_git_dir",
    "find_git_top",
    "read_snapshot",
]

#: How long a read waits for writers, in all (seconds).
WRITER_WAIT = 10.0
#: How often it looks for them while it waits (seconds).
POLL = 0.01
#: Attempts of one read, and the pauses between them (seconds).
ATTEMPTS = 5
PAUSES = (0.01, 0.02, 0.04, 0.08)

T = TypeVar("T")


class Failed(Exception):
    """Raised by an attempt (see :func:`read_snapshot`): the vouching failure ``failure`` met while reading from the
    root whose SHA-256 is ``root_sha256`` (``None``: there was no ``state/root``)."""

    def __init__(self, failure: VouchFailure, root_sha256: str | None) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.root_sha256 = root_sha256


def find_git_dir(start: Path) -> Path | None:
    """The Git directory of the working tree holding ``start`` (see :func:`find_git_top`), or None."""
    found = find_git_top(start)
    return found[1] if found else None


def find_git_top(start: Path) -> tuple[Path, Path] | None:
    """``(top of the working tree, its Git directory)`` for ``start``: the nearest ``.git`` in ``start`` or a
    parent, a directory, or a file ``gitdir: PATH`` (a linked worktree or a submodule; a relative PATH is taken
    from the file's directory). None when there is none."""
    for d in (start, *start.parents):
        candidate = d / ".git"
        try:
            if candidate.is_dir():
                return d, candidate
            if not candidate.is_file():
                continue
            with open(candidate, "rb") as f:
                head = f.read(4096)
        except OSError:
            continue
        line = head.decode("utf-8", "replace").splitlines()[0] if head else ""
        if line.startswith("gitdir:"):
            target = Path(line[len("gitdir:") :].strip())
            return d, (target if target.is_absolute() else d / target)
    return None


class WriterProbe:
    """Tells whether a writer is changing the vault (format.md section 6.6 step 2).

    ``verify_key`` returns the keys that may sign a change (the anchor's, and those of the admins of the vault's
    admin chain, format.md section 4.1), or none when they cannot be known; a ``.pending/root`` then counts
    as no writer, like any file there that is not a signed successor (anyone can push a file; nobody but the owner
    can sign one).
    """

    def __init__(self, vault: VaultDir, verify_key: Callable[[], list[Ed25519PublicKey]]) -> None:
        self._dir = vault
        self._verify_key = verify_key
        self._git_dir: Path | None | bool = False  # False: not looked up yet
        self._checked: tuple[bytes, dict[str, object] | None] | None = None  # last .pending/root read -> its body if signed

    @property
    def vault_path(self) -> Path:
        """The ``.agent-vault`` directory watched."""
        return self._dir.path

    @property
    def git_dir(self) -> Path | None:
        """The Git directory of the working tree holding the vault (looked up once), or None."""
        if self._git_dir is False:
            self._git_dir = find_git_dir(self._dir.path.parent)
        assert self._git_dir is not True
        return self._git_dir or None

    def _signed_header(self, data: bytes, what: str, vks: list[Ed25519PublicKey]) -> dict[str, object] | None:
        """The JSON object of the signed root ``data`` when a key of ``vks`` signed it, else None."""
        try:
            body, sig = split_signed(data, what)
            if any(signature_ok(body, sig, vk, ROOT_DOMAIN) for vk in vks):
                obj = json.loads(body.decode("utf-8"))
                return obj if isinstance(obj, dict) else None
        except (AgentVaultError, UnicodeDecodeError, ValueError):
            pass
        return None

    def _pending(self) -> dict[str, object] | None:
        """The JSON object of ``.pending/root`` when it is there and signed by the anchor, else None."""
        try:
            _, data = self._dir.read([".pending", "root"], LIMIT_ROOT)
        except AgentVaultError:
            return None  # missing, a symlink, too large, unreadable: not an owner change
        assert data is not None
        if self._checked is not None and self._checked[0] == data:
            return self._checked[1]
        try:
            vks = self._verify_key()
        except AgentVaultError:
            vks = []
        obj = self._signed_header(data, f"{VAULT_DIR}/.pending/root", vks)
        self._checked = (data, obj)
        return obj

    def _fast_forward_from(self, pending: dict[str, object], root_sha256: str) -> bool:
        """Whether the pending root is a fast-forward from the root ``root_sha256`` (format.md section 6.6 step 2):
        ``.pending/from`` names it, ``state/root`` is still that root and signed likewise, and the pending root is a
        later version of the same vault."""
        try:
            _, frm = self._dir.read([".pending", "from"], 256)
            _, current = self._dir.read(["state", "root"], LIMIT_ROOT)
            vks = self._verify_key()
        except AgentVaultError:
            return False
        if frm is None or current is None or frm.decode("ascii", "replace").strip() != root_sha256:
            return False
        if hashlib.sha256(current).hexdigest() != root_sha256:
            return False
        root = self._signed_header(current, f"{VAULT_DIR}/state/root", vks)
        if root is None:
            return False
        version, root_version = pending.get("version"), root.get("version")
        return (
            pending.get("vault_id") == root.get("vault_id")
            and type(version) is int
            and type(root_version) is int
            and version > root_version
        )

    def writer(self, root_sha256: str | None) -> str | None:
        """A description of the writer at work on a successor of the root ``root_sha256`` (None: the root was
        missing, so only a first root, with an empty ``prev_sha256``, succeeds it), or None when there is none."""
        pending = self._pending()
        if pending is not None and (
            pending.get("prev_sha256") == (root_sha256 or "")
            or (root_sha256 is not None and self._fast_forward_from(pending, root_sha256))
        ):
            return (
                f"an owner change of the vault ({self._dir.path}/.pending/root) did not finish; if no agent-vault "
                f"command is running, run `agent-vault repair` in that repository"
            )
        git_dir = self.git_dir
        if git_dir is not None and os.path.lexists(git_dir / "index.lock"):
            return f"Git holds its index lock ({git_dir / 'index.lock'}); if no git command is running, remove it"
        return None


@dataclass
class _Budget:
    left: float


def _wait_for_writers(
    probe: WriterProbe, root_sha256: str | None, budget: _Budget, poll: float
) -> bool:
    """Step 2: wait while a writer is at work; True when one was seen. Raises AgentVaultError (kind ``error``)
    naming the writer when the budget runs out with it still there."""
    seen = False
    while True:
        writer = probe.writer(root_sha256)
        if writer is None:
            return seen
        seen = True
        if budget.left <= 0:
            raise AgentVaultError(f"the vault is being changed and the change did not end in time: {writer}")
        pause = min(poll, budget.left)
        start = time.monotonic()
        time.sleep(pause)
        budget.left -= max(time.monotonic() - start, pause)


def read_snapshot(
    attempt: Callable[[], T],
    current_root_sha256: Callable[[], str | None],
    probe: WriterProbe,
    writer_wait: float = WRITER_WAIT,
    poll: float = POLL,
    pauses: tuple[float, ...] = PAUSES,
) -> T:
    """Run ``attempt`` under the protocol of format.md section 6.6 and return its result.

    ``attempt`` reads from the current root; on a vouching failure it raises :class:`Failed` with the hash of the
    root it used. ``current_root_sha256`` reads ``state/root`` afresh and returns its hash (None when missing).
    A failure that persists on a stable state is raised as the attempt's :class:`VouchFailure` (the caller decides
    what a missing root means); a writer that stays over ``writer_wait`` seconds in all, or a root that changes
    through every attempt, raises AgentVaultError of kind ``error``.
    """
    budget = _Budget(writer_wait)
    for n in range(len(pauses) + 1):
        if n:
            time.sleep(pauses[n - 1])
        try:
            return attempt()
        except Failed as f:
            seen = _wait_for_writers(probe, f.root_sha256, budget, poll)
            if not seen and current_root_sha256() == f.root_sha256:
                if f.root_sha256 is None:
                    refuse_original(probe.vault_path)  # no signed state: agent-vault 0.1's layout, to migrate
                raise f.failure from None
    raise AgentVaultError(
        f"the vault at {probe.vault_path} kept changing while it was read ({len(pauses) + 1} attempts); try again"
    )

