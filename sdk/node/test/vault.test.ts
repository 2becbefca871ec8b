/**
 * The read path of format.md section 6 against vaults written by test/fixture.ts (keys generated here).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { generateX25519Identity } from "age-encryption";
import {
  AgentVaultError,
  IntegrityError,
  NotAuthorizedError,
  SecretNotFoundError,
  Vault,
  VaultNotFoundError,
  type VaultOptions,
} from "../src/index.js";
import { BASIC, Fixture, RecordingLogger, freshHome, signRoot, tempDir, writePrivate, sha256hex } from "./fixture.js";

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
  assert.equal(fs.readFileSync(kv, "utf8"), `${s.fx.vaultId} ${s.fx.verifyKey}\n`);
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
  assert.equal(fs.readFileSync(path.join(s3.home, "known_vaults"), "utf8").split("\n").length, 2);
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
  await assert.rejects(v.get("stripe/api-key"), kind("integrity"));
  // Same owner, another vault id.
  const fx2 = await Fixture.create();
  Object.assign(fx2, { ownerIdentity: s.fx.ownerIdentity, verifyKey: s.fx.verifyKey, signingKey: s.fx.signingKey, ownerRecipient: s.fx.ownerRecipient });
  await fx2.write(BASIC);
  const v2 = new Vault({ repoPath: fx2.repo, keyPath: path.join(s.keys, "ci.key"), home: s.home, autoPull: false, env: {} });
  await assert.rejects(v2.get("stripe/api-key"), /pinned vault id/);
  // A malformed vault-id pin never matches.
  const badPin = (await s.fx.agentKeyFile("ci")).replace(s.fx.vaultId, "not-hex");
  const v3 = new Vault({ repoPath: s.fx.repo, keyStr: badPin, home: s.home, autoPull: false, env: {} });
  await assert.rejects(v3.get("stripe/api-key"), kind("integrity"));
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
  const nowhere = tempDir("av-empty-");
  await assert.rejects(s.open("ci.key", { repoPath: nowhere }).get("stripe/api-key"), VaultNotFoundError);
  await assert.rejects(s.open("ci.key", { repoPath: path.join(nowhere, "missing") }).get("a"), VaultNotFoundError);
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
  await assert.rejects(s.open("ci.key", { repoPath: linked }).get("stripe/api-key"), kind("integrity"));
});

test("tampering is an integrity error and messages never contain the value", async (t) => {
  const cases: Array<[string, (fx: Fixture) => void]> = [
    ["enc replaced", (fx) => fx.replace("secrets/stripe/api-key.enc", fx.read("secrets/stripe/webhook.enc"))],
    ["enc missing", (fx) => fs.rmSync(path.join(fx.vaultDir, "secrets/stripe/api-key.enc"))],
    ["index edited", (fx) => fx.replace("state/groups/stripe.json", fx.read("state/groups/stripe.json").toString().replace('"version": 1', '"version": 2'))],
    ["index missing", (fx) => fs.rmSync(path.join(fx.vaultDir, "state/groups/stripe.json"))],
    ["root body edited", (fx) => fx.replace("state/root", fx.read("state/root").toString().replace('"version": 1', '"version": 7'))],
    ["root signature stripped", (fx) => fx.replace("state/root", fx.read("state/root").toString().replace(/signature: .*\n$/, ""))],
    ["root missing", (fx) => fs.rmSync(path.join(fx.vaultDir, "state/root"))],
    ["root oversized", (fx) => fx.replace("state/root", Buffer.alloc(4 * 1024 * 1024 + 1, 0x20))],
    ["enc oversized", (fx) => fx.replace("secrets/stripe/api-key.enc", Buffer.alloc(2 * 1024 * 1024 + 1))],
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

test("signed but invalid roots are integrity errors", async (t) => {
  const cases: Array<[string, (r: Record<string, unknown>) => void]> = [
    ["bad group name", (r) => { (r["groups"] as Record<string, unknown>)["../x"] = { members: [], index_sha256: "0".repeat(64), secrets: 0 }; }],
    ["bad agent name", (r) => { (r["agents"] as Record<string, unknown>)["a b"] = { recipient: "age1x", public_key_sha256: "", escrow_sha256: "" }; }],
    ["member not an agent", (r) => { ((r["groups"] as Record<string, { members: string[] }>)["stripe"]!).members.push("ghost"); }],
    ["bad placement path", (r) => { r["placement"] = { "/abs": "stripe" }; }],
    ["format 2", (r) => { r["format"] = 2; }],
    ["wrong type", (r) => { r["type"] = "something"; }],
    ["missing placement", (r) => { delete r["placement"]; }],
    ["version not an integer", (r) => { r["version"] = 1.5; }],
  ];
  for (const [name, mutate] of cases) {
    await t.test(name, async () => {
      const s = await setup();
      s.fx.version = 0;
      s.fx.mutateRoot = mutate;
      await s.fx.write(BASIC);
      await assert.rejects(s.open("ci.key").get("stripe/api-key"), kind("integrity"));
    });
  }
});

test("owner anchor: a root signed by the owner key but naming another owner recipient is refused", async () => {
  const s = await setup();
  s.fx.mutateRoot = (r) => {
    (r["owner"] as Record<string, unknown>)["recipient"] = s.fx.agentRecipients.get("reader");
  };
  await s.fx.write(BASIC);
  writePrivate(path.join(s.home, "owner.key"), s.fx.ownerKeyFile());
  await assert.rejects(s.open("owner.key").get("db/password"), /another owner recipient/);
});

test("unknown root and index fields are ignored", async () => {
  const s = await setup();
  s.fx.mutateRoot = (r) => {
    r["future_field"] = { anything: [1, 2] };
  };
  await s.fx.write(BASIC);
  assert.equal(await s.open("ci.key").get("stripe/api-key"), "sk_live_123");
});

test("high-water marks: rollback and fork of the root, rollback of a secret", async () => {
  const s = await setup();
  const v1root = s.fx.read("state/root");
  const v1index = s.fx.read("state/groups/stripe.json");
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
  s.fx.replace("state/groups/stripe.json", v1index);
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
  // In-place rewrite of an index with the same size.
  const idxPath = path.join(s.fx.vaultDir, "state/groups/db.json");
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

test("listSecrets: agents see what they can read, the owner sees all, metadata is checked", async () => {
  const s = await setup();
  const ci = await s.open("ci.key").listSecrets();
  assert.deepEqual(ci.map((x) => x.name), ["misc/binary", "shared/token", "stripe/api-key", "stripe/webhook"]);
  const api = ci.find((x) => x.name === "stripe/api-key")!;
  assert.equal(api.group, "stripe");
  assert.deepEqual(api.created, new Date("2026-11-29T13:50:00Z"));
  assert.deepEqual(api.rotated, new Date("2026-11-29T13:50:00Z"));
  assert.deepEqual(api.expires, new Date("2027-02-27T13:50:00Z"));
  assert.deepEqual(api.authorizedAgents, ["ci"]);
  assert.equal(ci.find((x) => x.name === "stripe/webhook")!.expires, null);
  assert.equal(ci.find((x) => x.name === "shared/token")!.group, "stripe");
  assert.deepEqual((await s.open("ci.key").listSecrets("db")).map((x) => x.name), []);
  const owner = await s.open("owner.key").listSecrets();
  assert.equal(owner.length, BASIC.secrets.length);
  await assert.rejects(s.open("ci.key").listSecrets("nope"), SecretNotFoundError);
  await assert.rejects(s.open("ci.key").listSecrets("a/b"), kind("usage"));
  await assert.rejects(s.open("outsider.key").listSecrets(), NotAuthorizedError);
  // A .meta that does not match its hash, or names another secret, is refused.
  const meta = s.fx.read("secrets/stripe/api-key.meta");
  s.fx.replace("secrets/stripe/api-key.meta", meta.toString().replace("stripe/api-key", "stripe/webhook"));
  await assert.rejects(s.open("ci.key").listSecrets(), IntegrityError);
});

test("a meta naming another secret or group is refused even with a matching hash", async () => {
  const s = await setup();
  const metaRel = "secrets/stripe/api-key.meta";
  const bad = s.fx.read(metaRel).toString().replace('group: "stripe"', 'group: "db"');
  s.fx.replace(metaRel, bad);
  const idxRel = "state/groups/stripe.json";
  const idx = JSON.parse(s.fx.read(idxRel).toString());
  idx.secrets["stripe/api-key"].meta_sha256 = sha256hex(bad);
  const idxBytes = JSON.stringify(idx) + "\n";
  s.fx.replace(idxRel, idxBytes);
  // Re-sign a root that vouches for the new index, as a (confused) owner would.
  const root = JSON.parse(s.fx.read("state/root").toString().split("\nsignature: ")[0]!);
  root.groups.stripe.index_sha256 = sha256hex(idxBytes);
  root.version = 2;
  s.fx.replace("state/root", signRoot(JSON.stringify(root) + "\n", s.fx.signingKey));
  await assert.rejects(s.open("ci.key").listSecrets("stripe"), /group does not match/);
  assert.equal(await s.open("ci.key").get("stripe/api-key"), "sk_live_123");
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
  await assert.rejects(later.listSecrets(), kind("usage"));
});
