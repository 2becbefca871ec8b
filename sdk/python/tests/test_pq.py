"""Post-quantum vaults (format.md sections 3.1 and 3.8) made by the real CLI (``$AGENT_VAULT_BIN init --pq``).

The SDK reads them: a post-quantum key file parses (its recipient is the one the CLI wrote), an agent and the owner
read their values, and a key of the other kind is not authorized (never ``IntegrityError``), its message naming
both kinds. The decryption itself is checked against the CCTV vectors (test_cctv_age.py) and the shared vectors
(test_vectors_pq.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519

from agent_vault import NotAuthorizedError, Vault
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


def test_a_post_quantum_vault_is_read(tmp_path: Path) -> None:
    repo, ci_key = _pq_vault(tmp_path)
    key = parse_key_file(ci_key.read_text(), "ci.key")
    written = (repo / ".agent-vault" / "agents" / "ci" / "public.key").read_text().strip()
    assert key.recipient == written and is_hybrid_recipient(key.recipient)
    assert "AGE-SECRET-KEY-PQ-1" not in repr(key) and "AGE-SECRET-KEY-PQ-1" not in repr(key.identity)
    with Vault(repo_path=str(repo), key_path=str(ci_key), auto_pull=False) as v:
        assert v.get("app/token") == "sk_live_pq_py"
        assert [i.name for i in v.list_secrets()] == ["app/token"]
    owner_key = ci_key.parents[1] / "owner-pq.key"
    with Vault(repo_path=str(repo), key_path=str(owner_key), auto_pull=False) as v:
        assert v.get("app/token") == "sk_live_pq_py"


def test_a_post_quantum_vault_read_with_a_classic_key_is_not_authorized(tmp_path: Path) -> None:
    repo, _ = _pq_vault(tmp_path)
    classic = str(x25519.Identity.generate())
    v = Vault(repo_path=str(repo), key_str=classic, auto_pull=False)
    with pytest.raises(NotAuthorizedError, match=r"classic key, but vault [0-9a-f]{32} uses post-quantum keys") as e:
        v.get("app/token")
    assert "sk_live_pq_py" not in str(e.value)


def test_hybrid_recipients_are_recognised(tmp_path: Path) -> None:
    repo, _ = _pq_vault(tmp_path)
    pub = (repo / ".agent-vault" / "owner.pub").read_text().strip()
    assert len(pub) == 1959 and is_hybrid_recipient(pub) and not is_recipient(pub)
    assert not is_hybrid_recipient(pub.upper()) and not is_hybrid_recipient(pub[:-1])
