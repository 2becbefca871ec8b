/**
 * A snapshot or nothing (format.md 6.6): the retry protocol with a fake clock and fake writers, then the real
 * reader meeting each kind of writer on disk (an owner change at its commit point, Git's index lock) and files
 * that only look like writers.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { AgentVaultError, IntegrityError, Vault, VaultNotFoundError, type VaultOptions } from "../src/index.js";
import { VouchingError } from "../src/errors.js";
import { MAX_ATTEMPTS, WriterProbe, findGitDir, readSnapshot, type Attempt, type SnapshotIO, type Writer } from "../src/snapshot.js";
import { BASIC, Fixture, freshHome, ownerSigningKey, sha256hex, signRoot, tempDir, writePrivate, type FixtureSpec } from "./fixture.js";

// -- the protocol, with a fake clock ----------------------------------------------------------------------------

interface Fake {
  io: SnapshotIO;
  sleeps: number[];
  rootReads: number;
}

/** A fake IO: `roots` yields the root bytes of successive reads, `writers` the writer of successive polls. */
function fake(opts: { roots?: () => Uint8Array | null; writers?: () => Writer | null; waitMs?: number }): Fake {
  let clock = 0;
  const f: Fake = {
    sleeps: [],
    rootReads: 0,
    io: {
      writerWaitMs: opts.waitMs ?? 10_000,
      readRoot: () => {
        f.rootReads++;
        return opts.roots !== undefined ? opts.roots() : Buffer.from("R");
      },
      writer: () => opts.writers?.() ?? null,
      sleep: async (ms) => {
        f.sleeps.push(ms);
        clock += ms;
      },
      now: () => clock,
    },
  };
  return f;
}

function failing(times: number, result = "ok"): { calls: number; op: (a: Attempt) => Promise<string> } {
  const o = {
    calls: 0,
    op: async (a: Attempt) => {
      o.calls++;
      a.rootBytes = Buffer.from("R");
      a.verifyKey = "k";
      if (o.calls <= times) throw new VouchingError(`vouching failure ${o.calls}`);
      return result;
    },
  };
  return o;
}

test("protocol: a failure on a stable state is reported at once as an integrity error", async () => {
  const f = fake({});
  const o = failing(99);
  await assert.rejects(readSnapshot(f.io, o.op), (e: unknown) => e instanceof IntegrityError && e.kind === "integrity" && /failure 1/.test(e.message));
  assert.equal(o.calls, 1);
  assert.deepEqual(f.sleeps, []);
});

test("protocol: other errors are never retried", async () => {
  const f = fake({ writers: () => ({ kind: "git", where: "/x/.git/index.lock" }) });
  let calls = 0;
  await assert.rejects(
    readSnapshot(f.io, async () => {
      calls++;
      throw new IntegrityError("rollback");
    }),
    /rollback/,
  );
  assert.equal(calls, 1);
  assert.deepEqual(f.sleeps, []);
});

test("protocol: a root that changes through every attempt is kind error after 5 attempts, pausing 10, 20, 40, 80 ms", async () => {
  let n = 0;
  const f = fake({ roots: () => Buffer.from(`root ${n++}`) });
  const o = failing(99);
  await assert.rejects(readSnapshot(f.io, o.op), (e: unknown) => {
    assert.ok(e instanceof AgentVaultError && !(e instanceof IntegrityError));
    assert.equal((e as AgentVaultError).kind, "error");
    assert.match((e as Error).message, /kept changing/);
    return true;
  });
  assert.equal(o.calls, MAX_ATTEMPTS);
  assert.deepEqual(f.sleeps, [10, 20, 40, 80]);
});

test("protocol: a root that changed once is read again and the read succeeds", async () => {
  let n = 0;
  const f = fake({ roots: () => Buffer.from(n++ === 0 ? "new root" : "R") });
  const o = failing(1, "value");
  assert.equal(await readSnapshot(f.io, o.op), "value");
  assert.equal(o.calls, 2);
  assert.deepEqual(f.sleeps, [10]);
});

