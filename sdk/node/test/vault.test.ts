/**
 * The read path of format.md section 6 against vaults written by test/fixture.ts (keys generated here).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import {
  AgentVaultError,
  IntegrityError,
  NotAuthorizedError,
  SecretNotFoundError,
  Vault,
  VaultNotFoundError,
  type VaultOptions,
} from "../src/index.js";
import { BASIC, Fixture, RecordingLogger, freshHome, shardOf, type Json, tempDir, writePrivate, sha256hex } from "./fixture.js";

const API_SHARD = `state/index/${shardOf("stripe/api-key")}.json`;
const DB_SHARD = `state/index/${shardOf("db/password")}.json`;

interface Setup {
  fx: Fixture;
  home: string;
  keys: string;
  logger: RecordingLogger;
  open(keyFile: string, extra?: Partial<VaultOptions>): Vault;
}

async function setup(): Promise<Setup> {
  const fx = await Fixture.create();
  await fx.write(BASIC);
  const home = freshHome();
  const keys = tempDir("av-keys-");
  writePrivate(path.join(keys, "ci.key"), await fx.agentKeyFile("ci"));
  writePrivate(path.join(keys, "deployer.key"), await fx.agentKeyFile("deployer"));
  writePrivate(path.join(keys, "reader.key"), await fx.agentKeyFile("reader"));
  writePrivate(path.join(keys, "ci-bare.key"), await fx.agentKeyFile("ci", false));
  writePrivate(path.join(keys, "owner.key"), fx.ownerKeyFile());
  writePrivate(path.join(keys, "outsider.key"), `${await generateX25519Identity()}\n`);
  const logger = new RecordingLogger();
  return {
    fx,
    home,
    keys,
    logger,
    open: (keyFile, extra = {}) =>
      new Vault({ repoPath: fx.repo, keyPath: path.join(keys, keyFile), home, autoPull: false, logger, env: {}, ...extra }),
  };
}

function kind(k: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof AgentVaultError, `not an AgentVaultError: ${String(e)}`);
    assert.equal((e as AgentVaultError).kind, k, (e as Error).message);
    return true;
  };
}

test("a pinned agent reads its secrets", async () => {
  const s = await setup();
  const v = s.open("ci.key");
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  assert.equal(await v.get("stripe/webhook"), "whsec_abc");
  assert.equal(await v.get("shared/token"), "tok", "placement in another group");
  assert.deepEqual(await v.getBytes("misc/binary"), Uint8Array.from([0xff, 0xfe, 0x00, 0x41]), "extra_agents");
  assert.equal(s.logger.warnings.length, 0, "a pinned key does not warn");
  assert.equal(fs.existsSync(path.join(s.home, "known_vaults")), false, "a pinned key does not use known_vaults");
  v.close();
  await assert.rejects(v.get("stripe/api-key"), kind("usage"));
});

test("grants: not a member → not authorized; extra_agents grant one secret", async () => {
  const s = await setup();
  const d = s.open("deployer.key");
  assert.equal(await d.get("db/password"), "hunter2");
  assert.equal(await d.get("stripe/webhook"), "whsec_abc");
  await assert.rejects(d.get("stripe/api-key"), NotAuthorizedError);
  await assert.rejects(s.open("reader.key").get("db/password"), NotAuthorizedError);
  await assert.rejects(s.open("outsider.key").get("db/password"), NotAuthorizedError);
});

test("the owner reads everything; with <home>/owner.key it uses the derived anchor, not trust on first use", async () => {
  const s = await setup();
  writePrivate(path.join(s.home, "owner.key"), s.fx.ownerKeyFile());
  const v = new Vault({ repoPath: s.fx.repo, home: s.home, autoPull: false, logger: s.logger, env: {} });
  for (const sec of BASIC.secrets) {
    assert.deepEqual(await v.getBytes(sec.path), typeof sec.value === "string" ? new TextEncoder().encode(sec.value) : sec.value);
  }
  assert.equal(s.logger.warnings.length, 0);
  assert.equal(fs.existsSync(path.join(s.home, "known_vaults")), false);
  // A root signed by another key is refused even if config.yaml publishes that key.
  const other = await Fixture.create(s.fx.repo);
  (other as { vaultId: string }).vaultId = s.fx.vaultId;
  other.version = 5;
  await other.write(BASIC);
  await assert.rejects(v.get("db/password"), IntegrityError);
});

test("trust on first use: warns once, records known_vaults, refuses another owner key later", async () => {
  const s = await setup();
  const v = s.open("ci-bare.key");
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  assert.equal(s.logger.warnings.length, 1);
  assert.match(s.logger.warnings[0]!, /first use/);
  const kv = path.join(s.home, "known_vaults");
  assert.equal(
    fs.readFileSync(kv, "utf8"),
    `${s.fx.vaultId} ${s.fx.verifyKey}\nkey ${s.fx.agentRecipients.get("ci")} ${s.fx.vaultId} ${s.fx.verifyKey}\nrepo ${s.fx.vaultId} ${fs.realpathSync(s.fx.vaultDir)}\n`,
  );
  assert.equal(fs.statSync(kv).mode & 0o777, 0o600);
  // A new Vault on the same home finds the vault known and says nothing.
  assert.equal(await s.open("ci-bare.key").get("stripe/webhook"), "whsec_abc");
  assert.equal(s.logger.warnings.length, 1);
  // A key that is not in the vault records nothing.
  const s2 = await setup();
  await assert.rejects(s2.open("outsider.key").get("stripe/api-key"), NotAuthorizedError);
  assert.equal(fs.existsSync(path.join(s2.home, "known_vaults")), false);
  assert.equal(s2.logger.warnings.length, 0);
  // Concurrent first reads by two objects record and warn once.
  const s3 = await setup();
  await Promise.all([s3.open("ci-bare.key").get("stripe/api-key"), s3.open("ci-bare.key").get("stripe/api-key")]);
  assert.equal(fs.readFileSync(path.join(s3.home, "known_vaults"), "utf8").split("\n").length, 4);
  assert.equal(s3.logger.warnings.length, 1);
  // An attacker replaces the owner: new config.yaml and a root signed by their key, same vault id.
  const evil = await Fixture.create(s.fx.repo);
  (evil as { vaultId: string }).vaultId = s.fx.vaultId;
  evil.version = 10;
  await evil.write({ agents: [], groups: { stripe: [] }, secrets: [{ path: "stripe/api-key", value: "evil" }] });
  await assert.rejects(s.open("ci-bare.key").get("stripe/api-key"), kind("integrity"));
});

test("pins: a vault signed by another owner or with another id is refused", async () => {
  const s = await setup();
  const other = await Fixture.create();
  await other.write(BASIC);
  const v = new Vault({ repoPath: other.repo, keyPath: path.join(s.keys, "ci.key"), home: s.home, autoPull: false, env: {} });
  // A whole other vault: a configuration error naming the key's vault (issue 10 item 9), not an attack.
  await assert.rejects(v.get("stripe/api-key"), kind("vault_not_found"));
  await assert.rejects(v.get("stripe/api-key"), /this key belongs to vault/);
  // Same owner, another vault id.
  const fx2 = await Fixture.create();
  Object.assign(fx2, { ownerIdentity: s.fx.ownerIdentity, verifyKey: s.fx.verifyKey, signingKey: s.fx.signingKey, ownerRecipient: s.fx.ownerRecipient });
  await fx2.write(BASIC);
  const v2 = new Vault({ repoPath: fx2.repo, keyPath: path.join(s.keys, "ci.key"), home: s.home, autoPull: false, env: {} });
  await assert.rejects(v2.get("stripe/api-key"), /this key belongs to vault/);
  // A malformed vault-id pin never matches: a bad key (format.md 6.7), not an attack.
  const badPin = (await s.fx.agentKeyFile("ci")).replace(s.fx.vaultId, "not-hex");
  const v3 = new Vault({ repoPath: s.fx.repo, keyStr: badPin, home: s.home, autoPull: false, env: {} });
  await assert.rejects(v3.get("stripe/api-key"), kind("vault_not_found"));
});

test("not found, unsigned secrets, bad names, missing vault", async () => {
  const s = await setup();
  const v = s.open("ci.key");
  await assert.rejects(v.get("stripe/nope"), SecretNotFoundError);
  await assert.rejects(v.get("nogroup/x"), SecretNotFoundError);
  await assert.rejects(v.get("../etc/passwd"), kind("usage"));
  await assert.rejects(v.get("a//b"), kind("usage"));
  fs.writeFileSync(path.join(s.fx.vaultDir, "secrets", "stripe", "planted.enc"), "x");
  await assert.rejects(v.get("stripe/planted"), (e: unknown) => kind("integrity")(e) && /unsigned/.test((e as Error).message));
  fs.mkdirSync(path.join(s.fx.vaultDir, "secrets", "nogroup"));
  fs.writeFileSync(path.join(s.fx.vaultDir, "secrets", "nogroup", "x.meta"), "name: x\n");
  await assert.rejects(v.get("nogroup/x"), /unsigned/);
  // The constructor finds the vault: none is VaultNotFoundError at once.
  const nowhere = tempDir("av-empty-");
  assert.throws(() => s.open("ci.key", { repoPath: nowhere }), VaultNotFoundError);
  assert.throws(() => s.open("ci.key", { repoPath: path.join(nowhere, "missing") }), VaultNotFoundError);
  await assert.rejects(s.open("missing.key").get("stripe/api-key"), VaultNotFoundError);
  // The vault is found from a subdirectory of the working tree.
  fs.mkdirSync(path.join(s.fx.repo, "sub", "dir"), { recursive: true });
  assert.equal(await s.open("ci.key", { repoPath: path.join(s.fx.repo, "sub", "dir") }).get("stripe/api-key"), "sk_live_123");
  assert.throws(() => new Vault({ repoPath: "" }), kind("usage"));
  // A .agent-vault without state/root: integrity when it has a config.yaml, else not a vault.
  fs.rmSync(path.join(s.fx.vaultDir, "state", "root"));
  await assert.rejects(s.open("ci.key").get("stripe/api-key"), kind("integrity"));
  fs.rmSync(path.join(s.fx.vaultDir, "config.yaml"));
  await assert.rejects(s.open("ci.key").get("stripe/api-key"), VaultNotFoundError);
  // A symbolic link named .agent-vault is refused.
  const linked = tempDir("av-linked-");
  fs.symlinkSync(s.fx.vaultDir, path.join(linked, ".agent-vault"));
  assert.throws(() => s.open("ci.key", { repoPath: linked }), kind("integrity"));
});

test("tampering is an integrity error and messages never contain the value", async (t) => {
  const cases: Array<[string, (fx: Fixture) => void]> = [
    ["enc replaced", (fx) => fx.replace("secrets/stripe/api-key.enc", fx.read("secrets/stripe/webhook.enc"))],
    ["enc missing", (fx) => fs.rmSync(path.join(fx.vaultDir, "secrets/stripe/api-key.enc"))],
    ["shard edited", (fx) => fx.replace(API_SHARD, fx.read(API_SHARD).toString().replace('"version": 1', '"version": 2'))],
    ["shard grown by a byte", (fx) => fx.replace(API_SHARD, Buffer.concat([fx.read(API_SHARD), Buffer.from(" ")]))],
    ["shard missing", (fx) => fs.rmSync(path.join(fx.vaultDir, API_SHARD))],
    ["root body edited", (fx) => fx.replace("state/root", fx.read("state/root").toString().replace('"version": 1', '"version": 7'))],
    ["root signature stripped", (fx) => fx.replace("state/root", fx.read("state/root").toString().replace(/signature: .*\n$/, ""))],
    ["root missing", (fx) => fs.rmSync(path.join(fx.vaultDir, "state/root"))],
    ["root over 16 MiB", (fx) => fx.replace("state/root", Buffer.alloc(16 * 1024 * 1024 + 1, 0x20))],
    ["enc grown", (fx) => fx.replace("secrets/stripe/api-key.enc", Buffer.concat([fx.read("secrets/stripe/api-key.enc"), Buffer.alloc(1)]))],
    ["enc truncated", (fx) => fx.replace("secrets/stripe/api-key.enc", fx.read("secrets/stripe/api-key.enc").subarray(0, 100))],
    ["root signed with the format 1 domain by another key", (fx) => fx.replace("state/root", fx.read("state/root").toString().replace(/signature: .*\n$/, "signature: ed25519 " + Buffer.alloc(64, 7).toString("base64") + "\n"))],
    ["enc is a symlink", (fx) => {
      const p = path.join(fx.vaultDir, "secrets/stripe/api-key.enc");
      fs.renameSync(p, p + ".real");
      fs.symlinkSync(p + ".real", p);
    }],
    ["secrets/stripe is a symlink", (fx) => {
      const p = path.join(fx.vaultDir, "secrets/stripe");
      fs.renameSync(p, p + "-real");
      fs.symlinkSync(p + "-real", p);
    }],
    ["state is a symlink", (fx) => {
      const p = path.join(fx.vaultDir, "state");
      fs.renameSync(p, p + "-real");
      fs.symlinkSync(p + "-real", p);
    }],
    ["enc is a directory", (fx) => {
      const p = path.join(fx.vaultDir, "secrets/stripe/api-key.enc");
      fs.rmSync(p);
      fs.mkdirSync(p);
    }],
  ];
  for (const [name, mutate] of cases) {
    await t.test(name, async () => {
      const s = await setup();
      mutate(s.fx);
      await assert.rejects(s.open("ci.key").get("stripe/api-key"), (e: unknown) => {
        kind("integrity")(e);
        assert.ok(!(e as Error).message.includes("sk_live_123"));
        return true;
      });
    });
  }
});

type Obj = Json;

test("signed but invalid roots are integrity errors", async (t) => {
  const upper = (r: Obj) => {
    r["agents"]["reader"]["recipient"] = (r["agents"]["reader"]["recipient"] as string).toUpperCase().replace(/^AGE1/, "age1");
  };
  const cases: Array<[string, (r: Obj) => void]> = [
    ["bad group name", (r) => { r["groups"]["../x"] = { members: [], secrets: 0 }; }],
    ["bad agent name", (r) => { r["agents"]["a b"] = { recipient: r["agents"]["reader"]["recipient"], public_key_sha256: "", escrow_sha256: "" }; }],
    ["member not an agent", (r) => { r["groups"]["stripe"].members.push("ghost"); }],
    ["entry names a group the root lacks", (r) => { delete r["groups"]["stripe"]; }],
    ["two agents share a recipient", (r) => { r["agents"]["reader"]["recipient"] = r["agents"]["ci"]["recipient"]; }],
    ["an agent has the owner's recipient", (r) => { r["agents"]["reader"]["recipient"] = r["owner"]["recipient"]; }],
    ["a recipient in upper case", (r) => { r["agents"]["reader"]["recipient"] = (r["agents"]["reader"]["recipient"] as string).toUpperCase(); }],
    ["a recipient in mixed case", upper],
    ["a recipient with a bad checksum", (r) => { const x = r["agents"]["reader"]["recipient"] as string; r["agents"]["reader"]["recipient"] = x.slice(0, -1) + (x.endsWith("q") ? "p" : "q"); }],
    ["a recipient one character short", (r) => { r["agents"]["reader"]["recipient"] = (r["agents"]["reader"]["recipient"] as string).slice(0, -1); }],
    ["owner recipient in upper case", (r) => { r["owner"]["recipient"] = (r["owner"]["recipient"] as string).toUpperCase(); }],
    ["format 3", (r) => { r["format"] = 3; }],
    ["format 1 signed with the format 2 domain", (r) => { r["format"] = 1; }],
    ["wrong type", (r) => { r["type"] = "something"; }],
    ["missing index", (r) => { delete r["index"]; }],
    ["bad shard id", (r) => { r["index"]["zz"] = { sha256: "0".repeat(64), size: 1, secrets: 1 }; }],
    ["shard count differs", (r) => { r["index"][shardOf("stripe/api-key")].secrets += 1; }],
    ["shard size not an integer", (r) => { r["index"][shardOf("stripe/api-key")].size = "12"; }],
    ["files without sizes", (r) => { r["files"]["config.yaml"] = { sha256: "0".repeat(64) }; }],
    ["version not an integer", (r) => { r["version"] = 1.5; }],
  ];
  for (const [name, mutate] of cases) {
    await t.test(name, async () => {
      const s = await setup();
      s.fx.version = 0;
      s.fx.mutateRoot = mutate;
      await s.fx.write(BASIC);
      const started = Date.now();
      await assert.rejects(s.open("ci.key").get("stripe/api-key"), kind("integrity"));
      assert.ok(Date.now() - started < 2000, "decided without waiting for writers");
    });
  }
});

test("entries that break the rules of format.md 5 are integrity errors", async (t) => {
  const cases: Array<[string, (shard: Obj, id: string) => void]> = [
    ["entry in the wrong shard", (sh) => { sh["secrets"]["zzz/not-here"] = sh["secrets"]["stripe/api-key"]; }],
    ["bad secret name", (sh) => { sh["secrets"]["stripe/../x"] = sh["secrets"]["stripe/api-key"]; }],
    ["extra agent not in the root", (sh) => { sh["secrets"]["stripe/api-key"].extra_agents = ["ghost"]; }],
    ["group not in the root", (sh) => { sh["secrets"]["stripe/api-key"].group = "nogroup"; }],
    ["bad time", (sh) => { sh["secrets"]["stripe/api-key"].created = "yesterday"; }],
    ["enc_size missing", (sh) => { delete sh["secrets"]["stripe/api-key"].enc_size; }],
    ["version 0", (sh) => { sh["secrets"]["stripe/api-key"].version = 0; }],
    ["shard names another shard", (sh) => { sh["shard"] = "00"; }],
    ["another vault id", (sh) => { sh["vault_id"] = "0".repeat(32); }],
    ["format 1", (sh) => { sh["format"] = 1; }],
  ];
  for (const [name, mutate] of cases) {
    await t.test(name, async () => {
      const s = await setup();
      editShard(s.fx, "stripe/api-key", mutate);
      await assert.rejects(s.open("ci.key").get("stripe/api-key"), kind("integrity"));
    });
  }
});

/** Rewrites the shard of `secretPath` and re-signs the root (the next version) so that it vouches for it. */
function editShard(fx: Fixture, secretPath: string, mutate: (shard: Obj, id: string) => void): void {
  const id = shardOf(secretPath);
  const rel = `state/index/${id}.json`;
  const shard = JSON.parse(fx.read(rel).toString()) as Obj;
  mutate(shard, id);
  const bytes = Buffer.from(JSON.stringify(shard) + "\n");
  fx.replace(rel, bytes);
  fx.resign((r) => {
    r["index"][id] = { sha256: sha256hex(bytes), size: bytes.length, secrets: Object.keys(shard["secrets"]).length };
  });
}

