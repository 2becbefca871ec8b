"""Name rules of format.md section 2.

A *segment* matches ``^[A-Za-z0-9._-]{1,64}$`` and is neither ``.`` nor ``..``. A *secret path* is 1 to 8
segments joined by ``/``, at most 256 bytes. Agent and group names are single segments.

The ``check_*`` functions raise a *usage* error (a name typed by the user); the ``*_in_repo`` functions raise an
*integrity* error (a name found in repository bytes). The ``is_*`` predicates never raise.
"""

from __future__ import annotations

import hashlib
import re

from .errors import IntegrityError, usage_error

__all__ = [
    "MAX_PATH_BYTES",
    "MAX_SEGMENTS",
    "check_name",
    "check_secret_path",
    "is_name",
    "is_secret_path",
    "name_in_repo",
    "secret_path_in_repo",
    "shard_of",
]

MAX_SEGMENTS = 8
MAX_PATH_BYTES = 256

_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,64}")


def is_name(value: object) -> bool:
    """True when ``value`` is a valid segment (an agent name, a group name, or one part of a secret path)."""
    return (
        isinstance(value, str)
        and _SEGMENT.fullmatch(value) is not None
        and value not in (".", "..")
    )


def is_secret_path(value: object) -> bool:
    """True when ``value`` is a valid secret path."""
    if not isinstance(value, str) or not value or len(value) > MAX_PATH_BYTES:
        return False
    parts = value.split("/")
    return len(parts) <= MAX_SEGMENTS and all(is_name(p) for p in parts)


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid segment, else raise a usage error naming ``what``."""
    if not is_name(value):
        raise usage_error(
            f"invalid {what} {value!r}: use 1 to 64 characters of A-Z a-z 0-9 . _ -, not '.' or '..'"
        )
    assert isinstance(value, str)
    return value


def check_secret_path(value: object) -> str:
    """Return ``value`` if it is a valid secret path, else raise a usage error."""
    if not is_secret_path(value):
        raise usage_error(
            f"invalid secret name {value!r}: use 1 to {MAX_SEGMENTS} segments of A-Z a-z 0-9 . _ - joined by '/', "
            f"at most {MAX_PATH_BYTES} bytes, no empty, '.' or '..' segment, no leading or trailing '/'"
        )
    assert isinstance(value, str)
    return value


def name_in_repo(value: object, where: str) -> str:
    """Return ``value`` if it is a valid segment, else raise an integrity error naming ``where``."""
    if not is_name(value):
        raise IntegrityError(f"invalid name {value!r} in {where}")
    assert isinstance(value, str)
    return value


def secret_path_in_repo(value: object, where: str) -> str:
    """Return ``value`` if it is a valid secret path, else raise an integrity error naming ``where``."""
    if not is_secret_path(value):
        raise IntegrityError(f"invalid secret name {value!r} in {where}")
    assert isinstance(value, str)
    return value


def shard_of(path: str) -> str:
    """The index shard of secret ``path`` (format.md section 5): the first two lowercase hex characters of the
    SHA-256 of the path converted to ASCII lower case (so paths that differ only in case meet in one shard)."""
    return hashlib.sha256(path.encode("utf-8").lower()).hexdigest()[:2]
