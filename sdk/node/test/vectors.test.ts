/**
 * The shared test vectors (testdata/vectors/README.md): every case of expected.json, one subtest each, each in a
 * fresh agent-vault home and with no pull. A missing expected.json is a failure, never a skip.
 *
 * AGENT_VAULT_VECTORS may name another vectors directory (for trying a generator's output before it is committed).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { AgentVaultError, Vault } from "../src/index.js";
import { RecordingLogger, freshHome, tempDir, writePrivate } from "./fixture.js";

// dist/test/vectors.test.js → the repository root is four levels up.
const VECTORS = process.env["AGENT_VAULT_VECTORS"] ?? fileURLToPath(new URL("../../../../testdata/vectors/", import.meta.url));
const KINDS = new Set(["usage", "vault_not_found", "not_found", "not_authorized", "integrity", "error"]);

interface VectorCase {
  name: string;
  vault: string;
  key: string | null;
  owner_key?: boolean;
  secret: string;
  home?: Record<string, string> | null;
  value_base64: string | null;
  error: string | null;
}

/** A relative path that stays inside its base directory. */
function inside(base: string, rel: string): string {
  assert.ok(rel !== "" && !path.isAbsolute(rel) && !rel.split(/[\\/]/).includes(".."), `bad relative path ${JSON.stringify(rel)}`);
  return path.join(base, rel);
}

async function runCase(c: VectorCase): Promise<void> {
  assert.equal(typeof c.vault, "string", "case.vault");
  assert.equal(typeof c.secret, "string", "case.secret");
  assert.ok((c.value_base64 === null) !== (c.error === null), "exactly one of value_base64 and error is non-null");

  const home = freshHome();
  for (const [rel, content] of Object.entries(c.home ?? {})) writePrivate(inside(home, rel), content);

  // Key files in Git cannot carry mode 0600 (a checkout makes them 0644, which the reader must refuse), so each
  // key is copied to a private file first.
  let keyPath: string | undefined;
  if (c.key !== null && c.key !== undefined) {
    const src = inside(path.join(VECTORS, "keys"), c.key);
    keyPath = writePrivate(path.join(tempDir("av-vkey-"), path.basename(c.key)), fs.readFileSync(src));
    if (c.owner_key === true) writePrivate(path.join(home, "owner.key"), fs.readFileSync(src));
  }

  const logger = new RecordingLogger();
  const vault = new Vault({
    repoPath: inside(path.join(VECTORS, "vaults"), c.vault),
    ...(keyPath !== undefined ? { keyPath } : {}),
    home,
    autoPull: false,
    env: {},
    logger,
  });
  try {
    if (c.value_base64 !== null) {
      const want = Buffer.from(c.value_base64, "base64");
      const got = await vault.getBytes(c.secret);
      assert.deepEqual(Buffer.from(got), want);
      let text: string | null = null;
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(want);
      } catch {
        // not text: get must refuse it
      }
      if (text !== null) assert.equal(await vault.get(c.secret), text);
      else await assert.rejects(vault.get(c.secret), (e: unknown) => e instanceof AgentVaultError && /getBytes/.test(e.message));
    } else {
      assert.ok(KINDS.has(c.error!), `unknown error kind ${c.error}`);
      await assert.rejects(vault.getBytes(c.secret), (e: unknown) => {
        assert.ok(e instanceof AgentVaultError, `not an AgentVaultError: ${String(e)}`);
        assert.equal(e.kind, c.error, `kind ${e.kind} (${e.message})`);
        return true;
      });
    }
  } finally {
    vault.close();
  }
}

test("shared test vectors (testdata/vectors/expected.json)", async (t) => {
  const file = path.join(VECTORS, "expected.json");
  assert.ok(fs.existsSync(file), `${file} is missing: run the Go vector generator (make vectors)`);
  const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { format: number; cases: VectorCase[] };
  assert.equal(doc.format, 1, "expected.json format");
  assert.ok(Array.isArray(doc.cases) && doc.cases.length > 0, "expected.json has cases");
  const names = new Set<string>();
  for (const c of doc.cases) {
    assert.ok(!names.has(c.name), `duplicate case name ${c.name}`);
    names.add(c.name);
    await t.test(c.name, () => runCase(c));
  }
});
