from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent_vault.errors import IntegrityError
from agent_vault.signed import (
    ROOT_DOMAIN,
    ROOT_DOMAIN_V1,
    b64decode_strict,
    format_verify_key,
    parse_verify_key,
    signature_ok,
    split_signed,
    verify_signed,
)

BODY = b'{\n  "type": "agent-vault-root",\n  "version": 1\n}\n'


@pytest.fixture()
def sk() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def signed(sk: Ed25519PrivateKey, body: bytes = BODY, domain: bytes = ROOT_DOMAIN) -> bytes:
    sig = sk.sign(domain + body)
    return body + b"signature: ed25519 " + base64.b64encode(sig) + b"\n"


def test_split(sk: Ed25519PrivateKey) -> None:
    data = signed(sk)
    body, sig = split_signed(data)
    assert body == BODY and len(sig) == 64


def test_verify(sk: Ed25519PrivateKey) -> None:
    assert verify_signed(signed(sk), sk.public_key()) == BODY


def test_body_is_exact_bytes(sk: Ed25519PrivateKey) -> None:
    # a body that is not canonical JSON (odd spacing, key order) verifies as is: nothing is re-serialised
    body = b'{"version":1,   "type":"agent-vault-root"}\n'
    assert verify_signed(signed(sk, body), sk.public_key()) == body


def test_single_line_body(sk: Ed25519PrivateKey) -> None:
    assert verify_signed(signed(sk, b"{}\n"), sk.public_key()) == b"{}\n"


def test_empty_body(sk: Ed25519PrivateKey) -> None:
    data = signed(sk, b"")
    # no second-to-last newline: the file has no body line
    with pytest.raises(IntegrityError, match="no signature line"):
        split_signed(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-1], "newline"),
        (lambda d: d + b"\n", "signature: ed25519"),
        (lambda d: d.replace(b"signature: ed25519 ", b"signature: rsa "), "signature: ed25519"),
        (lambda d: d.replace(b"signature: ed25519 ", b"signature:  ed25519 "), "signature: ed25519"),
        (lambda d: d[:-4] + b"!" + d[-3:], "malformed signature"),
        (lambda d: d[:-3] + b"\n", "malformed signature"),  # padding stripped
        (lambda d: d[:-1] + b"\r\n", "malformed signature"),
        (lambda d: d.replace(b"signature: ed25519 ", b"signature: ed25519 AAAA"), "malformed signature"),
    ],
)
def test_malformed(sk: Ed25519PrivateKey, mutate: object, message: str) -> None:
    data = mutate(signed(sk))  # type: ignore[operator]
    with pytest.raises(IntegrityError, match=message):
        verify_signed(data, sk.public_key())


def test_non_canonical_base64_refused(sk: Ed25519PrivateKey) -> None:
    data = signed(sk)
    body, sig = split_signed(data)
    b64 = base64.b64encode(sig)
    # the last character before "==" carries 4 unused bits: set one and the encoding is no longer canonical
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = b64[-3:-2]
    tweaked = b64[:-3] + bytes([alphabet[alphabet.index(last) ^ 1]]) + b"=="
    assert base64.b64decode(tweaked) == sig
    with pytest.raises(IntegrityError, match="malformed signature"):
        split_signed(body + b"signature: ed25519 " + tweaked + b"\n")


def test_tampered_body(sk: Ed25519PrivateKey) -> None:
    data = signed(sk).replace(b'"version": 1', b'"version": 2')
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_signed(data, sk.public_key())


def test_other_key(sk: Ed25519PrivateKey) -> None:
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_signed(signed(sk), Ed25519PrivateKey.generate().public_key())


def test_root_domain_is_format_2() -> None:
    assert ROOT_DOMAIN == b"agent-vault/v2 root\n"
    assert ROOT_DOMAIN_V1 == b"agent-vault/v1 root\n"


def test_signature_ok(sk: Ed25519PrivateKey) -> None:
    body, sig = split_signed(signed(sk, domain=ROOT_DOMAIN_V1))
    assert signature_ok(body, sig, sk.public_key(), ROOT_DOMAIN_V1)
    assert not signature_ok(body, sig, sk.public_key(), ROOT_DOMAIN)
    assert not signature_ok(body, sig, sk.public_key())
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_signed(signed(sk, domain=ROOT_DOMAIN_V1), sk.public_key())


def test_domain_prefix_required(sk: Ed25519PrivateKey) -> None:
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_signed(signed(sk, domain=b""), sk.public_key())
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_signed(signed(sk, domain=b"agent-vault/v1 index\n"), sk.public_key())


def test_appended_garbage_after_signature(sk: Ed25519PrivateKey) -> None:
    data = signed(sk) + b"signature: ed25519 " + base64.b64encode(b"\0" * 64) + b"\n"
    # the last line is now the forged one, and the real signature line becomes part of the body
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_signed(data, sk.public_key())


def test_verify_key_round_trip(sk: Ed25519PrivateKey) -> None:
    text = format_verify_key(sk.public_key())
    assert text.startswith("ed25519:")
    assert format_verify_key(parse_verify_key(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "ed25519:",
        "ED25519:" + "A" * 43 + "=",
        "ed25519:" + "A" * 43,  # no padding
        "ed25519:" + "A" * 42 + "==",  # 31 bytes
        "ed25519:" + "A" * 44 + "AAAA",  # 35 bytes
        "ed25519:" + "A" * 42 + "B=",  # non-canonical trailing bits
        "ed25519: " + "A" * 43 + "=",
        "ed25519:" + "é" * 43 + "=",
    ],
)
def test_bad_verify_keys(text: object) -> None:
    with pytest.raises(ValueError):
        parse_verify_key(text)


def test_b64decode_strict() -> None:
    assert b64decode_strict("AAAA", 3) == b"\0\0\0"
    with pytest.raises(ValueError):
        b64decode_strict("AAAA", 4)
    with pytest.raises(ValueError):
        b64decode_strict("AA AA", 3)
