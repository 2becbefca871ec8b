"""The snapshot protocol of format.md section 6.6, with writers faked on disk: an owner change in progress
(``.pending/root``), Git's ``index.lock``, and files that are not writers at all."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent_vault import AgentVaultError, IntegrityError, Vault, VaultNotFoundError
from agent_vault.layout import VaultDir, VouchFailure
from agent_vault.snapshot import Failed, WriterProbe, find_git_dir, read_snapshot
from vaultgen import Key, VaultBuilder, sha, sign_root, split_root, write_key

VALUE = "sk_live_123"


@pytest.fixture()
def vb(tmp_path: Path) -> VaultBuilder:
    b = VaultBuilder(tmp_path / "repo")
    b.add_agent("ci")
    b.add_group("stripe", ["ci"])
    b.set_secret("stripe/api-key", VALUE)
    b.set_secret("stripe/other", "other")
    b.write()
    return b


@pytest.fixture()
def ci_key(vb: VaultBuilder, tmp_path: Path) -> Path:
    return write_key(tmp_path / "keys" / "ci.key", vb.key_file("ci"))


@pytest.fixture()
def timers() -> Iterator[list[threading.Timer]]:
    started: list[threading.Timer] = []
    yield started
    for t in started:
        t.cancel()
        t.join()


def later(timers: list[threading.Timer], seconds: float, fn: object) -> None:
    t = threading.Timer(seconds, fn)  # type: ignore[arg-type]
    timers.append(t)
    t.start()


def put(vb: VaultBuilder, files: dict[str, bytes], names: list[str]) -> None:
    for rel in names:
        p = vb.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(files[rel])


def half_applied(vb: VaultBuilder, value: str, pending: bool) -> dict[str, bytes]:
    """Start a change of stripe/api-key to ``value`` as the owner's writer does (step 3 half done): the new
    ``.enc`` and shard are in place, ``state/root`` is still the old one. With ``pending``, ``.pending/root`` holds
    the new signed root (the commit point). Returns the new files."""
    vb.set_secret("stripe/api-key", value)
    files, removed = vb.render()
    assert not removed
    if pending:
        (vb.dir / ".pending").mkdir(exist_ok=True)
        (vb.dir / ".pending" / "root").write_bytes(files["state/root"])
    put(vb, files, [rel for rel in files if rel.startswith(("secrets/", "state/index/"))])
    return files


def finish(vb: VaultBuilder, files: dict[str, bytes]) -> None:
    """Finish the change: every file in place, the root last, then the pending directory removed."""
    put(vb, files, [rel for rel in files if rel != "state/root"])
    put(vb, files, ["state/root"])
    pending = vb.dir / ".pending"
    if pending.exists():
        (pending / "root").unlink(missing_ok=True)
        pending.rmdir()


def tamper_enc(vb: VaultBuilder) -> None:
    enc = vb.dir / "secrets/stripe/api-key.enc"
    data = bytearray(enc.read_bytes())
    data[-1] ^= 1
    enc.write_bytes(bytes(data))


def successor(vb: VaultBuilder, prev: bytes | None = None, key: Key | None = None) -> bytes:
    """A root that succeeds the current ``state/root`` (or ``prev``), signed by ``key`` (default: the owner)."""
    current = (vb.dir / "state/root").read_bytes()
    obj = split_root(current)
    obj.update(version=obj["version"] + 1, prev_sha256=sha(prev if prev is not None else current))
    return sign_root((json.dumps(obj, indent=2) + "\n").encode(), (key or vb.owner).signing_key)


# -- an owner change in progress ------------------------------------------------------------------------------


def test_waits_for_an_owner_change_then_reads_the_new_value(
    vb: VaultBuilder, ci_key: Path, timers: list[threading.Timer]
) -> None:
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    files = half_applied(vb, "rotated", pending=True)
    later(timers, 0.3, lambda: finish(vb, files))
    start = time.monotonic()
    assert v.get("stripe/api-key") == "rotated"
    assert time.monotonic() - start >= 0.25
    # listing meets the same situation the same way
    files = half_applied(vb, "rotated-again", pending=True)
    later(timers, 0.2, lambda: finish(vb, files))
    assert [s.name for s in v.list_secrets()] == ["stripe/api-key", "stripe/other"]
    assert v.get("stripe/api-key") == "rotated-again"


def test_a_stale_owner_change_is_an_error_naming_repair(vb: VaultBuilder, ci_key: Path) -> None:
    half_applied(vb, "rotated", pending=True)  # the writer was killed: .pending/root stays
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False, writer_wait=0.3)
    start = time.monotonic()
    with pytest.raises(AgentVaultError) as e:
        v.get("stripe/api-key")
    elapsed = time.monotonic() - start
    assert type(e.value) is AgentVaultError and e.value.kind == "error" and e.value.exit_code == 1
    assert "agent-vault repair" in str(e.value) and ".pending/root" in str(e.value)
    assert 0.3 <= elapsed < 3
    assert "rotated" not in str(e.value) and VALUE not in str(e.value)


def test_an_unsigned_pending_root_is_not_a_writer(vb: VaultBuilder, ci_key: Path) -> None:
    """Anyone can push a file to .pending/; only the owner can sign one: the tampered vault is still an integrity
    error, at once."""
    tamper_enc(vb)
    (vb.dir / ".pending").mkdir()
    for forged in (
        successor(vb, key=Key.generate()),  # a successor signed by someone else
        successor(vb)[: -10] + b"AAAAAAAA=\n",  # a successor with a broken signature
        b"not a root\n",
    ):
        (vb.dir / ".pending" / "root").write_bytes(forged)
        start = time.monotonic()
        with pytest.raises(IntegrityError, match="api-key.enc: hash"):
            Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
        assert time.monotonic() - start < 1


def test_a_signed_pending_root_that_is_not_a_successor_is_not_a_writer(vb: VaultBuilder, ci_key: Path) -> None:
    tamper_enc(vb)
    (vb.dir / ".pending").mkdir()
    (vb.dir / ".pending" / "root").write_bytes(successor(vb, prev=b"another root\n"))
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="api-key.enc: hash"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    assert time.monotonic() - start < 1


def fast_forward(vb: VaultBuilder, versions: int = 3, key: Key | None = None) -> bytes:
    """The upstream's root ``versions`` versions on, as a fast-forward stages it: its ``prev_sha256`` names the
    upstream's previous state, not the current root, which ``.pending/from`` names (format.md 9.4)."""
    current = (vb.dir / "state/root").read_bytes()
    obj = split_root(current)
    obj.update(version=obj["version"] + versions, prev_sha256=sha(b"the upstream's previous root\n"))
    (vb.dir / ".pending").mkdir(exist_ok=True)
    (vb.dir / ".pending" / "from").write_text(sha(current) + "\n")
    return sign_root((json.dumps(obj, indent=2) + "\n").encode(), (key or vb.owner).signing_key)


