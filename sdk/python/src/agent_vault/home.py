"""The agent-vault home (format.md section 3.3) and small file helpers for it.

``<home>`` is ``$AGENT_VAULT_HOME`` when set and non-empty, else ``~/.agent-vault``. Directories created here are
0700 and files 0600 whatever the umask.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "ensure_dir", "home_dir"]


def home_dir() -> Path:
    """Return the agent-vault home (not created)."""
    env = os.environ.get("AGENT_VAULT_HOME")
    if env:
        return Path(os.path.expanduser(env))
    return Path.home() / ".agent-vault"


def ensure_dir(path: Path) -> None:
    """Create ``path`` and missing parents; directories this call creates get mode 0700."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a 0600 temporary file in the same directory, fsync, rename,
    fsync of the directory. The parent directory is created (0700) if needed."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
