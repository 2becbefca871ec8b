"""Parsing of the vault's state files (format.md sections 3.5, 4, 5 and 11).

These functions take bytes that have already been authenticated (the root body after its signature verified; an
index shard after its size and hash matched) -- except :func:`parse_config`, whose result is only ever used as a
trust-on-first-use candidate and is checked against the signed root afterwards. They validate every field they
use and raise :class:`~agent_vault.errors.IntegrityError` (naming the file) when repository bytes are malformed,
including a ``format`` this reader does not know. Unknown fields are ignored. ``.meta`` files are a view for
people: no reader parses them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from .errors import IntegrityError
from .keys import is_hybrid_recipient, is_recipient, is_vault_id, recipient_kind
from .names import name_in_repo, secret_path_in_repo, shard_of
from .signed import parse_verify_key

__all__ = [
    "FORMAT",
    "FORMAT_V1",
    "AgentEntry",
    "Entry",
    "GroupEntry",
    "Root",
    "RootV1",
    "SecretInfo",
    "Shard",
    "ShardRef",
    "is_sha256",
    "is_shard_id",
    "parse_config",
    "parse_root",
    "parse_root_v1",
    "parse_shard",
]

FORMAT = 2
#: The earlier format (section 11): recognised only to send the user to ``agent-vault migrate``.
FORMAT_V1 = 1
ROOT_TYPE = "agent-vault-root"
SHARD_TYPE = "agent-vault-index-shard"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHARD_ID = re.compile(r"[0-9a-f]{2}")
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)


def is_sha256(value: object) -> bool:
    """True when ``value`` is 64 lowercase hex characters."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def is_shard_id(value: object) -> bool:
    """True when ``value`` is two lowercase hex characters."""
    return isinstance(value, str) and _SHARD_ID.fullmatch(value) is not None


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


def _check_format(obj: Mapping[str, Any], what: str, known: tuple[int, ...] = (FORMAT,)) -> int:
    fmt = obj.get("format")
    if type(fmt) is not int:
        raise IntegrityError(f"{what}: field 'format' is missing or not an integer")
    if fmt not in known:
        raise IntegrityError(f"{what}: format {fmt} is not supported (this reader knows format {FORMAT})")
    return fmt


def _count(obj: Mapping[str, Any], key: str, what: str) -> int:
    value = _get(obj, key, int, what)
    if value < 0:
        raise IntegrityError(f"{what}: field {key!r} is negative")
    return int(value)


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
    """Return ``(vault_id, owner_verify_key)`` from ``config.yaml`` bytes. The result is untrusted. Format 1 is
    accepted too (the root then decides: section 11)."""
    what = "config.yaml"
    obj = _yaml_mapping(data, what)
    _check_format(obj, what, (FORMAT, FORMAT_V1))
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
    """A group of the signed root: its members and the number of secrets whose entry names it."""

    name: str
    members: frozenset[str]
    secrets: int


@dataclass(frozen=True)
class ShardRef:
    """An index shard as the root vouches for it."""

    sha256: str
    size: int
    secrets: int


@dataclass(frozen=True)
class RootAdmin:
    """An admin of the root (format.md section 4.1)."""

    recipient: str
    verify_key: str


@dataclass(frozen=True)
class RootAdmins:
    """The admin set of a root and its place in the chain of admin changes (format.md section 4.1): ``since`` is
    the version of the root that made it (kept as ``state/admins/<since>``), ``prev_sha256`` the hash of the
    previous admin change's root file ("" for the first)."""

    since: int
    prev_sha256: str
    members: Mapping[str, RootAdmin]


@dataclass(frozen=True)
class Root:
    """A verified, parsed format 2 root. ``sha256`` is the hash of the whole root file. ``admins`` is None in a
    vault without admin changes (its only admin is the founding owner)."""

    vault_id: str
    version: int
    prev_sha256: str
    time: str
    owner_recipient: str
    owner_verify_key: str
    agents: Mapping[str, AgentEntry]
    groups: Mapping[str, GroupEntry]
    index: Mapping[str, ShardRef]
    sha256: str
    agent_by_recipient: Mapping[str, str]
    admins: RootAdmins | None = None


def _check_vault_id(obj: Mapping[str, Any], what: str) -> str:
    vault_id = _get(obj, "vault_id", str, what)
    if not is_vault_id(vault_id):
        raise IntegrityError(f"{what}: vault_id is not 32 lowercase hex characters")
    return str(vault_id)


def _check_version(obj: Mapping[str, Any], what: str) -> int:
    version = _get(obj, "version", int, what)
    if version < 1:
        raise IntegrityError(f"{what}: version {version} is below 1")
    return int(version)