test("protocol: a writer seen is waited for (10 ms polls), then the read starts over even if the root is the same", async () => {
  let polls = 0;
  const f = fake({ writers: () => (polls++ < 3 ? { kind: "owner", where: ".pending/root" } : null) });
  const o = failing(1, "value");
  assert.equal(await readSnapshot(f.io, o.op), "value");
  assert.equal(o.calls, 2);
  assert.deepEqual(f.sleeps, [10, 10, 10, 10], "three polls, then the pause before attempt 2");
});

test("protocol: a writer still there after the wait is kind error naming it, never integrity", async () => {
  for (const [w, re] of [
    [{ kind: "owner", where: "/v/.agent-vault/.pending/root" }, /agent-vault repair/],
    [{ kind: "git", where: "/v/.git/index.lock" }, /Git holds its index lock \/v\/\.git\/index\.lock/],
  ] as const) {
    const f = fake({ writers: () => w, waitMs: 10_000 });
    await assert.rejects(readSnapshot(f.io, failing(99).op), (e: unknown) => {
      assert.ok(e instanceof AgentVaultError && !(e instanceof IntegrityError), String(e));
      assert.equal((e as AgentVaultError).kind, "error");
      assert.match((e as Error).message, re);
      return true;
    });
    const waited = f.sleeps.reduce((x, y) => x + y, 0);
    assert.ok(waited >= 10_000 && waited <= 10_020, `waited ${waited} ms`);
  }
});

test("protocol: the writer wait is 10 s in all, over every attempt of one read", async () => {
  let polls = 0;
  // A writer for 6 s, gone for one poll, then back for good.
  const f = fake({ writers: () => (polls++ === 600 ? null : { kind: "git", where: "lock" }) });
  await assert.rejects(readSnapshot(f.io, failing(99).op), (e: unknown) => (e as AgentVaultError).kind === "error");
  const waited = f.sleeps.reduce((x, y) => x + y, 0);
  assert.ok(waited < 10_100, `waited ${waited} ms`);
});

test("protocol: the stable error of a failure may be another kind (missing root without config.yaml)", async () => {
  const f = fake({ roots: () => null });
  await assert.rejects(
    readSnapshot(f.io, async () => {
      throw new VouchingError("state/root is missing", () => new VaultNotFoundError("not a vault"));
    }),
    VaultNotFoundError,
  );
});

// -- writers on disk --------------------------------------------------------------------------------------------

interface Setup {
  fx: Fixture;
  home: string;
  keyPath: string;
  open(extra?: Partial<VaultOptions>): Vault;
}

async function setup(): Promise<Setup> {
  const fx = await Fixture.create();
  await fx.write(BASIC);
  const home = freshHome();
  const keyPath = writePrivate(path.join(tempDir("av-keys-"), "ci.key"), await fx.agentKeyFile("ci"));
  return { fx, home, keyPath, open: (extra = {}) => new Vault({ repoPath: fx.repo, keyPath, home, autoPull: false, env: {}, ...extra }) };
}

const ROTATED: FixtureSpec = { ...BASIC, secrets: BASIC.secrets.map((x) => (x.path === "stripe/api-key" ? { ...x, value: "sk_live_NEW" } : x)) };

function later(ms: number, fn: () => void): Promise<void> {
  return new Promise((resolve, reject) =>
    setTimeout(() => {
      try {
        fn();
        resolve();
      } catch (err) {
        reject(err as Error);
      }
    }, ms),
  );
}

/** Finishes an owner change left at its commit point: the pending root into place, `.pending/` removed. */
function finishChange(fx: Fixture): void {
  fx.replace("state/root", fx.read(".pending/root"));
  fs.rmSync(path.join(fx.vaultDir, ".pending"), { recursive: true, force: true });
}

