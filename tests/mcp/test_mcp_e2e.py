"""End-to-end tests of the agent-vault MCP server: the real binaries, started over stdio and driven by the
official MCP Python SDK (package `mcp`), on vaults written by the real CLI in Git repositories with a
real (local, bare) remote.

Run with `make test-mcp`, or: AGENT_VAULT_BIN=bin/agent-vault .venv-mcp/bin/pytest tests/mcp
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from vaultworld import CANARY, World, agent_vault_bin, agent_vault_mcp_bin

pytestmark = pytest.mark.anyio

BOTH_FORMS = pytest.mark.parametrize("standalone", [False, True], ids=["agent-vault-mcp-subcommand", "agent-vault-mcp-binary"])


def texts(res: types.CallToolResult) -> list[str]:
    return [c.text for c in res.content if isinstance(c, types.TextContent)]


def assert_tool_error(res: types.CallToolResult, kind: str) -> str:
    txt = "\n".join(texts(res))
    assert res.is_error, f"expected a {kind} tool error, got {txt!r}"
    assert txt.startswith(kind + ": "), txt
    assert "What to do: " in txt, txt
    for value in (CANARY, "whsec_second_value", "ghp_not_for_ci"):
        assert value not in txt
    return txt


def assert_no_canary(world: World, *paths: Path) -> None:
    audit = world.audit_path()
    for p in (audit, *paths):
        assert CANARY not in p.read_text(), f"the value leaked into {p}"
    assert CANARY not in world.stderr_log(), "the value leaked into the server's stderr"


@BOTH_FORMS
async def test_initialize_and_list_tools(world: World, standalone: bool) -> None:
    async with world.session(standalone=standalone) as s:
        init = s.initialize_result
        assert init is not None
        assert init.server_info.name == "agent-vault"
        assert init.instructions and "never repeat" in init.instructions
        tools = {t.name: t for t in (await s.list_tools()).tools}
    assert set(tools) == {"agent_vault_get", "agent_vault_list", "agent_vault_http"}
    get, lst = tools["agent_vault_get"], tools["agent_vault_list"]
    assert "Never repeat" in (get.description or "") and "never write it into files" in (get.description or "")
    assert get.input_schema["required"] == ["secret"]
    assert "secret" in get.input_schema["properties"]
    assert "group" in lst.input_schema["properties"] and not lst.input_schema.get("required")
    assert lst.output_schema is not None and "secrets" in lst.output_schema["properties"]
    assert get.annotations is not None and get.annotations.read_only_hint


@BOTH_FORMS
async def test_get_returns_the_value_and_audits_it(world: World, standalone: bool) -> None:
    async with world.session(standalone=standalone) as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
    assert not res.is_error
    assert texts(res) == [CANARY]
    [line] = world.audit()
    assert line["tool"] == "agent_vault_get"
    assert line["secret"] == "stripe/api-key"
    assert line["outcome"] == "ok"
    assert line["agent"] == "ci"
    assert line["vault_id"] == world.vault_id()
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] > 0
    assert line["time"].endswith("Z")
    assert set(line) <= {"time", "vault_id", "agent", "tool", "secret", "group", "outcome", "error", "count", "duration_ms", "client"}
    assert_no_canary(world)


async def test_list_structured_and_text(world: World) -> None:
    async with world.session() as s:
        res = await s.call_tool("agent_vault_list", {})
        one = await s.call_tool("agent_vault_list", {"group": "stripe"})
        none = await s.call_tool("agent_vault_list", {"group": "github"})
    assert not res.is_error
    sc = res.structured_content
    assert sc is not None
    assert sc["agent"] == "ci" and sc["vault_id"] == world.vault_id()
    assert [x["name"] for x in sc["secrets"]] == ["stripe/api-key", "stripe/webhook"]
    first = sc["secrets"][0]
    assert first["group"] == "stripe" and first["authorized_agents"] == ["ci"] and first["expired"] is False
    txt = "\n".join(texts(res))
    assert "stripe/api-key" in txt and "stripe/webhook" in txt and "github/token" not in txt
    assert CANARY not in txt and CANARY not in json.dumps(sc)
    assert one.structured_content is not None and one.structured_content["group"] == "stripe"
    assert none.structured_content is not None and none.structured_content["secrets"] == []
    lines = world.audit()
    assert [(x["tool"], x.get("group"), x["outcome"], x.get("count")) for x in lines] == [
        ("agent_vault_list", None, "ok", 2),
        ("agent_vault_list", "stripe", "ok", 2),
        ("agent_vault_list", "github", "ok", 0),
    ]


async def test_failure_kinds(world: World) -> None:
    """Each failure is a tool error (isError) that names its kind and what to do, and is audited."""
    # A hostile push to the untrusted remote: a different ciphertext for stripe/webhook.
    attacker = world.root / "attacker"
    world.run("git", "clone", "--quiet", str(world.remote), str(attacker))
    enc = attacker / ".agent-vault" / "secrets" / "stripe" / "webhook.enc"
    enc.write_bytes(enc.read_bytes()[:-1] + bytes([enc.read_bytes()[-1] ^ 1]))
    world.git("commit", "--quiet", "-am", "tamper", cwd=attacker)

    calls: list[tuple[str, dict[str, Any], str]] = [
        ("agent_vault_get", {"secret": "stripe/missing"}, "not_found"),
        ("agent_vault_get", {"secret": "github/token"}, "not_authorized"),
        ("agent_vault_list", {"group": "nosuch"}, "not_found"),
        ("agent_vault_get", {"secret": "../owner.key"}, "usage"),
        ("agent_vault_get", {"secret": "/etc/passwd"}, "usage"),
        ("agent_vault_get", {"secret": "stripe/api key"}, "usage"),
        ("agent_vault_list", {"group": "a/b"}, "usage"),
        ("agent_vault_get", {}, "usage"),  # refused by the input schema
    ]
    async with world.session("--pull-interval", "300ms") as s:
        for tool, args, kind in calls:
            res = await s.call_tool(tool, args)
            assert_tool_error(res, kind)
        ok = await s.call_tool("agent_vault_get", {"secret": "stripe/webhook"})
        assert texts(ok) == ["whsec_second_value"]
        world.git("push", "--quiet", "origin", "HEAD", cwd=attacker)
        await anyio.sleep(0.4)
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/webhook"})
        txt = assert_tool_error(res, "integrity")
        assert "stripe/webhook" in txt
        # The rest of the vault is still verified and served.
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert texts(res) == [CANARY]
    lines = world.audit()
    outcomes = [x["outcome"] for x in lines]
    assert outcomes == [k for _, _, k in calls] + ["ok", "integrity", "ok"]
    assert lines[3]["secret"] == "../owner.key" and lines[6]["group"] == "a/b"
    assert all(x.get("error") for x in lines if x["outcome"] != "ok")
    assert_no_canary(world)


async def test_pulled_changes_are_served(world: World) -> None:
    async with world.session("--pull-interval", "300ms") as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert texts(res) == [CANARY]
        world.av("set", "stripe/api-key", value="sk_live_rotated")
        world.push_from_owner()
        await anyio.sleep(0.4)
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert texts(res) == ["sk_live_rotated"]
        world.av("revoke", "ci", "stripe")
        world.push_from_owner()
        await anyio.sleep(0.4)
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert_tool_error(res, "not_authorized")


async def test_burst_of_100_calls_costs_one_fetch(world: World) -> None:
    interval = 2.0
    async with world.session("--pull-interval", f"{interval}s") as s:
        assert world.fetches() == 1  # the start-up pull
        await anyio.sleep(interval + 0.2)  # let the interval pass
        before = world.fetches()
        results: list[types.CallToolResult] = []

        async def one() -> None:
            results.append(await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"}))

        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(one)
        wall = time.monotonic() - t0
        after = world.fetches()
    assert len(results) == 100 and all(texts(r) == [CANARY] for r in results)
    # One fetch for the burst; a burst slowed past the interval (a loaded machine) may start one more
    # per interval elapsed, never one per call.
    assert 1 <= after - before <= 1 + int(wall // interval), (after - before, wall)
    assert len(world.audit()) == 100


async def test_no_pull_never_fetches(world: World) -> None:
    async with world.session("--no-pull") as s:
        for _ in range(5):
            await s.call_tool("agent_vault_list", {})
    assert world.fetches() == 0


async def test_audit_log_file(world: World) -> None:
    custom = world.root / "logs" / "mcp-audit.jsonl"
    async with world.session() as s:
        await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
    async with world.session("--audit-log", str(custom)) as s:
        await s.call_tool("agent_vault_get", {"secret": "stripe/webhook"})
        await s.call_tool("agent_vault_list", {})
    default = world.audit_path()
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(custom.stat().st_mode) == 0o600
    assert [x["secret"] for x in world.audit()] == ["stripe/api-key"]
    assert [x["tool"] for x in world.audit(custom)] == ["agent_vault_get", "agent_vault_list"]
    # A second server appends to the same default log.
    async with world.session() as s:
        await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
    assert len(world.audit()) == 2
    assert_no_canary(world, custom)


async def test_key_from_environment(world: World) -> None:
    key = world.key("ci").read_text()
    async with world.session(env={"AGENT_VAULT_KEY": key}) as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
    assert texts(res) == [CANARY]
    assert world.audit()[0]["agent"] == "ci"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process hardening")
async def test_process_hardening(world: World) -> None:
    async with world.session() as s:
        await s.call_tool("agent_vault_list", {})
        # `agent-vault mcp` replaces itself with the agent-vault-mcp installed beside it.
        pid = server_pid(agent_vault_bin(), agent_vault_mcp_bin())
        limits = Path(f"/proc/{pid}/limits").read_text()
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"], core


def server_pid(*binaries: Path) -> int:
    """The pid of this test process's child running one of binaries."""
    wanted = {b.resolve() for b in binaries}
    for task in Path("/proc/self/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if Path(f"/proc/{child}/exe").resolve() in wanted:
                    return int(child)
            except OSError:
                continue
    raise AssertionError(f"no child process runs any of {', '.join(map(str, binaries))}")


def test_stdout_carries_only_the_protocol(world: World) -> None:
    """A raw session: every line the server writes on stdout is a JSON-RPC message; people's messages
    (the start-up line) go to stderr."""
    params = world.server_params()
    p = subprocess.Popen([params.command, *params.args], env=params.env, cwd=params.cwd,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin and p.stdout and p.stderr
    msgs: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "agent_vault_get", "arguments": {"secret": "stripe/api-key"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "agent_vault_get", "arguments": {"secret": "nope/x"}}},
    ]
    out_lines = []
    for m in msgs:
        p.stdin.write((json.dumps(m) + "\n").encode())
        p.stdin.flush()
        if "id" in m:
            out_lines.append(p.stdout.readline())
    p.stdin.close()
    rest = p.stdout.read()
    err = p.stderr.read().decode()
    assert p.wait(timeout=10) == 0
    assert rest == b""
    replies = [json.loads(line) for line in out_lines]
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[1]["result"]["content"][0]["text"] == CANARY
    assert replies[2]["result"]["isError"] is True
    assert "serving vault" in err and CANARY not in err


