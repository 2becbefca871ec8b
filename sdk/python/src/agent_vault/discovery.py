"""Finding the vault (format.md section 6.4).

A reader given a directory looks for ``.agent-vault`` in it and in its parents, as Git looks for ``.git``. The
agent-vault home holds keys, not a vault: the search passes over it and goes on upwards, and so it does over a
plain file named ``.agent-vault``. Both ``$AGENT_VAULT_HOME`` (when set) and ``~/.agent-vault`` are passed over, as
the Go reader does, compared after resolving symbolic links (so a home that is itself a link is passed over too).
Any other ``.agent-vault`` that is a symbolic link is an integrity error (a vault never is one).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import IntegrityError, VaultNotFoundError
from .home import home_dir
from .layout import VAULT_DIR

__all__ = ["home_dirs", "is_home", "locate_vault"]


def home_dirs(home: Path | None = None) -> list[Path]:
    """The agent-vault homes a search passes over: ``home`` (default: :func:`~agent_vault.home.home_dir`) and
    ``~/.agent-vault``."""
    out = [home if home is not None else home_dir()]
    try:
        out.append(Path.home() / VAULT_DIR)
    except RuntimeError:  # no home directory can be determined
        pass
    return out


def is_home(candidate: Path, homes: list[Path]) -> bool:
    """True when ``candidate`` is one of ``homes`` once symbolic links are resolved (or the same directory on
    disk)."""
    real = os.path.realpath(candidate)
    for home in homes:
        try:
            if real == os.path.realpath(home) or os.path.samefile(candidate, home):
                return True
        except OSError:
            continue
    return False


def locate_vault(repo_path: str | os.PathLike[str], home: Path | None = None) -> Path:
    """Return the ``.agent-vault`` directory in ``repo_path`` or in the nearest parent that has one, passing over
    the agent-vault homes (:func:`home_dirs` of ``home``) and plain files.

    Raises VaultNotFoundError when ``repo_path`` does not exist or no vault is found, and IntegrityError when the
    nearest candidate is a symbolic link that is not the home.
    """
    homes = home_dirs(home)
    start = Path(os.path.abspath(os.path.expanduser(os.fspath(repo_path))))
    if not start.exists():
        raise VaultNotFoundError(f"No vault found at {start}: {start} does not exist")
    passed_home: Path | None = None
    for d in (start, *start.parents):
        candidate = d / VAULT_DIR
        try:
            st = os.lstat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            continue
        if is_home(candidate, homes):
            passed_home = candidate
            continue
        if stat.S_ISLNK(st.st_mode):
            raise IntegrityError(f"{candidate} is a symbolic link, which a vault never is")
        if stat.S_ISDIR(st.st_mode):
            return candidate
    note = f" ({passed_home} is the agent-vault home, which holds keys, not a vault)" if passed_home else ""
    raise VaultNotFoundError(
        f"No vault found at {start}: no {VAULT_DIR}/ vault directory in it or any parent directory{note}; "
        "the owner creates one with 'agent-vault init'"
    )
