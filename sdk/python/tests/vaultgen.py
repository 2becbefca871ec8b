"""A small writer of format-v1 vaults, for the tests only (the real writer is the Go CLI).

It follows docs/format.md so the reader can be exercised end to end before the shared vectors exist, and it lets
tests tamper with exactly one thing at a time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as pysecrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyrage import x25519

from agent_vault import bech32

ROOT_DOMAIN = b"agent-vault/v1 root\n"
TIME = "2026-11-29T13:50:00Z"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Key:
    """An age identity, plus the Ed25519 key derived from it (used when it is the owner's)."""

    identity: Any

    @classmethod
    def generate(cls) -> Key:
        return cls(x25519.Identity.generate())

    @property
    def identity_str(self) -> str:
        return str(self.identity)

    @property
    def recipient(self) -> str:
        return str(self.identity.to_public())

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        _, raw = bech32.decode(self.identity_str)
        seed = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"", info=b"agent-vault/v1 owner signing key"
        ).derive(raw)
        return Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def verify_key(self) -> str:
        raw = self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return "ed25519:" + base64.b64encode(raw).decode()


def sign_root(body: bytes, signing_key: Ed25519PrivateKey) -> bytes:
    sig = signing_key.sign(ROOT_DOMAIN + body)
    return body + b"signature: ed25519 " + base64.b64encode(sig) + b"\n"


@dataclass
class Secret:
    value: bytes
    group: str
    extra_agents: list[str] = field(default_factory=list)
    allow_hosts: list[str] = field(default_factory=list)
    version: int = 0
    dirty: bool = True