test("sizes: a vouched size that differs from the file's is an integrity error, checked before the hash", async () => {
  const s = await setup();
  editShard(s.fx, "stripe/api-key", (sh) => { sh["secrets"]["stripe/api-key"].enc_size += 1; });
  await assert.rejects(s.open("ci.key").get("stripe/api-key"), (e: unknown) => kind("integrity")(e) && /bytes, but .* vouches for/.test((e as Error).message));
  // The shard itself: the root vouches for another size.
  const s2 = await setup();
  s2.fx.resign((r) => { r["index"][shardOf("stripe/api-key")].size += 1; });
  await assert.rejects(s2.open("ci.key").get("stripe/api-key"), (e: unknown) => kind("integrity")(e) && /vouches for/.test((e as Error).message));
});

test("values: 1 MiB reads, 1 MiB + 1 byte is an integrity error even though it is vouched", async () => {
  const fx = await Fixture.create();
  await fx.write({
    agents: ["ci"],
    groups: { g: ["ci"] },
    secrets: [
      { path: "g/max", value: new Uint8Array(1024 * 1024).fill(0x61) },
      { path: "g/over", value: new Uint8Array(1024 * 1024 + 1).fill(0x62) },
    ],
  });
  const keys = tempDir();
  const kp = writePrivate(path.join(keys, "ci.key"), await fx.agentKeyFile("ci"));
  const v = new Vault({ repoPath: fx.repo, keyPath: kp, home: freshHome(), autoPull: false, env: {} });
  assert.equal((await v.getBytes("g/max")).length, 1024 * 1024);
  await assert.rejects(v.getBytes("g/over"), (e: unknown) => kind("integrity")(e) && /more than 1048576 bytes/.test((e as Error).message));
  // No fixed limit on the .enc: a vouched file of any size is read (here 2 MiB of value, refused only once decrypted).
  const big = await Fixture.create();
  await big.write({ agents: ["ci"], groups: { g: ["ci"] }, secrets: [{ path: "g/big", value: new Uint8Array(2 * 1024 * 1024) }] });
  const kp2 = writePrivate(path.join(keys, "ci2.key"), await big.agentKeyFile("ci"));
  await assert.rejects(new Vault({ repoPath: big.repo, keyPath: kp2, home: freshHome(), autoPull: false, env: {} }).getBytes("g/big"), kind("integrity"));
});

