"""Time Vault.get against the bare age decryption it wraps (a harness, not a test).

    .venv/bin/python sdk/python/bench/bench_get.py [iterations]

Builds a throw-away vault with the test helper (tests/vaultgen.py) in a temporary directory and a temporary
agent-vault home, then prints microseconds per call for: pyrage.decrypt alone, Vault.get with the vault open
(cached root and shard), and Vault.get on a fresh Vault each time (full verification).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def per_call(fn: object, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AGENT_VAULT_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("AGENT_VAULT_KEY", None)
        import pyrage

        from agent_vault import Vault
        from vaultgen import VaultBuilder, write_key

        vb = VaultBuilder(Path(tmp) / "repo")
        vb.add_agent("ci")
        vb.add_group("app", ["ci"])
        for i in range(200):
            vb.set_secret(f"app/s{i}", f"value-{i}")
        vb.write()
        key = write_key(Path(tmp) / "ci.key", vb.key_file("ci"))
        enc = (vb.dir / "secrets/app/s7.enc").read_bytes()
        identity = vb.agents["ci"].identity
        vault = Vault(vb.repo, key_path=key, auto_pull=False)
        vault.get("app/s7")

        rows = [
            ("pyrage.decrypt", per_call(lambda: pyrage.decrypt(enc, [identity]), n)),
            ("Vault.get (open)", per_call(lambda: vault.get("app/s7"), n)),
            ("Vault(...).get (cold)", per_call(lambda: Vault(vb.repo, key_path=key, auto_pull=False).get("app/s7"), max(n // 10, 1))),
        ]
        base = rows[0][1]
        print(f"{'operation':<24} {'us/call':>10} {'ratio':>7}")
        for name, us in rows:
            print(f"{name:<24} {us:>10.1f} {us / base:>7.2f}")


if __name__ == "__main__":
    main()
