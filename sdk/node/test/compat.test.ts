/**
 * agent-vault 0.1's Node API (the `agent-vault` 0.1.0 Node SDK shipped in the crate), kept: one test per call its
 * users' code makes, on vaults written by the real CLI ($AGENT_VAULT_BIN). Written from the published API (its
 * README, exported names, option names, return shapes and the leading words of its messages), not from its code or
 * tests. A missing binary fails this file: these tests are never skipped.
 */

import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as sdk from "../src/index.js";
import {
  AgentVaultError,
  IntegrityError,
  Manifest,
  ManifestError,
  NotAuthorizedError,
  SecretNotFoundError,
  Vault,
  VaultError,
  VaultNotFoundError,
  type SecretMetadata,
  type VaultOptions,
} from "../src/index.js";
import { generateX25519Identity } from "age-encryption";
import { RecordingLogger, baseEnv, isolateProcess, tempDir, writePrivate } from "./fixture.js";

const BIN = process.env["AGENT_VAULT_BIN"] ?? "";
const processHome = isolateProcess("av-compat-process-home-");


/** A vault made by the CLI (owner's HOME), an agent's HOME, a Git identity; paths under `base`. */
class World {
  constructor(readonly base: string) {}
  get repo(): string {
    return path.join(this.base, "repo");
  }
  get gitcfg(): string {
    return path.join(this.base, "gitconfig");
  }
  get ownerHome(): string {
    return path.join(this.base, "owner-home");
  }
  get agentAV(): string {
    return path.join(this.base, "agent-home", ".agent-vault");
  }
  agentKey(name = "ci"): string {
    return path.join(this.ownerHome, ".agent-vault", "agents", `${name}.key`);
  }
  cli(args: string[], stdin = "", cwd = this.repo): void {
    const res = spawnSync(BIN, args, { cwd, env: baseEnv(this.ownerHome, this.gitcfg), input: stdin, timeout: 60_000 });
    if (res.error) throw res.error;
    if (res.status !== 0) throw new Error(`agent-vault ${args.join(" ")} exited ${res.status}: ${res.stderr.toString()}`);
  }
  git(cwd: string, ...args: string[]): string {
    return execFileSync("git", args, { cwd, env: baseEnv(this.ownerHome, this.gitcfg), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }
  /** The original's options (repoPath, keyPath, keyStr, autoPull), plus this SDK's home/env to stay isolated. */
  open(extra: Partial<VaultOptions> = {}): Vault {
    return new Vault({ repoPath: this.repo, keyPath: this.agentKey(), autoPull: false, home: this.agentAV, env: {}, ...extra });
  }
  /** Makes `remote` a bare clone and the owner's upstream; returns an agent's clone of it. */
  publish(): { remote: string; clone: string } {
    const remote = path.join(this.base, "remote.git");
    const clone = path.join(this.base, "agent-clone");
    this.git(this.base, "clone", "-q", "--bare", this.repo, remote);
    this.git(this.repo, "remote", "add", "origin", remote);
    this.git(this.repo, "fetch", "-q", "origin");
    this.git(this.repo, "branch", "-q", "--set-upstream-to=origin/main");
    this.git(this.base, "clone", "-q", remote, clone);
    return { remote, clone };
  }
}

const EXPIRES = "2031-01-02T03:04:05Z";
let template: World;

before(() => {
  if (BIN === "" || !fs.existsSync(BIN)) {
    throw new Error(`AGENT_VAULT_BIN=${JSON.stringify(BIN)} is not an agent-vault binary: run \`make test-node\`.`);
  }
  const w = new World(path.join(tempDir("av-compat-template-"), "world"));
  fs.mkdirSync(w.base);
  fs.writeFileSync(w.gitcfg, "[user]\n\tname = Owner\n\temail = owner@example.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n");
  fs.mkdirSync(w.ownerHome);
  fs.mkdirSync(path.dirname(w.agentAV));
  w.cli(["init", w.repo], "", w.base);
  w.cli(["add-agent", "ci"]);
  w.cli(["add-agent", "intruder"]);
  w.cli(["set", "stripe/api-key"], "sk_live_abc123");
  w.cli(["set", "stripe/webhook", "--expires", EXPIRES], "whsec_1");
  w.cli(["set", "infra/db"], "postgres://db");
  w.cli(["set", "infra/extra", "--agents", "ci"], "extra-value");
  w.cli(["grant", "ci", "stripe"]);
  template = w;
});

function world(): World {
  const w = new World(path.join(tempDir("av-compat-"), "world"));
  execFileSync("cp", ["-a", template.base, w.base]);
  return w;
}

test("the original's exported names load with import and with require (CommonJS)", () => {
  const required = createRequire(import.meta.url)("agent-vault") as typeof sdk;
  for (const mod of [sdk, required]) {
    for (const name of ["Vault", "VaultError", "VaultNotFoundError", "SecretNotFoundError", "NotAuthorizedError", "ManifestError", "Manifest"] as const) {
      assert.equal(typeof mod[name], "function", name);
    }
  }
  assert.equal(required.Vault, Vault, "require and import give the same classes");
  for (const cls of [VaultNotFoundError, SecretNotFoundError, NotAuthorizedError, ManifestError, IntegrityError, AgentVaultError]) {
    assert.ok(cls.prototype instanceof VaultError || cls === VaultError, cls.name);
  }
  assert.equal(VaultError, AgentVaultError);
  // A CommonJS program in its own process, as a user's script would be.
  const out = execFileSync(process.execPath, ["-e", "const m = require('agent-vault'); console.log(Object.keys(m).sort().join(','))"], {
    cwd: path.join(path.dirname(new URL(import.meta.url).pathname), "..", ".."),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const name of ["Vault", "VaultError", "ManifestError"]) assert.ok(out.split(",").map((s) => s.trim()).includes(name), out);
});

test("constructor options repoPath, keyPath, keyStr, autoPull; get returns a Promise of the value", async () => {
  const w = world();
  const v = new Vault({ repoPath: w.repo, keyPath: w.agentKey(), autoPull: false, home: w.agentAV, env: {} });
  const p = v.get("stripe/api-key");
  assert.ok(p instanceof Promise);
  assert.equal(await p, "sk_live_abc123");
  const content = fs.readFileSync(w.agentKey(), "utf8");
  assert.equal(await w.open({ keyPath: undefined, keyStr: content }).get("stripe/api-key"), "sk_live_abc123");
  assert.equal(await w.open({ keyPath: undefined, env: { AGENT_VAULT_KEY: content } }).get("stripe/api-key"), "sk_live_abc123");
  // keyStr overrides keyPath (agent-vault 0.1's README): the intruder's key file is not used.
  assert.equal(await w.open({ keyPath: w.agentKey("intruder"), keyStr: content }).get("stripe/api-key"), "sk_live_abc123");
});

test("keyPath starting with ~ is in the home directory, as agent-vault 0.1 read it", async () => {
  const w = world();
  writePrivate(path.join(processHome, "ci-tilde.key"), fs.readFileSync(w.agentKey(), "utf8"));
  assert.equal(await w.open({ keyPath: "~/ci-tilde.key" }).get("stripe/api-key"), "sk_live_abc123");
});

test("listSecrets() is synchronous and its items carry the original's field names", async () => {
  const w = world();
  const vault = w.open();
  const secrets = vault.listSecrets("stripe"); // the original README's line, without await
  assert.ok(Array.isArray(secrets));
  const items: SecretMetadata[] = secrets;
  assert.deepEqual(items.map((s) => s.name), ["stripe/api-key", "stripe/webhook"]);
  const wh = items[1]!;
  assert.equal(wh.group, "stripe");
  assert.ok(wh.createdAt instanceof Date && wh.rotatedAt instanceof Date);
  assert.equal(wh.expiresAt?.toISOString(), "2031-01-02T03:04:05.000Z");
  assert.equal(items[0]!.expiresAt, undefined);
  assert.deepEqual(wh.authorizedAgents, ["ci"]);
  assert.equal(wh.createdAt.getTime(), wh.created.getTime());
  // Awaiting it works too, and the Promise form is listSecretsAsync.
  assert.deepEqual(await vault.listSecrets("stripe"), secrets);
  assert.deepEqual(await vault.listSecretsAsync("stripe"), secrets);
  assert.deepEqual(vault.listSecrets().map((s) => s.name), ["infra/extra", "stripe/api-key", "stripe/webhook"]);
});

test("listSecrets of an unknown group is [] (strict: SecretNotFoundError); a bad name is a usage error", () => {
  const v = world().open();
  assert.deepEqual(v.listSecrets("no-such-group"), []);
  assert.throws(() => v.listSecrets("no-such-group", { strict: true }), (e: unknown) => e instanceof SecretNotFoundError && /^Group not found: no-such-group/.test(e.message));
  assert.throws(() => v.listSecrets("../x"), (e: unknown) => e instanceof VaultError && (e as AgentVaultError).kind === "usage");
});

test("listAgents() lists every agent and its groups, for an agent key and for the owner", () => {
  const w = world();
  const expected = [
    { name: "ci", groups: ["stripe"] },
    { name: "intruder", groups: [] },
  ];
  assert.deepEqual(w.open().listAgents(), expected);
  const owner = new Vault({ repoPath: w.repo, home: path.join(w.ownerHome, ".agent-vault"), autoPull: false, env: {} });
  assert.deepEqual(owner.listAgents(), expected);
});

test("manifest: the original's Manifest methods, from the signed state", () => {
  const m = world().open().manifest;
  assert.ok(m instanceof Manifest);
  assert.deepEqual(m.listGroups(), ["infra", "stripe"]);
  assert.deepEqual(m.agentGroups("ci"), ["stripe"]);
  assert.deepEqual(m.agentGroups("nobody"), []);
  assert.deepEqual(m.groupSecrets("infra"), ["infra/db", "infra/extra"]);
  assert.deepEqual(m.agentsForSecret("infra/extra"), ["ci"]);
  assert.deepEqual(m.agentsForSecret("infra/db"), []);
  assert.deepEqual(m.listSecrets("stripe"), ["stripe/api-key", "stripe/webhook"]);
  assert.deepEqual(m.listAgents()[0], { name: "ci", groups: ["stripe"] });
  assert.deepEqual(m.listGroupEntries()[0], { name: "infra", secrets: ["infra/db", "infra/extra"] });
});

test("errors keep the original's leading words and classes", async () => {
  const w = world();
  const v = w.open();
  await assert.rejects(v.get("stripe/nope"), (e: unknown) => e instanceof SecretNotFoundError && e instanceof VaultError && /^Secret not found: stripe\/nope\b/.test(e.message));
  await assert.rejects(w.open({ keyPath: w.agentKey("intruder") }).get("stripe/api-key"), (e: unknown) =>
    e instanceof NotAuthorizedError && /^Cannot decrypt 'stripe\/api-key': /.test(e.message) && !e.message.includes("sk_live"));
  const empty = tempDir("av-compat-empty-");
  assert.throws(() => new Vault({ repoPath: empty, keyPath: w.agentKey(), home: w.agentAV, env: {} }), (e: unknown) => e instanceof VaultNotFoundError && /^No vault found at /.test(e.message));
  await assert.rejects(w.open({ keyPath: path.join(empty, "missing.key") }).get("stripe/api-key"), (e: unknown) => e instanceof VaultNotFoundError && /^Key file not found: /.test(e.message));
  await assert.rejects(new Vault({ repoPath: w.repo, home: w.agentAV, env: {} }).get("stripe/api-key"), (e: unknown) => e instanceof VaultNotFoundError && /^No key provided/.test(e.message));
  const gone = pathToFileURL(path.join(empty, "gone.git")).href;
  assert.throws(() => new Vault({ repoPath: gone, keyPath: w.agentKey(), home: w.agentAV, env: {} }).listSecrets(), (e: unknown) => e instanceof VaultNotFoundError && /^Failed to clone\/update /.test(e.message));
  await assert.rejects(new Vault({ repoPath: gone, keyPath: w.agentKey(), home: w.agentAV, env: {} }).get("stripe/api-key"), (e: unknown) => e instanceof VaultNotFoundError && /^Failed to clone\/update /.test(e.message));
  // The synchronous methods throw the same classes: a key that is neither the owner's nor an agent's.
  const foreign = writePrivate(path.join(empty, "foreign.key"), (await generateX25519Identity()) + "\n");
  assert.throws(() => w.open({ keyPath: foreign }).listAgents(), NotAuthorizedError);
  assert.throws(() => w.open({ keyPath: foreign }).listSecrets(), NotAuthorizedError);
});

test("pull() then reload(): a pushed rotation and a new agent are seen with autoPull off; pull() returns nothing", async () => {
  const w = world();
  const { clone } = w.publish();
  const v = w.open({ repoPath: clone });
  assert.equal(await v.get("stripe/api-key"), "sk_live_abc123");
  w.cli(["set", "stripe/api-key"], "sk_live_rotated");
  w.cli(["add-agent", "late"]);
  w.git(w.repo, "push", "-q");
  assert.equal(await v.get("stripe/api-key"), "sk_live_abc123", "autoPull off: nothing pulled yet");
  assert.equal(v.pull(), undefined);
  v.reload();
  assert.equal(await v.get("stripe/api-key"), "sk_live_rotated");
  assert.ok(v.listAgents().some((a) => a.name === "late"));
});

test("with autoPull, the synchronous listSecrets pulls first (a Git URL is cloned on the first call)", async () => {
  const w = world();
  const { remote, clone } = w.publish();
  const v = w.open({ repoPath: clone, autoPull: true, pullIntervalMs: 0 });
  assert.deepEqual(v.listSecrets("infra").map((s) => s.name), ["infra/extra"]);
  w.cli(["set", "stripe/new"], "v");
  w.git(w.repo, "push", "-q");
  assert.ok(v.listSecrets("stripe").some((s) => s.name === "stripe/new"));
  const url = pathToFileURL(remote).href;
  const byUrl = new Vault({ repoPath: url, keyPath: w.agentKey(), home: w.agentAV, env: {} });
  assert.ok(byUrl.listSecrets().some((s) => s.name === "stripe/new"));
  assert.ok(fs.existsSync(path.join(w.agentAV, "cache")));
  assert.equal(await byUrl.get("stripe/new"), "v");
});

test("pull() warns instead of throwing when the remote cannot be reached, every time; automatic pulls warn once", async () => {
  const w = world();
  const { remote, clone } = w.publish();
  fs.rmSync(remote, { recursive: true, force: true });
  const logger = new RecordingLogger();
  const v = w.open({ repoPath: clone, logger });
  v.pull();
  v.pull();
  assert.equal(logger.warnings.length, 2, logger.warnings.join("\n"));
  assert.match(logger.warnings[0]!, /could not pull .*local copy/);
  assert.equal(await v.get("stripe/api-key"), "sk_live_abc123");
  const auto = new RecordingLogger();
  const a = w.open({ repoPath: clone, logger: auto, autoPull: true, pullIntervalMs: 0 });
  assert.equal(a.listSecrets("stripe").length, 2);
  assert.equal(a.listSecrets("stripe").length, 2);
  assert.equal(await a.get("stripe/api-key"), "sk_live_abc123");
  assert.equal(auto.warnings.length, 1, auto.warnings.join("\n"));
  assert.ok(![...logger.warnings, ...auto.warnings].some((m) => m.includes("sk_live")));
});

test("pull() without an upstream is quiet; the synchronous methods refuse a closed Vault", () => {
  const w = world();
  const logger = new RecordingLogger();
  const v = w.open({ logger });
  v.pull();
  v.reload();
  assert.equal(v.listSecrets().length, 3);
  assert.deepEqual(logger.warnings, []);
  v.close();
  for (const call of [() => v.listSecrets(), () => v.listAgents(), () => v.pull(), () => v.reload(), () => v.manifest]) {
    assert.throws(call, (e: unknown) => e instanceof VaultError && (e as AgentVaultError).kind === "usage" && /closed/.test((e as Error).message));
  }
});

test("a tampered index is an IntegrityError from the synchronous methods too", () => {
  const w = world();
  const idx = path.join(w.repo, ".agent-vault", "state", "index");
  const shard = fs.readdirSync(idx).find((f) => f.endsWith(".json"))!;
  fs.appendFileSync(path.join(idx, shard), " ");
  const v = w.open({ writerWaitMs: 0 });
  assert.throws(() => v.listSecrets(), IntegrityError);
  assert.throws(() => v.listAgents(), IntegrityError);
});

test("the synchronous recipient computation agrees with age-encryption's", async () => {
  const { identityToRecipient } = await import("age-encryption");
  const { recipientOf } = await import("../src/syncio.js");
  for (let i = 0; i < 20; i++) {
    const id = await generateX25519Identity();
    assert.equal(recipientOf(id), await identityToRecipient(id));
  }
  assert.throws(() => recipientOf("AGE-SECRET-KEY-1NOTVALID"), VaultNotFoundError);
});

test("parseMetadata and parseMetadataFile read a .meta file the CLI wrote (unverified) with the original's fields", () => {
  const w = world();
  const meta = sdk.parseMetadataFile(path.join(w.repo, ".agent-vault", "secrets", "stripe", "webhook.meta"));
  assert.equal(meta.name, "stripe/webhook");
  assert.equal(meta.group, "stripe");
  assert.equal(meta.expiresAt?.toISOString(), "2031-01-02T03:04:05.000Z");
  assert.deepEqual(meta.authorizedAgents, ["ci"]);
  const listed = w.open().listSecrets("stripe").find((s) => s.name === "stripe/webhook")!;
  assert.equal(meta.createdAt.getTime(), listed.createdAt.getTime());
  assert.equal(sdk.parseMetadata("name: a/b\n").expiresAt, undefined);
  assert.equal(sdk.parseMetadata("").name, "");
  assert.throws(() => sdk.parseMetadata("- a list\n"), ManifestError);
  assert.throws(() => sdk.parseMetadata("a: [unclosed\n"), ManifestError);
  assert.throws(() => sdk.parseMetadataFile(w.repo), ManifestError);
});