test("format 1: a verified root passing the mark is VaultNotFoundError naming agent-vault migrate", async () => {
  const s = await setup();
  s.fx.writeFormat1(4);
  for (const key of ["ci.key", "owner.key", "ci-bare.key"]) {
    await assert.rejects(s.open(key).get("stripe/api-key"), (e: unknown) => {
      assert.ok(e instanceof VaultNotFoundError, String(e));
      assert.match((e as Error).message, /agent-vault migrate/);
      return true;
    }, key);
    await assert.rejects(s.open(key).listSecretsAsync(), VaultNotFoundError);
    assert.throws(() => s.open(key).listSecrets(), VaultNotFoundError);
  }
  assert.equal(fs.existsSync(path.join(s.home, "state", `${s.fx.vaultId}.json`)), false, "no mark raised by a format 1 root");
  // Below the mark: rollback.
  const mf = path.join(s.home, "state", `${s.fx.vaultId}.json`);
  writePrivate(mf, JSON.stringify({ version: 5, root_sha256: "a".repeat(64), secrets: {} }));
  await assert.rejects(s.open("ci.key").get("stripe/api-key"), (e: unknown) => kind("integrity")(e) && /rollback/.test((e as Error).message));
  // Same version, another root: fork.
  writePrivate(mf, JSON.stringify({ version: 4, root_sha256: "a".repeat(64), secrets: {} }));
  await assert.rejects(s.open("ci.key").get("stripe/api-key"), /fork/);
  // A format 1 root signed by another owner verifies with neither domain: integrity.
  const other = await Fixture.create(tempDir("av-repo-"));
  (other as { vaultId: string }).vaultId = s.fx.vaultId;
  other.writeFormat1(9);
  s.fx.replace("state/root", other.read("state/root"));
  await assert.rejects(s.open("ci.key").get("stripe/api-key"), kind("integrity"));
});

