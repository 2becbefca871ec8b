/**
 * Several admins (format.md 4.1), live: vaults written by the real CLI ($AGENT_VAULT_BIN), read by this SDK. A pinned
 * agent follows the chain of admin changes from the founding owner's key; a second admin reads with its own owner
 * key; a removed admin's later signatures and an admin added by someone without an admin key are refused.
 */

import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { IntegrityError, NotAuthorizedError, Vault } from "../src/index.js";
import { tempDir } from "./fixture.js";

const BIN = process.env["AGENT_VAULT_BIN"] ?? "";

class World {
  readonly repo: string;
  readonly gitcfg: string;
  constructor(readonly base: string) {
    this.repo = path.join(base, "repo");
    this.gitcfg = path.join(base, "gitconfig");
  }
  home(who: string): string {
    return path.join(this.base, `${who}-home`);
  }
  av(who: string): string {
    return path.join(this.home(who), ".agent-vault");
  }
  cli(who: string, args: string[], stdin = ""): string {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("AGENT_VAULT_") && !k.startsWith("GIT_")) env[k] = v;
    const res = spawnSync(BIN, args, {
      cwd: this.repo,
      env: { ...env, HOME: this.home(who), GIT_CONFIG_GLOBAL: this.gitcfg, GIT_CONFIG_NOSYSTEM: "1" },
      input: stdin,
      timeout: 60_000,
    });
    if (res.error) throw res.error;
    if (res.status !== 0) throw new Error(`agent-vault ${args.join(" ")} (${who}) exited ${res.status}: ${res.stderr.toString()}`);
    return res.stdout.toString();
  }
  agent(home = this.av("agent")): Vault {
    return new Vault({ repoPath: this.repo, keyPath: path.join(this.av("owner"), "agents", "ci.key"), home, autoPull: false, env: {} });
  }
}

let w: World;

before(() => {
  assert.ok(BIN !== "" && fs.existsSync(BIN), "AGENT_VAULT_BIN must name the agent-vault binary (make test-node sets it)");
  w = new World(tempDir("av-admins-"));
  fs.writeFileSync(w.gitcfg, "[user]\n\tname = Vault Owner\n\temail = owner@example.invalid\n[init]\n\tdefaultBranch = main\n");
  for (const who of ["owner", "bob", "agent", "fresh"]) fs.mkdirSync(w.home(who));
  spawnSync(BIN, ["init", w.repo], { env: { ...process.env, HOME: w.home("owner"), GIT_CONFIG_GLOBAL: w.gitcfg, GIT_CONFIG_NOSYSTEM: "1" } });
  w.cli("owner", ["add-agent", "ci"]);
  w.cli("owner", ["set", "app/key"], "v-owner");
  w.cli("owner", ["grant", "ci", "app"]);
});

test("a second admin signs; agents follow the chain; a removed admin's history and a forged admin are refused", async () => {
  const keys = w.cli("bob", ["admin", "key"]);
  const rcpt = /^recipient: (\S+)$/m.exec(keys)![1]!;
  const vk = /^verify-key: (\S+)$/m.exec(keys)![1]!;
  w.cli("owner", ["admin", "add", "bob", "--recipient", rcpt, "--verify-key", vk]);
  w.cli("bob", ["set", "app/bob"], "v-bob");

  const agent = w.agent();
  assert.equal(await agent.get("app/bob"), "v-bob");
  const bob = new Vault({ repoPath: w.repo, keyPath: path.join(w.av("bob"), "owner.key"), home: w.av("bob"), autoPull: false, env: {} });
  assert.equal(await bob.get("app/key"), "v-owner");
  // An admin's key may serve several vaults: no first-use line binds it to this one.
  assert.ok(!fs.readFileSync(path.join(w.av("bob"), "known_vaults"), "utf8").split("\n").some((l) => l.startsWith("key ")));

  const before = path.join(w.base, "before-removal");
  execFileSync("cp", ["-a", path.join(w.repo, ".agent-vault"), before]);
  w.cli("owner", ["admin", "remove", "bob"]);
  agent.reload();
  assert.equal(await agent.get("app/bob"), "v-bob");
  bob.reload();
  await assert.rejects(bob.get("app/key"), NotAuthorizedError);

  // Bob signs, from the copy he kept, a later state without his removal: refused where the removal was seen.
  const vaultDir = path.join(w.repo, ".agent-vault");
  const removed = path.join(w.base, "after-removal");
  fs.renameSync(vaultDir, removed);
  execFileSync("cp", ["-a", before, vaultDir]);
  fs.mkdirSync(w.av("bob2"), { recursive: true, mode: 0o700 });
  fs.copyFileSync(path.join(w.av("bob"), "owner.key"), path.join(w.av("bob2"), "owner.key"));
  for (const p of ["app/b1", "app/b2", "app/b3"]) w.cli("bob2", ["set", p], "forked");
  agent.reload();
  await assert.rejects(agent.get("app/b3"), (e) => e instanceof IntegrityError && /admin change \d+/.test(e.message));
  fs.rmSync(vaultDir, { recursive: true });
  fs.renameSync(removed, vaultDir);

  // Someone without an admin key adds themselves to the admin set: the signature no longer verifies.
  const chain = path.join(vaultDir, "state", "admins");
  const last = fs.readdirSync(chain).sort((a, b) => Number(a) - Number(b)).at(-1)!;
  for (const f of [path.join(chain, last), path.join(vaultDir, "state", "root")]) {
    const text = fs.readFileSync(f, "utf8").replace('"members":{', `"members":{"mallory":{"recipient":"${rcpt}","verify_key":"${vk}"},`);
    fs.writeFileSync(f, text);
  }
  for (const home of [w.av("agent"), w.av("fresh")]) {
    await assert.rejects(w.agent(home).get("app/key"), IntegrityError);
  }
});
