from __future__ import annotations

import hashlib

import pytest

from agent_vault.errors import AgentVaultError, IntegrityError
from agent_vault.names import (
    check_name,
    check_secret_path,
    is_name,
    is_secret_path,
    name_in_repo,
    secret_path_in_repo,
    shard_of,
)

SEGMENTS = [
    ("ci", True),
    ("a", True),
    ("A-Z_0.9", True),
    ("...", True),
    (".hidden", True),
    ("x" * 64, True),
    ("x" * 65, False),
    ("", False),
    (".", False),
    ("..", False),
    ("a/b", False),
    ("a b", False),
    ("é", False),
    ("a\n", False),
    ("a:b", False),
    ("-", True),
    (None, False),
    (3, False),
]

PATHS = [
    ("stripe/api-key", True),
    ("a", True),
    ("a/b/c/d/e/f/g/h", True),
    ("a/b/c/d/e/f/g/h/i", False),
    ("/a", False),
    ("a/", False),
    ("a//b", False),
    ("a/./b", False),
    ("a/../b", False),
    ("..", False),
    ("", False),
    ("a\\b", False),
    ("a/" + "x" * 64, True),
    ("/".join(["x" * 63] * 4), True),  # 255 bytes
    ("/".join(["x" * 63] * 4) + "y", True),  # 256 bytes
    ("/".join(["x" * 63] * 4) + "yz", False),  # 257 bytes
    ("a/b\n", False),
    (b"a", False),
]


@pytest.mark.parametrize(("name", "ok"), SEGMENTS)
def test_segment(name: object, ok: bool) -> None:
    assert is_name(name) is ok
    if ok:
        assert check_name(name) == name
        assert name_in_repo(name, "x") == name
    else:
        with pytest.raises(AgentVaultError) as e:
            check_name(name, "agent name")
        assert e.value.kind == "usage"
        assert "agent name" in str(e.value)
        with pytest.raises(IntegrityError):
            name_in_repo(name, "state/root agents")


@pytest.mark.parametrize(("path", "ok"), PATHS)
def test_secret_path(path: object, ok: bool) -> None:
    assert is_secret_path(path) is ok
    if ok:
        assert check_secret_path(path) == path
        assert secret_path_in_repo(path, "x") == path
    else:
        with pytest.raises(AgentVaultError) as e:
            check_secret_path(path)
        assert e.value.kind == "usage"
        with pytest.raises(IntegrityError) as ie:
            secret_path_in_repo(path, "state/index/3f.json")
        assert ie.value.kind == "integrity"
        assert "state/index/3f.json" in str(ie.value)


def test_shard_of() -> None:
    # the first two hex characters of SHA-256 of the path in ASCII lower case
    assert shard_of("stripe/api-key") == hashlib.sha256(b"stripe/api-key").hexdigest()[:2]
    assert shard_of("Stripe/API-Key") == shard_of("stripe/api-key")
    assert shard_of("A") == "ca"
    assert shard_of("a") == "ca"  # sha256("a") = ca978112...
    assert all(len(shard_of(f"s/{i}")) == 2 for i in range(100))
    assert len({shard_of(f"s/{i}") for i in range(5000)}) == 256
