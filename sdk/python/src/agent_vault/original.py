"""Recognising a vault of the original agent-vault 0.1 that has not been converted (format.md section 11.2).

Such a vault has no signed state: no ``state/`` directory, and a ``config.yaml`` that says ``version`` and
``encryption`` and none of this format's fields (``format``, ``vault_id``, ``owner_verify_key``). A reader cannot
verify anything in it, so it sends the user to ``agent-vault migrate`` (VaultNotFoundError, exit 3). A vault of
this format whose ``state/root`` was deleted keeps its own ``config.yaml`` and stays an integrity error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from .errors import VaultNotFoundError

__all__ = ["is_original_layout", "refuse_original"]

#: config.yaml is untrusted: read at most this much of it (format.md section 6.5).
_LIMIT_CONFIG = 64 << 10


def is_original_layout(vault_dir: Path) -> bool:
    """True when the ``.agent-vault`` directory ``vault_dir`` holds an unconverted vault of agent-vault 0.1."""
    if os.path.lexists(vault_dir / "state") or os.path.lexists(vault_dir / ".pending" / "root"):
        return False
    config = vault_dir / "config.yaml"
    try:
        st = os.lstat(config)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _LIMIT_CONFIG:
            return False
        data = yaml.safe_load(config.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    if not isinstance(data, dict) or any(k in data for k in ("format", "vault_id", "owner_verify_key")):
        return False
    return "version" in data and "encryption" in data


def refuse_original(vault_dir: Path) -> None:
    """Raise VaultNotFoundError naming ``agent-vault migrate`` when ``vault_dir`` holds an unconverted vault of
    agent-vault 0.1; return otherwise."""
    if is_original_layout(vault_dir):
        raise VaultNotFoundError(
            f"{vault_dir} is a vault of the original agent-vault 0.1, which this version reads only once it is "
            f"converted: the owner converts it with `agent-vault migrate` and pushes the change"
        )
