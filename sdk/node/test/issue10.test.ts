// Issue 10, the reader's share: first-use trust bound to the key and the repository (item 1), key values
// never echoed and key content recognised as the Go reader does (item 7), a pinned key of another vault as a
// configuration error (item 9).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { identityToRecipient } from "age-encryption";
import { Vault, VaultNotFoundError, IntegrityError } from "../src/index.js";
import { isKeyContent } from "../src/keys.js";
import { BASIC, Fixture, RecordingLogger, freshHome, tempDir, writePrivate } from "./fixture.js";

async function vaultWithCi(repo: string | undefined, ci: string | undefined): Promise<Fixture> {
  const fx = await Fixture.create(repo);
  if (ci !== undefined) {
    fx.agentIdentities.set("ci", ci);
    fx.agentRecipients.set("ci", await identityToRecipient(ci));
  }
  await fx.write(BASIC);
  return fx;
}

test("first-use trust cannot be obtained again with a new vault id (issue 10 item 1)", async () => {
  const real = await vaultWithCi(undefined, undefined);
  const ci = await real.agentIdentity("ci");
  const home = freshHome();
  const open = (repo: string) => new Vault({ repoPath: repo, keyStr: ci, home, autoPull: false, logger: new RecordingLogger(), env: {} });
  assert.equal(await open(real.repo).get("stripe/api-key"), "sk_live_123");
  // The attacker pushes a whole new vault (new id, own owner key) listing ci's real recipient.
  fs.rmSync(real.vaultDir, { recursive: true });
  const forged = await vaultWithCi(real.repo, ci);
  assert.notEqual(forged.vaultId, real.vaultId);
  await assert.rejects(open(real.repo).get("stripe/api-key"), (e: unknown) => e instanceof IntegrityError && /the repository was replaced/.test(e.message));
  const elsewhere = await vaultWithCi(undefined, ci);
  await assert.rejects(
    open(elsewhere.repo).get("stripe/api-key"),
    (e: unknown) => e instanceof VaultNotFoundError && e.message.includes(`belongs to vault ${real.vaultId}`) && e.message.includes("known_vaults"),
  );
});

test("a pinned key of another vault is a configuration error (issue 10 item 9)", async () => {
  const a = await vaultWithCi(undefined, undefined);
  const b = await vaultWithCi(undefined, await a.agentIdentity("ci"));
  const keys = tempDir("av-keys-");
  writePrivate(path.join(keys, "ci.key"), await a.agentKeyFile("ci"));
  const v = new Vault({ repoPath: b.repo, keyPath: path.join(keys, "ci.key"), home: freshHome(), autoPull: false, logger: new RecordingLogger(), env: {} });
  await assert.rejects(
    v.get("stripe/api-key"),
    (e: unknown) => e instanceof VaultNotFoundError && e.message.includes(`this key belongs to vault ${a.vaultId}`) && e.message.includes(`holds vault ${b.vaultId}`),
  );
});

test("key values are never echoed; key content is recognised as in Go (issue 10 item 7)", async () => {
  const real = await vaultWithCi(undefined, undefined);
  const secret = await real.agentIdentity("ci");
  for (const value of [
    Buffer.from(secret).toString("base64"),
    "AGE-SECRET-KEY_1" + secret.slice(16),
    "AGE-SECRET-KEY-PQ-1" + secret.slice(16),
    "\u0001" + secret.slice(16) + "\u007f",
  ]) {
    for (const how of ["keyStr", "env"]) {
      const opts = how === "env" ? { env: { AGENT_VAULT_KEY: value } } : { keyStr: value, env: {} };
      await assert.rejects(
        async () => new Vault({ repoPath: real.repo, home: freshHome(), autoPull: false, logger: new RecordingLogger(), ...opts }).get("stripe/api-key"),
        (e: unknown) => e instanceof VaultNotFoundError && !e.message.includes(value) && !e.message.includes(secret.slice(16, 40)) && !e.message.includes(secret.slice(16, 40).toLowerCase()),
      );
    }
  }
  // The table of vault/keyvalue_test.go TestIsKeyContent.
  const table: [string, boolean][] = [
    ["AGE-SECRET-KEY-1ABC", true], ["age-secret-key-1abc", true], ["Age-Secret-Key-PQ-1abc", true],
    ["# comment\nsomething", true], ["line\r", true], ["~/.agent-vault/agents/ci", false],
    ["/tmp/AGE-SECRET-KEY", false], ["QUdFLVNFQ1JFVC1LRVktMQ==", false], ["", false],
  ];
  for (const [v, want] of table) assert.equal(isKeyContent(v), want, v);
  // A FIFO key path fails at once.
  const fifo = path.join(tempDir("av-fifo-"), "key.fifo");
  execFileSync("mkfifo", ["-m", "600", fifo]);
  await assert.rejects(
    async () => new Vault({ repoPath: real.repo, keyPath: fifo, home: freshHome(), autoPull: false, logger: new RecordingLogger(), env: {} }).get("stripe/api-key"),
    (e: unknown) => e instanceof VaultNotFoundError && /not a regular file/.test(e.message),
  );
});
