"""Parsing of the vault's state files (format.md sections 3.5, 4, 5 and 5.1).

These functions take bytes that have already been authenticated (the root body after its signature verified; an
index or ``.meta`` file after its hash matched) -- except :func:`parse_config`, whose result is only ever used as
a trust-on-first-use candidate and is checked against the signed root afterwards. They validate every field they
use and raise :class:`~agent_vault.errors.IntegrityError` (naming the file) when repository bytes are malformed,
including a ``format`` this reader does not know. Unknown fields are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from .errors import IntegrityError
from .keys import is_vault_id
from .names import group_of, name_in_repo, secret_path_in_repo
from .signed import parse_verify_key

__all__ = [
    "FORMAT",
    "AgentEntry",
    "GroupEntry",
    "GroupIndex",
    "IndexEntry",
    "Root",
    "SecretInfo",
    "is_sha256",
    "parse_config",
    "parse_index",
    "parse_meta",
    "parse_root",
]

FORMAT = 1
ROOT_TYPE = "agent-vault-root"
INDEX_TYPE = "agent-vault-group-index"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def is_sha256(value: object) -> bool:
    """True when ``value`` is 64 lowercase hex characters."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


# -- small typed accessors ---------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise IntegrityError(f"{what}: not valid UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise IntegrityError(f"{what}: not a JSON object")
    return obj


