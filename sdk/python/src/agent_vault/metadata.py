"""agent-vault 0.1's module for secret metadata, kept so that ``from agent_vault.metadata import SecretMetadata``
still works. :class:`SecretMetadata` is :class:`agent_vault.SecretInfo`: the items of ``Vault.list_secrets``, built
from the verified index (never from a ``.meta`` file)."""

from __future__ import annotations

from .state import SecretInfo

__all__ = ["SecretMetadata"]

SecretMetadata = SecretInfo