test("format 1 root under another pinned vault id is an integrity error", async () => {
  const s = await setup();
  const fx2 = await Fixture.create();
  Object.assign(fx2, { ownerIdentity: s.fx.ownerIdentity, verifyKey: s.fx.verifyKey, signingKey: s.fx.signingKey, ownerRecipient: s.fx.ownerRecipient });
  fx2.writeFormat1(1);
  const v = new Vault({ repoPath: fx2.repo, keyPath: path.join(s.keys, "ci.key"), home: s.home, autoPull: false, env: {} });
  await assert.rejects(v.get("stripe/api-key"), /pinned vault id/);
});

test("owner anchor: a root signed by the owner key but naming another owner recipient is refused", async () => {
  const s = await setup();
  const stranger = await identityToRecipient(await generateX25519Identity());
  s.fx.mutateRoot = (r) => {
    r["owner"]["recipient"] = stranger;
  };
  await s.fx.write(BASIC);
  writePrivate(path.join(s.home, "owner.key"), s.fx.ownerKeyFile());
  await assert.rejects(s.open("owner.key").get("db/password"), /another owner recipient/);
});

test("unknown root and shard fields are ignored", async () => {
  const s = await setup();
  s.fx.mutateRoot = (r) => {
    r["future_field"] = { anything: [1, 2] };
    r["groups"]["stripe"]["future"] = true;
    r["index"][shardOf("stripe/api-key")]["future"] = "x";
  };
  await s.fx.write(BASIC);
  editShard(s.fx, "stripe/api-key", (sh) => {
    sh["future"] = 1;
    sh["secrets"]["stripe/api-key"]["future"] = [1];
  });
  assert.equal(await s.open("ci.key").get("stripe/api-key"), "sk_live_123");
});

