/**
 * Post-quantum vaults (format.md 3.1, 3.4, 5.1): hybrid ML-KEM-768 + X25519 keys (`age1pq1…`,
 * `AGE-SECRET-KEY-PQ-1…`). A vault made by the real CLI (`$AGENT_VAULT_BIN init --pq`) is read by an agent's
 * hybrid key; classic keys are refused as not authorized; a file that mixes post-quantum and other stanzas is an
 * integrity error; the owner verify key of a hybrid identity matches the Go derivation.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { generateX25519Identity } from "age-encryption";
import { NotAuthorizedError, Vault } from "../src/index.js";
import { MixedStanzasError, checkStanzaKinds } from "../src/agefile.js";
import { bech32Encode } from "../src/bech32.js";
import { deriveOwnerVerifyKey, parseKeyFile } from "../src/keys.js";
import { isHybridRecipient, isRecipient } from "../src/recipient.js";
import { recipientOf } from "../src/syncio.js";
import { tempDir } from "./fixture.js";

const BIN = process.env["AGENT_VAULT_BIN"] ?? "";

/** A post-quantum vault made by the CLI: owner home, repository, agent ci's key file (granted group app). */
function pqVault(): { repo: string; home: string; ciKey: string } {
  if (BIN === "" || !fs.existsSync(BIN)) throw new Error(`AGENT_VAULT_BIN=${JSON.stringify(BIN)} is not an agent-vault binary: run \`make test-node\`.`);
  const root = tempDir("av-pq-");
  const home = path.join(root, "home");
  fs.mkdirSync(home, { mode: 0o700 });
  const gitcfg = path.join(root, "gitconfig");
  fs.writeFileSync(gitcfg, "[user]\n\tname = t\n\temail = t@example.com\n[init]\n\tdefaultBranch = main\n");
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("AGENT_VAULT_") && !k.startsWith("GIT_")) env[k] = v;
  Object.assign(env, { HOME: home, GIT_CONFIG_GLOBAL: gitcfg, GIT_CONFIG_NOSYSTEM: "1" });
  const repo = path.join(root, "proj");
  const run = (args: string[], input = "") => execFileSync(BIN, args, { cwd: fs.existsSync(repo) ? repo : root, env, input, stdio: ["pipe", "pipe", "pipe"] });
  run(["init", "--pq", repo]);
  run(["add-agent", "ci"]);
  run(["set", "app/token"], "sk_live_pq_node");
  run(["grant", "ci", "app"]);
  return { repo, home: path.join(home, ".agent-vault"), ciKey: path.join(home, ".agent-vault", "agents", "ci.key") };
}

test("an agent's hybrid key reads a post-quantum vault made by the CLI", async () => {
  const { repo, ciKey } = pqVault();
  const key = fs.readFileSync(ciKey, "utf8");
  assert.match(key, /^AGE-SECRET-KEY-PQ-1/m);
  const agentHome = tempDir("av-pq-agent-");
  const v = new Vault({ repoPath: repo, keyPath: ciKey, home: agentHome, autoPull: false, env: {} });
  assert.equal(Buffer.from(await v.get("app/token")).toString(), "sk_live_pq_node");
  assert.deepEqual(v.listSecrets().map((s) => s.name), ["app/token"]);
  // The recipient computed from the key is the one the vault names.
  const pub = fs.readFileSync(path.join(repo, ".agent-vault", "agents", "ci", "public.key"), "utf8").trim();
  assert.equal(recipientOf(parseKeyFile(key, "ci.key").identity), pub);
  assert.ok(isHybridRecipient(pub) && isRecipient(pub));
});

test("a classic key on a post-quantum vault is not authorized, with the kinds named", async () => {
  const { repo } = pqVault();
  const classic = await generateX25519Identity();
  const v = new Vault({ repoPath: repo, keyStr: classic, home: tempDir("av-pq-classic-"), autoPull: false, env: {} });
  await assert.rejects(v.get("app/token"), (e: unknown) => e instanceof NotAuthorizedError && /post-quantum/.test(e.message) && /classic/.test(e.message));
});

test("a header that mixes mlkem768x25519 with X25519 stanzas is refused before any decryption", () => {
  const mixed = Buffer.from("age-encryption.org/v1\n-> X25519 abc\nAAAA\n-> mlkem768x25519 def\nBBBB\n--- MAC\n");
  assert.throws(() => checkStanzaKinds(mixed), MixedStanzasError);
  assert.doesNotThrow(() => checkStanzaKinds(Buffer.from("age-encryption.org/v1\n-> mlkem768x25519 a\nA\n-> mlkem768x25519 b\nB\n--- M\n")));
  assert.doesNotThrow(() => checkStanzaKinds(Buffer.from("age-encryption.org/v1\n-> X25519 a\nA\n--- M\n")));
});

test("the owner verify key of a hybrid identity: the Go vector (format.md 3.4)", () => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
  const identity = bech32Encode("age-secret-key-pq-", seed).toUpperCase();
  assert.equal(deriveOwnerVerifyKey(identity), "ed25519:cDFY5Bme3g7gDw5ez6BnOJLg6yjljx6Xh3xs7c3YkTc=");
});

test("a hybrid recipient must be exactly 1959 lower-case characters of a 1216-byte key", () => {
  assert.ok(!isHybridRecipient("age1pq1qqqq"));
  const { repo } = pqVault();
  const pub = fs.readFileSync(path.join(repo, ".agent-vault", "owner.pub"), "utf8").trim();
  assert.equal(pub.length, 1959);
  assert.ok(isHybridRecipient(pub));
  assert.ok(!isHybridRecipient(pub.toUpperCase()));
  assert.ok(!isHybridRecipient(pub.slice(0, -1) + (pub.endsWith("q") ? "p" : "q")));
});
