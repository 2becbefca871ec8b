"""agent-vault 0.1's ``agent_vault.crypto`` helpers, kept for code that calls them.

They are plain age: an identity read from a key file or a string, and the decryption of bytes the caller holds.
Nothing here verifies anything; :meth:`agent_vault.Vault.get` is the read that checks the owner's signature, the
recipients and freshness before it decrypts. Key files of this format (pin comment lines) and agent-vault 0.1's
bare key files are both read; only classic X25519 keys (``AGE-SECRET-KEY-1``) are supported, as in 0.1.
"""

from __future__ import annotations

import os

import pyrage
from pyrage import x25519

from .errors import NotAuthorizedError, VaultNotFoundError

__all__ = ["NoAgeKeyError", "decrypt_secret", "load_identity", "load_identity_from_str"]


class NoAgeKeyError(VaultNotFoundError, ValueError):
    """No usable ``AGE-SECRET-KEY-1`` line: a :class:`agent_vault.VaultNotFoundError` (kind ``vault_not_found``)
    that is also the ``ValueError`` agent-vault 0.1 raised, so either ``except`` clause catches it."""


def load_identity_from_str(key_str: str) -> x25519.Identity:
    """The identity of the first line of ``key_str`` that starts with ``AGE-SECRET-KEY-`` (surrounding spaces
    ignored, comment lines skipped). Raises :class:`NoAgeKeyError` ("No age secret key found in provided
    string") when there is none or it does not parse; the message never holds the key."""
    return _identity(key_str, "provided string")


def load_identity(key_path: str | os.PathLike[str]) -> x25519.Identity:
    """The identity in the key file ``key_path`` (``~`` expanded), as :func:`load_identity_from_str` finds it.
    Raises :class:`NoAgeKeyError` ("No age secret key found in PATH") when the file holds none; an unreadable
    file raises the ``OSError`` of ``open``, as in agent-vault 0.1."""
    path = os.path.expanduser(os.fspath(key_path))
    with open(path, encoding="utf-8") as f:
        return _identity(f.read(), path)


def decrypt_secret(ciphertext: bytes, identity: x25519.Identity) -> str:
    """Decrypt the age file ``ciphertext`` (binary format) with ``identity`` and return the plaintext as UTF-8
    text. Unverified: anyone can encrypt to a public key. Raises :class:`agent_vault.NotAuthorizedError` when the
    identity cannot decrypt it (not a recipient, or not an age file)."""
    try:
        plaintext: bytes = pyrage.decrypt(ciphertext, [identity])
    except (pyrage.DecryptError, OSError):
        raise NotAuthorizedError("Cannot decrypt: the key is not a recipient of this age file, or it is not one") from None
    return plaintext.decode("utf-8")


def _identity(text: str, where: str) -> x25519.Identity:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                return x25519.Identity.from_str(line)
            except pyrage.IdentityError:
                break
    raise NoAgeKeyError(f"No age secret key found in {where}")