test("high-water marks: rollback and fork of the root, rollback of a secret", async () => {
  const s = await setup();
  const v1root = s.fx.read("state/root");
  const v1index = s.fx.read(API_SHARD);
  const v1enc = s.fx.read("secrets/stripe/api-key.enc");
  await s.fx.write({ ...BASIC, secrets: BASIC.secrets.map((x) => (x.path === "stripe/api-key" ? { ...x, value: "sk_live_456" } : x)) });
  const v = s.open("ci.key");
  assert.equal(await v.get("stripe/api-key"), "sk_live_456");
  const marks = JSON.parse(fs.readFileSync(path.join(s.home, "state", `${s.fx.vaultId}.json`), "utf8"));
  assert.equal(marks.version, 2);
  assert.equal(marks.root_sha256, sha256hex(s.fx.read("state/root")));
  assert.equal(marks.secrets["stripe/api-key"], 2);
  assert.equal(fs.statSync(path.join(s.home, "state")).mode & 0o777, 0o700);

  // Rollback: the old, validly signed version 1 comes back.
  s.fx.replace("state/root", v1root);
  s.fx.replace(API_SHARD, v1index);
  s.fx.replace("secrets/stripe/api-key.enc", v1enc);
  await assert.rejects(v.get("stripe/api-key"), /rollback/);
  await assert.rejects(s.open("ci.key").get("stripe/webhook"), /rollback/, "a new Vault shares the marks");

  // Fork: another, validly signed version 2.
  s.fx.version = 1;
  await s.fx.write(BASIC);
  await assert.rejects(v.get("stripe/api-key"), /fork/);

  // Per-secret rollback: version 3 of the root carries an older entry version for the secret.
  const s2 = await setup();
  const v2 = s2.open("ci.key");
  assert.equal(await v2.get("stripe/api-key"), "sk_live_123");
  const mf = path.join(s2.home, "state", `${s2.fx.vaultId}.json`);
  const m2 = JSON.parse(fs.readFileSync(mf, "utf8"));
  m2.secrets["stripe/api-key"] = 5;
  fs.writeFileSync(mf, JSON.stringify(m2));
  await assert.rejects(v2.get("stripe/api-key"), /rollback: secret stripe\/api-key/);
  assert.equal(await v2.get("stripe/webhook"), "whsec_abc");
});