class VaultBuilder:
    """Builds ``<repo>/.agent-vault`` and rewrites it (a new signed version) on every :meth:`write`."""

    def __init__(self, repo: Path, owner: Key | None = None, vault_id: str | None = None) -> None:
        self.repo = repo
        self.dir = repo / ".agent-vault"
        self.owner = owner or Key.generate()
        self.vault_id = vault_id or pysecrets.token_hex(16)
        self.agents: dict[str, Key] = {}
        self.groups: dict[str, list[str]] = {}
        self.secrets: dict[str, Secret] = {}
        self.placement: dict[str, str] = {}
        self.version = 0
        self.prev_sha = ""
        self.root_extra: dict[str, Any] = {}

    # -- policy ----------------------------------------------------------------------------------------------

    def add_agent(self, name: str) -> Key:
        self.agents[name] = Key.generate()
        return self.agents[name]

    def add_group(self, name: str, members: list[str]) -> None:
        self.groups[name] = sorted(members)
        for s in self.secrets.values():
            if s.group == name:
                s.dirty = True

    def set_secret(
        self, path: str, value: bytes | str, group: str | None = None, extra_agents: list[str] | None = None
    ) -> None:
        first = path.split("/")[0]
        group = group or first
        if group != first:
            self.placement[path] = group
        self.groups.setdefault(group, [])
        self.secrets[path] = Secret(
            value=value.encode() if isinstance(value, str) else value,
            group=group,
            extra_agents=sorted(extra_agents or []),
            version=self.secrets[path].version if path in self.secrets else 0,
        )

    def delete_secret(self, path: str) -> None:
        del self.secrets[path]
        self.placement.pop(path, None)
        for suffix in (".enc", ".meta"):
            (self.dir / "secrets" / f"{path}{suffix}").unlink(missing_ok=True)

    # -- key files -------------------------------------------------------------------------------------------

    def key_file(self, name: str, pinned: bool = True) -> str:
        key = self.agents[name]
        lines = ["# agent-vault agent key", f"# created: {TIME}", f"# public key: {key.recipient}"]
        if pinned:
            lines += [
                f"# agent-vault-agent: {name}",
                f"# agent-vault-vault-id: {self.vault_id}",
                f"# agent-vault-owner-verify-key: {self.owner.verify_key}",
            ]
        return "\n".join(lines + [key.identity_str, ""])

    def owner_key_file(self) -> str:
        return f"# agent-vault owner key\n{self.owner.identity_str}\n"

    # -- writing ---------------------------------------------------------------------------------------------

    def _put(self, rel: str, data: bytes) -> bytes:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return data

    def write(self) -> bytes:
        """Write every file and a new signed root (version + 1); return the root file bytes."""
        self.version += 1
        files = {
            "config.yaml": self._put(
                "config.yaml",
                (
                    f'format: 1\nvault_id: "{self.vault_id}"\nowner_verify_key: "{self.owner.verify_key}"\n'
                    f'created: "{TIME}"\n'
                ).encode(),
            ),
            "owner.pub": self._put("owner.pub", (self.owner.recipient + "\n").encode()),
            "manifest.yaml": self._put("manifest.yaml", b"# view only\n"),
            ".gitignore": self._put(".gitignore", b"*.key\n*.pem\n**/private.*\n!**/private.key.escrow\n.lock\n.pending/\n"),
        }
        agents: dict[str, Any] = {}
        for name, key in sorted(self.agents.items()):
            pub = self._put(f"agents/{name}/public.key", (key.recipient + "\n").encode())
            escrow = self._put(
                f"agents/{name}/private.key.escrow",
                pyrage.encrypt(self.key_file(name).encode(), [self.owner.identity.to_public()]),
            )
            agents[name] = {"recipient": key.recipient, "public_key_sha256": sha(pub), "escrow_sha256": sha(escrow)}
        groups: dict[str, Any] = {}
        for gname, members in sorted(self.groups.items()):
            entries: dict[str, Any] = {}
            for path, s in sorted(self.secrets.items()):
                if s.group != gname:
                    continue
                names = sorted(set(members) | set(s.extra_agents))
                if s.dirty or not (self.dir / "secrets" / f"{path}.enc").exists():
                    recips = [self.owner.identity.to_public()] + [self.agents[n].identity.to_public() for n in names]
                    self._put(f"secrets/{path}.enc", pyrage.encrypt(s.value, recips))
                    meta = (
                        f'name: "{path}"\ngroup: "{gname}"\ncreated: "{TIME}"\nrotated: "{TIME}"\n'
                        f"authorized_agents: [{', '.join(json.dumps(n) for n in names)}]\n"
                    )
                    self._put(f"secrets/{path}.meta", meta.encode())
                    s.version = self.version
                    s.dirty = False
                entries[path] = {
                    "version": s.version,
                    "enc_sha256": sha((self.dir / "secrets" / f"{path}.enc").read_bytes()),
                    "meta_sha256": sha((self.dir / "secrets" / f"{path}.meta").read_bytes()),
                    "extra_agents": s.extra_agents,
                    "allow_hosts": s.allow_hosts,
                }
            index = {
                "type": "agent-vault-group-index",
                "format": 1,
                "vault_id": self.vault_id,
                "group": gname,
                "secrets": entries,
            }
            data = self._put(f"state/groups/{gname}.json", (json.dumps(index, indent=2) + "\n").encode())
            groups[gname] = {"members": members, "index_sha256": sha(data), "secrets": len(entries)}
        body_obj: dict[str, Any] = {
            "type": "agent-vault-root",
            "format": 1,
            "vault_id": self.vault_id,
            "version": self.version,
            "prev_sha256": self.prev_sha,
            "time": TIME,
            "owner": {"recipient": self.owner.recipient, "verify_key": self.owner.verify_key},
            "files": {k: sha(v) for k, v in files.items()},
            "agents": agents,
            "groups": groups,
            "placement": dict(sorted(self.placement.items())),
        }
        body_obj.update(self.root_extra)
        body = (json.dumps(body_obj, indent=2) + "\n").encode()
        root = self._put("state/root", sign_root(body, self.owner.signing_key))
        self.prev_sha = sha(root)
        return root

    def resign_root(self, mutate: Any) -> bytes:
        """Re-sign the current root after ``mutate(body_obj)`` changed its parsed body (same version)."""
        data = (self.dir / "state/root").read_bytes()
        cut = data.rfind(b"\n", 0, len(data) - 1)
        obj = json.loads(data[: cut + 1])
        mutate(obj)
        root = sign_root((json.dumps(obj, indent=2) + "\n").encode(), self.owner.signing_key)
        self._put("state/root", root)
        return root

    def rehash_index(self, group: str) -> None:
        """After a test edited ``state/groups/<group>.json``, put its new hash into a re-signed root."""
        data = (self.dir / f"state/groups/{group}.json").read_bytes()

        def mutate(obj: dict[str, Any]) -> None:
            obj["groups"][group]["index_sha256"] = sha(data)

        self.resign_root(mutate)


def write_key(path: Path, content: str, mode: int = 0o600) -> Path:
    """Write a key file with ``mode`` (whatever the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    os.chmod(path, mode)
    return path
