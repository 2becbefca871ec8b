import { test } from "node:test";
import assert from "node:assert/strict";
import { checkSecretPath, checkSegment, isValidSecretPath, isValidSegment } from "../src/names.js";
import { AgentVaultError, IntegrityError } from "../src/errors.js";

const segments: Array<[string, boolean]> = [
  ["ci", true],
  ["a", true],
  ["A-Z_a.z-0_9", true],
  ["...", true],
  [".hidden", true],
  ["x".repeat(64), true],
  ["x".repeat(65), false],
  ["", false],
  [".", false],
  ["..", false],
  ["a/b", false],
  ["a b", false],
  ["é", false],
  ["a\n", false],
  ["a\\b", false],
  ["a:b", false],
];

test("segments", async (t) => {
  for (const [s, ok] of segments) {
    await t.test(JSON.stringify(s), () => assert.equal(isValidSegment(s), ok));
  }
});

const paths: Array<[string, boolean]> = [
  ["stripe/api-key", true],
  ["a", true],
  ["a/b/c/d/e/f/g/h", true],
  ["a/b/c/d/e/f/g/h/i", false],
  ["/a", false],
  ["a/", false],
  ["a//b", false],
  ["a/./b", false],
  ["a/../b", false],
  ["..", false],
  ["", false],
  [`${"x".repeat(64)}/${"y".repeat(64)}/${"z".repeat(64)}/${"w".repeat(61)}`, true],
  [`${"x".repeat(64)}/${"y".repeat(64)}/${"z".repeat(64)}/${"w".repeat(62)}`, false],
  ["a/b c", false],
  ["a\\b", false],
  ["a/b\u0000", false],
];

test("secret paths", async (t) => {
  for (const [s, ok] of paths) {
    await t.test(`${JSON.stringify(s.slice(0, 40))} (${s.length})`, () => assert.equal(isValidSecretPath(s), ok));
  }
});

test("typed names are usage errors, repository names integrity errors", () => {
  assert.throws(() => checkSecretPath("../x", "user"), (e: unknown) => e instanceof AgentVaultError && e.kind === "usage");
  assert.throws(() => checkSecretPath("../x", "repo"), (e: unknown) => e instanceof IntegrityError && e.kind === "integrity");
  assert.throws(() => checkSegment("a/b", "user"), (e: unknown) => e instanceof AgentVaultError && e.kind === "usage");
  assert.throws(() => checkSegment("a/b", "repo"), IntegrityError);
  assert.equal(checkSecretPath("a/b", "user"), "a/b");
  assert.equal(isValidSecretPath(42), false);
});
