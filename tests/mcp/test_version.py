"""The MCP server reports the version that --version shows: the one `make build` links in."""

from __future__ import annotations

import json
import subprocess

from vaultworld import World, agent_vault_bin, agent_vault_mcp_bin


def test_server_reports_the_build_version(world: World) -> None:
    cli = subprocess.run([str(agent_vault_bin()), "--version"], capture_output=True, text=True, check=True).stdout
    mcp = subprocess.run([str(agent_vault_mcp_bin()), "--version"], capture_output=True, text=True, check=True).stdout
    first = cli.splitlines()[0]
    assert first.startswith("agent-vault version ")
    version = first.removeprefix("agent-vault version ")
    assert mcp.splitlines()[0] == f"agent-vault-mcp version {version}"
    assert cli.splitlines()[1:] == mcp.splitlines()[1:], "same commit, build date and Go"
    commit = cli.splitlines()[1].removeprefix("commit: ").split()[0]
    assert len(commit) == 40, "make build links in the commit"

    params = world.server_params()
    p = subprocess.Popen([params.command, *params.args], env=params.env, cwd=params.cwd,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin and p.stdout
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    p.stdin.write((json.dumps(init) + "\n").encode())
    p.stdin.flush()
    reply = json.loads(p.stdout.readline())
    p.stdin.close()
    p.stdout.read()
    assert p.wait(timeout=10) == 0
    assert reply["result"]["serverInfo"]["version"] == version