def test_a_fast_forward_is_a_writer(vb: VaultBuilder, ci_key: Path, timers: list[threading.Timer]) -> None:
    """A fast-forward to the upstream's state, several versions on, half applied: the reader waits for it and
    reads again (format.md 6.6 step 2)."""
    tamper_enc(vb)  # the fast-forward's new .enc, in place before the root
    (vb.dir / ".pending" / "root").parent.mkdir(exist_ok=True)
    (vb.dir / ".pending" / "root").write_bytes(fast_forward(vb))
    def finish() -> None:
        for n in ("root", "from"):
            (vb.dir / ".pending" / n).unlink()

    later(timers, 0.2, finish)
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="api-key.enc: hash"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    assert 0.15 <= time.monotonic() - start < 3


def test_a_fast_forward_that_is_not_one_is_not_a_writer(vb: VaultBuilder, ci_key: Path) -> None:
    """.pending/from naming another root, a pending root that is not later, or one signed by someone else is no
    writer: the tampered vault is an integrity error at once."""
    tamper_enc(vb)
    current = (vb.dir / "state/root").read_bytes()
    def from_another_root() -> bytes:
        root = fast_forward(vb)
        (vb.dir / ".pending" / "from").write_text(sha(b"x") + "\n")
        return root

    def not_later() -> bytes:
        return fast_forward(vb, versions=0)

    def someone_elses() -> bytes:
        return fast_forward(vb, key=Key.generate())

    builds: tuple[tuple[str, Callable[[], bytes]], ...] = (
        ("another root", from_another_root),
        ("not later", not_later),
        ("someone else's", someone_elses),
    )
    for name, build in builds:
        (vb.dir / ".pending" / "root").parent.mkdir(exist_ok=True)
        (vb.dir / ".pending" / "root").write_bytes(build())
        start = time.monotonic()
        with pytest.raises(IntegrityError, match="api-key.enc: hash"):
            Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
        assert time.monotonic() - start < 1, name
        assert (vb.dir / "state/root").read_bytes() == current


