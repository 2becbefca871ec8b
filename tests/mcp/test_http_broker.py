"""End-to-end tests of agent_vault_http, the brokered HTTP request, and of --no-reveal: the real binaries
over stdio, driven by the official MCP Python SDK, against echo HTTP servers on 127.0.0.1 started by the
test (http.server in threads). No other network is used.

The whole traffic between client and server is captured byte for byte: the server command is wrapped in a
shell script that tees its standard input (what the client sends) and its standard output (everything the
client receives) into files. The tests check that the echo server receives the value and that neither
stream, nor the server's standard error, nor the audit log ever contains it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import mcp_types as types
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from vaultworld import CANARY, World

pytestmark = pytest.mark.anyio

BOTH_FORMS = pytest.mark.parametrize("standalone", [False, True], ids=["agent-vault-mcp-subcommand", "agent-vault-mcp-binary"])

LABEL = "<redacted:stripe/api-key>"

TEE = """#!/bin/sh
# Runs the MCP server ("$@" after the two log paths) with its standard input and output copied to files.
in="$1"; out="$2"; shift 2
tee -a "$in" | "$@" | tee -a "$out"
"""


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Echo:
    """An HTTP server on 127.0.0.1 that answers with what it received (the request as JSON in the body,
    the Authorization header in X-Echo-Auth), redirects /redirect?to=URL, and counts connections."""

    httpd: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"


def start_echo() -> Echo:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def handle_any(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode() if n else ""
            url = urlparse(self.path)
            rec = Received(self.command, url.path, {k: v for k, v in self.headers.items()}, body)
            with lock:
                result.received.append(rec)
            if url.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", parse_qs(url.query)["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            out = json.dumps(rec.__dict__).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Echo-Auth", self.headers.get("Authorization", ""))
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    result = Echo(httpd=httpd)
    accept = httpd.get_request

    def counting_accept() -> Any:
        conn = accept()
        with lock:
            result.connections += 1
        return conn

    httpd.get_request = counting_accept  # type: ignore[method-assign]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return result


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = start_echo()
    yield e
    e.httpd.shutdown()
    e.httpd.server_close()


@pytest.fixture
def echo2() -> Iterator[Echo]:
    e = start_echo()
    yield e
    e.httpd.shutdown()
    e.httpd.server_close()


@pytest.fixture
def broker_world(world: World) -> World:
    """The world with stripe/api-key allowed to 127.0.0.1 only (stripe/webhook to no host), pushed, so that
    the agent's server pulls it at start."""
    world.av("set", "stripe/api-key", "--keep-value", "--allow-host", "127.0.0.1")
    world.push_from_owner()
    return world


def traffic_paths(world: World) -> tuple[Path, Path]:
    return world.root / "traffic-client-to-server.jsonl", world.root / "traffic-server-to-client.jsonl"


@asynccontextmanager
async def recorded_session(world: World, *args: str, standalone: bool = False) -> AsyncIterator[ClientSession]:
    """An initialised session with a fresh server whose stdin and stdout are copied to traffic_paths."""
    p = world.server_params(*args, standalone=standalone)
    script = world.root / "tee-server.sh"
    script.write_text(TEE)
    sent, got = traffic_paths(world)
    params = StdioServerParameters(command="/bin/sh", args=[str(script), str(sent), str(got), p.command, *p.args], env=p.env, cwd=p.cwd)
    # The server's stderr must be a real file (the child writes to it); opening one does not block.
    with open(world.root / "server-stderr.log", "a") as log:  # noqa: ASYNC230
        async with stdio_client(params, errlog=log) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            yield s


def assert_traffic_clean(world: World) -> tuple[bytes, bytes]:
    """The whole captured traffic, the server's stderr and the audit log never hold the value."""
    sent, got = (p.read_bytes() for p in traffic_paths(world))
    assert sent and got, "no traffic was captured"
    assert CANARY.encode() not in sent, "the client sent the value"
    assert CANARY.encode() not in got, "the client received the value"
    assert CANARY not in world.stderr_log()
    assert CANARY not in world.audit_path().read_text()
    return sent, got


def texts(res: types.CallToolResult) -> list[str]:
    return [c.text for c in res.content if isinstance(c, types.TextContent)]


def refused(res: types.CallToolResult) -> str:
    txt = "\n".join(texts(res))
    assert res.is_error, txt
    assert txt.startswith("refused_exfiltration: "), txt
    assert "What to do: " in txt and "--allow-host" in txt
    return txt


async def test_http_uses_the_value_without_revealing_it(broker_world: World, echo: Echo) -> None:
    world = broker_world
    async with recorded_session(world) as s:
        tools = {t.name for t in (await s.list_tools()).tools}
        assert tools == {"agent_vault_get", "agent_vault_list", "agent_vault_http"}
        lst = await s.call_tool("agent_vault_list", {"group": "stripe"})
        assert lst.structured_content is not None
        hosts = {x["name"]: x["allow_hosts"] for x in lst.structured_content["secrets"]}
        assert hosts == {"stripe/api-key": ["127.0.0.1"], "stripe/webhook": []}
        res = await s.call_tool("agent_vault_http", {
            "method": "POST",
            "url": echo.url("127.0.0.1", "/v1/charges"),
            "headers": {"Authorization": "Bearer {{secret:stripe/api-key}}", "Content-Type": "application/json"},
            "body": '{"amount": 100, "key": "{{secret:stripe/api-key}}"}',
        })
    # The server received the value, in the header and in the body.
    [got] = echo.received
    assert got.method == "POST" and got.path == "/v1/charges"
    assert got.headers["Authorization"] == "Bearer " + CANARY
    assert got.body == '{"amount": 100, "key": "' + CANARY + '"}'
    # The client got the response with the value redacted wherever it was echoed.
    assert not res.is_error, texts(res)
    out = res.structured_content
    assert out is not None
    assert out["status"] == 200 and out["secrets"] == ["stripe/api-key"] and out["truncated"] is False
    assert out["headers"]["X-Echo-Auth"] == ["Bearer " + LABEL]
    echoed = json.loads(out["body"])
    assert echoed["headers"]["Authorization"] == "Bearer " + LABEL
    assert echoed["body"] == '{"amount": 100, "key": "' + LABEL + '"}'
    assert LABEL in "".join(texts(res))
    # Nothing the client sent or received holds the value; what it sent holds the placeholder.
    sent, received = assert_traffic_clean(world)
    assert b"{{secret:stripe/api-key}}" in sent
    assert b"redacted:stripe/api-key" in received
    line = world.audit()[-1]
    assert line["tool"] == "agent_vault_http" and line["outcome"] == "ok"
    assert (line["method"], line["host"], line["secrets"], line["status"]) == ("POST", "127.0.0.1", ["stripe/api-key"], 200)


