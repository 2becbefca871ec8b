"""Signed files (format.md sections 3.4 and 4): verify keys, the root's signature line, and verification over
exact bytes.

A signed file is ``body sigline`` where ``body`` is UTF-8 text ending in ``\\n`` and
``sigline = "signature: ed25519 " base64(sig) "\\n"``. The signature covers a domain-separation prefix followed by
the body bytes. The file is split *before* anything is parsed and the body is only handed out after the
signature verified; nothing is ever re-serialised.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import IntegrityError

__all__ = [
    "ROOT_DOMAIN",
    "ROOT_DOMAIN_V1",
    "SIG_PREFIX",
    "b64decode_strict",
    "format_verify_key",
    "parse_verify_key",
    "signature_ok",
    "split_signed",
    "verify_signed",
]

#: Domain-separation prefix of the root signature (format 2).
ROOT_DOMAIN = b"agent-vault/v2 root\n"
#: Domain-separation prefix of a format 1 root (format.md section 11): recognised only to send the user to
#: ``agent-vault migrate``.
ROOT_DOMAIN_V1 = b"agent-vault/v1 root\n"
#: Start of the signature line.
SIG_PREFIX = b"signature: ed25519 "
_VK_PREFIX = "ed25519:"


def b64decode_strict(text: str | bytes, length: int) -> bytes:
    """Decode canonical standard base64 (with padding) of exactly ``length`` bytes, else raise ValueError."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    try:
        out = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not standard base64") from None
    if len(out) != length or base64.b64encode(out) != raw:
        raise ValueError(f"not the canonical base64 of {length} bytes")
    return out


def parse_verify_key(text: object) -> Ed25519PublicKey:
    """Parse an ``ed25519:<base64 of 32 bytes>`` verify key; raise ValueError when malformed."""
    if not isinstance(text, str) or not text.startswith(_VK_PREFIX):
        raise ValueError("verify key must start with 'ed25519:'")
    try:
        raw = b64decode_strict(text[len(_VK_PREFIX) :], 32)
    except UnicodeEncodeError:
        raise ValueError("verify key is not ASCII") from None
    return Ed25519PublicKey.from_public_bytes(raw)


def format_verify_key(key: Ed25519PublicKey) -> str:
    """Write a verify key as ``ed25519:<base64>``."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _VK_PREFIX + base64.b64encode(raw).decode("ascii")


def split_signed(data: bytes, what: str = "state/root") -> tuple[bytes, bytes]:
    """Split a signed file into ``(body, signature)`` without parsing the body.

    The file must end with ``\\n``; the signature line is the text after the second-to-last ``\\n``; the body is
    everything before it (so it ends with ``\\n``). Raises :class:`IntegrityError` naming ``what`` when the
    shape is wrong.
    """
    if not data.endswith(b"\n"):
        raise IntegrityError(f"{what}: does not end with a newline")
    cut = data.rfind(b"\n", 0, len(data) - 1)
    if cut < 0:
        raise IntegrityError(f"{what}: no signature line")
    body, sigline = data[: cut + 1], data[cut + 1 :]
    if not sigline.startswith(SIG_PREFIX):
        raise IntegrityError(f"{what}: last line is not 'signature: ed25519 <base64>'")
    try:
        sig = b64decode_strict(sigline[len(SIG_PREFIX) : -1], 64)
    except ValueError as e:
        raise IntegrityError(f"{what}: malformed signature: {e}") from None
    return body, sig


def signature_ok(body: bytes, sig: bytes, verify_key: Ed25519PublicKey, domain: bytes = ROOT_DOMAIN) -> bool:
    """True when ``sig`` is ``verify_key``'s signature over ``domain || body``."""
    try:
        verify_key.verify(sig, domain + body)
    except InvalidSignature:
        return False
    return True


def verify_signed(
    data: bytes,
    verify_key: Ed25519PublicKey,
    domain: bytes = ROOT_DOMAIN,
    what: str = "state/root",
) -> bytes:
    """Verify the signed file ``data`` with ``verify_key`` and return its body bytes.

    The signature is checked over ``domain || body``. Raises :class:`IntegrityError` when the file is malformed
    or the signature does not verify.
    """
    body, sig = split_signed(data, what)
    if not signature_ok(body, sig, verify_key, domain):
        raise IntegrityError(f"{what}: bad signature (not signed by the trusted owner key)")
    return body
