"""Git as the (untrusted) sync layer: clone remote vaults into the cache and pull upstream vaults into the pull view.

Git is driven through the ``git`` CLI so users' credential helpers, SSH configuration and hooks apply. Every git
process runs with ``GIT_TERMINAL_PROMPT=0``, no standard input, in its own session (no controlling terminal, so
nothing can prompt) and under a timeout after which its whole process group is killed. Nothing fetched is trusted:
the reader verifies everything it uses.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import AgentVaultError, VaultNotFoundError
from .home import ensure_dir
from .layout import VAULT_DIR
from .view import ViewLayout, view_layout

__all__ = [
    "CLONE_TIMEOUT",
    "PULL_INTERVAL",
    "PULL_TIMEOUT",
    "Puller",
    "cache_dir_for",
    "clone_or_reuse",
    "is_git_url",
    "redact",
    "write_view",
]

log = logging.getLogger("agent_vault")

CLONE_TIMEOUT = 120.0
PULL_TIMEOUT = 10.0
PULL_INTERVAL = 5.0

_URL = re.compile(r"(?:https?|ssh|git|file|git\+ssh|ssh\+git)://\S+", re.IGNORECASE)
_SCP = re.compile(r"[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:(?!//)\S*")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def is_git_url(value: str) -> bool:
    """True for ``https://``, ``http://``, ``ssh://``, ``git://``, ``file://`` URLs and scp-like ``user@host:path``."""
    return _URL.fullmatch(value) is not None or _SCP.fullmatch(value) is not None


def redact(text: str) -> str:
    """Hide credentials embedded in URLs (``scheme://user:token@host`` -> ``scheme://***@host``)."""
    return _USERINFO.sub(r"\1***@", text)


def cache_dir_for(url: str, home: Path) -> Path:
    """``<home>/cache/<first 16 hex of sha256(url)>``: where the clone of ``url`` lives."""
    return home / "cache" / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("LC_ALL", "C")
    env.update(extra or {})
    return env


