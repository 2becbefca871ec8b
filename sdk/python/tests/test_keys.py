from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent_vault import bech32
from agent_vault.errors import VaultNotFoundError
from agent_vault.keys import derive_owner_verify_key, parse_key_file, read_key_path, resolve_key
from vaultgen import Key, write_key

VID = "3f0c" + "0" * 28


@pytest.fixture()
def key() -> Key:
    return Key.generate()


@pytest.fixture()
def vk() -> str:
    return Key.generate().verify_key


def pinned(key: Key, vk: str, vault_id: str = VID) -> str:
    return (
        "# agent-vault agent key\n"
        "# created: 2026-11-29T13:50:00Z\n"
        f"# public key: {key.recipient}\n"
        "# agent-vault-agent: ci\n"
        f"# agent-vault-vault-id: {vault_id}\n"
        f"# agent-vault-owner-verify-key: {vk}\n"
        f"{key.identity_str}\n"
    )


# -- parsing --------------------------------------------------------------------------------------------------


def test_bare_identity(key: Key) -> None:
    k = parse_key_file(key.identity_str, "test")
    assert k.recipient == key.recipient
    assert k.pins is None and k.agent is None
    assert key.identity_str not in repr(k)


def test_pinned(key: Key, vk: str) -> None:
    k = parse_key_file(pinned(key, vk), "test")
    assert k.pins is not None
    assert k.pins.vault_id == VID and k.pins.verify_key == vk
    assert k.agent == "ci"


def test_crlf_and_whitespace(key: Key, vk: str) -> None:
    text = pinned(key, vk).replace("\n", "\r\n").replace(key.identity_str, f"  {key.identity_str}  ")
    k = parse_key_file(text, "test")
    assert k.pins is not None and k.pins.verify_key == vk
    assert k.recipient == key.recipient


def test_pin_with_trailing_space(key: Key, vk: str) -> None:
    text = pinned(key, vk).replace(f"{vk}\n", f"{vk}   \n")
    k = parse_key_file(text, "test")
    assert k.pins is not None and k.pins.verify_key == vk


def test_same_pin_twice_is_fine(key: Key, vk: str) -> None:
    text = f"# agent-vault-vault-id: {VID}\n" + pinned(key, vk)
    assert parse_key_file(text, "test").pins is not None


BAD: dict[str, Callable[[Key, str], str]] = {
    "no identity": lambda key, vk: "# just a comment\n",
    "empty": lambda key, vk: "",
    "two identities": lambda key, vk: f"{key.identity_str}\n{Key.generate().identity_str}\n",
    "garbage line": lambda key, vk: f"{key.identity_str}\nhello\n",
    "public key line": lambda key, vk: f"{key.recipient}\n{key.identity_str}\n",
    "bad checksum": lambda key, vk: key.identity_str[:-1] + ("Q" if key.identity_str[-1] != "Q" else "P"),
    "only vault id": lambda key, vk: f"# agent-vault-vault-id: {VID}\n{key.identity_str}\n",
    "only verify key": lambda key, vk: f"# agent-vault-owner-verify-key: {vk}\n{key.identity_str}\n",
    "conflicting vault id": lambda key, vk: f"# agent-vault-vault-id: {'1' * 32}\n" + pinned(key, vk),
    "conflicting verify key": lambda key, vk: (
        f"# agent-vault-owner-verify-key: {Key.generate().verify_key}\n" + pinned(key, vk)
    ),
    "malformed verify key": lambda key, vk: pinned(key, "ed25519:AAAA"),
    "verify key without prefix": lambda key, vk: pinned(key, vk[len("ed25519:") :]),
    "plugin identity": lambda key, vk: "AGE-PLUGIN-YUBIKEY-1QQQQ\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_refused(case: str, key: Key, vk: str) -> None:
    with pytest.raises(VaultNotFoundError) as e:
        parse_key_file(BAD[case](key, vk), "the-source")
    assert "the-source" in str(e.value)
    assert key.identity_str not in str(e.value)


def test_indented_comment_is_a_comment(key: Key) -> None:
    assert parse_key_file(f"   # note\n{key.identity_str}\n", "t").recipient == key.recipient


# -- files ----------------------------------------------------------------------------------------------------


def test_read_key_path(tmp_path: Path, key: Key) -> None:
    p = write_key(tmp_path / "k.key", key.identity_str + "\n")
    assert read_key_path(p).recipient == key.recipient


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666])
def test_loose_mode_refused(tmp_path: Path, key: Key, mode: int) -> None:
    p = write_key(tmp_path / "k.key", key.identity_str + "\n", mode)
    with pytest.raises(VaultNotFoundError, match="chmod 600"):
        read_key_path(p)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_private_modes_accepted(tmp_path: Path, key: Key, mode: int) -> None:
    p = write_key(tmp_path / "k.key", key.identity_str + "\n", mode)
    assert read_key_path(p).recipient == key.recipient


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFoundError, match="not found"):
        read_key_path(tmp_path / "nope.key")


