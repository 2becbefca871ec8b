"""The MCP server on post-quantum vaults (issue 13 item 3, docs/format.md 3.8), end to end: the real binaries over
stdio, driven by the official MCP Python SDK, on vaults written by the real CLI (init --pq, keygen --pq,
migrate --pq) and pushed to a local bare remote.

- a post-quantum vault is served to its agents: the owner-made key, and a key the agent made itself (keygen --pq)
  on a machine that never read the vault;
- a key of the other kind (a classic key on a post-quantum vault, a post-quantum key on a classic one) stops the
  server at start with the documented error, not authorized (exit 5) naming both kinds, never the integrity
  alarm (exit 6), and nothing on stdout; a key pinned to the other vault is that vault's key (exit 3);
- after migrate --pq, the agent's new key file (at the path of the old one) is served; the old key is refused
  without exit 6.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from test_mcp_e2e import BOTH_FORMS, assert_no_canary, assert_tool_error, texts
from vaultworld import CANARY, World, agent_vault_bin, agent_vault_mcp_bin, build_world

pytestmark = pytest.mark.anyio


@pytest.fixture
def pq_world(tmp_path: Path) -> World:
    return build_world(tmp_path / "world", pq=True)


def stanza_types(enc: bytes) -> list[str]:
    """The stanza types of an age file's header (its "-> TYPE ..." lines before the MAC line)."""
    out = []
    for line in enc.split(b"\n"):
        if line.startswith(b"---"):
            break
        if line.startswith(b"-> "):
            out.append(line.split()[1].decode())
    return out


