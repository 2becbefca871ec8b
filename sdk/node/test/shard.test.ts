/** Shard ids (format.md 5) and recipient syntax (format.md 3.1). */

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { shardIdOf } from "../src/shard.js";
import { isRecipient } from "../src/recipient.js";
import { Vault } from "../src/index.js";
import { Fixture, freshHome, tempDir, writePrivate } from "./fixture.js";

test("shard id: first two hex characters of SHA-256 of the path in ASCII lower case", () => {
  const h = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 2);
  assert.equal(shardIdOf("stripe/api-key"), h("stripe/api-key"));
  assert.equal(shardIdOf("Stripe/API-Key"), h("stripe/api-key"));
  assert.equal(shardIdOf("A.B_C-D/e"), h("a.b_c-d/e"));
  assert.match(shardIdOf("x"), /^[0-9a-f]{2}$/);
});

test("a secret whose path has upper case is found in the shard of its lower-case form", async () => {
  const fx = await Fixture.create();
  await fx.write({ agents: ["ci"], groups: { Ops: ["ci"] }, secrets: [{ path: "Ops/DB-Password", value: "pw" }] });
  const kp = writePrivate(path.join(tempDir(), "ci.key"), await fx.agentKeyFile("ci"));
  const v = new Vault({ repoPath: fx.repo, keyPath: kp, home: freshHome(), autoPull: false, env: {} });
  assert.equal(await v.get("Ops/DB-Password"), "pw");
  assert.deepEqual((await v.listSecrets("Ops")).map((i) => i.name), ["Ops/DB-Password"]);
});

test("recipients: lower-case age1 Bech32 of 32 bytes only", async () => {
  const r = await identityToRecipient(await generateX25519Identity());
  assert.equal(r.length, 62);
  assert.ok(isRecipient(r));
  assert.ok(!isRecipient(r.toUpperCase()), "upper case");
  assert.ok(!isRecipient("age1" + r.slice(4).toUpperCase()), "upper-case data");
  const i = r.slice(4).search(/[a-z]/) + 4;
  assert.ok(!isRecipient(r.slice(0, i) + r[i]!.toUpperCase() + r.slice(i + 1)), "mixed case");
  assert.ok(!isRecipient(r.slice(0, -1) + (r.endsWith("q") ? "p" : "q")), "bad checksum");
  assert.ok(!isRecipient(r.slice(0, -1)), "short");
  assert.ok(!isRecipient(r + "q"), "long");
  assert.ok(!isRecipient(` ${r}`), "space");
  assert.ok(!isRecipient(r.replace(/^age1/, "agf1")), "another prefix");
  assert.ok(!isRecipient(42));
});