def _recipient(obj: Mapping[str, Any], what: str) -> str:
    value = _get(obj, "recipient", str, what)
    if not is_recipient(value) and not is_hybrid_recipient(value):
        raise IntegrityError(
            f"{what}: recipient {value[:64]!r} is not an age recipient in lower case (age1 and 58 Bech32 characters, "
            "or age1pq1 and 1952)"
        )
    return str(value)


def parse_root(body: bytes, sha256: str) -> Root:
    """Parse and validate a format 2 root body whose signature has already been verified."""
    what = "state/root"
    obj = _load_json(body, what)
    if obj.get("type") != ROOT_TYPE:
        raise IntegrityError(f"{what}: type is not {ROOT_TYPE!r}")
    _check_format(obj, what)
    vault_id = _check_vault_id(obj, what)
    version = _check_version(obj, what)
    prev = _get(obj, "prev_sha256", str, what)
    if prev and not is_sha256(prev):
        raise IntegrityError(f"{what}: prev_sha256 is not a SHA-256 hex digest")
    time = _get(obj, "time", str, what)
    owner = _get(obj, "owner", dict, what)
    owner_recipient = _recipient(owner, f"{what} owner")
    owner_vk = _get(owner, "verify_key", str, f"{what} owner")
    for name, ref in _get(obj, "files", dict, what).items():
        fwhat = f"{what} files {name!r}"
        if not isinstance(ref, dict):
            raise IntegrityError(f"{fwhat}: not an object")
        _sha(ref, "sha256", fwhat)
        _count(ref, "size", fwhat)

    agents: dict[str, AgentEntry] = {}
    by_recipient: dict[str, str] = {owner_recipient: ""}
    for name, entry in _get(obj, "agents", dict, what).items():
        name_in_repo(name, f"{what} agents")
        awhat = f"{what} agent {name!r}"
        if not isinstance(entry, dict):
            raise IntegrityError(f"{awhat}: not an object")
        recipient = _recipient(entry, awhat)
        if recipient_kind(recipient) != recipient_kind(owner_recipient):
            raise IntegrityError(
                f"{awhat}: recipient is of another kind than the owner's (post-quantum and classic keys never mix)"
            )
        other = by_recipient.get(recipient)
        if other is not None:
            holder = f"agent {other!r}" if other else "the owner"
            shown = recipient if len(recipient) <= 64 else f"{recipient[:16]}…{recipient[-8:]}"
            raise IntegrityError(f"{awhat}: recipient {shown} is also the recipient of {holder}")
        by_recipient[recipient] = name
        agents[name] = AgentEntry(name=name, recipient=recipient)
    del by_recipient[owner_recipient]

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
        groups[name] = GroupEntry(name=name, members=frozenset(members), secrets=_count(entry, "secrets", gwhat))

    index: dict[str, ShardRef] = {}
    for shard, ref in _get(obj, "index", dict, what).items():
        if not is_shard_id(shard):
            raise IntegrityError(f"{what}: index shard {shard!r} is not two lowercase hex characters")
        swhat = f"{what} index shard {shard!r}"
        if not isinstance(ref, dict):
            raise IntegrityError(f"{swhat}: not an object")
        count = _count(ref, "secrets", swhat)
        if count < 1:
            raise IntegrityError(f"{swhat}: lists no secret (the root lists only shards that hold one)")
        index[shard] = ShardRef(sha256=_sha(ref, "sha256", swhat), size=_count(ref, "size", swhat), secrets=count)

    admins = None
    if "admins" in obj:
        admins = _parse_admins(obj, version, owner_recipient, owner_vk, by_recipient)
    return Root(
        admins=admins,
        vault_id=vault_id,
        version=version,
        prev_sha256=prev,
        time=time,
        owner_recipient=owner_recipient,
        owner_verify_key=owner_vk,
        agents=agents,
        groups=groups,
        index=index,
        sha256=sha256,
        agent_by_recipient=by_recipient,
    )


@dataclass(frozen=True)
class RootV1:
    """What a reader takes from a verified format 1 root: enough to apply the trust anchor and the high-water
    mark before it sends the user to ``agent-vault migrate`` (section 11)."""

    vault_id: str
    version: int
    owner_verify_key: str
    sha256: str


