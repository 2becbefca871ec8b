/**
 * Finding the vault (format.md 6.4): upwards as Git finds `.git`, passing over the agent-vault home and plain files
 * named `.agent-vault`; the constructor searches and throws VaultNotFoundError when there is no vault.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { IntegrityError, Vault, VaultNotFoundError } from "../src/index.js";
import { locateVault } from "../src/layout.js";
import { BASIC, Fixture, tempDir, writePrivate } from "./fixture.js";

/** A HOME whose ~/.agent-vault holds keys (as after `agent-vault init` and `add-agent`), with a project below. */
function homeWithKeys(): { home: string; av: string; project: string } {
  const home = tempDir("av-home-user-");
  const av = path.join(home, ".agent-vault");
  writePrivate(path.join(av, "owner.key"), "# owner key\n");
  writePrivate(path.join(av, "agents", "ci.key"), "# agent key\n");
  fs.writeFileSync(path.join(av, "known_vaults"), "");
  const project = path.join(home, "project");
  fs.mkdirSync(path.join(project, "src"), { recursive: true });
  return { home, av, project };
}

test("the constructor refuses a directory with no vault: the agent-vault home above it is not one", () => {
  const { home, project } = homeWithKeys();
  const savedHome = process.env["HOME"];
  const savedCwd = process.cwd();
  process.env["HOME"] = home; // ~/.agent-vault is the home: no AGENT_VAULT_HOME, no home option
  try {
    process.chdir(project);
    assert.throws(() => new Vault({ repoPath: ".", env: {} }), (e: unknown) => {
      assert.ok(e instanceof VaultNotFoundError, String(e));
      assert.match((e as Error).message, /no \.agent-vault\/ vault in/);
      return true;
    });
    assert.throws(() => new Vault({ repoPath: "src", env: {}, autoPull: false }), VaultNotFoundError);
    assert.throws(() => new Vault({ repoPath: "~/project", env: {} }), VaultNotFoundError);
  } finally {
    process.chdir(savedCwd);
    process.env["HOME"] = savedHome;
  }
});

test("the home is recognised from AGENT_VAULT_HOME, the home option, and through symbolic links", () => {
  const { av, project } = homeWithKeys();
  assert.throws(() => new Vault({ repoPath: project, env: { AGENT_VAULT_HOME: av } }), VaultNotFoundError);
  assert.throws(() => new Vault({ repoPath: project, home: av, env: {} }), VaultNotFoundError);
  const link = path.join(tempDir("av-link-"), "home-link");
  fs.symlinkSync(av, link);
  assert.throws(() => new Vault({ repoPath: project, home: link, env: {} }), VaultNotFoundError, "home given as a link to it");
  // A .agent-vault that is a symbolic link to the home is the home, not a vault (and no integrity error).
  const other = tempDir("av-proj-");
  fs.symlinkSync(av, path.join(other, ".agent-vault"));
  assert.throws(() => locateVault(other, [av]), /is the agent-vault home/);
  // Not a home: the same directory is then an ordinary vault candidate.
  assert.equal(locateVault(project, [path.join(tempDir(), "elsewhere")]).vaultDir, av);
});

test("both ~/.agent-vault and $AGENT_VAULT_HOME are passed over, whichever home the reader uses", () => {
  const { home, av, project } = homeWithKeys();
  const other = homeWithKeys();
  const savedHome = process.env["HOME"];
  process.env["HOME"] = home;
  try {
    // The reader's home is elsewhere, but ~/.agent-vault is still no vault.
    assert.throws(() => new Vault({ repoPath: project, home: other.av, env: {} }), VaultNotFoundError);
    // $AGENT_VAULT_HOME names another home than the one given: both are passed over.
    assert.throws(() => new Vault({ repoPath: other.project, home: av, env: { AGENT_VAULT_HOME: other.av } }), VaultNotFoundError);
  } finally {
    process.env["HOME"] = savedHome;
  }
});

test("the search goes on past the home and past plain files to the vault above", async () => {
  const fx = await Fixture.create();
  await fx.write(BASIC);
  const home = path.join(fx.repo, "users", "me");
  const av = path.join(home, ".agent-vault");
  writePrivate(path.join(av, "owner.key"), fx.ownerKeyFile());
  const project = path.join(home, "project");
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, ".agent-vault"), "a plain file is not a vault\n");
  assert.deepEqual(locateVault(project, [av]), { vaultDir: fx.vaultDir, workTree: fx.repo });
  const v = new Vault({ repoPath: project, home: av, autoPull: false, env: {} });
  assert.equal(await v.get("db/password"), "hunter2");
});

test("a .agent-vault that is a symbolic link (not to the home) is an integrity error from the constructor", async () => {
  const fx = await Fixture.create();
  await fx.write(BASIC);
  const linked = tempDir("av-linked-");
  fs.symlinkSync(fx.vaultDir, path.join(linked, ".agent-vault"));
  assert.throws(() => new Vault({ repoPath: linked, home: path.join(tempDir(), "h"), env: {} }), IntegrityError);
});

test("a Git URL is not searched at construction (it is cloned on first use)", () => {
  const v = new Vault({ repoPath: "file:///nonexistent/agent-vault-test.git", home: path.join(tempDir(), "h"), env: {} });
  v.close();
});
