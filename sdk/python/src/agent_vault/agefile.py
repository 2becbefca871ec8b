"""Decryption of binary age v1 files (age-encryption.org/v1) for stanzas that pyrage does not implement.

The Python SDK decrypts classic (X25519) files with pyrage. pyrage has no post-quantum ``mlkem768x25519``
recipient, so files of post-quantum vaults are decrypted here: this module parses the header as strictly as the
reference implementation, asks an ``unwrap`` function for the file key, checks the header MAC and decrypts the
STREAM payload, all with pyca/cryptography primitives (HKDF-SHA256, HMAC-SHA256, ChaCha20-Poly1305). The stanza
cryptography itself (HPKE) is in :mod:`agent_vault.hybrid`. Checked against the C2SP CCTV age test vectors
(``tests/test_cctv_age.py``).

Every failure is an :class:`AgeError` subclass whose message never carries plaintext or key material; the
plaintext is returned whole or not at all, and never grows past ``cap`` bytes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "AgeError",
    "HeaderError",
    "HmacError",
    "NoMatchError",
    "PayloadError",
    "Stanza",
    "TooLargeError",
    "decode_b64",
    "decrypt",
    "parse_header",
]

_INTRO = b"age-encryption.org/v1\n"
_STANZA = b"-> "
_FOOTER = b"---"
_COLUMNS = 64  # base64 characters of a full body line (48 bytes)
_CHUNK = 64 * 1024
_TAG = 16
_NONCE = 16
FILE_KEY_SIZE = 16


class AgeError(Exception):
    """The file cannot be decrypted."""


class HeaderError(AgeError):
    """The header does not parse, or a stanza meant for this identity's kind is malformed."""


class NoMatchError(AgeError):
    """No stanza opens with this identity."""


class HmacError(AgeError):
    """A file key was unwrapped but the header MAC does not match."""


class PayloadError(AgeError):
    """The payload does not decrypt and authenticate all the way to its end."""


class TooLargeError(AgeError):
    """The plaintext is larger than the cap."""


@dataclass(frozen=True)
class Stanza:
    """A recipient stanza: its type, its arguments and its decoded body."""

    type: str
    args: tuple[str, ...]
    body: bytes


def decode_b64(text: bytes) -> bytes:
    """Strict unpadded standard base64, as age writes it: no padding, no line breaks, canonical final bits."""
    if b"=" in text or b"\n" in text or b"\r" in text:
        raise HeaderError("malformed base64")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise HeaderError("malformed base64") from None
    if base64.b64encode(data).rstrip(b"=") != text:
        raise HeaderError("non-canonical base64")
    return data


def _valid_arg(a: bytes) -> bool:
    return len(a) > 0 and all(33 <= c <= 126 for c in a)


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise HeaderError("the header ends without a line break")
    return data[pos:end], end + 1


def parse_header(data: bytes) -> tuple[list[Stanza], bytes, bytes, int]:
    """Parse the header of a binary age file.

    Returns the stanzas, the bytes the header MAC covers (from the intro through ``---``), the MAC and the offset
    of the payload. Raises :class:`HeaderError`.
    """
    if not data.startswith(_INTRO):
        raise HeaderError("not a binary age v1 file")
    pos = len(_INTRO)
    stanzas: list[Stanza] = []
    while True:
        if data.startswith(_FOOTER, pos):
            line, end = _line(data, pos)
            parts = line.split(b" ")
            if parts[0] != _FOOTER or len(parts) != 2:
                raise HeaderError("malformed closing line")
            mac = decode_b64(parts[1])
            if len(mac) != 32:
                raise HeaderError("malformed closing line")
            return stanzas, data[: pos + len(_FOOTER)], mac, end
        line, pos = _line(data, pos)
        if not line.startswith(_STANZA):
            raise HeaderError("malformed stanza opening line")
        args = line.split(b" ")[1:]
        if not args or not all(_valid_arg(a) for a in args):
            raise HeaderError("malformed stanza")
        body = bytearray()
        while True:
            bline, pos = _line(data, pos)
            if len(bline) > _COLUMNS:
                raise HeaderError("body line too long")
            body += decode_b64(bline)
            if len(bline) < _COLUMNS:
                break
        stanzas.append(Stanza(args[0].decode(), tuple(a.decode() for a in args[1:]), bytes(body)))


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _decrypt_payload(file_key: bytes, payload: bytes, cap: int) -> bytearray:
    """The STREAM payload: a 16-byte nonce, then 64 KiB chunks sealed with ChaCha20-Poly1305 under a counter nonce
    whose last byte marks the final chunk; only the first chunk may be empty, and nothing may follow the final one."""
    if len(payload) < _NONCE:
        raise HeaderError("the file ends before the payload nonce")  # age counts the nonce with the header
    aead = ChaCha20Poly1305(_hkdf(file_key, payload[:_NONCE], b"payload"))
    out = bytearray()
    pos, counter = _NONCE, 0
    try:
        while True:
            chunk = payload[pos : pos + _CHUNK + _TAG]
            if not chunk:
                raise PayloadError("the payload ends without a final chunk")
            last = len(chunk) < _CHUNK + _TAG
            nonce = counter.to_bytes(11, "big")
            try:
                plain = aead.decrypt(nonce + (b"\x01" if last else b"\x00"), chunk, None)
            except InvalidTag:
                if last:
                    raise PayloadError("a payload chunk does not authenticate") from None
                try:
                    plain = aead.decrypt(nonce + b"\x01", chunk, None)  # a full-length final chunk
                except InvalidTag:
                    raise PayloadError("a payload chunk does not authenticate") from None
                last = True
            if last and not plain and counter > 0:
                raise PayloadError("the final chunk is empty")
            if len(out) + len(plain) > cap:
                raise TooLargeError(f"the plaintext is larger than {cap} bytes")
            out += plain
            pos += len(chunk)
            counter += 1
            if last:
                if pos != len(payload):
                    raise PayloadError("data after the final chunk")
                return out
    except AgeError:
        out[:] = bytes(len(out))
        raise


def decrypt(data: bytes, unwrap: Callable[[list[Stanza]], bytes | None], cap: int) -> bytes:
    """Decrypt a binary age file whose file key ``unwrap`` finds among the stanzas.

    ``unwrap`` returns the 16-byte file key, None when no stanza is for this identity, or raises
    :class:`HeaderError` for a malformed stanza of its own type. Raises :class:`HeaderError`,
    :class:`NoMatchError`, :class:`HmacError`, :class:`PayloadError` or :class:`TooLargeError`.
    """
    stanzas, covered, mac, offset = parse_header(data)
    if any(s.type == "scrypt" for s in stanzas) and len(stanzas) != 1:
        raise HeaderError("an scrypt stanza must be alone")
    file_key = unwrap(stanzas)
    if file_key is None:
        raise NoMatchError("no stanza opens with this identity")
    if not hmac.compare_digest(hmac.new(_hkdf(file_key, b"", b"header"), covered, "sha256").digest(), mac):
        raise HmacError("the header MAC does not match")
    out = _decrypt_payload(file_key, data[offset:], cap)
    value = bytes(out)
    out[:] = bytes(len(out))
    return value
