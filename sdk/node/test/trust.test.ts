import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { AgentVaultError, IntegrityError } from "../src/errors.js";
import {
  checkKnownVault,
  checkRootMark,
  checkSecretMark,
  knownVaultsPath,
  marksPath,
  raiseMarks,
  readMarks,
  recordKnownVault,
} from "../src/trust.js";
import { freshHome } from "./fixture.js";

const VID = "0123456789abcdef0123456789abcdef";
const K1 = "ed25519:" + Buffer.alloc(32, 1).toString("base64");
const K2 = "ed25519:" + Buffer.alloc(32, 2).toString("base64");
const H1 = "a".repeat(64);
const H2 = "b".repeat(64);

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

test("known_vaults: unknown, then recorded 0600, then known; another key is an integrity error", () => {
  const home = path.join(freshHome(), "nested-home");
  assert.equal(checkKnownVault(home, VID, K1), "unknown");
  recordKnownVault(home, VID, K1);
  assert.equal(fs.readFileSync(knownVaultsPath(home), "utf8"), `${VID} ${K1}\n`);
  assert.equal(mode(knownVaultsPath(home)), 0o600);
  assert.equal(mode(home), 0o700);
  assert.equal(checkKnownVault(home, VID, K1), "known");
  assert.throws(() => checkKnownVault(home, VID, K2), IntegrityError);
  recordKnownVault(home, "f".repeat(32), K2);
  assert.equal(checkKnownVault(home, "f".repeat(32), K2), "known");
  assert.equal(checkKnownVault(home, VID, K1), "known");
});

test("root marks: absent is version 0; higher accepted; lower is rollback; same version other hash is fork", () => {
  const home = freshHome();
  let m = readMarks(home, VID);
  assert.equal(m.version, 0);
  assert.equal(checkRootMark(m, VID, 3, H1), true);
  m = raiseMarks(home, VID, { root: { version: 3, rootSha256: H1 } });
  const file = marksPath(home, VID);
  assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), { version: 3, root_sha256: H1, secrets: {} });
  assert.equal(mode(file), 0o600);
  assert.equal(mode(path.dirname(file)), 0o700);
  m = readMarks(home, VID);
  assert.equal(checkRootMark(m, VID, 3, H1), false);
  assert.throws(() => checkRootMark(m, VID, 2, H2), (e: unknown) => e instanceof IntegrityError && /rollback/.test((e as Error).message));
  assert.throws(() => checkRootMark(m, VID, 3, H2), (e: unknown) => e instanceof IntegrityError && /fork/.test((e as Error).message));
  assert.equal(checkRootMark(m, VID, 4, H2), true);
});

test("secret marks and merging: never lowers a mark, keeps unknown fields", () => {
  const home = freshHome();
  const file = marksPath(home, VID);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, JSON.stringify({ version: 9, root_sha256: H1, secrets: { "a/b": 5 }, written_by: "cli" }), { mode: 0o600 });
  const m = readMarks(home, VID);
  assert.throws(() => checkSecretMark(m, VID, "a/b", 4), /rollback/);
  assert.equal(checkSecretMark(m, VID, "a/b", 5), false);
  assert.equal(checkSecretMark(m, VID, "a/b", 6), true);
  assert.equal(checkSecretMark(m, VID, "c", 1), true);
  // A stale update never lowers what is on disk.
  raiseMarks(home, VID, { root: { version: 4, rootSha256: H2 }, secrets: new Map([["a/b", 2], ["c", 1]]) });
  assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), {
    version: 9,
    root_sha256: H1,
    secrets: { "a/b": 5, c: 1 },
    written_by: "cli",
  });
  // Nothing rises: the file is not rewritten.
  const before = fs.statSync(file).ino;
  raiseMarks(home, VID, { secrets: new Map([["a/b", 5]]) });
  assert.equal(fs.statSync(file).ino, before);
  // Leaves no temporary files behind.
  assert.deepEqual(fs.readdirSync(path.dirname(file)), [`${VID}.json`]);
});

test("malformed mark files are refused", () => {
  const home = freshHome();
  const file = marksPath(home, VID);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (const bad of ["{", "[]", '{"version":-1}', '{"version":"3"}', '{"version":1,"secrets":{"a":"x"}}']) {
    fs.writeFileSync(file, bad);
    assert.throws(() => readMarks(home, VID), AgentVaultError, bad);
  }
});
