"""The pull view (format.md section 6.8): where a reader's pull puts the upstream's vault, and which directory a
read then verifies.

A pull never changes the agent's working tree. It writes the vault directory of the fetched upstream commit, and
nothing else, to ``<git dir>/agent-vault/views/<commit>/<prefix>.agent-vault`` and names that commit in
``<git dir>/agent-vault/view``. A read verifies the view instead of the working tree's vault unless the view's
``state/root`` declares a lower version; the versions are read unverified, only to choose what is then verified
in full with the same anchor and high-water marks. :mod:`agent_vault.gitsync` writes views.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import AgentVaultError
from .layout import LIMIT_ROOT, VAULT_DIR, VaultDir
from .signed import split_signed
from .snapshot import find_git_top

__all__ = ["ViewLayout", "reading_dir", "root_version", "view_layout"]

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class ViewLayout:
    """Where the pull view of one vault lives."""

    pointer: Path  # one line: the hex name of the current view's commit
    views: Path  # one directory per commit
    prefix: str  # the vault's top relative to the working tree's top: "" or ending in "/"

    def dir(self, commit: str) -> Path:
        """The vault directory of ``commit``'s view."""
        return self.views / commit / self.prefix / VAULT_DIR

    def commit(self) -> str | None:
        """The commit the pointer names, or None when there is none or it is malformed."""
        try:
            if not os.path.isfile(self.pointer) or os.path.islink(self.pointer):
                return None
            with open(self.pointer, "rb") as f:
                data = f.read(129)
        except OSError:
            return None
        text = data.decode("ascii", "replace").removesuffix("\n")
        return text if _COMMIT.fullmatch(text) else None


def view_layout(top: Path) -> ViewLayout | None:
    """The view layout of the vault whose top (the directory holding ``.agent-vault``) is ``top``; None outside
    a Git working tree."""
    found = find_git_top(top)
    if found is None:
        return None
    work, git_dir = found
    rel = os.path.relpath(top, work)
    if rel == ".." or rel.startswith(".." + os.sep):
        return None
    prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
    home = git_dir / "agent-vault"
    return ViewLayout(pointer=home / "view", views=home / "views", prefix=prefix)


def root_version(vault_path: Path) -> int | None:
    """The version ``state/root`` in ``vault_path`` declares, unverified; None when it cannot be read or parsed."""
    try:
        _, data = VaultDir(vault_path).read(["state", "root"], LIMIT_ROOT)
        assert data is not None
        body, _ = split_signed(data)
        version = json.loads(body).get("version")
    except (AgentVaultError, ValueError, AttributeError, OSError):
        return None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def reading_dir(vault_path: Path) -> Path:
    """The vault directory a read verifies for the working tree's ``vault_path`` (format.md section 6.8): the
    working tree's own when there is no view, or when the view's root is of a lower version (the owner's own
    newer change); otherwise the current view (newer; the same version, so that a tampered file pushed beside
    an unchanged root fails loudly; a root that does not parse, which then fails verification; or a working
    tree whose root cannot be read or parsed, which the agent's own git pull may be replacing)."""
    view = current_view(vault_path)
    if view is None:
        return vault_path
    own = root_version(vault_path)
    if own is None:
        return view  # the agent's own git pull may be replacing the working tree's root; the view never changes
    seen = root_version(view)
    if seen is not None and seen < own:
        return vault_path
    return view


def other_dir(vault_path: Path, current: Path) -> Path | None:
    """The other candidate of format.md section 6.8 for a reader now reading ``current``: the working tree's
    ``vault_path`` when reading the view, the current view when reading the working tree; None when there is
    no view. A reader whose chosen directory verifies below the high-water mark reads the other one."""
    if current != vault_path:
        return vault_path
    return current_view(vault_path)


def current_view(vault_path: Path) -> Path | None:
    """The vault directory of the view the pointer names for the working tree's ``vault_path``, when it is a
    directory; else None."""
    layout = view_layout(vault_path.parent)
    commit = layout.commit() if layout else None
    if layout is None or commit is None:
        return None
    view = layout.dir(commit)
    if not view.is_dir() or view.is_symlink():
        return None
    return view