def test_key_path_is_a_directory(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    with pytest.raises(VaultNotFoundError):
        read_key_path(d)


def test_tilde_expansion(key: Key) -> None:
    write_key(Path.home() / "keys" / "a.key", key.identity_str + "\n")
    assert read_key_path("~/keys/a.key").recipient == key.recipient


# -- resolution -----------------------------------------------------------------------------------------------


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    explicit, env, owner = Key.generate(), Key.generate(), Key.generate()
    p_explicit = write_key(tmp_path / "explicit.key", explicit.identity_str + "\n")
    write_key(isolated_home / "owner.key", owner.identity_str + "\n")

    r = resolve_key()
    assert r.key.recipient == owner.recipient and r.is_home_owner_key

    monkeypatch.setenv("AGENT_VAULT_KEY", env.identity_str)
    r = resolve_key()
    assert r.key.recipient == env.recipient and not r.is_home_owner_key
    assert r.key.source == "AGENT_VAULT_KEY"

    r = resolve_key(key_path=p_explicit)
    assert r.key.recipient == explicit.recipient
    r = resolve_key(key_str=explicit.identity_str)
    assert r.key.recipient == explicit.recipient


def test_env_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: Key, vk: str) -> None:
    # whole multi-line key file content
    monkeypatch.setenv("AGENT_VAULT_KEY", pinned(key, vk))
    r = resolve_key()
    assert r.key.recipient == key.recipient and r.key.pins is not None
    # bare identity line, with surrounding white space
    monkeypatch.setenv("AGENT_VAULT_KEY", f"  {key.identity_str}\n")
    assert resolve_key().key.recipient == key.recipient
    # a path
    p = write_key(tmp_path / "env.key", pinned(key, vk))
    monkeypatch.setenv("AGENT_VAULT_KEY", str(p))
    assert resolve_key().key.pins is not None
    # a ~/ path
    write_key(Path.home() / "env.key", key.identity_str + "\n")
    monkeypatch.setenv("AGENT_VAULT_KEY", "~/env.key")
    assert resolve_key().key.recipient == key.recipient
    # a path to a loose file is refused
    os.chmod(p, 0o644)
    monkeypatch.setenv("AGENT_VAULT_KEY", str(p))
    with pytest.raises(VaultNotFoundError, match="group or others"):
        resolve_key()
    # a path that does not exist
    monkeypatch.setenv("AGENT_VAULT_KEY", str(tmp_path / "missing.key"))
    with pytest.raises(VaultNotFoundError, match="neither age key content nor the path of an existing key file"):
        resolve_key()
    # malformed content
    monkeypatch.setenv("AGENT_VAULT_KEY", "AGE-SECRET-KEY-1NOTAKEY")
    with pytest.raises(VaultNotFoundError):
        resolve_key()


def test_key_str_as_path(tmp_path: Path, key: Key) -> None:
    p = write_key(tmp_path / "s.key", key.identity_str + "\n")
    assert resolve_key(key_str=str(p)).key.recipient == key.recipient


