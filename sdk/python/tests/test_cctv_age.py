"""The C2SP CCTV age test vectors (tests/testdata/cctv-age, see its README.md) against agent_vault.agefile and
agent_vault.hybrid: the post-quantum (mlkem768x25519) vectors with the SDK's own unwrap, and the X25519 ones with a
test-only X25519 unwrap, so that the header parser, the MAC and STREAM meet every edge case of the reference
implementation. Each vector's ``expect`` must be met exactly; for ``success`` the plaintext's SHA-256 must be the
vector's ``payload`` (this API releases a plaintext whole or not at all, so a failure releases nothing).
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent_vault import agefile, bech32
from agent_vault.hybrid import HybridIdentity

VECTORS = Path(__file__).parent / "testdata" / "cctv-age"
EXPECT = {
    "header failure": agefile.HeaderError,
    "no match": agefile.NoMatchError,
    "HMAC failure": agefile.HmacError,
    "payload failure": agefile.PayloadError,
}


def _vector(path: Path) -> tuple[dict[str, list[str]], bytes]:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    meta: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        k, _, v = line.partition(": ")
        meta.setdefault(k, []).append(v)
    if meta.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return meta, body


class _X25519:
    """age's X25519 recipient stanza (test only: the SDK reads classic files with pyrage)."""

    def __init__(self, identity: str) -> None:
        _, secret = bech32.decode(identity)
        self.key = x25519.X25519PrivateKey.from_private_bytes(secret)
        self.public = self.key.public_key().public_bytes_raw()

    def unwrap(self, stanzas: list[agefile.Stanza]) -> bytes | None:
        for s in stanzas:
            if s.type != "X25519":
                continue
            if len(s.args) != 1:
                raise agefile.HeaderError("invalid X25519 stanza")
            share = agefile.decode_b64(s.args[0].encode())
            if len(share) != 32 or len(s.body) != 32:
                raise agefile.HeaderError("invalid X25519 stanza")
            try:
                shared = self.key.exchange(x25519.X25519PublicKey.from_public_bytes(share))
            except ValueError:
                raise agefile.HeaderError("low-order X25519 share") from None
            wrap = HKDF(hashes.SHA256(), 32, share + self.public, b"age-encryption.org/v1/X25519").derive(shared)
            try:
                return ChaCha20Poly1305(wrap).decrypt(bytes(12), s.body, None)
            except InvalidTag:
                continue
        return None


def _unwrapper(identities: list[str]):  # type: ignore[no-untyped-def]
    ids = [HybridIdentity.from_str(i) if i.startswith("AGE-SECRET-KEY-PQ-1") else _X25519(i) for i in identities]

    def unwrap(stanzas: list[agefile.Stanza]) -> bytes | None:
        for i in ids:
            key = i.unwrap(stanzas)
            if key is not None:
                return key
        return None

    return unwrap


def _names() -> list[str]:
    return sorted(p.name for p in VECTORS.iterdir() if p.name != "README.md")


def test_the_vectors_are_there() -> None:
    names = _names()
    assert len(names) == 85, "tests/testdata/cctv-age holds 85 vectors (its README.md)"
    assert sum(n.startswith("hybrid") for n in names) == 18


@pytest.mark.parametrize("name", _names())
def test_cctv_vector(name: str) -> None:
    meta, data = _vector(VECTORS / name)
    [expect] = meta["expect"]
    unwrap = _unwrapper(meta["identity"])
    if expect == "success":
        got = agefile.decrypt(data, unwrap, cap=1 << 30)
        assert hashlib.sha256(got).hexdigest() == meta["payload"][0]
        return
    with pytest.raises(agefile.AgeError) as info:
        agefile.decrypt(data, unwrap, cap=1 << 30)
    assert type(info.value) is EXPECT[expect], f"{expect}: got {type(info.value).__name__}: {info.value}"


def test_hybrid_identity_recipient_and_file_key() -> None:
    """The hybrid vector's identity gives the file key the vector names, and a recipient of the documented shape."""
    meta, data = _vector(VECTORS / "hybrid")
    ident = HybridIdentity.from_str(meta["identity"][0])
    assert ident.recipient.startswith("age1pq1") and len(ident.recipient) == 1959
    stanzas, _, _, _ = agefile.parse_header(data)
    assert ident.unwrap(stanzas) == bytes.fromhex(meta["file key"][0])
    assert "AGE-SECRET-KEY" not in repr(ident) and meta["identity"][0] not in repr(ident)


def test_cap() -> None:
    meta, data = _vector(VECTORS / "hybrid")
    with pytest.raises(agefile.TooLargeError):
        agefile.decrypt(data, _unwrapper(meta["identity"]), cap=0)