test("cached state is re-verified when files change", async () => {
  const s = await setup();
  const v = s.open("ci.key");
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  const root = s.fx.read("state/root");
  // Same size, different byte, new inode: must be re-verified.
  const tampered = Buffer.from(root);
  const i = tampered.indexOf('"time"');
  tampered[i + 1] = "T".charCodeAt(0);
  s.fx.replace("state/root", tampered);
  await assert.rejects(v.get("stripe/api-key"), IntegrityError);
  s.fx.replace("state/root", root);
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  // The .enc is hashed on every read, even with everything cached.
  s.fx.replace("secrets/stripe/api-key.enc", s.fx.read("secrets/stripe/webhook.enc"));
  await assert.rejects(v.get("stripe/api-key"), IntegrityError);
  // In-place rewrite of a shard with the same size.
  const idxPath = path.join(s.fx.vaultDir, DB_SHARD);
  const idx = fs.readFileSync(idxPath);
  const d = s.open("deployer.key");
  assert.equal(await d.get("db/password"), "hunter2");
  const edited = Buffer.from(idx.toString().replace('"version": 1', '"version": 9'));
  fs.writeFileSync(idxPath, edited);
  await assert.rejects(d.get("db/password"), IntegrityError);
});

test("non-UTF-8 values: get refuses and names getBytes; getBytes returns exact bytes", async () => {
  const s = await setup();
  writePrivate(path.join(s.keys, "owner2.key"), s.fx.ownerKeyFile());
  const v = s.open("ci.key");
  await assert.rejects(v.get("misc/binary"), (e: unknown) => {
    kind("error")(e);
    assert.match((e as Error).message, /getBytes/);
    return true;
  });
  assert.deepEqual(await v.getBytes("misc/binary"), Uint8Array.from([0xff, 0xfe, 0x00, 0x41]));
});

