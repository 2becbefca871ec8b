"""Post-quantum age identities: ML-KEM-768 + X25519 (``AGE-SECRET-KEY-PQ-1...``, recipients ``age1pq1...``).

age (v1.3 and later) wraps a file key for a hybrid recipient with HPKE (RFC 9180) in base mode: KEM
MLKEM768-X25519 (X-Wing), KDF HKDF-SHA256, AEAD ChaCha20-Poly1305, info ``age-encryption.org/mlkem768x25519``;
the stanza is ``-> mlkem768x25519 <base64 of the 1,120-byte encapsulation>`` with the sealed file key as its
body. pyca/cryptography (47 and later, on a build with ML-KEM: its PyPI wheels) implements that HPKE suite, so this module only derives the key pair from
the identity's 32-byte seed (SHAKE256 to 96 bytes: the ML-KEM-768 seed, then the X25519 scalar) and calls it.
Checked against the C2SP CCTV age vectors and against files written by the Go implementation
(``tests/test_cctv_age.py``, ``tests/test_vectors_pq.py``).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from . import bech32
from .agefile import FILE_KEY_SIZE, HeaderError, Stanza, decode_b64

__all__ = ["STANZA_TYPE", "HybridIdentity"]

STANZA_TYPE = "mlkem768x25519"
_LABEL = b"age-encryption.org/mlkem768x25519"
_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_ENC_SIZE = hpke.KEM.MLKEM768_X25519.enc_length()
_IDENTITY_HRP = "age-secret-key-pq-"
_RECIPIENT_HRP = "age1pq"


class HybridIdentity:
    """A hybrid identity. ``repr`` and ``str`` never show key material."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("a hybrid identity is a 32-byte seed")
        self.seed = seed
        expanded = hashlib.shake_256(seed).digest(96)
        kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        dh = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        self._dh = dh
        self._key = hpke.MLKEM768X25519PrivateKey(kem, dh)
        public = kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
        self.recipient = bech32.encode(_RECIPIENT_HRP, public)

    @classmethod
    def from_str(cls, identity: str) -> HybridIdentity:
        """Parse an ``AGE-SECRET-KEY-PQ-1...`` line (upper case). Raises ValueError without quoting it."""
        if identity.upper() != identity:
            raise ValueError("a hybrid identity is written in upper case")
        try:
            hrp, seed = bech32.decode(identity)
        except bech32.Bech32Error:
            raise ValueError("not a valid Bech32 hybrid identity") from None
        if hrp != _IDENTITY_HRP or len(seed) != 32:
            raise ValueError("not a hybrid identity")
        return cls(seed)

    def __repr__(self) -> str:
        return f"HybridIdentity(recipient={self.recipient[:16]}…)"

    __str__ = __repr__

    def unwrap(self, stanzas: list[Stanza]) -> bytes | None:
        """The file key from the first ``mlkem768x25519`` stanza that opens, None when none does.

        Raises :class:`~agent_vault.agefile.HeaderError` for a malformed ``mlkem768x25519`` stanza (another than
        one argument, an encapsulation that is not 1,120 bytes, a body that is not a sealed 16-byte file key), as
        age does: a malformed stanza of the identity's own type stops the decryption.
        """
        for s in stanzas:
            if s.type != STANZA_TYPE:
                continue
            if len(s.args) != 1:
                raise HeaderError("invalid mlkem768x25519 stanza")
            enc = decode_b64(s.args[0].encode())
            if len(enc) != _ENC_SIZE or len(s.body) != FILE_KEY_SIZE + 16:
                raise HeaderError("invalid mlkem768x25519 stanza")
            try:
                # X-Wing refuses an X25519 share whose shared secret is all zero (a low-order point), and so does
                # age: a malformed stanza, not one for another identity.
                self._dh.exchange(x25519.X25519PublicKey.from_public_bytes(enc[-32:]))
            except ValueError:
                raise HeaderError("invalid mlkem768x25519 stanza: low-order X25519 share") from None
            try:
                return _SUITE.decrypt(enc + s.body, self._key, info=_LABEL)
            except (InvalidTag, ValueError):
                continue
        return None
