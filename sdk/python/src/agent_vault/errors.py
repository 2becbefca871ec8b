"""Error classes of the agent-vault SDK.

Every error raised by this package is an :class:`AgentVaultError`. Its ``kind`` attribute is one of the kinds of
``docs/format.md`` section 7 and maps to the CLI's exit codes. Messages name what failed (a path, a file, a
version) and never contain a secret value.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "KINDS",
    "AgentVaultError",
    "IntegrityError",
    "ManifestError",
    "NotAuthorizedError",
    "SecretNotFoundError",
    "VaultError",
    "VaultNotFoundError",
    "usage_error",
]

#: Error kind -> CLI exit code (format.md section 7).
KINDS: dict[str, int] = {
    "usage": 2,
    "vault_not_found": 3,
    "not_found": 4,
    "not_authorized": 5,
    "integrity": 6,
    "error": 1,
}


class AgentVaultError(Exception):
    """Base class of every error of this package.

    ``kind`` is ``"usage"`` for bad arguments (a malformed secret name, a closed vault, ...) and ``"error"`` for
    anything not covered by a subclass. Subclasses fix their own kind.
    """

    default_kind: ClassVar[str] = "error"

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        kind = kind or self.default_kind
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        self.kind: str = kind
        self.message: str = message

    @property
    def exit_code(self) -> int:
        """The exit code the agent-vault CLI uses for this kind of error."""
        return KINDS[self.kind]


#: The name agent-vault 0.1 (``agent-vault-sdk``) gave the base class: the same class, so ``except VaultError``
#: catches every error of this package and ``issubclass(SecretNotFoundError, VaultError)`` holds.
VaultError = AgentVaultError


class VaultNotFoundError(AgentVaultError):
    """No ``.agent-vault/`` directory, or no usable key (missing, unreadable, malformed or readable by others)."""

    default_kind = "vault_not_found"


class SecretNotFoundError(AgentVaultError):
    """No such secret or group in the verified state."""

    default_kind = "not_found"


class NotAuthorizedError(AgentVaultError):
    """The key is not a recipient of the secret, or cannot decrypt it."""

    default_kind = "not_authorized"


class IntegrityError(AgentVaultError):
    """The repository failed verification: bad signature, hash mismatch, rollback, fork, pin mismatch, bad name,
    oversized file, symbolic link or unsigned secret."""

    default_kind = "integrity"


class ManifestError(AgentVaultError):
    """Kept from agent-vault 0.1, whose manifest.yaml parser raised it. This package never raises it: the access
    policy is part of the signed state, and a state that fails to verify or parse raises :class:`IntegrityError`.
    Catching it is harmless."""


def usage_error(message: str) -> AgentVaultError:
    """Return an :class:`AgentVaultError` of kind ``usage``."""
    return AgentVaultError(message, kind="usage")
