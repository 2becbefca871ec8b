"""Builds real vaults with the real CLI for the MCP end-to-end tests and the MCP benchmark.

A World is a temporary directory with its own HOME (so ~/.agent-vault is private to it), a Git identity
in GIT_CONFIG_GLOBAL, a bare repository standing for the untrusted remote, the owner's clone (where the
vault is written with `agent-vault`), and the agent's clone (where the MCP server runs). A `git` wrapper
placed first on PATH appends one line to a log for each `git fetch` or `git pull` it runs, so that the
fetches the server makes are counted for real.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO_ROOT = Path(__file__).resolve().parents[2]

# A value whose appearance anywhere but in a get result is a leak.
CANARY = "sk_live_CANARY_7d1e0b42f9"

GIT_WRAPPER = """#!/bin/sh
# Counts the fetches and pulls agent-vault runs: logs the subcommand, then runs the real git.
sub=""
skip=0
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$a" in
    -C|-c|--git-dir|--work-tree|--namespace|--exec-path) skip=1 ;;
    -*) ;;
    *) sub="$a"; break ;;
  esac
done
case "$sub" in
  fetch|pull) echo "$sub $*" >> "$GIT_FETCH_LOG" ;;
esac
exec {real_git} "$@"
"""


def agent_vault_bin() -> Path:
    """The agent-vault binary under test: $AGENT_VAULT_BIN, else bin/agent-vault of this repository."""
    p = Path(os.environ.get("AGENT_VAULT_BIN") or REPO_ROOT / "bin" / "agent-vault")
    if not p.is_file():
        raise RuntimeError(f"{p} not found: run 'make build' or set AGENT_VAULT_BIN")
    return p.resolve()


def agent_vault_mcp_bin() -> Path:
    """The agent-vault-mcp binary: $AGENT_VAULT_MCP_BIN, else agent-vault-mcp beside agent-vault."""
    env = os.environ.get("AGENT_VAULT_MCP_BIN")
    p = Path(env) if env else agent_vault_bin().parent / "agent-vault-mcp"
    if not p.is_file():
        raise RuntimeError(f"{p} not found: run 'make build' or set AGENT_VAULT_MCP_BIN")
    return p.resolve()


@dataclass
class World:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def av_home(self) -> Path:
        return self.home / ".agent-vault"

    @property
    def remote(self) -> Path:
        return self.root / "remote.git"

    @property
    def owner_repo(self) -> Path:
        return self.root / "owner"

    @property
    def agent_repo(self) -> Path:
        return self.root / "agent"

    @property
    def fetch_log(self) -> Path:
        return self.root / "git-fetches.log"

    def key(self, agent: str) -> Path:
        return self.av_home / "agents" / f"{agent}.key"

    def run(self, *args: str, cwd: Path | None = None, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Runs a command in the world's environment."""
        p = subprocess.run(list(args), cwd=cwd or self.root, env=self.env, input=input, capture_output=True, check=False)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {p.returncode}:\n{p.stderr.decode()}")
        return p

    def av(self, *args: str, cwd: Path | None = None, value: str | None = None) -> str:
        """Runs the agent-vault CLI (the owner's, in the owner clone unless cwd says otherwise)."""
        p = self.run(str(agent_vault_bin()), *args, cwd=cwd or self.owner_repo, input=None if value is None else value.encode())
        return p.stdout.decode()

    def git(self, *args: str, cwd: Path) -> str:
        return self.run("git", *args, cwd=cwd).stdout.decode()

    def fetches(self) -> int:
        """The number of git fetch/pull commands run so far in this world."""
        if not self.fetch_log.exists():
            return 0
        return len(self.fetch_log.read_text().splitlines())

    def vault_id(self) -> str:
        cfg = (self.owner_repo / ".agent-vault" / "config.yaml").read_text()
        for line in cfg.splitlines():
            if line.startswith("vault_id:"):
                return line.split(":", 1)[1].strip().strip('"')
        raise RuntimeError("no vault_id in config.yaml")

    def audit_path(self) -> Path:
        return self.av_home / "audit" / f"{self.vault_id()}.jsonl"

    def audit(self, path: Path | None = None) -> list[dict[str, Any]]:
        p = path or self.audit_path()
        return [json.loads(line) for line in p.read_text().splitlines()]

    def push_from_owner(self, message: str = "sync") -> None:
        self.git("push", "--quiet", "origin", "HEAD", cwd=self.owner_repo)

    def server_params(self, *args: str, standalone: bool = False, env: dict[str, str] | None = None) -> StdioServerParameters:
        """The stdio parameters that start the MCP server in the agent clone with agent ci's key."""
        if standalone:
            command, base = str(agent_vault_mcp_bin()), []
        else:
            command, base = str(agent_vault_bin()), ["mcp"]
        full = base + ["--repo", str(self.agent_repo)]
        if "--key" not in args and not (env and "AGENT_VAULT_KEY" in env):
            full += ["--key", str(self.key("ci"))]
        return StdioServerParameters(command=command, args=full + list(args), env={**self.env, **(env or {})}, cwd=str(self.root))

    @asynccontextmanager
    async def session(self, *args: str, standalone: bool = False, env: dict[str, str] | None = None, errlog: TextIO | None = None) -> AsyncIterator[ClientSession]:
        """An initialised MCP client session with a freshly started server; its stderr goes to errlog
        (default: <root>/server-stderr.log, appended)."""
        with ExitStack() as stack:
            # The server's stderr must be a real file (the child writes to it); opening one does not block.
            log = errlog or stack.enter_context(open(self.root / "server-stderr.log", "a"))  # noqa: ASYNC230
            params = self.server_params(*args, standalone=standalone, env=env)
            async with stdio_client(params, errlog=log) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                yield s

    def stderr_log(self) -> str:
        p = self.root / "server-stderr.log"
        return p.read_text() if p.exists() else ""