def test_a_real_successor_delays_the_verdict_on_a_tampered_file(
    vb: VaultBuilder, ci_key: Path, timers: list[threading.Timer]
) -> None:
    """A signed successor is a writer even if the failure is tampering: the reader waits for it, reads again, and
    reports the integrity error once the state is stable."""
    tamper_enc(vb)
    (vb.dir / ".pending").mkdir()
    (vb.dir / ".pending" / "root").write_bytes(successor(vb))
    later(timers, 0.2, lambda: (vb.dir / ".pending" / "root").unlink())
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="api-key.enc: hash") as e:
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    assert type(e.value) is IntegrityError
    assert 0.15 <= time.monotonic() - start < 3


def test_first_root_being_written(vb: VaultBuilder, ci_key: Path, timers: list[threading.Timer]) -> None:
    """state/root missing while a first root (prev_sha256 "") waits in .pending: an init in progress."""
    root = (vb.dir / "state/root").read_bytes()
    obj = split_root(root)
    assert obj["prev_sha256"] == ""
    (vb.dir / "state/root").unlink()
    (vb.dir / ".pending").mkdir()
    (vb.dir / ".pending" / "root").write_bytes(root)

    def done() -> None:
        (vb.dir / "state/root").write_bytes(root)
        (vb.dir / ".pending" / "root").unlink()

    later(timers, 0.2, done)
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key") == VALUE


def test_missing_root_without_writer_is_decided_at_once(vb: VaultBuilder, ci_key: Path) -> None:
    (vb.dir / "state/root").unlink()
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="state/root is missing"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    (vb.dir / "config.yaml").unlink()
    with pytest.raises(VaultNotFoundError):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    assert time.monotonic() - start < 1


# -- Git at work --------------------------------------------------------------------------------------------------


def test_waits_for_git_index_lock(vb: VaultBuilder, ci_key: Path, timers: list[threading.Timer]) -> None:
    git = vb.repo / ".git"
    git.mkdir()
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    (git / "index.lock").write_bytes(b"")
    files = half_applied(vb, "pulled", pending=False)  # a checkout replacing files one at a time

    def done() -> None:
        finish(vb, files)
        (git / "index.lock").unlink()

    later(timers, 0.3, done)
    start = time.monotonic()
    assert v.get("stripe/api-key") == "pulled"
    assert time.monotonic() - start >= 0.25


def test_torn_root_during_a_checkout(vb: VaultBuilder, ci_key: Path, timers: list[threading.Timer]) -> None:
    """Git rewrites a file in place: a reader can meet a root cut short (no signature line)."""
    git = vb.repo / ".git"
    git.mkdir()
    (git / "index.lock").write_bytes(b"")
    files = half_applied(vb, "pulled", pending=False)
    (vb.dir / "state/root").write_bytes(files["state/root"][:100])

    def done() -> None:
        finish(vb, files)
        (git / "index.lock").unlink()

    later(timers, 0.2, done)
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key") == "pulled"


def test_git_dir_named_by_a_git_file(
    vb: VaultBuilder, ci_key: Path, tmp_path: Path, timers: list[threading.Timer]
) -> None:
    """A linked worktree or submodule: .git is a file 'gitdir: PATH' (relative to it), index.lock lives there."""
    real = tmp_path / "gitdirs" / "worktrees" / "repo"
    real.mkdir(parents=True)
    (vb.repo / ".git").write_text("gitdir: ../gitdirs/worktrees/repo\n")
    sub = vb.repo / "sub"
    sub.mkdir()
    assert find_git_dir(sub) == vb.repo / "../gitdirs/worktrees/repo"
    assert find_git_dir(sub).resolve() == real.resolve()  # type: ignore[union-attr]
    (real / "index.lock").write_bytes(b"")
    files = half_applied(vb, "pulled", pending=False)

    def done() -> None:
        finish(vb, files)
        (real / "index.lock").unlink()

    later(timers, 0.2, done)
    assert Vault(sub, key_path=ci_key, auto_pull=False).get("stripe/api-key") == "pulled"


