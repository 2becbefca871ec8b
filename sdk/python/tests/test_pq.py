"""Post-quantum vaults (format.md section 3.1): this SDK cannot read them yet and says so.

pyrage, the SDK's age library, has no ML-KEM-768 + X25519 (``age1pq``) support (its Rust backend, rage, has
none), and no maintained Python library implements age's hybrid HPKE construction yet (see the README). A
post-quantum key, and a post-quantum vault read with any key, fail with ``VaultNotFoundError`` naming the CLI
and the MCP server, never with ``IntegrityError``. The vault is made by the real CLI (``$AGENT_VAULT_BIN init --pq``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519

from agent_vault import Vault, VaultNotFoundError
from agent_vault.keys import is_hybrid_recipient, is_recipient, parse_key_file


def _pq_vault(tmp_path: Path) -> tuple[Path, Path]:
    path = os.environ.get("AGENT_VAULT_BIN", "")
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"AGENT_VAULT_BIN={path!r} is not an executable agent-vault binary: run `make test-python`.", pytrace=False)
    home = tmp_path / "owner-home"
    home.mkdir(mode=0o700)
    gitcfg = tmp_path / "gitconfig"
    gitcfg.write_text("[user]\n\tname = t\n\temail = t@example.com\n[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_VAULT_", "GIT_"))}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(gitcfg), GIT_CONFIG_NOSYSTEM="1")
    repo = tmp_path / "proj"
    for args, value in ((["init", "--pq", str(repo)], b""), (["add-agent", "ci"], b""), (["set", "app/token"], b"sk_live_pq_py"), (["grant", "ci", "app"], b"")):
        subprocess.run([path, *args], cwd=repo if repo.exists() else tmp_path, env=env, input=value, check=True, capture_output=True)
    return repo, home / ".agent-vault" / "agents" / "ci.key"


def test_a_post_quantum_key_is_refused_with_a_pointer_to_the_cli(tmp_path: Path) -> None:
    repo, ci_key = _pq_vault(tmp_path)
    with pytest.raises(VaultNotFoundError, match=r"post-quantum.*agent-vault get.*agent-vault mcp") as e:
        Vault(repo_path=str(repo), key_path=str(ci_key), auto_pull=False).get("app/token")
    assert "AGE-SECRET-KEY-PQ-1" not in str(e.value)
    with pytest.raises(VaultNotFoundError, match="post-quantum"):
        parse_key_file(ci_key.read_text(), "ci.key")


def test_a_post_quantum_vault_read_with_a_classic_key_is_not_an_integrity_error(tmp_path: Path) -> None:
    repo, _ = _pq_vault(tmp_path)
    classic = str(x25519.Identity.generate())
    v = Vault(repo_path=str(repo), key_str=classic, auto_pull=False)
    with pytest.raises(VaultNotFoundError, match=r"post-quantum keys.*agent-vault get"):
        v.get("app/token")


def test_hybrid_recipients_are_recognised(tmp_path: Path) -> None:
    repo, _ = _pq_vault(tmp_path)
    pub = (repo / ".agent-vault" / "owner.pub").read_text().strip()
    assert len(pub) == 1959 and is_hybrid_recipient(pub) and not is_recipient(pub)
    assert not is_hybrid_recipient(pub.upper()) and not is_hybrid_recipient(pub[:-1])