test("exact bytes: BOM, NUL, trailing newline and empty values are kept", async () => {
  const fx = await Fixture.create();
  await fx.write({
    agents: ["ci"],
    groups: { g: ["ci"] },
    secrets: [
      { path: "g/bom", value: "\ufeffhello\n" },
      { path: "g/empty", value: "" },
      { path: "g/nul", value: "a\u0000b" },
    ],
  });
  const keys = tempDir();
  const kp = writePrivate(path.join(keys, "ci.key"), await fx.agentKeyFile("ci"));
  const v = new Vault({ repoPath: fx.repo, keyPath: kp, home: freshHome(), autoPull: false, env: {} });
  assert.equal(await v.get("g/bom"), "\ufeffhello\n");
  assert.equal(await v.get("g/empty"), "");
  assert.equal(await v.get("g/nul"), "a\u0000b");
});

test("listSecrets: agents see what they can read, the owner sees all, metadata comes from the shards", async () => {
  const s = await setup();
  const ci = await s.open("ci.key").listSecrets();
  assert.deepEqual(ci.map((x) => x.name), ["misc/binary", "shared/token", "stripe/api-key", "stripe/webhook"]);
  const api = ci.find((x) => x.name === "stripe/api-key")!;
  assert.equal(api.group, "stripe");
  assert.deepEqual(api.created, new Date("2026-11-29T13:50:00Z"));
  assert.deepEqual(api.rotated, new Date("2026-11-29T13:50:00Z"));
  assert.deepEqual(api.expires, new Date("2027-02-27T13:50:00Z"));
  assert.deepEqual(api.authorizedAgents, ["ci"]);
  assert.deepEqual(api.allowHosts, ["api.stripe.com"]);
  assert.equal(ci.find((x) => x.name === "stripe/webhook")!.expires, null);
  assert.deepEqual(ci.find((x) => x.name === "stripe/webhook")!.authorizedAgents, ["ci", "deployer"]);
  assert.deepEqual(ci.find((x) => x.name === "stripe/webhook")!.allowHosts, []);
  assert.equal(ci.find((x) => x.name === "shared/token")!.group, "stripe");
  assert.deepEqual((await s.open("ci.key").listSecrets("db")).map((x) => x.name), []);
  assert.deepEqual((await s.open("ci.key").listSecrets("stripe")).map((x) => x.name), ["shared/token", "stripe/api-key", "stripe/webhook"]);
  const owner = await s.open("owner.key").listSecrets();
  assert.equal(owner.length, BASIC.secrets.length);
  assert.deepEqual(owner.find((x) => x.name === "misc/binary")!.authorizedAgents, ["ci"]);
  // An unknown group: [] by default, as in agent-vault 0.1; an error with strict.
  assert.deepEqual(s.open("ci.key").listSecrets("nope"), []);
  assert.deepEqual(await s.open("ci.key").listSecretsAsync("nope"), []);
  await assert.rejects(s.open("ci.key").listSecretsAsync("nope", { strict: true }), SecretNotFoundError);
  assert.throws(() => s.open("ci.key").listSecrets("nope", { strict: true }), SecretNotFoundError);
  await assert.rejects(s.open("ci.key").listSecretsAsync("a/b"), kind("usage"));
  assert.throws(() => s.open("ci.key").listSecrets("a/b"), kind("usage"));
  await assert.rejects(s.open("outsider.key").listSecretsAsync(), NotAuthorizedError);
  assert.throws(() => s.open("outsider.key").listSecrets(), NotAuthorizedError);
});

