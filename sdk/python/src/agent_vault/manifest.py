"""The access policy as agent-vault 0.1's ``Manifest`` showed it.

agent-vault 0.1 parsed ``manifest.yaml``, which anyone who could push could edit. Here the :class:`Manifest` that
:attr:`agent_vault.Vault.manifest` returns is made from the signed root and its verified index shards only, so
every answer is what the owner signed. It is a snapshot: :meth:`agent_vault.Vault.reload` (or reading
``vault.manifest`` again) gives the current one.

agent-vault 0.1's two other ways to make one are kept for code that calls them, and are NOT verified:
``Manifest(data)`` from a parsed ``manifest.yaml`` and :meth:`Manifest.load` from the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ManifestError
from .state import Root, read_yaml_mapping

__all__ = ["Manifest"]

#: The largest ``manifest.yaml`` that :meth:`Manifest.load` parses (agent-vault 0.1's lists every secret).
_MANIFEST_LIMIT = 16 << 20


class Manifest:
    """Agents, groups and the secrets of each group. Every list is sorted."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        """agent-vault 0.1's constructor: ``data`` is a parsed ``manifest.yaml`` of agent-vault 0.1
        (``agents: [{name, groups: [...]}]``, ``groups: [{name, secrets: [...]}]``) or of this format (``agents``
        and ``groups`` as mappings by name; it lists no secrets, so this manifest knows none). Taken as given,
        NOT verified; entries that are not of these shapes are skipped. A group's members are the agents that
        list it; a secret's agents are its group's members."""
        agents, groups = _policy_of(data or {})
        members: dict[str, set[str]] = {g: set() for g in groups}
        for agent, its_groups in agents.items():
            for g in its_groups:
                members.setdefault(g, set()).add(agent)
        secrets = {p: (g, members.get(g, set())) for g, paths in groups.items() for p in paths}
        self._set(agents, members, secrets)

    def _set(self, agents: Mapping[str, Iterable[str]], groups: Mapping[str, Iterable[str]],
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
        manifest = cls.__new__(cls)
        manifest._set(agent_groups, {n: g.members for n, g in root.groups.items()}, secrets)
        return manifest

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """agent-vault 0.1's ``Manifest.load``: parse a ``manifest.yaml`` file (see :meth:`__init__`), NOT
        verified. :attr:`agent_vault.Vault.manifest` gives the policy the owner signed. Raises
        :class:`agent_vault.errors.ManifestError` when the file cannot be read ("Manifest not found: PATH"), is
        larger than 16 MiB ("Invalid manifest file: ...") or is not YAML holding a mapping ("Invalid manifest
        YAML: ...")."""
        try:
            return cls(read_yaml_mapping(path, _MANIFEST_LIMIT, "manifest"))
        except OSError:
            raise ManifestError(f"Manifest not found: {os.fspath(path)}") from None

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


def _policy_of(data: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(agent -> its groups, group -> its secret paths) of a parsed manifest.yaml, in agent-vault 0.1's shape
    (lists of ``{name, ...}``) or this format's (mappings by name); strings only, anything else skipped."""

    def named(v: object) -> list[tuple[str, Mapping[str, Any]]]:
        if isinstance(v, Mapping):
            return [(k, e if isinstance(e, Mapping) else {}) for k, e in v.items() if isinstance(k, str)]
        if isinstance(v, list):
            return [(e["name"], e) for e in v if isinstance(e, Mapping) and isinstance(e.get("name"), str)]
        return []

    def strs(v: object) -> list[str]:
        return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []

    agents = {name: strs(e.get("groups")) for name, e in named(data.get("agents"))}
    groups = {name: strs(e.get("secrets")) for name, e in named(data.get("groups"))}
    return agents, groups