def test_find_git_dir(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".git").mkdir()
    assert find_git_dir(tmp_path / "a" / "b") == tmp_path / "a" / ".git"
    (tmp_path / "a" / "b" / ".git").write_text(f"gitdir: {tmp_path / 'elsewhere'}\n")
    assert find_git_dir(tmp_path / "a" / "b") == tmp_path / "elsewhere"


def test_a_stale_index_lock_is_an_error_naming_git(vb: VaultBuilder, ci_key: Path) -> None:
    git = vb.repo / ".git"
    git.mkdir()
    (git / "index.lock").write_bytes(b"")
    half_applied(vb, "pulled", pending=False)
    start = time.monotonic()
    with pytest.raises(AgentVaultError) as e:
        Vault(vb.repo, key_path=ci_key, auto_pull=False, writer_wait=0.2).get("stripe/api-key")
    assert e.value.kind == "error" and "index lock" in str(e.value) and "index.lock" in str(e.value)
    assert 0.2 <= time.monotonic() - start < 3


def test_index_lock_without_vouching_failure_is_ignored(vb: VaultBuilder, ci_key: Path) -> None:
    """Writers are only looked for after a vouching failure: Git at work elsewhere in the tree costs nothing."""
    git = vb.repo / ".git"
    git.mkdir()
    (git / "index.lock").write_bytes(b"")
    start = time.monotonic()
    assert Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key") == VALUE
    assert time.monotonic() - start < 1


# -- what is not retried --------------------------------------------------------------------------------------------


def test_rollback_is_decided_on_the_first_attempt(vb: VaultBuilder, ci_key: Path) -> None:
    old = {p: p.read_bytes() for p in vb.dir.rglob("*") if p.is_file()}
    vb.write()
    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    for p, data in old.items():
        p.write_bytes(data)
    (vb.repo / ".git").mkdir()
    (vb.repo / ".git" / "index.lock").write_bytes(b"")  # a writer, but rollback is not a vouching failure
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="rollback"):
        v.get("stripe/api-key")
    assert time.monotonic() - start < 1


def test_bad_name_is_decided_on_the_first_attempt(vb: VaultBuilder, ci_key: Path) -> None:
    vb.resign_root(lambda o: o["groups"].update({"../x": {"members": [], "secrets": 0}}))
    (vb.repo / ".git").mkdir()
    (vb.repo / ".git" / "index.lock").write_bytes(b"")
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="invalid name"):
        Vault(vb.repo, key_path=ci_key, auto_pull=False).get("stripe/api-key")
    assert time.monotonic() - start < 1


# -- the retry loop itself --------------------------------------------------------------------------------------


class _NoWriter(WriterProbe):
    def __init__(self, writers: list[str | None] | None = None) -> None:
        super().__init__(VaultDir(Path("/nonexistent/.agent-vault")), list)
        self.writers = writers or []
        self.asked: list[str | None] = []

    def writer(self, root_sha256: str | None) -> str | None:
        self.asked.append(root_sha256)
        return self.writers.pop(0) if self.writers else None


def test_a_root_that_keeps_changing_is_an_error() -> None:
    attempts: list[int] = []
    roots = iter(f"{i:064x}" for i in range(100))

    def attempt() -> str:
        attempts.append(1)
        raise Failed(VouchFailure("x.enc: hash does not match the signed state"), next(roots))

    start = time.monotonic()
    with pytest.raises(AgentVaultError) as e:
        read_snapshot(attempt, lambda: "f" * 64, _NoWriter())
    assert e.value.kind == "error" and "kept changing" in str(e.value)
    assert len(attempts) == 5
    assert 0.15 <= time.monotonic() - start < 2  # pauses of 10, 20, 40 and 80 ms