def _parse_admins(
    obj: Mapping[str, Any], version: int, owner_recipient: str, owner_vk: str, agents: Mapping[str, str]
) -> RootAdmins:
    """Parse and check the optional ``admins`` field (format.md section 4.1): names, recipients of the owner's kind,
    distinct from each other and every agent's, verify keys well formed and distinct, the founding owner's recipient
    only with its verify key, ``since`` between 1 and the root's version, ``prev_sha256`` "" or a SHA-256."""
    what = "state/root admins"
    a = _get(obj, "admins", dict, what)
    since = _get(a, "since", int, what)
    prev = _get(a, "prev_sha256", str, what)
    if since < 1 or since > version or (prev and not is_sha256(prev)):
        raise IntegrityError(f"{what}: malformed since or prev_sha256")
    members: dict[str, RootAdmin] = {}
    for name, m in _get(a, "members", dict, what).items():
        name_in_repo(name, what)
        mwhat = f"{what} {name!r}"
        if not isinstance(m, dict):
            raise IntegrityError(f"{mwhat}: not an object")
        recipient = _recipient(m, mwhat)
        if recipient_kind(recipient) != recipient_kind(owner_recipient):
            raise IntegrityError(
                f"{mwhat}: recipient is of another kind than the owner's (post-quantum and classic keys never mix)"
            )
        vk = _get(m, "verify_key", str, mwhat)
        try:
            parse_verify_key(vk)
        except ValueError:
            raise IntegrityError(f"{mwhat}: verify_key is malformed") from None
        if any(o.recipient == recipient or o.verify_key == vk for o in members.values()):
            raise IntegrityError(f"{mwhat}: shares a key with another admin")
        if (recipient == owner_recipient) != (vk == owner_vk):
            raise IntegrityError(f"{mwhat}: has only one of the founding owner's two keys")
        if recipient in agents:
            raise IntegrityError(f"{mwhat}: recipient is also that of agent {agents[recipient]!r}")
        members[name] = RootAdmin(recipient=recipient, verify_key=vk)
    if not members:
        raise IntegrityError(f"{what}: no admin")
    return RootAdmins(since=since, prev_sha256=prev, members=members)


def parse_root_v1(body: bytes, sha256: str) -> RootV1:
    """Parse the few fields of a format 1 root body whose signature (format 1 domain) has been verified."""
    what = "state/root (format 1)"
    obj = _load_json(body, what)
    if obj.get("type") != ROOT_TYPE:
        raise IntegrityError(f"{what}: type is not {ROOT_TYPE!r}")
    _check_format(obj, what, (FORMAT_V1,))
    owner = _get(obj, "owner", dict, what)
    return RootV1(
        vault_id=_check_vault_id(obj, what),
        version=_check_version(obj, what),
        owner_verify_key=str(_get(owner, "verify_key", str, f"{what} owner")),
        sha256=sha256,
    )


