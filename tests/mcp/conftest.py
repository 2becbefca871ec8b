"""Fixtures of the MCP end-to-end tests: each test gets a fresh World (see vaultworld.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vaultworld import World, build_world


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "world")
