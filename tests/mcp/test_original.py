"""The MCP server on a vault written by the original agent-vault 0.1 (``testdata/original/original.tar``, made with
the real original CLI by ``scripts/make-original-fixtures.sh``), started as the original's users start theirs
(``agent-vault-mcp --repo DIR --key FILE``, or the key in ``AGENT_VAULT_KEY``) and driven by the official MCP
Python SDK:

- unconverted, the server does not start: exit 3 (vault not found), a message naming ``agent-vault migrate`` on
  stderr, nothing on stdout; never the integrity alarm (exit 6);
- once the owner ran ``agent-vault migrate`` and pinned the agents' original key files, it serves every value
  the agent may read, on a machine that never read the vault before (the pins are the anchor);
- an agent's clone made before the migration is refused with ``--no-pull`` (exit 3, naming migrate) and served
  once the owner pushed the migration (the server pulls into its own view, not into the working tree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import mcp_types as types
import pytest

from vaultworld import REPO_ROOT, World, agent_vault_bin, agent_vault_mcp_bin

pytestmark = pytest.mark.anyio

FIXTURE = REPO_ROOT / "testdata" / "original" / "original.tar"
BOTH_FORMS = pytest.mark.parametrize("standalone", [False, True], ids=["agent-vault-mcp-subcommand", "agent-vault-mcp-binary"])
VALUES = {
    "stripe/api-key": "sk_live_original",
    "stripe/webhook": "whsec_original",
    "db/password": 'line one\nline "two" $HOME\n',
    "misc/token": "tok_original",
}


def texts(res: types.CallToolResult) -> list[str]:
    return [c.text for c in res.content if isinstance(c, types.TextContent)]


@pytest.fixture
def original(tmp_path: Path) -> World:
    """The fixture as a World: home/ is the owner's HOME (owner.key and the agents' original key files), owner/
    the repository the original wrote, published to the bare remote.git and cloned into agent/ before any
    migration. The MCP server reads with AGENT_VAULT_HOME=agent-home: a machine that never read the vault."""
    root = tmp_path / "world"
    root.mkdir()
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(root, filter="tar")
    (root / "proj").rename(root / "owner")
    gitconfig = root / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Owner\n\temail = owner@example.com\n[init]\n\tdefaultBranch = main\n")
    w = World(root=root)
    w.env = {
        "HOME": str(w.home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
    }
    w.run("git", "clone", "--quiet", "--bare", str(w.owner_repo), str(w.remote))
    w.git("remote", "add", "origin", str(w.remote), cwd=w.owner_repo)
    w.git("fetch", "--quiet", "origin", cwd=w.owner_repo)
    w.git("branch", "--quiet", "--set-upstream-to=origin/main", cwd=w.owner_repo)
    w.run("git", "clone", "--quiet", str(w.remote), str(w.agent_repo))
    return w


def agent_env(w: World) -> dict[str, str]:
    return {**w.env, "AGENT_VAULT_HOME": str(w.root / "agent-home")}


def start(w: World, standalone: bool, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Starts the server as the original's users do and returns how it ended (stdin closed at once)."""
    cmd = [str(agent_vault_mcp_bin())] if standalone else [str(agent_vault_bin()), "mcp"]
    return subprocess.run(cmd + list(args), env=env or agent_env(w), capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False)


def assert_names_migrate(p: subprocess.CompletedProcess[bytes]) -> None:
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stdout == b""
    assert b"agent-vault migrate" in p.stderr and b"original agent-vault 0.1" in p.stderr, p.stderr
    assert b"integrity" not in p.stderr.lower()


def migrate_and_pin(w: World, *agents: str) -> str:
    out = w.av("migrate")
    assert "agent-vault pin" in out, out
    for a in agents:
        w.av("pin", str(w.key(a)))
        assert "# agent-vault-owner-verify-key: ed25519:" in w.key(a).read_text()
    w.push_from_owner()
    return out


@BOTH_FORMS
def test_unconverted_vault_refuses_to_start_naming_migrate(original: World, standalone: bool) -> None:
    w = original
    for repo in (w.owner_repo, w.agent_repo):
        assert_names_migrate(start(w, standalone, "--repo", str(repo), "--key", str(w.key("ci"))))
        assert_names_migrate(start(w, standalone, "--repo", str(repo), "--key", str(w.key("ci")), "--no-pull"))
    # The original's other way to pass the key: its bare AGE-SECRET-KEY-1 line in AGENT_VAULT_KEY.
    env = {**agent_env(w), "AGENT_VAULT_KEY": w.key("deployer").read_text()}
    assert_names_migrate(start(w, standalone, "--repo", str(w.agent_repo), env=env))
    # Refusing left nothing behind in the checkouts.
    for repo in (w.owner_repo, w.agent_repo):
        assert w.git("status", "--porcelain", "--ignored", cwd=repo) == ""


@BOTH_FORMS
async def test_migrated_and_pinned_vault_is_served(original: World, standalone: bool) -> None:
    w = original
    migrate_and_pin(w, "ci", "deployer")
    shutil.rmtree(w.agent_repo)
    w.run("git", "clone", "--quiet", str(w.remote), str(w.agent_repo))
    async with w.session(standalone=standalone, env=agent_env(w)) as s:
        for path in ("stripe/api-key", "stripe/webhook"):
            res = await s.call_tool("agent_vault_get", {"secret": path})
            assert not res.is_error and texts(res) == [VALUES[path]]
        res = await s.call_tool("agent_vault_get", {"secret": "misc/token"})
        assert res.is_error and "\n".join(texts(res)).startswith("not_authorized: ")
        listed = await s.call_tool("agent_vault_list", {})
        assert not listed.is_error and listed.structured_content is not None
        items = {x["name"]: x for x in listed.structured_content["secrets"]}
        assert set(items) == {"stripe/api-key", "stripe/webhook"}
        assert items["stripe/webhook"]["expires"].startswith("2099-01-31T00:00:00")
    env = {**agent_env(w), "AGENT_VAULT_KEY": w.key("deployer").read_text()}
    async with w.session(standalone=standalone, env=env) as s:
        for path in ("db/password", "misc/token"):
            res = await s.call_tool("agent_vault_get", {"secret": path})
            assert not res.is_error and texts(res) == [VALUES[path]]
    for value in VALUES.values():
        assert value not in w.stderr_log()


async def test_clone_made_before_the_migration_is_served_after_the_push(original: World) -> None:
    w = original
    migrate_and_pin(w, "ci")
    assert not (w.agent_repo / ".agent-vault" / "state").exists()  # the agent's clone: still unconverted
    assert_names_migrate(start(w, True, "--repo", str(w.agent_repo), "--key", str(w.key("ci")), "--no-pull"))
    async with w.session(env=agent_env(w)) as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert not res.is_error and texts(res) == [VALUES["stripe/api-key"]]
    # The server pulled into its own view (docs/format.md 6.8), never into the working tree.
    assert w.git("status", "--porcelain", cwd=w.agent_repo) == ""
    assert not (w.agent_repo / ".agent-vault" / "state").exists()