test("an owner change at its commit point is waited for; the read then sees the new state", async () => {
  const s = await setup();
  const v = s.open();
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  await s.fx.write(ROTATED, { rootTo: ".pending/root" }); // new files in place, the old root still in state/root
  const started = Date.now();
  const done = later(150, () => finishChange(s.fx));
  assert.equal(await v.get("stripe/api-key"), "sk_live_NEW");
  assert.ok(Date.now() - started >= 140, "the read waited for the writer");
  await done;
  // The same with a list, and with a fresh Vault.
  await s.fx.write(BASIC, { rootTo: ".pending/root" });
  const done2 = later(100, () => finishChange(s.fx));
  // listSecretsAsync: the synchronous listSecrets blocks this thread, so the timer could not finish the change.
  assert.equal((await s.open().listSecretsAsync()).length, 4);
  await done2;
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  // The synchronous listSecrets waits too, for a writer in another process.
  await s.fx.write(ROTATED, { rootTo: ".pending/root" });
  const child = spawn(process.execPath, ["-e", `setTimeout(() => { const fs = require("fs"), p = require("path"), d = ${JSON.stringify(s.fx.vaultDir)};
    fs.writeFileSync(p.join(d, "state", "root.tmp"), fs.readFileSync(p.join(d, ".pending", "root")));
    fs.renameSync(p.join(d, "state", "root.tmp"), p.join(d, "state", "root"));
    fs.rmSync(p.join(d, ".pending"), { recursive: true, force: true }); }, 150)`], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const t0 = Date.now();
  assert.equal(s.open().listSecrets().length, 4);
  assert.ok(Date.now() - t0 >= 100, "the synchronous read waited for the writer");
  await exited;
  assert.equal(await s.open().get("stripe/api-key"), "sk_live_NEW");
});

test("a secret being added (its files in place before the root that lists it) is read once the change is done", async () => {
  const s = await setup();
  await s.fx.write({ ...BASIC, secrets: [...BASIC.secrets, { path: "stripe/new", value: "fresh" }] }, { rootTo: ".pending/root" });
  const done = later(100, () => finishChange(s.fx));
  assert.equal(await s.open().get("stripe/new"), "fresh");
  await done;
});

test("Git's index.lock is waited for (.git directory, and a .git file naming the Git directory)", async () => {
  for (const layout of ["dir", "file"] as const) {
    const s = await setup();
    let gitDir = path.join(s.fx.repo, ".git");
    if (layout === "file") {
      gitDir = path.join(tempDir("av-gitdir-"), "worktrees", "w");
      fs.writeFileSync(path.join(s.fx.repo, ".git"), `gitdir: ${path.relative(s.fx.repo, gitDir)}\n`);
    }
    fs.mkdirSync(gitDir, { recursive: true });
    assert.equal(findGitDir(path.join(s.fx.vaultDir, "secrets")), gitDir);
    const enc = path.join(s.fx.vaultDir, "secrets", "stripe", "api-key.enc");
    fs.renameSync(enc, enc + ".aside"); // Git is between removing the old file and writing the new one
    fs.writeFileSync(path.join(gitDir, "index.lock"), "");
    const started = Date.now();
    const done = later(150, () => {
      fs.renameSync(enc + ".aside", enc);
      fs.rmSync(path.join(gitDir, "index.lock"));
    });
    assert.equal(await s.open().get("stripe/api-key"), "sk_live_123", layout);
    assert.ok(Date.now() - started >= 140, "the read waited for Git");
    await done;
  }
});

test("a .pending/root that is not a signed successor is no writer: the tampered vault is an integrity error at once", async () => {
  const s = await setup();
  const other = ownerSigningKey((await Fixture.create()).ownerIdentity);
  const rootBytes = s.fx.read("state/root");
  const body = JSON.parse(rootBytes.toString().split("\nsignature: ")[0]!) as Record<string, unknown>;
  const successorBody = (prev: string) => JSON.stringify({ ...body, version: 2, prev_sha256: prev }) + "\n";
  const impostors: Array<[string, Buffer | string]> = [
    ["unsigned", successorBody(sha256hex(rootBytes))],
    ["garbage", "not a root\n"],
    ["signed by another key", signRoot(successorBody(sha256hex(rootBytes)), other)],
    ["signed, but the successor of another root", signRoot(successorBody("0".repeat(64)), s.fx.signingKey)],
    ["signed with the format 1 domain", signRoot(successorBody(sha256hex(rootBytes)), s.fx.signingKey, "agent-vault/v1 root\n")],
  ];
  s.fx.replace("secrets/stripe/api-key.enc", s.fx.read("secrets/stripe/webhook.enc"));
  for (const [name, bytes] of impostors) {
    s.fx.replace(".pending/root", bytes);
    const started = Date.now();
    await assert.rejects(s.open().get("stripe/api-key"), (e: unknown) => e instanceof IntegrityError && /does not match the hash|has \d+ bytes/.test(e.message), name);
    assert.ok(Date.now() - started < 1000, `${name}: decided without waiting`);
  }
  // The probe agrees, and recognises the genuine successor.
  const probe = new WriterProbe(s.fx.vaultDir, s.fx.repo);
  const a: Attempt = { rootBytes: rootBytes, verifyKey: s.fx.verifyKey };
  assert.equal(probe.find(a), null);
  s.fx.replace(".pending/root", signRoot(successorBody(sha256hex(rootBytes)), s.fx.signingKey));
  assert.equal(probe.find(a)?.kind, "owner");
  assert.equal(probe.find({ rootBytes: Buffer.from("another root"), verifyKey: s.fx.verifyKey }), null);
});

test("a fast-forward's pending root, several versions on with .pending/from naming the root, is a writer; others are not", async () => {
  const s = await setup();
  const rootBytes = s.fx.read("state/root");
  const body = JSON.parse(rootBytes.toString().split("\nsignature: ")[0]!) as Record<string, unknown>;
  const ahead = (versions: number) => JSON.stringify({ ...body, version: (body.version as number) + versions, prev_sha256: "1".repeat(64) }) + "\n";
  const a: Attempt = { rootBytes: rootBytes, verifyKey: s.fx.verifyKey };
  const other = ownerSigningKey((await Fixture.create()).ownerIdentity);
  const cases: Array<[string, Buffer | string, string, boolean]> = [
    ["a fast-forward", signRoot(ahead(3), s.fx.signingKey), sha256hex(rootBytes) + "\n", true],
    ["from another root", signRoot(ahead(3), s.fx.signingKey), "0".repeat(64), false],
    ["not a later version", signRoot(ahead(0), s.fx.signingKey), sha256hex(rootBytes), false],
    ["signed by another key", signRoot(ahead(3), other), sha256hex(rootBytes), false],
  ];
  for (const [name, pending, from, writer] of cases) {
    s.fx.replace(".pending/root", pending);
    s.fx.replace(".pending/from", from);
    assert.equal(new WriterProbe(s.fx.vaultDir, s.fx.repo).find(a)?.kind ?? null, writer ? "owner" : null, name);
  }
  // A read that meets the fast-forward half applied waits for it, then decides on the stable state.
  s.fx.replace(".pending/root", signRoot(ahead(3), s.fx.signingKey));
  s.fx.replace(".pending/from", sha256hex(rootBytes));
  s.fx.replace("secrets/stripe/api-key.enc", s.fx.read("secrets/stripe/webhook.enc"));
  const started = Date.now();
  const done = later(150, () => fs.rmSync(path.join(s.fx.vaultDir, ".pending"), { recursive: true, force: true }));
  await assert.rejects(s.open().get("stripe/api-key"), (e: unknown) => e instanceof IntegrityError);
  assert.ok(Date.now() - started >= 140, "the read waited for the fast-forward");
  await done;
});

test("a writer that stays is kind error after the writer wait, naming agent-vault repair or Git's lock", async () => {
  const s = await setup();
  await s.fx.write(ROTATED, { rootTo: ".pending/root" }); // an interrupted owner change that nobody repairs
  const started = Date.now();
  await assert.rejects(s.open({ writerWaitMs: 300 }).get("stripe/api-key"), (e: unknown) => {
    assert.ok(e instanceof AgentVaultError && !(e instanceof IntegrityError), String(e));
    assert.equal((e as AgentVaultError).kind, "error");
    assert.match((e as Error).message, /agent-vault repair/);
    assert.ok(!(e as Error).message.includes("sk_live"));
    return true;
  });
  assert.ok(Date.now() - started >= 300);
  assert.ok(Date.now() - started < 3000);

  const s2 = await setup();
  fs.mkdirSync(path.join(s2.fx.repo, ".git"));
  fs.writeFileSync(path.join(s2.fx.repo, ".git", "index.lock"), "");
  fs.rmSync(path.join(s2.fx.vaultDir, "secrets", "stripe", "api-key.enc"));
  await assert.rejects(s2.open({ writerWaitMs: 200 }).get("stripe/api-key"), (e: unknown) => {
    assert.equal((e as AgentVaultError).kind, "error");
    assert.match((e as Error).message, /index lock .*index\.lock/);
    return true;
  });
  // A lock that is there but does not matter: a read of a consistent state never looks for writers.
  assert.equal(await s2.open({ writerWaitMs: 200 }).get("stripe/webhook"), "whsec_abc");
});

test("a missing state/root is waited out like any vouching failure, then decided", async () => {
  const s = await setup();
  const rootBytes = s.fx.read("state/root");
  fs.rmSync(path.join(s.fx.vaultDir, "state", "root"));
  fs.mkdirSync(path.join(s.fx.repo, ".git"));
  fs.writeFileSync(path.join(s.fx.repo, ".git", "index.lock"), "");
  const done = later(100, () => {
    s.fx.replace("state/root", rootBytes);
    fs.rmSync(path.join(s.fx.repo, ".git", "index.lock"));
  });
  assert.equal(await s.open().get("stripe/api-key"), "sk_live_123");
  await done;
});

test("a newer mark met while state/root is being replaced starts the read over; on a root that stays it is a rollback", async () => {
  const s = await setup();
  const r1 = s.fx.read("state/root");
  const r2 = s.fx.resign(); // version 2: same files, a new root
  s.fx.replace("state/root", r1);
  const marksFile = path.join(s.home, "state", `${s.fx.vaultId}.json`);
  // Another process on this machine (the owner's writer, or a reader of the new root) replaces the root and raises
  // the mark between this reader's read of the root and its check of the mark.
  const require = createRequire(import.meta.url);
  const fsCjs = require("node:fs") as typeof fs;
  const original = fsCjs.readFileSync;
  let raced = 0;
  fsCjs.readFileSync = ((file: fs.PathOrFileDescriptor, options?: unknown) => {
    if (file === marksFile && raced === 0) {
      raced++;
      s.fx.replace("state/root", r2);
      writePrivate(marksFile, JSON.stringify({ version: 2, root_sha256: sha256hex(r2), secrets: {} }));
    }
    return (original as (f: fs.PathOrFileDescriptor, o?: unknown) => string | Buffer)(file, options);
  }) as typeof fs.readFileSync;
  syncBuiltinESMExports();
  try {
    assert.equal(await s.open().get("stripe/api-key"), "sk_live_123");
    assert.equal(raced, 1);
  } finally {
    fsCjs.readFileSync = original;
    syncBuiltinESMExports();
  }
  // The old root comes back and stays: a rollback, reported at once.
  s.fx.replace("state/root", r1);
  const started = Date.now();
  await assert.rejects(s.open().get("stripe/api-key"), (e: unknown) => e instanceof IntegrityError && /rollback/.test(e.message));
  assert.ok(Date.now() - started < 1000);
});

test("the synchronous listSecrets follows the same protocol: a writer that stays is kind error after the wait", async () => {
  const s = await setup();
  await s.fx.write(ROTATED, { rootTo: ".pending/root" }); // new shards in place, the old root: a vouching failure
  const started = Date.now();
  assert.throws(() => s.open({ writerWaitMs: 300 }).listSecrets(), (e: unknown) => {
    assert.ok(e instanceof AgentVaultError && !(e instanceof IntegrityError), String(e));
    assert.equal((e as AgentVaultError).kind, "error");
    assert.match((e as Error).message, /agent-vault repair/);
    return true;
  });
  assert.ok(Date.now() - started >= 300);
  assert.ok(Date.now() - started < 3000);
  // Git's lock, with a shard gone: waited for, then kind error naming the lock.
  const s2 = await setup();
  fs.mkdirSync(path.join(s2.fx.repo, ".git"));
  fs.writeFileSync(path.join(s2.fx.repo, ".git", "index.lock"), "");
  const idx = path.join(s2.fx.vaultDir, "state", "index");
  fs.rmSync(path.join(idx, fs.readdirSync(idx)[0]!));
  assert.throws(() => s2.open({ writerWaitMs: 200 }).listSecrets(), (e: unknown) => {
    assert.equal((e as AgentVaultError).kind, "error");
    assert.match((e as Error).message, /index lock .*index\.lock/);
    return true;
  });
  // No writer: the failure stands at once as an integrity error.
  fs.rmSync(path.join(s2.fx.repo, ".git", "index.lock"));
  assert.throws(() => s2.open({ writerWaitMs: 200 }).listSecrets(), IntegrityError);
});
