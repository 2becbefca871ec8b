"""Key files and key resolution (format.md sections 3.2 to 3.4).

A key file is an age identity file: ``#`` lines are comments, blank lines are ignored, and exactly one line is an
``AGE-SECRET-KEY-1...`` (X25519) or ``AGE-SECRET-KEY-PQ-1...`` (post-quantum, :mod:`agent_vault.hybrid`) identity. Comment lines of the form ``# agent-vault-<pin>: <value>`` carry the trust
anchors written when the owner provisions an agent. A key file is *pinned* when it has both the ``vault-id`` and
``owner-verify-key`` pins.

Every problem with a key (none found, unreadable, malformed, readable by others) raises
:class:`~agent_vault.errors.VaultNotFoundError`; messages never contain key material.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pyrage import IdentityError, x25519

from . import bech32
from .errors import VaultNotFoundError
from .home import home_dir
from .signed import format_verify_key, parse_verify_key

__all__ = [
    "IDENTITY_PREFIX",
    "KeyFile",
    "Pins",
    "ResolvedKey",
    "derive_owner_verify_key",
    "is_hybrid_recipient",
    "is_key_content",
    "is_plugin_recipient",
    "is_recipient",
    "is_vault_id",
    "parse_key_file",
    "read_key_path",
    "recipient_kind",
    "resolve_key",
]

IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
MAX_KEY_FILE = 64 * 1024
OWNER_SIGNING_INFO = b"agent-vault/v1 owner signing key"
OWNER_SIGNING_INFO_HYBRID = b"agent-vault/v2 owner signing key mlkem768x25519"

_PIN = re.compile(r"^# agent-vault-(agent|vault-id|owner-verify-key): (\S+)\s*$")
_VAULT_ID = re.compile(r"[0-9a-f]{32}")
_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
_PLUGIN_RECIPIENT = re.compile(r"age1([a-z0-9+\-._]+)1[02-9ac-hj-np-z]{6,}")
MAX_PLUGIN_RECIPIENT = 1024
PLUGIN_IDENTITY_PREFIX = "AGE-PLUGIN-"
_ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
_AGE_BINARY = "age-encryption.org/v1\n"


def is_vault_id(value: object) -> bool:
    """True when ``value`` is 32 lowercase hex characters."""
    return isinstance(value, str) and _VAULT_ID.fullmatch(value) is not None


def is_plugin_recipient(value: object) -> bool:
    """True when ``value`` is an age plugin recipient as repository bytes must write it (format.md section 3.7):
    lower-case Bech32 whose human-readable part is ``age1`` and a plugin name other than ``pq``, at most 1024
    characters. Readers only compare recipients; they never encrypt to one."""
    if not isinstance(value, str) or len(value) > MAX_PLUGIN_RECIPIENT:
        return False
    m = _PLUGIN_RECIPIENT.fullmatch(value)
    if m is None or m.group(1) == "pq":
        return False
    try:
        hrp, _ = bech32.decode(value)
    except bech32.Bech32Error:
        return False
    return hrp == "age1" + m.group(1)


_HYBRID_RECIPIENT = re.compile(r"age1pq1[02-9ac-hj-np-z]{1952}")
HYBRID_IDENTITY_PREFIX = "AGE-SECRET-KEY-PQ-1"
PQ_UNSUPPORTED = (
    "the installed cryptography package has no ML-KEM-768 + X25519 HPKE, which post-quantum (age1pq) keys need: "
    "install cryptography 47 or later from its PyPI wheels, or read the secret with the agent-vault CLI "
    "(agent-vault get) or its MCP server (agent-vault mcp)"
)


def recipient_kind(recipient: str) -> str:
    """``"post-quantum"`` for an ``age1pq1...`` recipient, else ``"classic"`` (format.md 3.1: kinds never mix)."""
    return "post-quantum" if recipient.startswith("age1pq1") else "classic"


def is_hybrid_recipient(value: object) -> bool:
    """True when ``value`` is a post-quantum (ML-KEM-768 + X25519) recipient as repository bytes must write it
    (format.md section 3.1): ``age1pq1`` and 1952 lower-case Bech32 characters that decode to 1216 bytes."""
    return _bech32_of(value, _HYBRID_RECIPIENT, "age1pq", 1216)


def _bech32_of(value: object, pattern: re.Pattern[str], hrp: str, size: int) -> bool:
    """True when ``value`` matches ``pattern`` in full and decodes as Bech32 to ``size`` bytes under ``hrp``."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        return False
    try:
        got_hrp, data = bech32.decode(value)
    except bech32.Bech32Error:
        return False
    return got_hrp == hrp and len(data) == size


def is_recipient(value: object) -> bool:
    """True when ``value`` is an age X25519 recipient as repository bytes must write it (format.md section 3.1):
    ``age1`` and 58 lower-case Bech32 characters that decode to 32 bytes; or an age plugin recipient
    (:func:`is_plugin_recipient`)."""
    return is_plugin_recipient(value) or _bech32_of(value, _RECIPIENT, "age", 32)


