"""The access policy as agent-vault 0.1's ``Manifest`` showed it, built from a verified state.

agent-vault 0.1 parsed ``manifest.yaml``, which anyone who could push could edit. Here a :class:`Manifest` is made
by :attr:`agent_vault.Vault.manifest` from the signed root and its verified index shards only, so every answer is
what the owner signed. It is a snapshot: :meth:`agent_vault.Vault.reload` (or reading ``vault.manifest`` again)
gives the current one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .state import Root

__all__ = ["Manifest"]


class Manifest:
    """Agents, groups and the secrets of each group, from one verified state. Every list is sorted."""

    def __init__(self, agents: Mapping[str, Iterable[str]], groups: Mapping[str, Iterable[str]],
                 secrets: Mapping[str, tuple[str, Iterable[str]]]) -> None:
        """``agents``: agent -> its groups; ``groups``: group -> its members; ``secrets``: path -> (group, the
        agents that can read it)."""
        self._agents = {a: sorted(g) for a, g in agents.items()}
        self._groups = {g: sorted(m) for g, m in groups.items()}
        self._secrets = {p: (g, sorted(r)) for p, (g, r) in secrets.items()}

    @classmethod
    def from_state(cls, root: Root, entries: Mapping[str, tuple[str, Iterable[str]]]) -> Manifest:
        """The manifest of a verified ``root`` whose index holds ``entries`` (path -> (group, extra agents))."""
        agent_groups: dict[str, set[str]] = {a: set() for a in root.agents}
        for name, g in root.groups.items():
            for m in g.members:
                agent_groups.setdefault(m, set()).add(name)
        secrets = {
            p: (group, set(root.groups[group].members) | set(extra)) for p, (group, extra) in entries.items()
        }
        return cls(agent_groups, {n: g.members for n, g in root.groups.items()}, secrets)

    def agent_groups(self, agent_name: str) -> list[str]:
        """The groups ``agent_name`` is a member of ([] for an unknown agent)."""
        return list(self._agents.get(agent_name, []))

    def group_secrets(self, group_name: str) -> list[str]:
        """The paths of the secrets of ``group_name`` ([] for an unknown group)."""
        return sorted(p for p, (g, _) in self._secrets.items() if g == group_name)

    def agents_for_secret(self, secret_path: str) -> list[str]:
        """The agents that can read ``secret_path``: its group's members and its extra agents ([] when unknown)."""
        entry = self._secrets.get(secret_path)
        return list(entry[1]) if entry else []

    def list_agents(self) -> list[dict[str, Any]]:
        """Every agent as ``{"name": ..., "groups": [...]}``, sorted by name."""
        return [{"name": a, "groups": list(g)} for a, g in sorted(self._agents.items())]

    def list_groups(self) -> list[str]:
        """Every group name."""
        return sorted(self._groups)

    def list_secrets(self, group: str | None = None) -> list[str]:
        """Every secret path, or those of ``group``."""
        return sorted(p for p, (g, _) in self._secrets.items() if group is None or g == group)
