"""End-to-end tests of Vault against vaults written by the test helper (tests/vaultgen.py)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agent_vault import (
    AgentVaultError,
    IntegrityError,
    NotAuthorizedError,
    SecretInfo,
    SecretNotFoundError,
    Vault,
    VaultNotFoundError,
)
from agent_vault.names import shard_of
from vaultgen import Key, VaultBuilder, sha, split_root, write_key

VALUE = "sk_live_123"


@pytest.fixture()
def vb(tmp_path: Path) -> VaultBuilder:
    b = VaultBuilder(tmp_path / "repo")
    b.add_agent("ci")
    b.add_agent("deployer")
    b.add_group("stripe", ["ci"])
    b.add_group("aws", ["deployer"])
    b.set_secret("stripe/api-key", VALUE)
    b.set_secret("stripe/webhook/secret", "whsec")
    b.set_secret("aws/key", "AKIA")
    b.set_secret("aws/shared", "shared", extra_agents=["ci"])
    b.set_secret("misc/token", "tok", group="stripe")
    b.write()
    return b


@pytest.fixture()
def ci_key(vb: VaultBuilder, tmp_path: Path) -> Path:
    return write_key(tmp_path / "keys" / "ci.key", vb.key_file("ci"))


def open_as(vb: VaultBuilder, tmp_path: Path, who: str, pinned: bool = True) -> Vault:
    if who == "owner":
        p = write_key(tmp_path / "keys" / "owner-copy.key", vb.owner_key_file())
    else:
        p = write_key(tmp_path / "keys" / f"{who}-{pinned}.key", vb.key_file(who, pinned))
    return Vault(vb.repo, key_path=p, auto_pull=False)


def assert_kind(exc: AgentVaultError, kind: str) -> None:
    assert exc.kind == kind, f"{type(exc).__name__}({exc}) has kind {exc.kind}, want {kind}"


# -- reading ----------------------------------------------------------------------------------------------------


def test_agent_reads_granted_secret(vb: VaultBuilder, ci_key: Path) -> None:
    with Vault(vb.repo, key_path=ci_key, auto_pull=False) as v:
        assert v.get("stripe/api-key") == VALUE
        assert v.get_bytes("stripe/api-key") == VALUE.encode()
        assert v.get("stripe/webhook/secret") == "whsec"
        assert v.get("misc/token") == "tok"  # placed in group stripe (its entry names the group)
        assert v.get("aws/shared") == "shared"  # extra agent


def test_subdirectory_and_vault_dir_as_repo_path(vb: VaultBuilder, ci_key: Path) -> None:
    sub = vb.repo / "src" / "deep"
    sub.mkdir(parents=True)
    assert Vault(sub, key_path=ci_key, auto_pull=False).get("stripe/api-key") == VALUE
    assert Vault(vb.dir, key_path=ci_key, auto_pull=False).get("stripe/api-key") == VALUE
    assert Vault(str(vb.repo), key_path=str(ci_key), auto_pull=False).path == vb.dir


def test_owner_reads_everything(vb: VaultBuilder, tmp_path: Path) -> None:
    v = open_as(vb, tmp_path, "owner")
    assert v.get("aws/key") == "AKIA" and v.get("stripe/api-key") == VALUE


def test_machine_owner_key_anchor(vb: VaultBuilder, isolated_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_key(isolated_home / "owner.key", vb.owner_key_file())
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        assert Vault(vb.repo, auto_pull=False).get("aws/key") == "AKIA"
    assert caplog.records == []  # no trust on first use: the anchor is derived from the owner key
    assert not (isolated_home / "known_vaults").exists()


def test_machine_owner_key_refuses_foreign_vault(tmp_path: Path, isolated_home: Path) -> None:
    other = VaultBuilder(tmp_path / "other")
    other.set_secret("a/b", "x")
    other.write()
    write_key(isolated_home / "owner.key", Key.generate().identity_str + "\n")
    with pytest.raises(IntegrityError, match="bad signature"):
        Vault(other.repo, auto_pull=False).get("a/b")


def test_non_utf8_value(vb: VaultBuilder, ci_key: Path) -> None:
    vb.set_secret("stripe/binary", b"\xff\xfe\x00secretbytes")
    vb.write()
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get_bytes("stripe/binary") == b"\xff\xfe\x00secretbytes"
    with pytest.raises(AgentVaultError) as e:
        v.get("stripe/binary")
    assert_kind(e.value, "error")
    assert "get_bytes" in str(e.value) and "secretbytes" not in str(e.value)
    assert e.value.__context__ is None and e.value.__cause__ is None


def test_empty_value(vb: VaultBuilder, ci_key: Path) -> None:
    vb.set_secret("stripe/empty", b"")
    vb.write()
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/empty") == ""


# -- listing ----------------------------------------------------------------------------------------------------


def test_list_as_agent(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    names = [s.name for s in v.list_secrets()]
    assert names == ["aws/shared", "misc/token", "stripe/api-key", "stripe/webhook/secret"]
    info = v.list_secrets("stripe")[0]
    assert isinstance(info, SecretInfo)
    assert info == SecretInfo(
        name="misc/token",
        group="stripe",
        created=datetime(2026, 11, 29, 13, 50, tzinfo=timezone.utc),
        rotated=datetime(2026, 11, 29, 13, 50, tzinfo=timezone.utc),
        expires=None,
        authorized_agents=("ci",),
    )
    with pytest.raises(AttributeError):
        info.name = "x"  # type: ignore[misc]
    assert [s.name for s in v.list_secrets("aws")] == ["aws/shared"]


def test_list_as_owner(vb: VaultBuilder, tmp_path: Path) -> None:
    names = [s.name for s in open_as(vb, tmp_path, "owner").list_secrets()]
    assert names == ["aws/key", "aws/shared", "misc/token", "stripe/api-key", "stripe/webhook/secret"]


def test_list_expires_hosts_and_authorized_agents(vb: VaultBuilder, ci_key: Path) -> None:
    vb.set_secret("stripe/api-key", VALUE, expires="2027-02-27T13:50:00Z", allow_hosts=["api.stripe.com"])
    vb.set_secret("stripe/webhook/secret", "whsec", extra_agents=["deployer"])
    vb.write()
    info = {s.name: s for s in Vault(vb.repo, key_path=ci_key, auto_pull=False).list_secrets()}
    assert info["stripe/api-key"].expires == datetime(2027, 2, 27, 13, 50, tzinfo=timezone.utc)
    assert info["stripe/api-key"].allow_hosts == ("api.stripe.com",)
    assert info["stripe/webhook/secret"].expires is None and info["stripe/webhook/secret"].allow_hosts == ()
    # the sorted union of the group's members and the secret's extra agents
    assert info["stripe/webhook/secret"].authorized_agents == ("ci", "deployer")
    assert info["aws/shared"].authorized_agents == ("ci", "deployer")


def test_list_unknown_group(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.list_secrets("nope") == []  # as agent-vault 0.1 did
    with pytest.raises(SecretNotFoundError, match="^Group not found: nope"):
        v.list_secrets("nope", strict=True)
    with pytest.raises(AgentVaultError) as e:
        v.list_secrets("../x")
    assert_kind(e.value, "usage")


def test_meta_is_never_read(vb: VaultBuilder, ci_key: Path) -> None:
    """.meta files are a view for people: get and list decide from the index entries alone."""
    meta = vb.dir / "secrets/stripe/api-key.meta"
    meta.write_text(meta.read_text().replace("2026", "2025") + 'expires: "2000-01-01T00:00:00Z"\n')
    (vb.dir / "secrets/stripe/webhook/secret.meta").unlink()
    (vb.dir / "secrets/aws/shared.meta").write_bytes(b"\xff" * (100 << 10))
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    assert v.get("stripe/webhook/secret") == "whsec"
    info = {s.name: s for s in v.list_secrets()}
    assert info["stripe/api-key"].expires is None
    assert info["stripe/api-key"].created == datetime(2026, 11, 29, 13, 50, tzinfo=timezone.utc)


def test_get_reads_root_one_shard_and_one_enc(vb: VaultBuilder, ci_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_vault.layout import VaultDir

    for i in range(40):
        vb.set_secret(f"stripe/bulk-{i}", f"v{i}")
    vb.write()
    reads: list[str] = []
    orig_read, orig_vouched = VaultDir.read, VaultDir.read_vouched

    def read(self: VaultDir, parts: Any, *a: Any, **k: Any) -> Any:
        reads.append("/".join(parts))
        return orig_read(self, parts, *a, **k)

    def read_vouched(self: VaultDir, parts: Any, *a: Any, **k: Any) -> Any:
        reads.append("/".join(parts))
        return orig_vouched(self, parts, *a, **k)

    monkeypatch.setattr(VaultDir, "read", read)
    monkeypatch.setattr(VaultDir, "read_vouched", read_vouched)
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/bulk-7") == "v7"
    assert reads == ["state/root", f"state/index/{shard_of('stripe/bulk-7')}.json", "secrets/stripe/bulk-7.enc"]
    reads.clear()
    Vault(vb.repo, key_path=ci_key, auto_pull=False).list_secrets()
    assert all(r.startswith("state/") for r in reads)
    assert len(reads) == 1 + len(split_root((vb.dir / "state/root").read_bytes())["index"])


def test_list_checks_group_counts(vb: VaultBuilder, tmp_path: Path) -> None:
    vb.resign_root(lambda o: o["groups"]["aws"].update(secrets=3))
    owner = open_as(vb, tmp_path, "owner")
    assert owner.get("aws/key") == "AKIA"  # a get does not count entries
    with pytest.raises(IntegrityError, match="entries name group 'aws'"):
        owner.list_secrets("aws")
    with pytest.raises(IntegrityError, match="entries name group 'aws'"):
        owner.list_secrets()
    with pytest.raises(IntegrityError, match="entries name group 'aws'"):
        owner.list_secrets("stripe")  # every group is counted, as the Go reader does


# -- not found / not authorized -----------------------------------------------------------------------------------


def test_secret_not_found(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    for name in ("stripe/nope", "nogroup/x"):
        with pytest.raises(SecretNotFoundError) as e:
            v.get(name)
        assert_kind(e.value, "not_found")


@pytest.mark.parametrize("name", ["../x", "/a", "a/", "a//b", "", "a b", "x" * 65])
def test_bad_name_is_usage(vb: VaultBuilder, ci_key: Path, name: str) -> None:
    with pytest.raises(AgentVaultError) as e:
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get(name)
    assert_kind(e.value, "usage")


def test_agent_not_granted(vb: VaultBuilder, ci_key: Path) -> None:
    with pytest.raises(NotAuthorizedError) as e:
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("aws/key")
    assert_kind(e.value, "not_authorized")
    assert "ci" in str(e.value) and "aws/key" in str(e.value)


def test_outsider(vb: VaultBuilder, tmp_path: Path) -> None:
    p = write_key(tmp_path / "outsider.key", Key.generate().identity_str + "\n")
    v = Vault(vb.repo, key_path=p, auto_pull=False)
    with pytest.raises(NotAuthorizedError, match="neither the owner nor an agent"):
        v.get("stripe/api-key")
    with pytest.raises(NotAuthorizedError):
        v.list_secrets()


def test_outsider_is_not_recorded(vb: VaultBuilder, tmp_path: Path, isolated_home: Path) -> None:
    p = write_key(tmp_path / "outsider.key", Key.generate().identity_str + "\n")
    with pytest.raises(NotAuthorizedError):
        Vault(vb.repo, key_path=p, auto_pull=False).get("stripe/api-key")
    assert not (isolated_home / "known_vaults").exists()
    assert not (isolated_home / "state").exists()


def test_signed_member_without_ciphertext_stanza(vb: VaultBuilder, tmp_path: Path) -> None:
    # The owner's state says ci is a member, but the .enc was not encrypted to it: decryption fails.
    import pyrage

    enc = vb.dir / "secrets/stripe/api-key.enc"
    enc.write_bytes(pyrage.encrypt(b"x", [vb.owner.identity.to_public()]))
    vb.edit_entry("stripe/api-key", enc_sha256=sha(enc.read_bytes()), enc_size=enc.stat().st_size)
    with pytest.raises(NotAuthorizedError, match="cannot decrypt"):
        open_as(vb, tmp_path, "ci").get("stripe/api-key")


# -- vault and key not found ------------------------------------------------------------------------------------


def test_no_vault(tmp_path: Path, ci_key: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(VaultNotFoundError):
        Vault(tmp_path / "empty", key_path=ci_key, auto_pull=False)
    with pytest.raises(VaultNotFoundError):
        Vault(tmp_path / "does-not-exist", key_path=ci_key, auto_pull=False)


def test_agent_vault_file_is_not_a_vault(tmp_path: Path, ci_key: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / ".agent-vault").write_text("")
    with pytest.raises(VaultNotFoundError):
        Vault(tmp_path / "f", key_path=ci_key, auto_pull=False)


def test_no_key(vb: VaultBuilder) -> None:
    with pytest.raises(VaultNotFoundError, match="no key"):
        Vault(vb.repo, auto_pull=False)


def test_no_state_root(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    (vb.dir / "state/root").unlink()
    with pytest.raises(IntegrityError, match="state/root is missing"):
        v.get("stripe/api-key")
    (vb.dir / "config.yaml").unlink()
    with pytest.raises(VaultNotFoundError, match="not an agent-vault vault"):
        v.get("stripe/api-key")


def test_key_forms(vb: VaultBuilder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    content = vb.key_file("ci")
    assert Vault(vb.repo, key_str=content, auto_pull=False).get("stripe/api-key") == VALUE
    monkeypatch.setenv("AGENT_VAULT_KEY", content)
    assert Vault(vb.repo, auto_pull=False).get("stripe/api-key") == VALUE
    monkeypatch.setenv("AGENT_VAULT_KEY", vb.agents["ci"].identity_str)  # bare line: trust on first use
    assert Vault(vb.repo, auto_pull=False).get("stripe/api-key") == VALUE
    loose = write_key(tmp_path / "loose.key", content, 0o640)
    monkeypatch.setenv("AGENT_VAULT_KEY", str(loose))
    with pytest.raises(VaultNotFoundError, match="group or others"):
        Vault(vb.repo, auto_pull=False)


# -- trust anchors --------------------------------------------------------------------------------------------


def test_first_use_warns_once(vb: VaultBuilder, tmp_path: Path, isolated_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        v = open_as(vb, tmp_path, "ci", pinned=False)
        assert v.get("stripe/api-key") == VALUE
        v.get("stripe/api-key")
        v.list_secrets()
        open_as(vb, tmp_path, "ci", pinned=False).get("stripe/api-key")
    warnings = [r for r in caplog.records if "first use" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].name == "agent_vault"
    lines = (isolated_home / "known_vaults").read_text().splitlines()
    assert lines == [
        f"{vb.vault_id} {vb.owner.verify_key}",
        f"key {vb.agents['ci'].recipient} {vb.vault_id} {vb.owner.verify_key}",
        f"repo {vb.vault_id} {os.path.realpath(vb.dir)}",
    ]


def test_pinned_key_does_not_use_known_vaults(vb: VaultBuilder, ci_key: Path, isolated_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent_vault"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    assert caplog.records == []
    assert not (isolated_home / "known_vaults").exists()


def test_first_use_then_replaced_owner(vb: VaultBuilder, tmp_path: Path) -> None:
    open_as(vb, tmp_path, "ci", pinned=False).get("stripe/api-key")
    # an attacker replaces the owner (new signing key) but keeps the vault id and the agent
    vb.owner = Key.generate()
    vb.write()
    with pytest.raises(IntegrityError, match="trusted"):
        open_as(vb, tmp_path, "ci", pinned=False).get("stripe/api-key")


def test_pinned_key_refuses_replaced_owner(vb: VaultBuilder, tmp_path: Path) -> None:
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    vb.owner = Key.generate()
    vb.write()
    with pytest.raises(IntegrityError, match="pinned.*bad signature"):
        Vault(vb.repo, key_path=key, auto_pull=False).get("stripe/api-key")


def test_pinned_key_refuses_other_vault_of_same_owner(vb: VaultBuilder, tmp_path: Path) -> None:
    key = write_key(tmp_path / "ci.key", vb.key_file("ci"))
    old_id = vb.vault_id
    vb.vault_id = "f" * 32
    vb.write()
    # A whole other vault (issue 10 item 9): a configuration error naming the key's vault, not an attack.
    with pytest.raises(VaultNotFoundError, match=f"this key belongs to vault {old_id} .*holds vault {'f' * 32}"):
        Vault(vb.repo, key_path=key, auto_pull=False).get("stripe/api-key")


def test_root_must_name_anchor_verify_key(vb: VaultBuilder, ci_key: Path) -> None:
    vb.resign_root(lambda o: o["owner"].update(verify_key=Key.generate().verify_key))
    with pytest.raises(IntegrityError, match="verify key"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_config_vault_id_must_match_root_in_first_use(vb: VaultBuilder, tmp_path: Path) -> None:
    cfg = vb.dir / "config.yaml"
    cfg.write_text(cfg.read_text().replace(vb.vault_id, "e" * 32))
    with pytest.raises(IntegrityError, match="config.yaml"):
        open_as(vb, tmp_path, "ci", pinned=False).get("stripe/api-key")


def test_config_missing_in_first_use(vb: VaultBuilder, tmp_path: Path) -> None:
    (vb.dir / "config.yaml").unlink()
    with pytest.raises(IntegrityError, match="config.yaml is missing"):
        open_as(vb, tmp_path, "ci", pinned=False).get("stripe/api-key")


# -- tampering --------------------------------------------------------------------------------------------------


def test_tampered_root_body(vb: VaultBuilder, ci_key: Path) -> None:
    root = vb.dir / "state/root"
    root.write_bytes(root.read_bytes().replace(b'"ci"', b'"cj"', 1))
    with pytest.raises(IntegrityError, match="bad signature"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_tampered_enc(vb: VaultBuilder, ci_key: Path) -> None:
    enc = vb.dir / "secrets/stripe/api-key.enc"
    data = bytearray(enc.read_bytes())
    data[-1] ^= 1
    enc.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="api-key.enc: hash"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_enc_of_another_size(vb: VaultBuilder, ci_key: Path) -> None:
    enc = vb.dir / "secrets/stripe/api-key.enc"
    enc.write_bytes(enc.read_bytes() + b"x")
    with pytest.raises(IntegrityError, match=r"api-key.enc: size \d+ differs"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_size_checked_before_hash(vb: VaultBuilder, ci_key: Path) -> None:
    # A signed entry vouching for another size than the file's (its hash unchanged) is refused on the size.
    vb.edit_entry("stripe/api-key", enc_size=(vb.dir / "secrets/stripe/api-key.enc").stat().st_size + 1)
    with pytest.raises(IntegrityError, match="size"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_large_enc_vouched_is_read(vb: VaultBuilder, ci_key: Path) -> None:
    # No fixed limit on a vouched file: a 1 MiB value with many recipients reads fine.
    for i in range(30):
        vb.add_agent(f"a{i}")
    vb.add_group("stripe", ["ci"] + [f"a{i}" for i in range(30)])
    value = bytes(range(256)) * 4096
    vb.set_secret("stripe/big", value)
    vb.write()
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get_bytes("stripe/big") == value


def test_oversized_value(vb: VaultBuilder, ci_key: Path, tmp_path: Path) -> None:
    vb.set_secret("stripe/big", b"x" * ((1 << 20) + 1))
    vb.set_secret("stripe/max", b"y" * (1 << 20))
    vb.write()
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get_bytes("stripe/max") == b"y" * (1 << 20)
    with pytest.raises(IntegrityError, match="larger than the limit of 1048576 bytes") as e:
        v.get_bytes("stripe/big")
    assert "xxxx" not in str(e.value)
    with pytest.raises(IntegrityError):
        open_as(vb, tmp_path, "owner").get_bytes("stripe/big")


def test_swapped_enc(vb: VaultBuilder, ci_key: Path) -> None:
    # an attacker encrypts their own value to ci's public key: the hash catches it
    import pyrage

    enc = vb.dir / "secrets/stripe/api-key.enc"
    enc.write_bytes(pyrage.encrypt(b"attacker", [vb.agents["ci"].identity.to_public()]))
    with pytest.raises(IntegrityError):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_missing_enc(vb: VaultBuilder, ci_key: Path) -> None:
    (vb.dir / "secrets/stripe/api-key.enc").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_tampered_shard(vb: VaultBuilder, ci_key: Path) -> None:
    shard = vb.shard_file("stripe/api-key")
    shard.write_text(shard.read_text().replace('"created": "2026', '"created": "2025', 1))  # same size
    with pytest.raises(IntegrityError, match=f"{shard.name}: hash"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_shard_of_another_size(vb: VaultBuilder, ci_key: Path) -> None:
    shard = vb.shard_file("stripe/api-key")
    shard.write_text(shard.read_text() + " ")
    with pytest.raises(IntegrityError, match=f"{shard.name}: size"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_missing_shard(vb: VaultBuilder, ci_key: Path) -> None:
    vb.shard_file("stripe/api-key").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    with pytest.raises(IntegrityError, match="missing"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).list_secrets()


@pytest.mark.parametrize("suffix", [".enc", ".meta"])
def test_unsigned_secret(vb: VaultBuilder, ci_key: Path, suffix: str) -> None:
    (vb.dir / f"secrets/stripe/injected{suffix}").write_bytes(b"x")
    (vb.dir / "secrets/newgroup").mkdir()
    (vb.dir / f"secrets/newgroup/x{suffix}").write_bytes(b"x")
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    for name in ("stripe/injected", "newgroup/x"):
        with pytest.raises(IntegrityError, match="unsigned"):
            v.get(name)


def test_symlinked_enc(vb: VaultBuilder, ci_key: Path, tmp_path: Path) -> None:
    enc = vb.dir / "secrets/stripe/api-key.enc"
    real = tmp_path / "real.enc"
    real.write_bytes(enc.read_bytes())
    enc.unlink()
    os.symlink(real, enc)
    with pytest.raises(IntegrityError, match="symbolic link"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_symlinked_secrets_dir(vb: VaultBuilder, ci_key: Path, tmp_path: Path) -> None:
    os.rename(vb.dir / "secrets", tmp_path / "moved")
    os.symlink(tmp_path / "moved", vb.dir / "secrets")
    with pytest.raises(IntegrityError, match="symbolic link"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_symlinked_vault_dir(vb: VaultBuilder, ci_key: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(vb.dir, other / ".agent-vault")
    with pytest.raises(IntegrityError, match="symbolic link"):
        Vault(other, key_path=ci_key, auto_pull=False)


def test_oversized_root(vb: VaultBuilder, ci_key: Path) -> None:
    vb.root_extra = {"padding": "x" * (16 << 20)}
    vb.write()
    with pytest.raises(IntegrityError, match="limit of 16777216 bytes"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_oversized_untrusted_config(vb: VaultBuilder, tmp_path: Path) -> None:
    cfg = vb.dir / "config.yaml"
    cfg.write_text(cfg.read_text() + "#" * (64 << 10))
    with pytest.raises(IntegrityError, match="limit of 65536 bytes"):
        open_as(vb, tmp_path, "ci", pinned=False).get("stripe/api-key")


# -- signed content rules ---------------------------------------------------------------------------------------

def _first_shard(o: dict[str, Any]) -> dict[str, Any]:
    shards: dict[str, dict[str, Any]] = o["index"]
    return shards[min(shards)]


ROOT_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "wrong type": lambda o: o.update(type="agent-vault-index-shard"),
    "unknown format": lambda o: o.update(format=3),
    "format 1 body under the format 2 domain": lambda o: o.update(format=1),
    "bad vault id": lambda o: o.update(vault_id="XYZ"),
    "version zero": lambda o: o.update(version=0),
    "version not int": lambda o: o.update(version="3"),
    "bool version": lambda o: o.update(version=True),
    "missing groups": lambda o: o.pop("groups"),
    "missing index": lambda o: o.pop("index"),
    "missing files": lambda o: o.pop("files"),
    "bad file size": lambda o: o["files"]["config.yaml"].update(size=-1),
    "bad agent name": lambda o: o["agents"].update({"../evil": o["agents"]["ci"]}),
    "bad group name": lambda o: o["groups"].update({"a/b": o["groups"]["stripe"]}),
    "unknown member": lambda o: o["groups"]["stripe"]["members"].append("ghost"),
    "bad member name": lambda o: o["groups"]["stripe"]["members"].append(".."),
    "negative group count": lambda o: o["groups"]["stripe"].update(secrets=-1),
    "bad shard id": lambda o: o["index"].update({"ABC": _first_shard(o)}),
    "upper-case shard id": lambda o: o["index"].update({"0A": o["index"].pop(min(o["index"]))}),
    "bad shard hash": lambda o: _first_shard(o).update(sha256="ABC"),
    "bad shard size": lambda o: _first_shard(o).update(size="12"),
    "shard listed with no secret": lambda o: o["index"].update({"00" if "00" not in o["index"] else "01": {
        "sha256": "0" * 64, "size": 0, "secrets": 0}}),
    "wrong shard count": lambda o: o["index"][shard_of("stripe/api-key")].update(
        secrets=o["index"][shard_of("stripe/api-key")]["secrets"] + 1
    ),
    "upper-case agent recipient": lambda o: o["agents"]["ci"].update(recipient=o["agents"]["ci"]["recipient"].upper()),
    "upper-case owner recipient": lambda o: o["owner"].update(recipient=o["owner"]["recipient"].upper()),
    "recipient with a bad checksum": lambda o: o["agents"]["ci"].update(
        recipient=o["agents"]["ci"]["recipient"][:-1] + ("q" if o["agents"]["ci"]["recipient"][-1] != "q" else "p")
    ),
    "recipient too short": lambda o: o["agents"]["ci"].update(recipient=o["agents"]["ci"]["recipient"][:-1]),
    "recipient not age": lambda o: o["agents"]["ci"].update(recipient="npub1" + o["agents"]["ci"]["recipient"][5:]),
    "two agents share a recipient": lambda o: o["agents"]["deployer"].update(recipient=o["agents"]["ci"]["recipient"]),
    "an agent shares the owner's recipient": lambda o: o["agents"]["deployer"].update(
        recipient=o["owner"]["recipient"]
    ),
}


@pytest.mark.parametrize("case", sorted(ROOT_MUTATIONS))
def test_signed_root_content_checked(vb: VaultBuilder, ci_key: Path, case: str) -> None:
    vb.resign_root(ROOT_MUTATIONS[case])
    with pytest.raises(IntegrityError):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_unknown_root_fields_ignored(vb: VaultBuilder, ci_key: Path) -> None:
    vb.root_extra = {"future_field": {"x": 1}}
    vb.write()
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key") == VALUE


def _entry(o: dict[str, Any]) -> dict[str, Any]:
    e: dict[str, Any] = o["secrets"]["stripe/api-key"]
    return e


def _path_in_other_shard(shard: str) -> str:
    return next(f"stripe/x{i}" for i in range(1000) if shard_of(f"stripe/x{i}") != shard)


def _path_in_shard(shard: str) -> str:
    return next(f"stripe/y{i}" for i in range(100000) if shard_of(f"stripe/y{i}") == shard)


SHARD_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "wrong vault id": lambda o: o.update(vault_id="0" * 32),
    "wrong shard": lambda o: o.update(shard="zz"),
    "wrong type": lambda o: o.update(type="agent-vault-group-index"),
    "unknown format": lambda o: o.update(format=1),
    "bad secret path": lambda o: o["secrets"].update({"stripe/../x": o["secrets"].pop("stripe/api-key")}),
    "secret of another shard": lambda o: o["secrets"].update(
        {_path_in_other_shard(o["shard"]): o["secrets"].pop("stripe/api-key")}
    ),
    "one entry too many": lambda o: o["secrets"].update({_path_in_shard(o["shard"]): dict(_entry(o))}),
    "group not in the root": lambda o: _entry(o).update(group="nogroup"),
    "bad group name": lambda o: _entry(o).update(group="a/b"),
    "missing group": lambda o: _entry(o).pop("group"),
    "bad extra agent": lambda o: _entry(o).update(extra_agents=["a/b"]),
    "unknown extra agent": lambda o: _entry(o).update(extra_agents=["ghost"]),
    "extra agents not a list": lambda o: _entry(o).update(extra_agents="ci"),
    "allow_hosts not strings": lambda o: _entry(o).update(allow_hosts=[1]),
    "bad enc hash": lambda o: _entry(o).update(enc_sha256="x"),
    "missing enc size": lambda o: _entry(o).pop("enc_size"),
    "negative enc size": lambda o: _entry(o).update(enc_size=-1),
    "bool enc size": lambda o: _entry(o).update(enc_size=True),
    "missing meta hash": lambda o: _entry(o).pop("meta_sha256"),
    "missing version": lambda o: _entry(o).pop("version"),
    "version zero": lambda o: _entry(o).update(version=0),
    "missing created": lambda o: _entry(o).pop("created"),
    "bad rotated": lambda o: _entry(o).update(rotated="yesterday"),
    "bad expires": lambda o: _entry(o).update(expires="2026-13-01T00:00:00Z"),
}


@pytest.mark.parametrize("case", sorted(SHARD_MUTATIONS))
def test_shard_content_checked(vb: VaultBuilder, ci_key: Path, case: str) -> None:
    vb.edit_shard(shard_of("stripe/api-key"), SHARD_MUTATIONS[case])
    with pytest.raises(IntegrityError):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    with pytest.raises(IntegrityError):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).list_secrets()


def test_optional_entry_fields(vb: VaultBuilder, ci_key: Path) -> None:
    def strip(o: dict[str, Any]) -> None:
        for k in ("expires", "extra_agents", "allow_hosts"):
            _entry(o).pop(k)

    vb.edit_shard(shard_of("stripe/api-key"), strip)
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    info = {s.name: s for s in v.list_secrets()}["stripe/api-key"]
    assert info.expires is None and info.allow_hosts == () and info.authorized_agents == ("ci",)


def test_unknown_fields_ignored(vb: VaultBuilder, ci_key: Path) -> None:
    vb.edit_shard(shard_of("stripe/api-key"), lambda o: (o.update(future=1), _entry(o).update(future={"a": 1})))
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key") == VALUE


# -- format 1 ---------------------------------------------------------------------------------------------------


def test_format1_vault_is_vault_not_found(vb: VaultBuilder, tmp_path: Path, ci_key: Path) -> None:
    vb.write_format1_root()
    for v in (
        Vault(vb.repo, key_path=ci_key, auto_pull=False),
        open_as(vb, tmp_path, "owner"),
        open_as(vb, tmp_path, "ci", pinned=False),  # trust on first use: config.yaml says format 1
    ):
        with pytest.raises(VaultNotFoundError, match="agent-vault migrate"):
            v.get("stripe/api-key")
        with pytest.raises(VaultNotFoundError, match="agent-vault migrate"):
            v.list_secrets()


def test_format1_root_below_the_mark_is_rollback(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE  # mark: version 1
    vb.write()
    assert v.get("stripe/api-key") == VALUE  # mark: version 2
    vb.write_format1_root(version=1)
    with pytest.raises(IntegrityError, match="rollback"):
        v.get("stripe/api-key")
    vb.write_format1_root(version=2)
    with pytest.raises(IntegrityError, match="fork"):
        v.get("stripe/api-key")
    vb.write_format1_root(version=3)
    with pytest.raises(VaultNotFoundError, match="migrate"):
        v.get("stripe/api-key")


def test_format1_root_of_another_owner_is_integrity(vb: VaultBuilder, ci_key: Path) -> None:
    vb.owner = Key.generate()
    vb.write_format1_root()
    with pytest.raises(IntegrityError, match="bad signature"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_format1_root_of_another_vault_is_pin_mismatch(vb: VaultBuilder, ci_key: Path) -> None:
    vb.vault_id = "e" * 32
    vb.write_format1_root()
    with pytest.raises(IntegrityError, match="pin mismatch"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_format2_body_under_the_format1_domain(vb: VaultBuilder, ci_key: Path) -> None:
    from vaultgen import ROOT_DOMAIN_V1

    vb.resign_root(lambda o: None, domain=ROOT_DOMAIN_V1)
    with pytest.raises(IntegrityError, match="format 2 is not supported"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


# -- freshness ----------------------------------------------------------------------------------------------------


def _snapshot(vb: VaultBuilder) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in vb.dir.rglob("*") if p.is_file()}


def _restore(vb: VaultBuilder, snap: dict[Path, bytes]) -> None:
    for p in [p for p in vb.dir.rglob("*") if p.is_file()]:
        if p not in snap:
            p.unlink()
    for p, data in snap.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_rollback_detected(vb: VaultBuilder, ci_key: Path) -> None:
    old = _snapshot(vb)
    vb.set_secret("stripe/api-key", "rotated")
    vb.write()
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == "rotated"
    _restore(vb, old)  # a hostile remote serves the old, validly signed state
    with pytest.raises(IntegrityError, match="rollback"):
        v.get("stripe/api-key")
    with pytest.raises(IntegrityError, match="rollback"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_fork_detected(vb: VaultBuilder, ci_key: Path) -> None:
    base = _snapshot(vb)
    version, prev = vb.version, vb.prev_sha
    vb.set_secret("stripe/api-key", "branch-a")
    vb.write()
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key") == "branch-a"
    _restore(vb, base)
    vb.version, vb.prev_sha = version, prev
    vb.set_secret("stripe/api-key", "branch-b")
    vb.write()  # same version number, different content
    with pytest.raises(IntegrityError, match="fork"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")


def test_per_secret_rollback(vb: VaultBuilder, ci_key: Path) -> None:
    old = vb.secrets["stripe/api-key"]
    vb.set_secret("stripe/api-key", "rotated")
    vb.write()
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == "rotated"
    # the owner's key (or a bug) signs a newer root that puts the old entry back
    vb.secrets["stripe/api-key"] = old
    vb.write()
    with pytest.raises(IntegrityError, match="rollback.*stripe/api-key"):
        v.get("stripe/api-key")
    assert v.get("stripe/webhook/secret") == "whsec"


def test_marks_written(vb: VaultBuilder, ci_key: Path, isolated_home: Path) -> None:
    Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    marks = json.loads((isolated_home / "state" / f"{vb.vault_id}.json").read_text())
    assert marks["version"] == vb.version
    assert marks["root_sha256"] == sha((vb.dir / "state/root").read_bytes())
    assert marks["secrets"] == {"stripe/api-key": vb.secrets["stripe/api-key"].version}


# -- caching ------------------------------------------------------------------------------------------------------


def test_cache_follows_changes(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    vb.set_secret("stripe/api-key", "v2")
    vb.set_secret("stripe/new", "new")
    vb.write()
    assert v.get("stripe/api-key") == "v2"
    assert v.get("stripe/new") == "new"


def test_cached_root_still_refuses_tampered_enc(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    enc = vb.dir / "secrets/stripe/api-key.enc"
    enc.write_bytes(enc.read_bytes()[:-1] + b"\0")
    with pytest.raises(IntegrityError):
        v.get("stripe/api-key")


def test_cached_root_re_verified_when_replaced(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    root = vb.dir / "state/root"
    root.write_bytes(root.read_bytes().replace(b'"time"', b'"tim\\u0065"'))
    with pytest.raises(IntegrityError, match="bad signature"):
        v.get("stripe/api-key")


def test_threads(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert v.get("stripe/api-key") == VALUE
        except BaseException as e:  # noqa: BLE001  # pragma: no cover - every failure is handed to the test below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- lifecycle and hygiene --------------------------------------------------------------------------------------


def test_close(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    v.close()
    with pytest.raises(AgentVaultError) as e:
        v.get("stripe/api-key")
    assert_kind(e.value, "usage")
    with Vault(vb.repo, key_path=ci_key, auto_pull=False) as v2:
        pass
    with pytest.raises(AgentVaultError):
        v2.list_secrets()


def test_repr_and_errors_hold_no_secrets(vb: VaultBuilder, ci_key: Path) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    identity = vb.agents["ci"].identity_str
    assert identity not in repr(v) and VALUE not in repr(v)
    assert identity not in repr(v._key)
    enc = vb.dir / "secrets/stripe/api-key.enc"
    enc.write_bytes(enc.read_bytes() + b"x")
    with pytest.raises(IntegrityError) as e:
        v.get("stripe/api-key")
    assert VALUE not in str(e.value) and identity not in str(e.value)


def test_error_classes() -> None:
    assert issubclass(VaultNotFoundError, AgentVaultError)
    for cls, kind, code in [
        (VaultNotFoundError, "vault_not_found", 3),
        (SecretNotFoundError, "not_found", 4),
        (NotAuthorizedError, "not_authorized", 5),
        (IntegrityError, "integrity", 6),
        (AgentVaultError, "error", 1),
    ]:
        e = cls("m")
        assert e.kind == kind and e.exit_code == code and str(e) == "m"
    assert AgentVaultError("m", kind="usage").exit_code == 2
    with pytest.raises(ValueError):
        AgentVaultError("m", kind="nope")


def test_many_secrets_with_long_names(tmp_path: Path) -> None:
    """No limit the writer's own files can exceed: shards of a large vault with long names read and list."""
    b = VaultBuilder(tmp_path / "big")
    b.add_agent("ci")
    b.add_group("g", ["ci"])
    long = "/".join(["x" * 60, "y" * 60, "z" * 55])  # 190-byte paths
    names = [f"g/{long}-{i:04d}" for i in range(1500)]
    for i, name in enumerate(names):
        b.set_secret(name, f"v{i}")
    b.write()
    assert len(split_root((b.dir / "state/root").read_bytes())["index"]) > 250  # nearly every shard
    key = write_key(tmp_path / "ci.key", b.key_file("ci"))
    v = Vault(b.repo, key_path=key, auto_pull=False)
    assert v.get(names[1234]) == "v1234"
    assert [s.name for s in v.list_secrets("g")] == sorted(names)