async def test_http_refuses_hosts_outside_the_allowlist(broker_world: World, echo: Echo, echo2: Echo) -> None:
    world = broker_world
    auth = {"Authorization": "Bearer {{secret:stripe/api-key}}"}
    async with recorded_session(world) as s:
        # Another host than the allowed one (the same machine, by another name): refused, no connection.
        res = await s.call_tool("agent_vault_http", {"method": "GET", "url": echo.url("localhost", "/steal"), "headers": auth})
        txt = refused(res)
        assert "host localhost is not allowed for stripe/api-key" in txt and "127.0.0.1" in txt
        # A secret allowed nowhere.
        res = await s.call_tool("agent_vault_http", {"method": "GET", "url": echo.url("127.0.0.1", "/"), "headers": {"X-Hook": "{{secret:stripe/webhook}}"}})
        assert "stripe/webhook may be sent to no host" in refused(res)
        assert echo.connections == 0 and echo.received == []
        # An allowed host that redirects elsewhere: the redirect is not followed.
        res = await s.call_tool("agent_vault_http", {"method": "GET", "url": echo.url("127.0.0.1", "/redirect?to=" + echo2.url("localhost", "/steal")), "headers": auth})
        assert "redirected to localhost" in refused(res)
        assert echo2.connections == 0 and echo2.received == []
        # A placeholder in the URL is refused before anything else.
        res = await s.call_tool("agent_vault_http", {"method": "GET", "url": echo.url("127.0.0.1", "/?key={{secret:stripe/api-key}}")})
        assert res.is_error and "\n".join(texts(res)).startswith("usage: ")
    assert [r.path for r in echo.received] == ["/redirect"]
    assert_traffic_clean(world)
    lines = [x for x in world.audit() if x["tool"] == "agent_vault_http"]
    # The redirected request was audited as sending before it connected, then refused at the redirect.
    assert [x["outcome"] for x in lines] == ["refused_exfiltration", "refused_exfiltration", "sending", "refused_exfiltration", "usage"]
    assert (lines[0]["host"], lines[0]["secrets"]) == ("localhost", ["stripe/api-key"])
    assert (lines[1]["host"], lines[1]["secrets"]) == ("127.0.0.1", ["stripe/webhook"])
    assert (lines[2]["host"], lines[2]["secrets"]) == ("127.0.0.1", ["stripe/api-key"])
    assert (lines[3]["host"], lines[3]["redirect_host"], lines[3]["status"]) == ("127.0.0.1", "localhost", 302)
    assert all("error" in x for x in lines if x["outcome"] != "sending")
    # Once the owner allows the host, the same request goes through.
    world.av("set", "stripe/api-key", "--keep-value", "--allow-host", "127.0.0.1", "--allow-host", "localhost")
    world.push_from_owner()
    async with recorded_session(world) as s:
        res = await s.call_tool("agent_vault_http", {"method": "GET", "url": echo.url("localhost", "/now-allowed"), "headers": auth})
    assert not res.is_error, texts(res)
    assert echo.received[-1].path == "/now-allowed" and echo.received[-1].headers["Authorization"] == "Bearer " + CANARY
    assert_traffic_clean(world)


@BOTH_FORMS
async def test_no_reveal(broker_world: World, echo: Echo, standalone: bool) -> None:
    world = broker_world
    async with recorded_session(world, "--no-reveal", standalone=standalone) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == {"agent_vault_list", "agent_vault_http"}
        assert all("agent_vault_get" not in (t.description or "") for t in tools.values())
        init = s.initialize_result
        assert init is not None and init.instructions and "agent_vault_get" not in init.instructions
        with pytest.raises(MCPError) as exc:
            await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert "agent_vault_get" in str(exc.value) and CANARY not in str(exc.value)
        lst = await s.call_tool("agent_vault_list", {})
        assert not lst.is_error
        res = await s.call_tool("agent_vault_http", {"method": "GET", "url": echo.url("127.0.0.1", "/"), "headers": {"Authorization": "{{secret:stripe/api-key}}"}})
        assert not res.is_error, texts(res)
        assert res.structured_content is not None and res.structured_content["headers"]["X-Echo-Auth"] == [LABEL]
    assert echo.received[-1].headers["Authorization"] == CANARY
    assert_traffic_clean(world)
    # A brokered request is audited before it connects ("sending"), then with its outcome.
    assert [(x["tool"], x["outcome"]) for x in world.audit()] == [
        ("agent_vault_get", "usage"), ("agent_vault_list", "ok"), ("agent_vault_http", "sending"), ("agent_vault_http", "ok")]
    assert "--no-reveal" in world.stderr_log()
