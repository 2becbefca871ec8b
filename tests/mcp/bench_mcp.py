"""Benchmark of the agent-vault MCP server over stdio, driven by the official MCP Python SDK (not a test).

Prints the median round-trip time of agent_vault_get (from the client's call to its parsed result,
default flags: pulls on, with a real upstream) and the number of git fetches the server makes for a burst
of 100 calls. Run with `make bench-mcp` (part of `make bench`), or:

    AGENT_VAULT_BIN=bin/agent-vault .venv-mcp/bin/python tests/mcp/bench_mcp.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from vaultworld import CANARY, World, build_world


async def round_trips(world: World, calls: int) -> tuple[list[float], list[float]]:
    """Times `calls` sequential agent_vault_get calls after a warm-up; returns the client-side round
    trips and the server-side durations from the audit log, in milliseconds."""
    async with world.session() as s:
        for _ in range(20):
            await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        skip = len(world.audit())
        rtts = []
        for _ in range(calls):
            t0 = time.perf_counter()
            res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
            rtts.append((time.perf_counter() - t0) * 1000)
            if res.is_error or res.content[0].text != CANARY:  # type: ignore[union-attr]
                raise RuntimeError("agent_vault_get failed during the benchmark")
    server = [float(x["duration_ms"]) for x in world.audit()[skip:]]
    return rtts, server


async def burst_fetches(world: World, n: int, interval: float) -> tuple[int, int, float]:
    """Starts a server with the default pull interval, waits until the start-up pull's interval has
    passed, then sends n concurrent agent_vault_get calls. Returns the fetches at start-up, the fetches
    during the burst, and the burst's wall time in ms."""
    initial = world.fetches()
    async with world.session() as s:
        at_start = world.fetches() - initial
        await anyio.sleep(interval + 0.2)
        before = world.fetches()
        t0 = time.perf_counter()

        async def one() -> None:
            res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
            if res.is_error:
                raise RuntimeError("agent_vault_get failed during the burst")

        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(one)
        wall = (time.perf_counter() - t0) * 1000
        during = world.fetches() - before
    return at_start, during, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000, help="timed agent_vault_get calls (default 1000)")
    ap.add_argument("--burst", type=int, default=100, help="calls in the burst (default 100)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-vault-bench-mcp") as tmp:
        world = build_world(Path(tmp) / "world")
        rtts, server = anyio.run(round_trips, world, args.calls)
        at_start, during, wall = anyio.run(burst_fetches, world, args.burst, 5.0)
    rtts.sort()
    p90 = rtts[int(len(rtts) * 0.9)]
    print(f"\nMCP server over stdio (agent-vault mcp, default flags, real upstream; client: Python mcp {version('mcp')})")
    print(f"{'agent_vault_get round trip, median of ' + str(len(rtts)):<52} {statistics.median(rtts):9.3f} ms   (p90 {p90:.3f} ms; in the server {statistics.median(server):.3f} ms; target <= 2 ms)")
    print(f"{'git fetches for a burst of ' + str(args.burst) + ' concurrent calls':<52} {during:9d}      ({wall:.0f} ms for the burst; plus {at_start} at start-up)")


if __name__ == "__main__":
    main()