def start(w: World, standalone: bool, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Starts the server with stdin closed at once and returns how it ended."""
    cmd = [str(agent_vault_mcp_bin())] if standalone else [str(agent_vault_bin()), "mcp"]
    return subprocess.run(cmd + list(args), env=env or w.env, capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False)


def assert_wrong_kind(p: subprocess.CompletedProcess[bytes]) -> None:
    assert p.returncode == 5, (p.returncode, p.stderr)
    assert p.stdout == b""
    err = p.stderr.decode()
    assert "post-quantum" in err and "classic" in err, err
    assert "integrity" not in err.lower(), err
    assert CANARY not in err


def keygen(w: World, out: Path, *flags: str) -> str:
    """Runs agent-vault keygen (the agent's machine) and returns the recipient it printed."""
    return w.av("keygen", "--out", str(out), *flags, cwd=w.root).strip()


@BOTH_FORMS
async def test_post_quantum_vault_is_served(pq_world: World, standalone: bool) -> None:
    w = pq_world
    assert w.key("ci").read_text().count("AGE-SECRET-KEY-PQ-1") == 1
    enc = (w.agent_repo / ".agent-vault" / "secrets" / "stripe" / "api-key.enc").read_bytes()
    assert stanza_types(enc) == ["mlkem768x25519", "mlkem768x25519"]
    async with w.session(standalone=standalone) as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
        assert not res.is_error and texts(res) == [CANARY]
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/webhook"})
        assert not res.is_error and texts(res) == ["whsec_second_value"]
        assert_tool_error(await s.call_tool("agent_vault_get", {"secret": "github/token"}), "not_authorized")
        listed = await s.call_tool("agent_vault_list", {})
    assert not listed.is_error and listed.structured_content is not None
    assert [x["name"] for x in listed.structured_content["secrets"]] == ["stripe/api-key", "stripe/webhook"]
    lines = w.audit()
    assert [(x["tool"], x["outcome"]) for x in lines][:2] == [("agent_vault_get", "ok"), ("agent_vault_get", "ok")]
    assert all(x["agent"] == "ci" and x["vault_id"] == w.vault_id() for x in lines)
    assert_no_canary(w)


async def test_agent_made_post_quantum_key_is_served(pq_world: World) -> None:
    """keygen --pq on the agent's machine (its own home, which never read the vault), add-agent --recipient by the
    owner, pins handed over, pin checked against the clone, then the server serves the value."""
    w = pq_world
    agent_home = w.root / "agent-home"
    agent_env = {**w.env, "AGENT_VAULT_HOME": str(agent_home)}
    key = agent_home / "agent.key"
    recipient = run_as(agent_env, "keygen", "--pq", "--out", str(key), cwd=w.root).strip()
    assert recipient.startswith("age1pq1") and len(recipient) == 1959
    w.av("add-agent", "deploy", "--recipient", recipient)
    w.av("grant", "deploy", "stripe")
    pins = w.root / "deploy.pins"
    pins.write_text(w.av("pins", "deploy"))
    w.push_from_owner()
    w.git("pull", "--quiet", cwd=w.agent_repo)
    run_as(agent_env, "pin", str(key), "--pins", str(pins), cwd=w.agent_repo)
    async with w.session("--key", str(key), env={"AGENT_VAULT_HOME": str(agent_home)}) as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
    assert not res.is_error and texts(res) == [CANARY]


def run_as(env: dict[str, str], *args: str, cwd: Path) -> str:
    """Runs the agent-vault CLI with env (another machine's home) and returns its stdout."""
    p = subprocess.run([str(agent_vault_bin()), *args], cwd=cwd, env=env, capture_output=True, check=False)
    assert p.returncode == 0, (args, p.returncode, p.stderr.decode())
    return p.stdout.decode()


@BOTH_FORMS
def test_key_of_the_other_kind_is_not_authorized_never_integrity(pq_world: World, tmp_path: Path, standalone: bool) -> None:
    w = pq_world
    classic_key = w.root / "classic.key"
    keygen(w, classic_key)
    for extra in ([], ["--no-pull"]):
        assert_wrong_kind(start(w, standalone, "--repo", str(w.agent_repo), "--key", str(classic_key), *extra))
    # The classic owner key of another vault, given as the key of this post-quantum vault.
    classic = build_world(tmp_path / "classic")
    owner_key = classic.av_home / "owner.key"
    assert_wrong_kind(start(w, standalone, "--repo", str(w.agent_repo), "--key", str(owner_key), "--no-pull"))
    # The reverse: a post-quantum key on a classic vault.
    pq_key = w.root / "pq.key"
    keygen(w, pq_key, "--pq")
    assert_wrong_kind(start(classic, standalone, "--repo", str(classic.agent_repo), "--key", str(pq_key), "--no-pull"))
    # The post-quantum vault's pinned agent key on the classic vault: another vault's key (format.md 6.1), exit 3.
    p = start(classic, standalone, "--repo", str(classic.agent_repo), "--key", str(w.key("ci")), "--no-pull")
    assert p.returncode == 3 and p.stdout == b"" and b"belongs to vault" in p.stderr, (p.returncode, p.stderr)
    for repo in (w.agent_repo, classic.agent_repo):
        assert w.git("status", "--porcelain", "--ignored", cwd=repo) == ""


async def test_after_migrate_pq_the_new_key_is_served_and_the_old_refused(world: World) -> None:
    w = world
    old_key = w.root / "old-ci.key"
    old_key.write_bytes(w.key("ci").read_bytes())
    old_key.chmod(0o600)
    out = w.av("migrate", "--pq")
    assert "post-quantum" in out
    assert "AGE-SECRET-KEY-PQ-1" in w.key("ci").read_text()
    w.push_from_owner()
    # The agent's config still points at the same path, which now holds its new key.
    async with w.session() as s:
        res = await s.call_tool("agent_vault_get", {"secret": "stripe/api-key"})
    assert not res.is_error and texts(res) == [CANARY]
    # (The server read the pushed state through its pull view; the owner's clone holds the same files.)
    enc = (w.owner_repo / ".agent-vault" / "secrets" / "stripe" / "api-key.enc").read_bytes()
    assert set(stanza_types(enc)) == {"mlkem768x25519"}
    p = start(w, False, "--repo", str(w.agent_repo), "--key", str(old_key))
    assert p.returncode in (3, 5), (p.returncode, p.stderr)
    assert p.stdout == b"" and CANARY not in p.stderr.decode()
