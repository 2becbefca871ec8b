"""Shared fixtures: every test runs with a fresh agent-vault home and HOME, and no AGENT_VAULT_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest

# test_live.py's vaults written by the real CLI, for test_compat.py too.
from test_live import template, world  # noqa: F401  (fixtures: pytest finds them here by name)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$AGENT_VAULT_HOME`` (not created) under a fresh ``$HOME``."""
    home = tmp_path / "home"
    home.mkdir()
    av_home = home / ".agent-vault"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGENT_VAULT_HOME", str(av_home))
    monkeypatch.delenv("AGENT_VAULT_KEY", raising=False)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    return av_home