@dataclass(frozen=True)
class Pins:
    """The trust anchors of a pinned key file."""

    vault_id: str
    verify_key: str


@dataclass(frozen=True, repr=False)
class KeyFile:
    """A parsed key file. ``repr`` never shows the identity."""

    identity_str: str = field(compare=False)
    identity: Any = field(compare=False)  # pyrage.x25519.Identity or agent_vault.hybrid.HybridIdentity
    recipient: str
    pins: Pins | None
    agent: str | None
    source: str

    def __repr__(self) -> str:
        return f"KeyFile(recipient={self.recipient!r}, pins={self.pins!r}, agent={self.agent!r}, source={self.source!r})"


@dataclass(frozen=True, repr=False)
class ResolvedKey:
    """The key a reader uses, and whether it is this machine's owner key (``<home>/owner.key``)."""

    key: KeyFile
    is_home_owner_key: bool

    def __repr__(self) -> str:
        return f"ResolvedKey({self.key!r}, is_home_owner_key={self.is_home_owner_key})"


def parse_key_file(text: str, source: str) -> KeyFile:
    """Parse key-file content; ``source`` names where it came from (for messages only).

    Raises VaultNotFoundError when the content has zero or several identity lines, a line that is neither a
    comment nor an identity, an invalid identity, a malformed pin, a pin given twice with different values, or
    only one of the ``vault-id`` / ``owner-verify-key`` pins.
    """
    _refuse_custody(text, source)
    identities: list[str] = []
    pins: dict[str, str] = {}
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        m = _PIN.match(line)
        if m:
            name, value = m.group(1), m.group(2)
            if name in pins and pins[name] != value:
                raise VaultNotFoundError(f"key file {source}: pin agent-vault-{name} given twice with different values")
            pins[name] = value
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith((IDENTITY_PREFIX, HYBRID_IDENTITY_PREFIX)):
            identities.append(stripped)
            continue
        if stripped.upper().startswith(PLUGIN_IDENTITY_PREFIX):
            raise VaultNotFoundError(
                f"key file {source} holds an age plugin identity (a hardware-held key), which the Python SDK "
                "cannot use: read the secret with the agent-vault CLI (agent-vault get) or its MCP server "
                "(agent-vault mcp), which run the age plugin"
            )
        raise VaultNotFoundError(f"key file {source}: line {n} is neither a comment nor an age identity")
    if len(identities) != 1:
        raise VaultNotFoundError(
            f"key file {source}: expected exactly one {IDENTITY_PREFIX}... or {HYBRID_IDENTITY_PREFIX}... line, "
            f"found {len(identities)}"
        )
    identity_str = identities[0]
    identity, recipient = _identity(identity_str, source)

    vault_id, verify_key = pins.get("vault-id"), pins.get("owner-verify-key")
    if (vault_id is None) != (verify_key is None):
        raise VaultNotFoundError(
            f"key file {source}: has only one of the pins agent-vault-vault-id and agent-vault-owner-verify-key"
        )
    pinned: Pins | None = None
    if vault_id is not None and verify_key is not None:
        try:
            parse_verify_key(verify_key)
        except ValueError as e:
            raise VaultNotFoundError(f"key file {source}: agent-vault-owner-verify-key is malformed: {e}") from None
        pinned = Pins(vault_id=vault_id, verify_key=verify_key)
    return KeyFile(
        identity_str=identity_str,
        identity=identity,
        recipient=recipient,
        pins=pinned,
        agent=pins.get("agent"),
        source=source,
    )


def _identity(identity_str: str, source: str) -> tuple[Any, str]:
    """The identity object of an identity line and its recipient; VaultNotFoundError, never quoting the line."""
    if identity_str.startswith(HYBRID_IDENTITY_PREFIX):
        try:
            from .hybrid import HybridIdentity
        except (ImportError, AttributeError):
            raise VaultNotFoundError(f"key file {source} holds a post-quantum identity, but {PQ_UNSUPPORTED}") from None
        try:
            hybrid = HybridIdentity.from_str(identity_str)
        except UnsupportedAlgorithm:
            raise VaultNotFoundError(f"key file {source} holds a post-quantum identity, but {PQ_UNSUPPORTED}") from None
        except ValueError:
            raise VaultNotFoundError(f"key file {source}: the age identity is invalid") from None
        return hybrid, hybrid.recipient
    try:
        identity = x25519.Identity.from_str(identity_str)
    except (IdentityError, ValueError):
        raise VaultNotFoundError(f"key file {source}: the age identity is invalid") from None
    return identity, str(identity.to_public())