def run_git(
    args: list[str], cwd: Path | None, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``git args`` (with ``env`` added to the environment) and return ``(exit code, stderr text)``; stdout is
    discarded. A timeout kills the process group and returns exit code -1. A missing ``git`` binary raises
    AgentVaultError."""
    try:
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=_git_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise AgentVaultError("the git command is not installed") from None
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return -1, f"timed out after {timeout:g}s"
    return proc.returncode, redact(err.decode("utf-8", "replace").strip())


def run_git_stdout(args: list[str], cwd: Path, timeout: float) -> str | None:
    """Run ``git args`` and return its stripped stdout, or None when it fails or times out."""
    try:
        res = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.decode("utf-8", "replace").strip()


def clone_or_reuse(url: str, home: Path, timeout: float = CLONE_TIMEOUT) -> tuple[Path, bool]:
    """Return ``(clone directory, cloned_now)`` for ``url``: the existing clone in the cache, or a fresh one.

    A fresh clone is made in a temporary directory beside its destination and renamed into place, so a failed or
    interrupted clone never leaves a half-made cache entry. A failure raises VaultNotFoundError with git's
    message (credentials in URLs redacted).
    """
    dest = cache_dir_for(url, home)
    if (dest / ".git").exists():
        return dest, False
    ensure_dir(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        rc, err = run_git(["clone", "--quiet", "--", url, str(tmp / "repo")], None, timeout)
        if rc != 0:
            raise VaultNotFoundError(f"cannot clone {redact(url)}: {err or f'git exited with {rc}'}")
        try:
            os.rename(tmp / "repo", dest)
        except OSError:
            if not (dest / ".git").exists():
                raise
            # Another process cloned it meanwhile; use that one.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest, True


class Puller:
    """Pulls the upstream of the Git working tree that holds a vault into the pull view (format.md section 6.8), at
    most once per ``interval`` seconds. The working tree, its index and HEAD are never changed: ``git fetch``,
    then, when the upstream's commit holds something HEAD lacks, that commit's vault directory (and nothing else)
    is written to the view through a temporary index. Files outside the vault reach the working tree only when its
    user pulls.

    ``maybe_pull`` never raises: when the tree is not a Git repository or its branch has no upstream it does
    nothing; when the fetch fails or times out it logs one warning (then stays quiet until a pull succeeds again)
    and the reader goes on with what is on disk (the working tree, or the last view).
    """

    def __init__(self, start: Path, timeout: float = PULL_TIMEOUT, interval: float = PULL_INTERVAL) -> None:
        self.start = start
        self.timeout = timeout
        self.interval = interval
        self._toplevel: Path | None | bool = False  # False: not looked up yet; None: not a git working tree
        self._last: float | None = None
        self._failing = False

    def _worktree(self) -> Path | None:
        if self._toplevel is False:
            top = run_git_stdout(["rev-parse", "--show-toplevel"], self.start, self.timeout)
            self._toplevel = Path(top) if top else None
        assert self._toplevel is not True
        return self._toplevel or None

    def maybe_pull(self) -> None:
        """Pull when the last attempt is older than ``interval`` seconds (see the class docstring)."""
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        top = self._worktree()
        if top is None:
            return
        upstream = run_git_stdout(
            ["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"], top, self.timeout
        )
        if not upstream:
            return
        try:
            rc, err = run_git(["fetch", "--quiet"], top, self.timeout)
            if rc == 0:
                rc, err = self._update_view(top)
        except AgentVaultError as e:
            rc, err = 1, str(e)
        if rc == 0:
            self._failing = False
            return
        if not self._failing:
            self._failing = True
            log.warning(
                "agent-vault: git pull in %s failed (%s); using the local copy", top, err or f"exit code {rc}"
            )
        self._last = time.monotonic()

    def _update_view(self, top: Path) -> tuple[int, str]:
        """After a fetch: write the upstream's vault into the view unless HEAD already contains the upstream."""
        commit = run_git_stdout(["rev-parse", "--verify", "-q", "@{upstream}^{commit}"], top, self.timeout)
        if not commit:
            return 1, "the upstream's commit is not known after fetching"
        if run_git_stdout(["rev-parse", "--verify", "-q", "HEAD"], top, self.timeout) is not None:
            rc, _ = run_git(["merge-base", "--is-ancestor", commit, "HEAD"], top, self.timeout)
            if rc == 0:
                return 0, ""
        layout = view_layout(self.start)
        if layout is None:
            return 1, f"{self.start} is not in the working tree of {top}"
        return write_view(top, layout, commit, self.timeout)

    def mark_pulled(self) -> None:
        """Record a fetch made just now (e.g. a fresh clone) so the next read does not pull again at once."""
        self._last = time.monotonic()


def write_view(top: Path, layout: ViewLayout, commit: str, timeout: float) -> tuple[int, str]:
    """Make ``commit``'s view complete and current (format.md section 6.8); ``(exit code, stderr)`` of what failed.

    The view directory is written whole under a temporary name and renamed into place, and the pointer replaced
    atomically last, so a reader never meets half of either. The pointer never moves back to an ancestor of the
    commit it names. Views other than the new one and the one it replaces are removed."""
    prev = layout.commit()
    if prev is not None and layout.dir(prev).is_dir():
        rc, _ = run_git(["merge-base", "--is-ancestor", commit, prev], top, timeout)
        if rc == 0:
            return 0, ""
    tree = f"{commit}:{layout.prefix}{VAULT_DIR}"
    if run_git_stdout(["cat-file", "-t", tree], top, timeout) != "tree":
        return 0, ""  # no vault there in the upstream's commit
    layout.views.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = layout.views / commit
    if not os.path.lexists(dest):
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=layout.views))
        try:
            env = {"GIT_INDEX_FILE": str(tmp / "index")}
            rc, err = run_git(["read-tree", f"--prefix={layout.prefix}{VAULT_DIR}/", tree], top, timeout, env)
            if rc == 0:
                rc, err = run_git(["checkout-index", "-a", "-f", f"--prefix={tmp / 'view'}{os.sep}"], top, timeout, env)
            if rc != 0:
                return rc, err
            try:
                os.rename(tmp / "view", dest)
            except OSError:
                if not os.path.lexists(dest):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    part = layout.pointer.with_name(f"{layout.pointer.name}.tmp{os.getpid()}")
    part.write_text(commit + "\n")
    os.replace(part, layout.pointer)
    _prune(layout.views, commit, prev)
    return 0, ""


def _prune(views: Path, keep: str, prev: str | None) -> None:
    """Remove views other than ``keep`` and ``prev``, and temporary directories over an hour old."""
    for entry in views.iterdir():
        if entry.name in (keep, prev):
            continue
        if entry.name.startswith(".tmp-"):
            try:
                if time.time() - entry.stat().st_mtime < 3600:
                    continue
            except OSError:
                continue
        shutil.rmtree(entry, ignore_errors=True)