def test_a_stable_failure_stands_after_one_attempt() -> None:
    attempts: list[int] = []
    failure = VouchFailure("x.enc: hash does not match the signed state")

    def attempt() -> str:
        attempts.append(1)
        raise Failed(failure, "a" * 64)

    probe = _NoWriter()
    with pytest.raises(VouchFailure) as e:
        read_snapshot(attempt, lambda: "a" * 64, probe)
    assert e.value is failure and len(attempts) == 1 and probe.asked == ["a" * 64]


def test_a_change_then_success() -> None:
    results: Iterator[Failed | str] = iter([Failed(VouchFailure("x"), "a" * 64), "value"])

    def attempt() -> str:
        r = next(results)
        if isinstance(r, Failed):
            raise r
        return r

    assert read_snapshot(attempt, lambda: "b" * 64, _NoWriter()) == "value"


def test_a_writer_seen_means_another_attempt_even_if_the_root_is_the_same() -> None:
    results: Iterator[Failed | str] = iter([Failed(VouchFailure("x"), "a" * 64), "value"])

    def attempt() -> str:
        r = next(results)
        if isinstance(r, Failed):
            raise r
        return r

    probe = _NoWriter(["Git", "Git", None])
    assert read_snapshot(attempt, lambda: "a" * 64, probe, poll=0.001) == "value"
    assert len(probe.asked) == 3


def test_the_writer_wait_is_a_budget_for_the_whole_read() -> None:
    def attempt() -> str:
        raise Failed(VouchFailure("x"), "a" * 64)

    probe = _NoWriter(["Git"] * 10 + [None] + ["Git"] * 1000)
    start = time.monotonic()
    with pytest.raises(AgentVaultError, match="Git") as e:
        read_snapshot(attempt, lambda: "a" * 64, probe, writer_wait=0.2, poll=0.02)
    assert e.value.kind == "error"
    assert time.monotonic() - start < 1


# -- high-water marks raised by a writer between reading the root and checking the mark ------------------------------


def test_mark_raised_by_the_writer_of_a_newer_root_is_not_a_rollback(
    vb: VaultBuilder, ci_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's writer on this machine replaces state/root and then raises the mark; a reader that read the old
    root just before meets the new mark. That is a race, not a rollback: the read starts over from the new root."""
    from agent_vault.trust import MarkStore

    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    vb.set_secret("stripe/api-key", "rotated")
    files, _ = vb.render()
    orig = MarkStore.check_root
    calls: list[int] = []

    def writer_strikes(self: MarkStore, version: int, root_sha256: str) -> bool:
        calls.append(version)
        if len(calls) == 1:  # between this reader's root read and its mark check
            finish(vb, files)
            self.raise_marks(root=(vb.version, sha(files["state/root"])))
        return orig(self, version, root_sha256)

    monkeypatch.setattr(MarkStore, "check_root", writer_strikes)
    assert v.get("stripe/api-key") == "rotated"
    assert calls == [vb.version - 1, vb.version]


def test_mark_above_a_root_that_stays_is_a_rollback(
    vb: VaultBuilder, ci_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_vault.trust import MarkStore

    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    MarkStore(Path(os.environ["AGENT_VAULT_HOME"]), vb.vault_id).raise_marks(root=(vb.version + 1, "0" * 64))
    start = time.monotonic()
    with pytest.raises(IntegrityError, match="rollback"):
        v.get("stripe/api-key")
    assert time.monotonic() - start < 1


def test_secret_mark_raised_by_another_reader_of_a_newer_root(
    vb: VaultBuilder, ci_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another reader on this machine read the new root and raised the secret's mark while this one still held the
    old root: the read starts over."""
    from agent_vault.trust import MarkStore

    v = Vault(vb.repo, key_path=ci_key, auto_pull=False)
    assert v.get("stripe/api-key") == VALUE
    vb.set_secret("stripe/api-key", "rotated")
    files, _ = vb.render()
    orig = MarkStore.check_secret
    calls: list[int] = []

    def other_reader(self: MarkStore, path: str, version: int) -> bool:
        calls.append(version)
        if len(calls) == 1:
            finish(vb, files)
            self.raise_marks(secrets={path: vb.version})
        return orig(self, path, version)

    monkeypatch.setattr(MarkStore, "check_secret", other_reader)
    assert v.get("stripe/api-key") == "rotated"
    assert calls == [vb.version - 1, vb.version]