def read_key_path(path: str | os.PathLike[str], source: str | None = None) -> KeyFile:
    """Read and parse the key file at ``path`` (``~/`` expanded).

    Refuses a file whose mode has any group or other bit (``mode & 0o077``), a non-regular file, or one larger
    than 64 KiB. Raises VaultNotFoundError.
    """
    p = os.path.expanduser(os.fspath(path))
    source = source or p
    try:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise VaultNotFoundError(f"key file {source} not found") from None
    except OSError as e:
        raise VaultNotFoundError(f"key file {source} cannot be read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise VaultNotFoundError(f"key file {source} is not a regular file")
        if st.st_mode & 0o077:
            raise VaultNotFoundError(
                f"key file {source} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run: chmod 600 {p}"
            )
        if st.st_size > MAX_KEY_FILE:
            raise VaultNotFoundError(f"key file {source} is larger than {MAX_KEY_FILE} bytes")
        data = os.read(fd, MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if data.startswith(_AGE_BINARY.encode()):
        _refuse_custody(_AGE_BINARY, source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultNotFoundError(f"key file {source} is not UTF-8 text") from None
    return parse_key_file(text, source)


def _refuse_custody(text: str, source: str) -> None:
    """Refuse a passphrase-protected key file (format.md section 3.6) with a message that says what to use."""
    if text.lstrip().startswith(_ARMOR_BEGIN) or text.startswith(_AGE_BINARY):
        raise VaultNotFoundError(
            f"key file {source} is passphrase-protected, which the Python SDK cannot unlock: read the secret with "
            "the agent-vault CLI (it asks for the passphrase, or reads it from --passphrase-fd), or remove the "
            "passphrase with 'agent-vault key unprotect'"
        )


def is_key_content(value: str) -> bool:
    """True when a key string (``key_str``, ``AGENT_VAULT_KEY``) is key-file content rather than a path
    (format.md section 3.2, the rule of the Go ``IsKeyContent``): it holds ``AGE-SECRET-KEY-`` in any letter
    case, or a line break."""
    return "AGE-SECRET-KEY-" in value.upper() or "\n" in value or "\r" in value


def _key_from_string(value: str, source: str) -> KeyFile:
    """An explicit key string or ``AGENT_VAULT_KEY``: content when :func:`is_key_content`, else a path. A value
    that names no file is never repeated in the error: it may be a mangled key."""
    if is_key_content(value):
        return parse_key_file(value, source)
    p = os.path.expanduser(value)
    if not os.path.exists(p):
        raise VaultNotFoundError(
            f"{source} is neither age key content nor the path of an existing key file "
            f"(the value is not shown: it may be key material)"
        )
    return read_key_path(p)


def resolve_key(
    key_path: str | os.PathLike[str] | None = None,
    key_str: str | None = None,
    home: Path | None = None,
) -> ResolvedKey:
    """Resolve the reader's key (format.md section 3.2).

    Order: ``key_str`` (content or path), then ``key_path`` (a path), then ``$AGENT_VAULT_KEY`` (content or
    path), then ``<home>/owner.key``: ``key_str`` overrides ``key_path``, as in agent-vault 0.1. The result tells
    whether the key is this machine's owner key, i.e. has the identity of ``<home>/owner.key``.
    """

    home = home if home is not None else home_dir()
    owner_path = home / "owner.key"
    if key_str is not None:
        key = _key_from_string(key_str, "key_str")
    elif key_path is not None:
        key = read_key_path(key_path)
    elif os.environ.get("AGENT_VAULT_KEY"):
        key = _key_from_string(os.environ["AGENT_VAULT_KEY"], "AGENT_VAULT_KEY")
    elif owner_path.exists():
        return ResolvedKey(read_key_path(owner_path), is_home_owner_key=True)
    else:
        raise VaultNotFoundError(
            f"No key provided: no key_path or key_str, no AGENT_VAULT_KEY and no {owner_path}; pass one of them"
        )
    return ResolvedKey(key, is_home_owner_key=_same_as_owner_key(key, owner_path))


def _same_as_owner_key(key: KeyFile, owner_path: Path) -> bool:
    """True when ``owner_path`` holds a valid, private key file with the same identity as ``key``."""
    if not owner_path.exists():
        return False
    try:
        owner = read_key_path(owner_path)
    except VaultNotFoundError:
        return False
    return owner.recipient == key.recipient


def derive_owner_verify_key(key: KeyFile) -> str:
    """The owner verify key derived from an owner identity (format.md section 3.4), as ``ed25519:<base64>``: HKDF-SHA256
    of the X25519 secret, or of a post-quantum identity's 32-byte seed under its own label."""
    try:
        hrp, secret = bech32.decode(key.identity_str)
    except bech32.Bech32Error as e:  # pragma: no cover - the key file parser accepted it already
        raise VaultNotFoundError(f"key file {key.source}: the age identity is invalid: {e}") from None
    info = {"age-secret-key-": OWNER_SIGNING_INFO, "age-secret-key-pq-": OWNER_SIGNING_INFO_HYBRID}.get(hrp)
    if info is None or len(secret) != 32:  # pragma: no cover - idem
        raise VaultNotFoundError(f"key file {key.source}: not an X25519 or post-quantum age identity")
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)
    return format_verify_key(Ed25519PrivateKey.from_private_bytes(seed).public_key())
