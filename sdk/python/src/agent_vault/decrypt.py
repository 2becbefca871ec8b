"""Decryption of a secret's ``.enc`` with the value cap of format.md section 5.1.

A value is at most 1 MiB. A reader that decrypts more than that stops there and reports an integrity error: the
plaintext is streamed out of age and never held beyond 1 MiB + 1 byte, whatever the ciphertext's size.

Classic (X25519) identities decrypt with pyrage; post-quantum ones (:class:`agent_vault.hybrid.HybridIdentity`)
with :mod:`agent_vault.agefile`. A file whose header mixes ``mlkem768x25519`` stanzas with stanzas of another type
is refused before any decryption, whatever the identity (format.md 5.1).
"""

from __future__ import annotations

import io

import pyrage

from . import agefile
from .errors import IntegrityError, NotAuthorizedError

__all__ = ["MAX_VALUE", "decrypt_value"]

#: The largest value a writer stores and a reader returns.
MAX_VALUE = 1 << 20
_HYBRID = "mlkem768x25519"


class _TooLarge(Exception):
    pass


class _CappedSink:
    """A writable sink for ``pyrage.decrypt_io`` that refuses to grow past ``cap`` bytes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        if len(self.buf) + len(data) > self.cap:
            raise _TooLarge()
        self.buf += data
        return len(data)

    def flush(self) -> None:
        pass


def decrypt_value(enc: bytes, identity: object, what: str, cap: int = MAX_VALUE) -> bytes:
    """Decrypt the age file ``enc`` with ``identity`` (a ``pyrage.x25519.Identity`` or a ``HybridIdentity``).

    Raises NotAuthorizedError when the identity cannot decrypt it (not a recipient, or a malformed file: the hash the
    signed state vouches for matched, so the owner wrote it) and IntegrityError, naming ``what``, when the value is
    larger than ``cap`` bytes, or when the file mixes post-quantum and other stanzas. No error carries any plaintext.
    """
    try:
        types = {st.type for st in agefile.parse_header(enc)[0]}
    except agefile.HeaderError:
        types = set()  # left to the decryption to refuse
    if _HYBRID in types and len(types) > 1:
        raise IntegrityError(f"{what}: the file mixes post-quantum (mlkem768x25519) and other recipient stanzas")
    if not isinstance(identity, pyrage.x25519.Identity):  # an agent_vault.hybrid.HybridIdentity
        try:
            return agefile.decrypt(enc, identity.unwrap, cap)  # type: ignore[attr-defined]
        except agefile.TooLargeError:
            raise IntegrityError(f"{what}: the value is larger than the limit of {cap} bytes") from None
        except agefile.AgeError:
            raise NotAuthorizedError(f"the key cannot decrypt {what}") from None
    sink = _CappedSink(cap)
    try:
        pyrage.decrypt_io(io.BytesIO(enc), sink, [identity])
    except _TooLarge:
        sink.buf[:] = b"\0" * len(sink.buf)
        raise IntegrityError(f"{what}: the value is larger than the limit of {cap} bytes") from None
    except (pyrage.DecryptError, OSError):  # OSError: a payload that fails authentication part-way
        sink.buf[:] = b"\0" * len(sink.buf)
        raise NotAuthorizedError(f"the key cannot decrypt {what}") from None
    return bytes(sink.buf)