def test_no_key_anywhere() -> None:
    with pytest.raises(VaultNotFoundError, match="no key"):
        resolve_key()


def test_key_str_overrides_key_path(tmp_path: Path, key: Key) -> None:
    # agent-vault 0.1's order: key_str wins, and key_path is not even read.
    assert resolve_key(key_path=tmp_path / "missing", key_str=key.identity_str).key.recipient == key.recipient


def test_home_owner_key_recognised_through_explicit_path(tmp_path: Path, isolated_home: Path, key: Key) -> None:
    write_key(isolated_home / "owner.key", "# owner\n" + key.identity_str + "\n")
    p = write_key(tmp_path / "copy.key", key.identity_str + "\n")
    assert resolve_key(key_path=p).is_home_owner_key
    other = write_key(tmp_path / "other.key", Key.generate().identity_str + "\n")
    assert not resolve_key(key_path=other).is_home_owner_key


def test_loose_home_owner_key_refused(isolated_home: Path, key: Key) -> None:
    write_key(isolated_home / "owner.key", key.identity_str + "\n", 0o644)
    with pytest.raises(VaultNotFoundError, match="chmod 600"):
        resolve_key()


# -- owner verify key -----------------------------------------------------------------------------------------


def test_bech32_decodes_age_strings(key: Key) -> None:
    hrp, secret = bech32.decode(key.identity_str)
    assert hrp == "age-secret-key-" and len(secret) == 32
    hrp, public = bech32.decode(key.recipient)
    assert hrp == "age"
    # the decoded scalar is the identity: its X25519 public key is the recipient's bytes
    derived = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert derived == public


@pytest.mark.parametrize(
    "text",
    ["", "noseparator", "age1", "Age1qqqqqqqqqqqq", "age1qqqqqqqqqqqb", "age1qqqqqqqqqqqq"],
)
def test_bech32_rejects(text: str) -> None:
    with pytest.raises(bech32.Bech32Error):
        bech32.decode(text)


def test_derive_owner_verify_key(key: Key) -> None:
    k = parse_key_file(key.identity_str, "t")
    vk = derive_owner_verify_key(k)
    assert vk.startswith("ed25519:") and len(vk) == len("ed25519:") + 44
    # independent derivation in the test helper (HKDF with an explicitly empty salt)
    assert vk == key.verify_key
    assert derive_owner_verify_key(parse_key_file(Key.generate().identity_str, "t")) != vk


# -- recipients in repository bytes (format.md section 3.1) ----------------------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_encode(hrp: str, values: list[int]) -> str:
    """Bech32 with a valid checksum over 5-bit ``values`` (test helper)."""
    from agent_vault.bech32 import _hrp_expand, _polymod

    poly = _polymod(_hrp_expand(hrp) + values + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def test_is_recipient(key: Key) -> None:
    from agent_vault.keys import is_recipient

    r = key.recipient
    assert is_recipient(r)
    _, data = bech32.decode(r)
    # re-encoding the same 32 bytes gives the same string
    bits = "".join(f"{b:08b}" for b in data) + "0000"
    assert _bech32_encode("age", [int(bits[i : i + 5], 2) for i in range(0, 260, 5)]) == r
    # the same bytes with non-zero padding bits and a valid checksum: not a canonical recipient
    padded = bits[:-4] + "0001"
    assert not is_recipient(_bech32_encode("age", [int(padded[i : i + 5], 2) for i in range(0, 260, 5)]))
    # 31 bytes (a valid Bech32 string, shorter)
    assert not is_recipient(_bech32_encode("age", [0] * 50))
    for bad in (
        r.upper(),
        r[:10] + r[10:].upper(),
        r[:-1],
        r + "q",
        r[:-1] + ("q" if r[-1] != "q" else "p"),  # checksum
        "age1" + "b" * 58,
        " " + r,
        r + "\n",
        None,
        42,
        "",
    ):
        assert not is_recipient(bad), bad
