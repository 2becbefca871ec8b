"""A small writer of format 2 vaults, for the tests only (the real writer is the Go CLI).

It follows docs/format.md so the reader can be exercised end to end independently of the shared vectors, and it
lets tests tamper with exactly one thing at a time. :meth:`VaultBuilder.render` computes the next state without
touching the disk, so tests can also apply a change file by file (as the owner's writer or Git would).
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
from agent_vault.names import shard_of

ROOT_DOMAIN = b"agent-vault/v2 root\n"
ROOT_DOMAIN_V1 = b"agent-vault/v1 root\n"
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


def sign_root(body: bytes, signing_key: Ed25519PrivateKey, domain: bytes = ROOT_DOMAIN) -> bytes:
    sig = signing_key.sign(domain + body)
    return body + b"signature: ed25519 " + base64.b64encode(sig) + b"\n"


def split_root(data: bytes) -> dict[str, Any]:
    """The parsed body of a signed root file."""
    cut = data.rfind(b"\n", 0, len(data) - 1)
    obj: dict[str, Any] = json.loads(data[: cut + 1])
    return obj


@dataclass
class Secret:
    value: bytes
    group: str
    extra_agents: list[str] = field(default_factory=list)
    allow_hosts: list[str] = field(default_factory=list)
    expires: str = ""
    version: int = 0
    enc: bytes | None = None  # the ciphertext written for the current value and recipients (None: to write)
    meta: bytes | None = None


def secret_rel(path: str, suffix: str) -> str:
    return f"secrets/{path}{suffix}"


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
        self.version = 0
        self.prev_sha = ""
        self.root_extra: dict[str, Any] = {}
        self._written: set[str] = set()  # secret files on disk, relative to the vault directory

    # -- policy ----------------------------------------------------------------------------------------------

    def add_agent(self, name: str) -> Key:
        self.agents[name] = Key.generate()
        return self.agents[name]

    def add_group(self, name: str, members: list[str]) -> None:
        self.groups[name] = sorted(members)
        for s in self.secrets.values():
            if s.group == name:
                s.enc = None

    def set_secret(
        self,
        path: str,
        value: bytes | str,
        group: str | None = None,
        extra_agents: list[str] | None = None,
        allow_hosts: list[str] | None = None,
        expires: str = "",
    ) -> None:
        group = group or path.split("/")[0]
        self.groups.setdefault(group, [])
        self.secrets[path] = Secret(
            value=value.encode() if isinstance(value, str) else value,
            group=group,
            extra_agents=sorted(extra_agents or []),
            allow_hosts=list(allow_hosts or []),
            expires=expires,
            version=self.secrets[path].version if path in self.secrets else 0,
        )

    def delete_secret(self, path: str) -> None:
        del self.secrets[path]

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

    def authorized(self, s: Secret) -> list[str]:
        return sorted(set(self.groups[s.group]) | set(s.extra_agents))

    def render(self) -> tuple[dict[str, bytes], list[str]]:
        """The next version (version + 1) without writing it: ``(files, removed)``, relative paths under the vault
        directory, ``state/root`` included in ``files``. Builder state (versions, hashes) advances as if written."""
        self.version += 1
        files: dict[str, bytes] = {
            "config.yaml": (
                f'format: 2\nvault_id: "{self.vault_id}"\nowner_verify_key: "{self.owner.verify_key}"\n'
                f'created: "{TIME}"\n'
            ).encode(),
            "owner.pub": (self.owner.recipient + "\n").encode(),
            "manifest.yaml": b"# view only\n",
            ".gitignore": b"*.key\n!agents/*/public.key\n*.pem\n**/private.*\n!agents/*/private.key.escrow\n"
            b".lock\n.pending/\n.pending.done/\n",
        }
        root_files = {k: {"sha256": sha(v), "size": len(v)} for k, v in files.items()}
        agents: dict[str, Any] = {}
        for name, key in sorted(self.agents.items()):
            pub = files[f"agents/{name}/public.key"] = (key.recipient + "\n").encode()
            escrow = files[f"agents/{name}/private.key.escrow"] = pyrage.encrypt(
                self.key_file(name).encode(), [self.owner.identity.to_public()]
            )
            agents[name] = {"recipient": key.recipient, "public_key_sha256": sha(pub), "escrow_sha256": sha(escrow)}
        shards: dict[str, dict[str, Any]] = {}
        counts: dict[str, int] = {g: 0 for g in self.groups}
        live: set[str] = set()
        for path, s in sorted(self.secrets.items()):
            names = self.authorized(s)
            if s.enc is None:
                recips = [self.owner.identity.to_public()] + [self.agents[n].identity.to_public() for n in names]
                s.enc = pyrage.encrypt(s.value, recips)
                expires = f'expires: "{s.expires}"\n' if s.expires else ""
                s.meta = (
                    f'name: "{path}"\ngroup: "{s.group}"\ncreated: "{TIME}"\nrotated: "{TIME}"\n{expires}'
                    f"authorized_agents: [{', '.join(json.dumps(n) for n in names)}]\n"
                ).encode()
                s.version = self.version
            assert s.meta is not None
            for suffix, data in ((".enc", s.enc), (".meta", s.meta)):
                on_disk = self.dir / secret_rel(path, suffix)
                if not on_disk.is_file() or on_disk.read_bytes() != data:
                    files[secret_rel(path, suffix)] = data
            live |= {secret_rel(path, ".enc"), secret_rel(path, ".meta")}
            counts[s.group] += 1
            shards.setdefault(shard_of(path), {})[path] = {
                "group": s.group,
                "version": s.version,
                "enc_sha256": sha(s.enc),
                "enc_size": len(s.enc),
                "meta_sha256": sha(s.meta),
                "meta_size": len(s.meta),
                "created": TIME,
                "rotated": TIME,
                "expires": s.expires,
                "extra_agents": s.extra_agents,
                "allow_hosts": s.allow_hosts,
            }
        index: dict[str, Any] = {}
        for shard, entries in sorted(shards.items()):
            doc = {
                "type": "agent-vault-index-shard",
                "format": 2,
                "vault_id": self.vault_id,
                "shard": shard,
                "secrets": entries,
            }
            data = files[f"state/index/{shard}.json"] = (json.dumps(doc, indent=2) + "\n").encode()
            index[shard] = {"sha256": sha(data), "size": len(data), "secrets": len(entries)}
        groups = {
            g: {"members": members, "secrets": counts[g]}
            for g, members in sorted(self.groups.items())
            if members or counts[g]
        }
        body_obj: dict[str, Any] = {
            "type": "agent-vault-root",
            "format": 2,
            "vault_id": self.vault_id,
            "version": self.version,
            "prev_sha256": self.prev_sha,
            "time": TIME,
            "owner": {"recipient": self.owner.recipient, "verify_key": self.owner.verify_key},
            "files": root_files,
            "agents": agents,
            "groups": groups,
            "index": index,
        }
        body_obj.update(self.root_extra)
        body = (json.dumps(body_obj, indent=2) + "\n").encode()
        files["state/root"] = root = sign_root(body, self.owner.signing_key)
        self.prev_sha = sha(root)
        old_shards = {f"state/index/{p.name}" for p in (self.dir / "state" / "index").glob("*.json")}
        removed = sorted((self._written - live) | (old_shards - {f"state/index/{s}.json" for s in shards}))
        self._written = live
        return files, removed

    def write(self) -> bytes:
        """Write every file and a new signed root (version + 1); return the root file bytes."""
        files, removed = self.render()
        for rel in removed:
            (self.dir / rel).unlink(missing_ok=True)
        for rel, data in files.items():
            if rel != "state/root":
                self._put(rel, data)
        return self._put("state/root", files["state/root"])

    def resign_root(self, mutate: Any, domain: bytes = ROOT_DOMAIN) -> bytes:
        """Re-sign the current root after ``mutate(body_obj)`` changed its parsed body (same version)."""
        obj = split_root((self.dir / "state/root").read_bytes())
        mutate(obj)
        root = sign_root((json.dumps(obj, indent=2) + "\n").encode(), self.owner.signing_key, domain)
        self._put("state/root", root)
        self.prev_sha = sha(root)
        return root

    def shard_file(self, path: str) -> Path:
        """The index shard file holding secret ``path``."""
        return self.dir / "state" / "index" / f"{shard_of(path)}.json"

    def rehash_shard(self, shard: str) -> None:
        """After a test edited ``state/index/<shard>.json``, put its new hash and size into a re-signed root."""
        data = (self.dir / f"state/index/{shard}.json").read_bytes()

        def mutate(obj: dict[str, Any]) -> None:
            obj["index"][shard].update(sha256=sha(data), size=len(data))

        self.resign_root(mutate)

    def edit_shard(self, shard: str, mutate: Any) -> None:
        """Apply ``mutate`` to the parsed shard, write it back and vouch for it in a re-signed root."""
        p = self.dir / f"state/index/{shard}.json"
        obj = json.loads(p.read_text())
        mutate(obj)
        p.write_text(json.dumps(obj, indent=2) + "\n")
        self.rehash_shard(shard)

    def edit_entry(self, path: str, **fields: Any) -> None:
        """Change fields of the entry of secret ``path`` and vouch for the result in a re-signed root."""
        self.edit_shard(shard_of(path), lambda o: o["secrets"][path].update(fields))

    def write_format1_root(self, version: int | None = None) -> bytes:
        """Replace the root by a format 1 root of this vault (signed with the format 1 domain) and config.yaml by
        a format 1 one: enough for a reader to recognise a vault to migrate."""
        version = self.version if version is None else version
        body_obj = {
            "type": "agent-vault-root",
            "format": 1,
            "vault_id": self.vault_id,
            "version": version,
            "prev_sha256": "",
            "time": TIME,
            "owner": {"recipient": self.owner.recipient, "verify_key": self.owner.verify_key},
            "files": {},
            "agents": {},
            "groups": {},
            "placement": {},
        }
        cfg = self.dir / "config.yaml"
        cfg.write_text(cfg.read_text().replace("format: 2", "format: 1"))
        body = (json.dumps(body_obj, indent=2) + "\n").encode()
        return self._put("state/root", sign_root(body, self.owner.signing_key, ROOT_DOMAIN_V1))


def write_key(path: Path, content: str, mode: int = 0o600) -> Path:
    """Write a key file with ``mode`` (whatever the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    os.chmod(path, mode)
    return path