@pytest.mark.parametrize("standalone", [False, True])
def test_refuses_to_start(world: World, standalone: bool) -> None:
    """Start-up failures: exit status of the error kind, message on stderr, nothing on stdout."""
    cmd = [str(agent_vault_mcp_bin())] if standalone else [str(agent_vault_bin()), "mcp"]
    env = {k: v for k, v in world.env.items() if k != "AGENT_VAULT_KEY"}
    # No --key and no AGENT_VAULT_KEY: the CLI's resolution finds the owner key, which is refused.
    p = subprocess.run(cmd + ["--repo", str(world.owner_repo), "--no-pull"], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30, check=False)
    assert p.returncode == 3 and p.stdout == b"" and b"agent key only" in p.stderr
    # Not a vault.
    p = subprocess.run(cmd + ["--repo", str(world.root), "--key", str(world.key("ci"))], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30, check=False)
    assert p.returncode == 3 and p.stdout == b"" and b"no .agent-vault directory" in p.stderr
    # A key readable by others.
    loose = world.root / "loose.key"
    loose.write_bytes(world.key("ci").read_bytes())
    loose.chmod(0o644)
    p = subprocess.run(cmd + ["--repo", str(world.agent_repo), "--key", str(loose)], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30, check=False)
    assert p.returncode == 3 and p.stdout == b"" and b"accessible by others" in p.stderr
    # A bad flag.
    p = subprocess.run(cmd + ["--bogus"], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30, check=False)
    assert p.returncode == 2 and p.stdout == b""