def build_world(root: Path, pq: bool = False) -> World:
    """Creates the world: vault with the owner, agents ci and other; secrets stripe/api-key (the canary),
    stripe/webhook and github/token; ci granted group stripe; pushed to the bare remote; the agent's
    clone made from it. With pq, a post-quantum vault (init --pq: every key ML-KEM-768 + X25519)."""
    root.mkdir(parents=True, exist_ok=True)
    w = World(root=root)
    w.home.mkdir()
    wrap = root / "gitwrap"
    wrap.mkdir()
    real_git = shutil.which("git")
    if real_git is None:
        raise RuntimeError("git is not installed")
    g = wrap / "git"
    g.write_text(GIT_WRAPPER.replace("{real_git}", real_git))
    g.chmod(g.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    gitconfig = root / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Owner\n\temail = owner@example.com\n[init]\n\tdefaultBranch = main\n")
    w.env = {
        "HOME": str(w.home),
        "PATH": f"{wrap}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_FETCH_LOG": str(w.fetch_log),
        "LANG": "C.UTF-8",
    }
    w.run("git", "init", "--quiet", "--bare", "--initial-branch=main", str(w.remote))
    w.av("init", *(["--pq"] if pq else []), str(w.owner_repo), cwd=root)
    w.av("add-agent", "ci")
    w.av("add-agent", "other")
    w.av("set", "stripe/api-key", value=CANARY)
    w.av("set", "stripe/webhook", value="whsec_second_value")
    w.av("set", "github/token", value="ghp_not_for_ci")
    w.av("grant", "ci", "stripe")
    w.git("remote", "add", "origin", str(w.remote), cwd=w.owner_repo)
    w.git("push", "--quiet", "-u", "origin", "main", cwd=w.owner_repo)
    w.run("git", "clone", "--quiet", str(w.remote), str(w.agent_repo))
    if w.fetch_log.exists():
        w.fetch_log.unlink()
    return w