def _get(obj: Mapping[str, Any], key: str, typ: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise IntegrityError(f"{what}: field {key!r} is missing")
    value = obj[key]
    if isinstance(value, bool) and typ is int:
        raise IntegrityError(f"{what}: field {key!r} has the wrong type")
    if not isinstance(value, typ):
        raise IntegrityError(f"{what}: field {key!r} has the wrong type")
    return value


def _check_format(obj: Mapping[str, Any], what: str) -> None:
    fmt = obj.get("format")
    if type(fmt) is not int:
        raise IntegrityError(f"{what}: field 'format' is missing or not an integer")
    if fmt != FORMAT:
        raise IntegrityError(f"{what}: format {fmt} is not supported (this reader knows format {FORMAT})")


def _sha(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = _get(obj, key, str, what)
    if not is_sha256(value):
        raise IntegrityError(f"{what}: field {key!r} is not a SHA-256 hex digest")
    return str(value)


# -- config.yaml -------------------------------------------------------------------------------------------------


def _yaml_mapping(data: bytes, what: str) -> dict[Any, Any]:
    """Load ``data`` as one UTF-8 YAML mapping (safe loader); IntegrityError naming ``what`` otherwise."""
    try:
        obj = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise IntegrityError(f"{what}: not valid UTF-8 YAML") from None
    if not isinstance(obj, dict):
        raise IntegrityError(f"{what}: not a mapping")
    return obj


def parse_config(data: bytes) -> tuple[str, str]:
    """Return ``(vault_id, owner_verify_key)`` from ``config.yaml`` bytes. The result is untrusted."""
    what = "config.yaml"
    obj = _yaml_mapping(data, what)
    _check_format(obj, what)
    vault_id = obj.get("vault_id")
    if not is_vault_id(vault_id):
        raise IntegrityError(f"{what}: vault_id is missing or not 32 lowercase hex characters")
    vk = obj.get("owner_verify_key")
    try:
        parse_verify_key(vk)
    except ValueError as e:
        raise IntegrityError(f"{what}: owner_verify_key is missing or malformed: {e}") from None
    return str(vault_id), str(vk)


# -- state/root --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentEntry:
    """An agent of the signed root."""

    name: str
    recipient: str


@dataclass(frozen=True)
class GroupEntry:
    """A group of the signed root."""

    name: str
    members: frozenset[str]
    index_sha256: str
    secrets: int


@dataclass(frozen=True)
class Root:
    """A verified, parsed root. ``sha256`` is the hash of the whole root file."""

    vault_id: str
    version: int
    prev_sha256: str
    time: str
    owner_recipient: str
    owner_verify_key: str
    agents: Mapping[str, AgentEntry]
    groups: Mapping[str, GroupEntry]
    placement: Mapping[str, str]
    sha256: str
    by_recipient: Mapping[str, frozenset[str]]

    def group_of(self, path: str) -> str:
        """The group of secret ``path`` under this root's placement."""
        return group_of(path, self.placement)


def parse_root(body: bytes, sha256: str) -> Root:
    """Parse and validate a root body whose signature has already been verified."""
    what = "state/root"
    obj = _load_json(body, what)
    if obj.get("type") != ROOT_TYPE:
        raise IntegrityError(f"{what}: type is not {ROOT_TYPE!r}")
    _check_format(obj, what)
    vault_id = _get(obj, "vault_id", str, what)
    if not is_vault_id(vault_id):
        raise IntegrityError(f"{what}: vault_id is not 32 lowercase hex characters")
    version = _get(obj, "version", int, what)
    if version < 1:
        raise IntegrityError(f"{what}: version {version} is below 1")
    prev = _get(obj, "prev_sha256", str, what)
    if prev and not is_sha256(prev):
        raise IntegrityError(f"{what}: prev_sha256 is not a SHA-256 hex digest")
    time = _get(obj, "time", str, what)
    owner = _get(obj, "owner", dict, what)
    owner_recipient = _get(owner, "recipient", str, f"{what} owner")
    owner_vk = _get(owner, "verify_key", str, f"{what} owner")
    _get(obj, "files", dict, what)

    agents: dict[str, AgentEntry] = {}
    by_recipient: dict[str, set[str]] = {}
    for name, entry in _get(obj, "agents", dict, what).items():
        name_in_repo(name, f"{what} agents")
        if not isinstance(entry, dict):
            raise IntegrityError(f"{what}: agent {name!r} is not an object")
        recipient = _get(entry, "recipient", str, f"{what} agent {name!r}")
        agents[name] = AgentEntry(name=name, recipient=recipient)
        by_recipient.setdefault(recipient.lower(), set()).add(name)

    groups: dict[str, GroupEntry] = {}
    for name, entry in _get(obj, "groups", dict, what).items():
        name_in_repo(name, f"{what} groups")
        gwhat = f"{what} group {name!r}"
        if not isinstance(entry, dict):
            raise IntegrityError(f"{gwhat}: not an object")
        members = _get(entry, "members", list, gwhat)
        for m in members:
            name_in_repo(m, f"{gwhat} members")
            if m not in agents:
                raise IntegrityError(f"{gwhat}: member {m!r} is not an agent of the root")
        count = _get(entry, "secrets", int, gwhat)
        if count < 0:
            raise IntegrityError(f"{gwhat}: negative secret count")
        groups[name] = GroupEntry(
            name=name,
            members=frozenset(members),
            index_sha256=_sha(entry, "index_sha256", gwhat),
            secrets=count,
        )

    placement: dict[str, str] = {}
    for path, group in _get(obj, "placement", dict, what).items():
        secret_path_in_repo(path, f"{what} placement")
        placement[path] = name_in_repo(group, f"{what} placement of {path!r}")

    return Root(
        vault_id=vault_id,
        version=version,
        prev_sha256=prev,
        time=time,
        owner_recipient=owner_recipient,
        owner_verify_key=owner_vk,
        agents=agents,
        groups=groups,
        placement=placement,
        sha256=sha256,
        by_recipient={r: frozenset(n) for r, n in by_recipient.items()},
    )


# -- state/groups/<group>.json -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexEntry:
    """One secret of a group index."""

    version: int
    enc_sha256: str
    meta_sha256: str
    extra_agents: frozenset[str]
    allow_hosts: tuple[str, ...]


@dataclass(frozen=True)
class GroupIndex:
    """A verified, parsed group index."""

    group: str
    secrets: Mapping[str, IndexEntry]


def parse_index(data: bytes, root: Root, group: str) -> GroupIndex:
    """Parse and validate the index of ``group``, whose hash has already been checked against ``root``."""
    what = f"state/groups/{group}.json"
    obj = _load_json(data, what)
    if obj.get("type") != INDEX_TYPE:
        raise IntegrityError(f"{what}: type is not {INDEX_TYPE!r}")
    _check_format(obj, what)
    if obj.get("vault_id") != root.vault_id:
        raise IntegrityError(f"{what}: vault_id does not match the root")
    if obj.get("group") != group:
        raise IntegrityError(f"{what}: group field does not match the group it was reached through")
    secrets: dict[str, IndexEntry] = {}
    for path, entry in _get(obj, "secrets", dict, what).items():
        secret_path_in_repo(path, f"{what} secrets")
        if root.group_of(path) != group:
            raise IntegrityError(f"{what}: secret {path!r} does not belong to group {group!r}")
        ewhat = f"{what} secret {path!r}"
        if not isinstance(entry, dict):
            raise IntegrityError(f"{ewhat}: not an object")
        version = _get(entry, "version", int, ewhat)
        if version < 1:
            raise IntegrityError(f"{ewhat}: version {version} is below 1")
        extra = entry.get("extra_agents", [])
        if not isinstance(extra, list):
            raise IntegrityError(f"{ewhat}: extra_agents is not a list")
        for a in extra:
            name_in_repo(a, f"{ewhat} extra_agents")
            if a not in root.agents:
                raise IntegrityError(f"{ewhat}: extra agent {a!r} is not an agent of the root")
        hosts = entry.get("allow_hosts", [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise IntegrityError(f"{ewhat}: allow_hosts is not a list of strings")
        secrets[path] = IndexEntry(
            version=version,
            enc_sha256=_sha(entry, "enc_sha256", ewhat),
            meta_sha256=_sha(entry, "meta_sha256", ewhat),
            extra_agents=frozenset(extra),
            allow_hosts=tuple(hosts),
        )
    if len(secrets) != root.groups[group].secrets:
        raise IntegrityError(
            f"{what}: holds {len(secrets)} secrets but the root says {root.groups[group].secrets}"
        )
    return GroupIndex(group=group, secrets=secrets)


# -- secrets/<path>.meta -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretInfo:
    """Metadata of one secret, from its verified ``.meta`` file. Times are timezone-aware (UTC); ``expires`` is
    ``None`` when the secret does not expire."""

    name: str
    group: str
    created: datetime
    rotated: datetime
    expires: datetime | None
    authorized_agents: tuple[str, ...]


def _parse_time(value: object, field: str, what: str, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise IntegrityError(f"{what}: {field} is missing")
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    m = _TIME.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise IntegrityError(f"{what}: {field} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, z, sign, oh, om = m.group(7), m.group(8), m.group(9), m.group(10), m.group(11)
    micro = int((frac or "0").ljust(6, "0")[:6])
    if z:
        tz = timezone.utc
    else:
        offset = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(offset if sign == "+" else -offset)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        raise IntegrityError(f"{what}: {field} is not a valid time") from None


def parse_meta(data: bytes, name: str, group: str) -> SecretInfo:
    """Parse a ``.meta`` file whose hash has been checked; its ``name`` and ``group`` must equal those of the
    index entry that vouched for it."""
    what = f"secrets/{name}.meta"
    obj = _yaml_mapping(data, what)
    if obj.get("name") != name:
        raise IntegrityError(f"{what}: name does not match the secret {name!r}")
    if obj.get("group") != group:
        raise IntegrityError(f"{what}: group does not match the group {group!r} that lists it")
    agents = obj.get("authorized_agents") or []
    if not isinstance(agents, list):
        raise IntegrityError(f"{what}: authorized_agents is not a list")
    for a in agents:
        name_in_repo(a, f"{what} authorized_agents")
    created = _parse_time(obj.get("created"), "created", what, True)
    rotated = _parse_time(obj.get("rotated"), "rotated", what, True)
    assert created is not None and rotated is not None
    return SecretInfo(
        name=name,
        group=group,
        created=created,
        rotated=rotated,
        expires=_parse_time(obj.get("expires"), "expires", what, False),
        authorized_agents=tuple(agents),
    )
