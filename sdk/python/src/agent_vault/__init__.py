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
    NotAuthorizedError,
    SecretNotFoundError,
    VaultNotFoundError,
)
from .state import SecretInfo
from .vault import Vault

__all__ = [
    "AgentVaultError",
    "IntegrityError",
    "NotAuthorizedError",
    "SecretInfo",
    "SecretNotFoundError",
    "Vault",
    "VaultNotFoundError",
    "__version__",
]

__version__ = "0.1.0"
