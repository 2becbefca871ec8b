/**
 * A vault written by the original agent-vault 0.1 (`testdata/original/original.tar`, made with the real original CLI
 * by `scripts/make-original-fixtures.sh`): unconverted, this SDK refuses it with VaultNotFoundError naming
 * `agent-vault migrate` (never IntegrityError); converted by the CLI (`$AGENT_VAULT_BIN migrate`), it reads every
 * value with the original's own agent key files, unpinned and then pinned with `agent-vault pin`.
 *
 * A missing binary fails these tests: they are never skipped.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  IntegrityError,
  Manifest,
  ManifestError,
  NotAuthorizedError,
  parseMetadataFile,
  Vault,
  VaultNotFoundError,
  type ManifestAgent,
  type ManifestData,
  type ManifestGroup,
  type SecretMetadata,
} from "../src/index.js";
import { tempDir } from "./fixture.js";

const BIN = process.env["AGENT_VAULT_BIN"] ?? "";
// dist/test/original.test.js → the repository's testdata/original/original.tar
const FIXTURE = path.resolve(import.meta.dirname, "..", "..", "..", "..", "testdata", "original", "original.tar");

/** The fixture extracted into a new directory: home/ (the owner's HOME), proj/ (the repository), agent-home/. */
function world(): string {
  assert.ok(BIN !== "" && fs.existsSync(BIN), "AGENT_VAULT_BIN must name the agent-vault binary (make test-node)");
  const dir = tempDir("av-original-");
  const tar = spawnSync("tar", ["xf", FIXTURE, "-C", dir]);
  assert.equal(tar.status, 0, String(tar.stderr));
  fs.writeFileSync(path.join(dir, "gitconfig"), "[user]\n\tname = Owner\n\temail = owner@example.com\n");
  return dir;
}