# -- state/index/<xx>.json ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One secret's entry in an index shard. Times are timezone-aware (UTC); ``expires`` is ``None`` when the
    secret does not expire."""

    group: str
    version: int
    enc_sha256: str
    enc_size: int
    meta_sha256: str
    meta_size: int
    created: datetime
    rotated: datetime
    expires: datetime | None
    extra_agents: frozenset[str]
    allow_hosts: tuple[str, ...]


@dataclass(frozen=True)
class Shard:
    """A verified, parsed index shard."""

    shard: str
    secrets: Mapping[str, Entry]


def _names_list(entry: Mapping[str, Any], key: str, what: str) -> list[Any]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise IntegrityError(f"{what}: {key} is not a list")
    return value


def parse_shard(data: bytes, root: Root, shard: str) -> Shard:
    """Parse and validate index shard ``shard``, whose size and hash have already been checked against ``root``."""
    what = f"state/index/{shard}.json"
    obj = _load_json(data, what)
    if obj.get("type") != SHARD_TYPE:
        raise IntegrityError(f"{what}: type is not {SHARD_TYPE!r}")
    _check_format(obj, what)
    if obj.get("vault_id") != root.vault_id:
        raise IntegrityError(f"{what}: vault_id does not match the root")
    if obj.get("shard") != shard:
        raise IntegrityError(f"{what}: shard field does not match the shard it was reached through")
    secrets: dict[str, Entry] = {}
    for path, entry in _get(obj, "secrets", dict, what).items():
        secret_path_in_repo(path, f"{what} secrets")
        if shard_of(path) != shard:
            raise IntegrityError(f"{what}: secret {path!r} belongs to shard {shard_of(path)!r}")
        ewhat = f"{what} secret {path!r}"
        if not isinstance(entry, dict):
            raise IntegrityError(f"{ewhat}: not an object")
        group = name_in_repo(_get(entry, "group", str, ewhat), f"{ewhat} group")
        if group not in root.groups:
            raise IntegrityError(f"{ewhat}: group {group!r} is not a group of the root")
        version = _get(entry, "version", int, ewhat)
        if version < 1:
            raise IntegrityError(f"{ewhat}: version {version} is below 1")
        extra = _names_list(entry, "extra_agents", ewhat)
        for a in extra:
            name_in_repo(a, f"{ewhat} extra_agents")
            if a not in root.agents:
                raise IntegrityError(f"{ewhat}: extra agent {a!r} is not an agent of the root")
        hosts = _names_list(entry, "allow_hosts", ewhat)
        if not all(isinstance(h, str) for h in hosts):
            raise IntegrityError(f"{ewhat}: allow_hosts is not a list of strings")
        created = _parse_time(entry.get("created"), "created", ewhat, True)
        rotated = _parse_time(entry.get("rotated"), "rotated", ewhat, True)
        assert created is not None and rotated is not None
        secrets[path] = Entry(
            group=group,
            version=version,
            enc_sha256=_sha(entry, "enc_sha256", ewhat),
            enc_size=_count(entry, "enc_size", ewhat),
            meta_sha256=_sha(entry, "meta_sha256", ewhat),
            meta_size=_count(entry, "meta_size", ewhat),
            created=created,
            rotated=rotated,
            expires=_parse_time(entry.get("expires", ""), "expires", ewhat, False),
            extra_agents=frozenset(extra),
            allow_hosts=tuple(hosts),
        )
    ref = root.index[shard]
    if len(secrets) != ref.secrets:
        raise IntegrityError(f"{what}: holds {len(secrets)} secrets but the root says {ref.secrets}")
    return Shard(shard=shard, secrets=secrets)


# -- metadata as readers show it ---------------------------------------------------------------------------------


_META_LIMIT = 64 * 1024  # largest .meta file SecretInfo.load parses


def read_yaml_mapping(path: str | os.PathLike[str], limit: int, what: str) -> dict[Any, Any]:
    """The YAML mapping in the file at ``path`` (an empty file is ``{}``), for agent-vault 0.1's unverified file
    parsers. Raises :class:`agent_vault.errors.ManifestError` ("Invalid WHAT file: ..." over ``limit`` bytes,
    "Invalid WHAT YAML: ..." when it is not YAML or not a mapping); an ``OSError`` of ``open`` propagates."""
    from .errors import ManifestError

    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ManifestError(f"Invalid {what} file: {os.fspath(path)} is larger than {limit} bytes")
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ManifestError(f"Invalid {what} YAML: {type(e).__name__}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"Invalid {what} YAML: not a mapping")
    return data


@dataclass(frozen=True)
class SecretInfo:
    """Metadata of one secret, from its verified index entry. Times are timezone-aware (UTC); ``expires`` is
    ``None`` when the secret does not expire. ``authorized_agents`` is the sorted union of the group's members and
    the secret's extra agents (the owner excluded); ``allow_hosts`` the hosts a brokered request may send it to."""

    name: str
    group: str
    created: datetime
    rotated: datetime
    expires: datetime | None
    authorized_agents: tuple[str, ...]
    allow_hosts: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SecretInfo:
        """Parse a ``.meta`` file, as agent-vault 0.1's ``SecretMetadata.load`` did. NOT verified: a ``.meta`` file
        is an unsigned view that anyone who can push may edit, and readers of this package never use it
        (:meth:`agent_vault.Vault.list_secrets` gives the same metadata from the signed index). Missing fields
        become ``""``, the epoch or ``()``; a file that is not a YAML mapping, or over 64 KiB, raises
        :class:`agent_vault.errors.ManifestError`."""
        data = read_yaml_mapping(path, _META_LIMIT, "metadata")

        def when(v: object) -> datetime | None:
            if isinstance(v, datetime):
                return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
            if isinstance(v, str) and v:
                try:
                    d = datetime.fromisoformat(v.replace("Z", "+00:00"))
                except ValueError:
                    return None
                return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
            return None

        def strs(v: object) -> tuple[str, ...]:
            return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()

        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        name, group = data.get("name"), data.get("group")
        return cls(
            name=name if isinstance(name, str) else "",
            group=group if isinstance(group, str) else "",
            created=when(data.get("created")) or epoch,
            rotated=when(data.get("rotated")) or epoch,
            expires=when(data.get("expires")),
            authorized_agents=strs(data.get("authorized_agents")),
            allow_hosts=strs(data.get("allow_hosts")),
        )

    @classmethod
    def of(cls, name: str, entry: Entry, root: Root) -> SecretInfo:
        """The metadata of secret ``name`` from its ``entry`` under ``root``."""
        return cls(
            name=name,
            group=entry.group,
            created=entry.created,
            rotated=entry.rotated,
            expires=entry.expires,
            authorized_agents=tuple(sorted(root.groups[entry.group].members | entry.extra_agents)),
            allow_hosts=entry.allow_hosts,
        )


def _parse_time(value: object, field: str, what: str, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise IntegrityError(f"{what}: {field} is missing")
        return None
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
