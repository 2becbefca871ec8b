"""agent-vault: read secrets from an agent-vault repository.

    from agent_vault import Vault

    with Vault("/path/to/repo", key_path="~/.agent-vault/agents/ci.key") as vault:
        token = vault.get("stripe/api-key")

See the package README for the trust behaviour and the errors raised.
"""

from __future__ import annotations

from .errors import (
    AgentVaultError,
    IntegrityError,
    ManifestError,
    NotAuthorizedError,
    SecretNotFoundError,
    VaultError,
    VaultNotFoundError,
)
from .manifest import Manifest
from .state import SecretInfo
from .vault import Vault

#: agent-vault 0.1's name for the items of ``list_secrets`` (same attributes).
SecretMetadata = SecretInfo

__all__ = [
    "AgentVaultError",
    "IntegrityError",
    "Manifest",
    "ManifestError",
    "NotAuthorizedError",
    "SecretInfo",
    "SecretMetadata",
    "SecretNotFoundError",
    "Vault",
    "VaultError",
    "VaultNotFoundError",
    "__version__",
]

__version__ = "0.1.0"