function cli(dir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("AGENT_VAULT_") && !k.startsWith("GIT_")) env[k] = v;
  }
  Object.assign(env, { HOME: path.join(dir, "home"), GIT_CONFIG_GLOBAL: path.join(dir, "gitconfig"), GIT_CONFIG_NOSYSTEM: "1" });
  const r = spawnSync(BIN, args, { cwd: path.join(dir, "proj"), env, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const keyOf = (dir: string, agent: string) => path.join(dir, "home", ".agent-vault", "agents", `${agent}.key`);
const open = (dir: string, keyPath: string) =>
  new Vault({ repoPath: path.join(dir, "proj"), keyPath, autoPull: false, home: path.join(dir, "agent-home") });

test("an unconverted vault of agent-vault 0.1 is VaultNotFoundError naming agent-vault migrate", async () => {
  const dir = world();
  for (const key of [keyOf(dir, "ci"), path.join(dir, "home", ".agent-vault", "owner.key")]) {
    await assert.rejects(
      async () => open(dir, key).get("stripe/api-key"),
      (e: unknown) => e instanceof VaultNotFoundError && !(e instanceof IntegrityError) && /agent-vault migrate/.test(e.message),
    );
  }
});

test("the converted vault reads with the original's agent key files, unpinned and pinned", async () => {
  const dir = world();
  const done = cli(dir, "migrate");
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stdout, /agent-vault pin /);
  assert.equal(await open(dir, keyOf(dir, "ci")).get("stripe/api-key"), "sk_live_original");
  assert.equal(await open(dir, keyOf(dir, "ci")).get("stripe/webhook"), "whsec_original");
  await assert.rejects(async () => open(dir, keyOf(dir, "ci")).get("misc/token"), NotAuthorizedError);
  assert.equal(await open(dir, keyOf(dir, "deployer")).get("db/password"), 'line one\nline "two" $HOME\n');
  assert.equal(await open(dir, keyOf(dir, "deployer")).get("misc/token"), "tok_original");

  const pinned = cli(dir, "pin", keyOf(dir, "ci"));
  assert.equal(pinned.status, 0, pinned.stderr);
  assert.match(fs.readFileSync(keyOf(dir, "ci"), "utf8"), /^# agent-vault-vault-id: [0-9a-f]{32}$/m);
  fs.rmSync(path.join(dir, "agent-home"), { recursive: true, force: true }); // a fresh machine: the pins are the anchor
  assert.equal(await open(dir, keyOf(dir, "ci")).get("stripe/api-key"), "sk_live_original");
});

test("a converted vault that lost state/root stays an integrity error", async () => {
  const dir = world();
  assert.equal(cli(dir, "migrate").status, 0);
  fs.rmSync(path.join(dir, "proj", ".agent-vault", "state", "root"));
  const v = new Vault({ repoPath: path.join(dir, "proj"), keyPath: keyOf(dir, "ci"), autoPull: false, home: path.join(dir, "agent-home"), writerWaitMs: 50 });
  await assert.rejects(async () => v.get("stripe/api-key"), IntegrityError);
});

const vaultFile = (dir: string, rel: string) => path.join(dir, "proj", ".agent-vault", rel);
const ORIGINAL_AGENTS: ManifestAgent[] = [
  { name: "ci", groups: ["stripe"] },
  { name: "deployer", groups: ["db"] },
  { name: "idle", groups: [] },
];

test("agent-vault 0.1's helpers read its own unconverted files, unverified: Manifest.load, new Manifest(data), parseMetadataFile", () => {
  const dir = world();
  const file = vaultFile(dir, "manifest.yaml");
  for (const m of [Manifest.load(file), new Manifest(parseYaml(fs.readFileSync(file, "utf8")) as ManifestData)]) {
    assert.deepEqual(m.listAgents(), ORIGINAL_AGENTS);
    assert.deepEqual(m.listGroups(), ["db", "ops", "stripe"]);
    assert.deepEqual(m.agentGroups("ci"), ["stripe"]);
    assert.deepEqual(m.groupSecrets("stripe"), ["stripe/api-key", "stripe/webhook"]);
    assert.deepEqual(m.agentsForSecret("db/password"), ["deployer"]);
    assert.deepEqual(m.agentsForSecret("misc/token"), [], "group ops has no members; --agents extras are not in the manifest");
    assert.deepEqual(m.listSecrets(), ["db/password", "misc/token", "stripe/api-key", "stripe/webhook"]);
    const groups: ManifestGroup[] = m.listGroupEntries();
    assert.deepEqual(groups[1], { name: "ops", secrets: ["misc/token"] });
  }
  assert.throws(() => Manifest.load(path.join(dir, "nope.yaml")), (e: unknown) => e instanceof ManifestError && /^Manifest not found: /.test(e.message));
  fs.writeFileSync(path.join(dir, "bad.yaml"), "agents: [unclosed\n");
  assert.throws(() => Manifest.load(path.join(dir, "bad.yaml")), (e: unknown) => e instanceof ManifestError && /^Invalid manifest YAML/.test(e.message));
  fs.writeFileSync(path.join(dir, "list.yaml"), "- a\n");
  assert.throws(() => Manifest.load(path.join(dir, "list.yaml")), ManifestError);

  const webhook: SecretMetadata = parseMetadataFile(vaultFile(dir, "secrets/stripe/webhook.meta"));
  assert.equal(webhook.name, "stripe/webhook");
  assert.equal(webhook.group, "stripe");
  assert.equal(webhook.expiresAt?.toISOString(), "2099-01-31T00:00:00.000Z");
  assert.ok(webhook.createdAt.getTime() > Date.UTC(2026, 0) && webhook.rotatedAt >= webhook.createdAt, "the original's nanosecond times parse");
  assert.deepEqual(webhook.authorizedAgents, ["ci"]);
  const token = parseMetadataFile(vaultFile(dir, "secrets/misc/token.meta"));
  assert.equal(token.group, "ops");
  assert.equal(token.expiresAt, undefined);
  assert.deepEqual(token.authorizedAgents, ["deployer"]);
});

test("the converted vault: listSecrets, listAgents and manifest carry the original's policy, times and extra agents", () => {
  const dir = world();
  const created = parseMetadataFile(vaultFile(dir, "secrets/stripe/webhook.meta")).createdAt;
  assert.equal(cli(dir, "migrate").status, 0);
  const ci = open(dir, keyOf(dir, "ci"));
  const items: SecretMetadata[] = ci.listSecrets();
  assert.deepEqual(items.map((s) => s.name), ["stripe/api-key", "stripe/webhook"]);
  const webhook = items[1]!;
  assert.equal(webhook.expiresAt?.toISOString(), "2099-01-31T00:00:00.000Z");
  assert.equal(webhook.createdAt.getTime(), Math.floor(created.getTime() / 1000) * 1000, "created carries over, to the second");
  assert.deepEqual(webhook.authorizedAgents, ["ci"]);
  assert.deepEqual(ci.listSecrets("ops"), []);
  assert.deepEqual(ci.listAgents(), ORIGINAL_AGENTS);
  const deployer = open(dir, keyOf(dir, "deployer"));
  assert.deepEqual(deployer.listSecrets().map((s) => [s.name, s.authorizedAgents]), [["db/password", ["deployer"]], ["misc/token", ["deployer"]]]);
  const m = deployer.manifest;
  assert.deepEqual(m.listGroups(), ["db", "ops", "stripe"]);
  assert.deepEqual(m.agentsForSecret("misc/token"), ["deployer"], "the original's --agents extra carried over");
  assert.deepEqual(m.groupSecrets("stripe"), ["stripe/api-key", "stripe/webhook"]);
  // This format's manifest.yaml lists agents and groups but no secrets (it does not grow with the vault).
  const view = Manifest.load(vaultFile(dir, "manifest.yaml"));
  assert.deepEqual(view.listAgents(), ORIGINAL_AGENTS);
  assert.deepEqual(view.listGroups(), ["db", "ops", "stripe"]);
  assert.deepEqual(view.listSecrets(), []);
});