test("get and list read no .meta: edited or deleted, they change nothing", async () => {
  const s = await setup();
  s.fx.replace("secrets/stripe/api-key.meta", 'name: "stripe/webhook"\ngroup: "db"\n');
  fs.rmSync(path.join(s.fx.vaultDir, "secrets/stripe/webhook.meta"));
  const v = s.open("ci.key");
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  assert.equal(await v.get("stripe/webhook"), "whsec_abc");
  const list = await v.listSecrets();
  assert.equal(list.find((x) => x.name === "stripe/api-key")!.group, "stripe");
  assert.equal(list.length, 4);
});

test("listing checks the group counts of the root", async () => {
  const s = await setup();
  s.fx.resign((r) => { r["groups"]["stripe"].secrets += 1; });
  await assert.rejects(s.open("ci.key").listSecretsAsync("stripe"), (e: unknown) => kind("integrity")(e) && /counts 4 secrets in group stripe/.test((e as Error).message));
  assert.throws(() => s.open("ci.key").listSecrets("stripe"), (e: unknown) => kind("integrity")(e) && /counts 4 secrets in group stripe/.test((e as Error).message));
  await assert.rejects(s.open("ci.key").listSecretsAsync("db"), /counts 4 secrets in group stripe/, "every group is counted");
  assert.throws(() => s.open("ci.key").listSecrets("db"), /counts 4 secrets in group stripe/, "every group is counted");
  await assert.rejects(s.open("owner.key").listSecretsAsync(), kind("integrity"));
  assert.throws(() => s.open("owner.key").listSecrets(), kind("integrity"));
  // get reads one shard and does not count.
  assert.equal(await s.open("ci.key").get("stripe/api-key"), "sk_live_123");
});

test("a shard is read only for the secret's path: get costs the same at any vault size", async () => {
  const s = await setup();
  // Break every shard but the one of stripe/api-key: get still reads; list refuses.
  for (const f of fs.readdirSync(path.join(s.fx.vaultDir, "state", "index"))) {
    if (`state/index/${f}` !== API_SHARD) fs.writeFileSync(path.join(s.fx.vaultDir, "state", "index", f), "{}");
  }
  assert.equal(await s.open("ci.key").get("stripe/api-key"), "sk_live_123");
  await assert.rejects(s.open("ci.key", { writerWaitMs: 0 }).listSecretsAsync(), kind("integrity"));
  assert.throws(() => s.open("ci.key", { writerWaitMs: 0 }).listSecrets(), kind("integrity"));
});

test("AGENT_VAULT_KEY and AGENT_VAULT_HOME through the env option", async () => {
  const s = await setup();
  const content = await s.fx.agentKeyFile("ci");
  const env = { AGENT_VAULT_KEY: content, AGENT_VAULT_HOME: s.home };
  const v = new Vault({ repoPath: s.fx.repo, autoPull: false, env, logger: s.logger });
  assert.equal(v.home, s.home);
  assert.equal(await v.get("stripe/api-key"), "sk_live_123");
  assert.ok(fs.existsSync(path.join(s.home, "state", `${s.fx.vaultId}.json`)), "marks written in AGENT_VAULT_HOME");
  const bare = new Vault({ repoPath: s.fx.repo, autoPull: false, env: { AGENT_VAULT_KEY: await s.fx.agentIdentity("ci") }, home: s.home, logger: s.logger });
  assert.equal(await bare.get("stripe/webhook"), "whsec_abc");
  assert.equal(s.logger.warnings.length, 1, "a bare identity line is unpinned: trust on first use");
  const viaPath = new Vault({ repoPath: s.fx.repo, autoPull: false, env: { AGENT_VAULT_KEY: path.join(s.keys, "ci.key") }, home: s.home });
  assert.equal(await viaPath.get("stripe/api-key"), "sk_live_123");
  // A failed open (no key) is retried by the next call once the key exists.
  const home2 = freshHome();
  const later = new Vault({ repoPath: s.fx.repo, autoPull: false, env: {}, home: home2 });
  await assert.rejects(later.get("db/password"), VaultNotFoundError);
  writePrivate(path.join(home2, "owner.key"), s.fx.ownerKeyFile());
  assert.equal(await later.get("db/password"), "hunter2");
  later.close();
  later.close();
  await assert.rejects(later.listSecretsAsync(), kind("usage"));
  assert.throws(() => later.listSecrets(), kind("usage"));
});
