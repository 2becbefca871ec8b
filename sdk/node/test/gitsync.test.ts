/**
 * Git as the sync layer: URL detection, clones into <home>/cache, pulls before reads, offline fallback with one
 * warning, coalescing. Uses local repositories only (file:// URLs and plain paths).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Vault, VaultNotFoundError } from "../src/index.js";
import { cacheDirFor, isGitUrl, redactUrl } from "../src/gitsync.js";
import { BASIC, Fixture, RecordingLogger, freshHome, tempDir, writePrivate } from "./fixture.js";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.invalid",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", ...args], {
    cwd,
    env: GIT_ENV,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function commitAll(repo: string, msg: string): void {
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", msg);
}

const withValue = (v: string) => ({
  ...BASIC,
  secrets: BASIC.secrets.map((x) => (x.path === "stripe/api-key" ? { ...x, value: v } : x)),
});

async function origin(): Promise<{ fx: Fixture; keyPath: string }> {
  const fx = await Fixture.create();
  git(fx.repo, "init", "-q");
  await fx.write(withValue("sk_canary_value_one"));
  commitAll(fx.repo, "sk_canary_value_one");
  const keyPath = writePrivate(path.join(tempDir(), "ci.key"), await fx.agentKeyFile("ci"));
  return { fx, keyPath };
}

test("Git URL detection", async (t) => {
  const table: Array<[string, boolean]> = [
    ["https://github.com/o/r.git", true],
    ["http://host/r", true],
    ["ssh://git@host/r.git", true],
    ["git://host/r", true],
    ["file:///srv/r.git", true],
    ["git@github.com:o/r.git", true],
    ["deploy@host.example:vaults/r", true],
    ["/home/me/repo", false],
    ["./repo", false],
    ["repo", false],
    ["C:/repo", false],
    ["dir/with@sign:colon", false],
  ];
  for (const [s, ok] of table) await t.test(s, () => assert.equal(isGitUrl(s), ok));
  assert.equal(redactUrl("https://user:tok@host/r"), "https://***@host/r");
  assert.match(cacheDirFor("/h", "https://x/y"), /^\/h\/cache\/[0-9a-f]{16}$/);
});

test("a URL is cloned into <home>/cache and pulled on access", async () => {
  const { fx, keyPath } = await origin();
  const home = freshHome();
  const url = `file://${fx.repo}`;
  const logger = new RecordingLogger();
  const v = new Vault({ repoPath: url, keyPath, home, logger, pullIntervalMs: 0, env: {} });
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_one");
  const clone = cacheDirFor(home, url);
  assert.ok(fs.existsSync(path.join(clone, ".agent-vault", "state", "root")));
  assert.equal(fs.statSync(path.join(home, "cache")).mode & 0o777, 0o700);

  await fx.write(withValue("sk_canary_value_two"));
  commitAll(fx.repo, "sk_canary_value_two");
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_two", "pulled before the read");

  // Offline: the origin disappears; reads use the local copy and warn once.
  fs.renameSync(fx.repo, fx.repo + "-gone");
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_two");
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_two");
  assert.equal(logger.warnings.length, 1, logger.warnings.join("\n"));
  assert.match(logger.warnings[0]!, /could not pull/);
  assert.ok(!logger.warnings[0]!.includes("sk_canary_value_two"));

  // A second Vault reuses the existing clone without network.
  const v2 = new Vault({ repoPath: url, keyPath, home, logger: new RecordingLogger(), autoPull: false, env: {} });
  assert.equal(await v2.get("stripe/api-key"), "sk_canary_value_two");
  fs.renameSync(fx.repo + "-gone", fx.repo); // so that the temporary directory is removed at exit
});

test("an unreachable URL with no clone is vault not found", async () => {
  const home = freshHome();
  const v = new Vault({ repoPath: `file://${tempDir()}/nope.git`, keyStr: "AGE-SECRET-KEY-1QG2E8TS7N30725MD8AHSRAQCSRHNK2KZDVQM5LNU0HCYRN9JF6UQE05M3Z", home, env: {} });
  await assert.rejects(v.get("a/b"), VaultNotFoundError);
  assert.deepEqual(fs.readdirSync(path.join(home, "cache")), [], "no half-made clone is left");
});

test("a local working tree with an upstream is pulled, at most once per interval", async () => {
  const { fx, keyPath } = await origin();
  const work = path.join(tempDir(), "work");
  git(path.dirname(work), "clone", "-q", fx.repo, work);
  const logger = new RecordingLogger();
  const v = new Vault({ repoPath: work, keyPath, home: freshHome(), logger, pullIntervalMs: 60_000, env: {} });
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_one");
  await fx.write(withValue("sk_canary_value_two"));
  commitAll(fx.repo, "sk_canary_value_two");
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_one", "no second pull within the interval");
  const fresh = new Vault({ repoPath: work, keyPath, home: freshHome(), logger, pullIntervalMs: 60_000, env: {} });
  assert.equal(await fresh.get("stripe/api-key"), "sk_canary_value_two", "a new object pulls on its first read");
  // Concurrent reads share one pull.
  await fx.write(withValue("v3"));
  commitAll(fx.repo, "v3");
  const c = new Vault({ repoPath: work, keyPath, home: freshHome(), logger, pullIntervalMs: 60_000, env: {} });
  const got = await Promise.all([c.get("stripe/api-key"), c.get("stripe/api-key"), c.get("stripe/webhook")]);
  assert.deepEqual(got, ["v3", "v3", "whsec_abc"]);
  assert.equal(logger.warnings.length, 0);
});

test("a tree without upstream is read without pulling and without warning", async () => {
  const { fx, keyPath } = await origin();
  const logger = new RecordingLogger();
  const v = new Vault({ repoPath: fx.repo, keyPath, home: freshHome(), logger, pullIntervalMs: 0, env: {} });
  assert.equal(await v.get("stripe/api-key"), "sk_canary_value_one");
  assert.equal(logger.warnings.length, 0);
});
