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

interface ListItem {
  name: string;
  group: string;
  created: string;
  rotated: string;
  /** "" when the secret does not expire. */
  expires: string;
  authorized_agents: string[] | null;
  allow_hosts: string[] | null;
}

interface VectorCase {
  name: string;
  /** "get" when absent. */
  op?: "get" | "list";
  vault: string;
  key: string | null;
  owner_key?: boolean;
  /** The secret of a get; null for a list. */
  secret: string | null;
  /** The group of a list, or null for every group. */
  list_group?: string | null;
  home?: Record<string, string> | null;
  value_base64?: string | null;
  /** The result of a successful list. */
  list?: ListItem[] | null;
  error: string | null;
  /** Post-quantum set only: the error kind a reader without post-quantum support gives (vault_not_found). */
  error_without_pq?: string;
  /** Files of the home the read must leave holding these top-level JSON fields (path → field → value). */
  home_after?: Record<string, Record<string, unknown>>;
}

/** A time of the vectors (RFC 3339) as milliseconds; "" stays null. */
function timeOf(s: string): number | null {
  if (s === "") return null;
  const t = new Date(s).getTime();
  assert.ok(!Number.isNaN(t), `bad time ${JSON.stringify(s)} in expected.json`);
  return t;
}

/** A relative path that stays inside its base directory. */
function inside(base: string, rel: string): string {
  assert.ok(rel !== "" && !path.isAbsolute(rel) && !rel.split(/[\\/]/).includes(".."), `bad relative path ${JSON.stringify(rel)}`);
  return path.join(base, rel);
}

async function runCase(c: VectorCase): Promise<void> {
  const op = c.op ?? "get";
  assert.ok(op === "get" || op === "list", `unknown op ${String(op)}`);
  assert.equal(typeof c.vault, "string", "case.vault");
  const result = op === "get" ? c.value_base64 ?? null : c.list ?? null;
  assert.ok((result === null) !== (c.error === null), `exactly one of ${op === "get" ? "value_base64" : "list"} and error is non-null`);
  if (op === "get") assert.equal(typeof c.secret, "string", "case.secret");
  else assert.ok(c.list_group === undefined || c.list_group === null || typeof c.list_group === "string", "case.list_group");

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
  const checkError = (e: unknown): boolean => {
    assert.ok(e instanceof AgentVaultError, `not an AgentVaultError: ${String(e)}`);
    assert.equal(e.kind, c.error, `kind ${e.kind} (${e.message})`);
    return true;
  };
  assert.ok(c.error === null || KINDS.has(c.error), `unknown error kind ${c.error}`);
  // The constructor finds the vault (format.md 6.4), so an error may come from it already.
  let vault: Vault;
  try {
    vault = new Vault({
      repoPath: inside(path.join(VECTORS, "vaults"), c.vault),
      ...(keyPath !== undefined ? { keyPath } : {}),
      home,
      autoPull: false,
      env: {},
      logger,
    });
  } catch (e) {
    assert.ok(c.error !== null, `the constructor threw ${String(e)}`);
    checkError(e);
    return;
  }
  try {
    if (op === "list") {
      const group = c.list_group ?? undefined;
      if (c.list === null || c.list === undefined) {
        // strict: a group the vault does not have is an error, as for the CLI's list --group (by default it is
        // [], as agent-vault 0.1 returned it; compat.test.ts tests both).
        await assert.rejects(vault.listSecretsAsync(group, { strict: true }), checkError);
        assert.throws(() => vault.listSecrets(group, { strict: true }), checkError);
        return;
      }
      const sync = vault.listSecrets(group, { strict: true });
      assert.deepEqual(await vault.listSecretsAsync(group, { strict: true }), sync, "listSecrets and listSecretsAsync agree");
      const got = sync.map((i) => ({
        name: i.name,
        group: i.group,
        created: i.created.getTime(),
        rotated: i.rotated.getTime(),
        expires: i.expires?.getTime() ?? null,
        authorized_agents: [...i.authorizedAgents],
        allow_hosts: [...i.allowHosts],
      }));
      const want = c.list.map((w) => ({
        name: w.name,
        group: w.group,
        created: timeOf(w.created),
        rotated: timeOf(w.rotated),
        expires: timeOf(w.expires),
        // The generator writes an empty list as null (a nil Go slice); both mean "none".
        authorized_agents: w.authorized_agents ?? [],
        allow_hosts: w.allow_hosts ?? [],
      }));
      assert.deepEqual(got, want);
    } else if (c.value_base64 !== null && c.value_base64 !== undefined) {
      const secret = c.secret!;
      const want = Buffer.from(c.value_base64, "base64");
      const got = await vault.getBytes(secret);
      assert.deepEqual(Buffer.from(got), want);
      let text: string | null = null;
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(want);
      } catch {
        // not text: get must refuse it
      }
      if (text !== null) assert.equal(await vault.get(secret), text);
      else await assert.rejects(vault.get(secret), (e: unknown) => e instanceof AgentVaultError && /getBytes/.test(e.message));
    } else {
      await assert.rejects(vault.getBytes(c.secret!), checkError);
    }
  } finally {
    vault.close();
  }
  checkHomeAfter(c, home);
}

/** Each file `home_after` names is a JSON object holding the given top-level fields with the same values. */
function checkHomeAfter(c: VectorCase, home: string): void {
  for (const [rel, fields] of Object.entries(c.home_after ?? {})) {
    const got = JSON.parse(fs.readFileSync(inside(home, rel), "utf8")) as Record<string, unknown>;
    for (const [field, want] of Object.entries(fields)) assert.deepEqual(got[field], want, `home_after: ${rel} ${field}`);
  }
}

/** Loads one set's expected file and runs every case as a subtest. */
async function runFile(t: { test: (name: string, fn: () => Promise<void>) => Promise<unknown> }, name: string): Promise<VectorCase[]> {
  const file = path.join(VECTORS, name);
  assert.ok(fs.existsSync(file), `${file} is missing: run the Go vector generator (make vectors)`);
  const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { format: number; cases: VectorCase[] };
  assert.equal(doc.format, 2, `${name} format`);
  assert.ok(Array.isArray(doc.cases) && doc.cases.length > 0, `${name} has cases`);
  const names = new Set<string>();
  for (const c of doc.cases) {
    assert.ok(!names.has(c.name), `duplicate case name ${c.name}`);
    names.add(c.name);
    await t.test(c.name, () => runCase(c));
  }
  return doc.cases;
}

test("shared test vectors (testdata/vectors/expected.json)", async (t) => {
  await runFile(t, "expected.json");
});

// The post-quantum set: this SDK reads post-quantum vaults (docs/format.md 3.8), so every case must reach its own
// outcome, not error_without_pq (what a reader without post-quantum support gives: vault_not_found).
test("shared post-quantum test vectors (testdata/vectors/expected-pq.json)", async (t) => {
  const cases = await runFile(t, "expected-pq.json");
  for (const c of cases) assert.equal(c.error_without_pq, "vault_not_found", `${c.name}: error_without_pq`);
});

// The admins set: vaults whose admin set changed (docs/format.md 4.1), their chains altered, and marks that saw admin
// changes; home_after names the marks a read must leave.
test("shared admin-chain test vectors (testdata/vectors/expected-admins.json)", async (t) => {
  const cases = await runFile(t, "expected-admins.json");
  assert.ok(cases.some((c) => c.home_after !== undefined), "a case checks the marks a read leaves");
});
