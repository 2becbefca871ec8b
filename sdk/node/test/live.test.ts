/**
 * Live tests: vaults written by the real CLI ($AGENT_VAULT_BIN), read by this SDK.
 *
 * Every vault here is made during the test by the `agent-vault` binary (`make test-node` points AGENT_VAULT_BIN at
 * the freshly built bin/agent-vault): init, add-agent, set with values on standard input, grant, revoke, and Git
 * pushes to local bare remotes. Each test works in its own copy of a template made once, with its own HOMEs (so
 * ~/.agent-vault is isolated): one for the owner, who runs the CLI, and one for the agent's machine, where the SDK
 * reads. Git takes its identity from a GIT_CONFIG_GLOBAL file, with GIT_CONFIG_NOSYSTEM=1. No network is used:
 * remotes are local bare repositories, reached by path or by file:// URL.
 *
 * A missing binary fails this file: these tests are never skipped.
 */

import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import {
  AgentVaultError,
  IntegrityError,
  NotAuthorizedError,
  SecretNotFoundError,
  Vault,
  VaultNotFoundError,
  type VaultOptions,
} from "../src/index.js";
import { RecordingLogger, baseEnv, isolateProcess, tempDir } from "./fixture.js";

const BIN = process.env["AGENT_VAULT_BIN"] ?? "";

const enc = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

/** The values of the template vault, set through the CLI's standard input. */
const VALUES: ReadonlyMap<string, Uint8Array> = new Map([
  ["app/text", enc("sk_live_abc123")],
  ["app/binary", new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), 0x00, 0xff, 0x0d, 0x0a])],
  ["app/multiline", enc("line one\nline two\r\n\n  indented\tand tabbed\n")],
  ["app/unicode", enc("pässwörd – 日本語 ✓ 🔑")],
  ["app/expiring", enc("short-lived")],
  ["app/large", Uint8Array.from({ length: 1 << 20 }, (_, i) => Number((BigInt(i) * 2654435761n) >> 13n) & 0xff)], // 1 MiB, the largest value
  ["shared/token", enc("placed in group app")],
  ["infra/db-url", enc("postgres://u:p@db.internal/app")],
  ["infra/extra", enc("readable by ci as an extra recipient")],
]);
const EXPIRES = "2031-01-02T03:04:05Z";
/** Options given to `set` beyond the value. */
const SET_FLAGS: Record<string, string[]> = {
  "app/expiring": ["--expires", EXPIRES],
  "shared/token": ["--group", "app"], // placed in a group other than its first segment
  "infra/extra": ["--agents", "ci"], // ci is not a member of infra, but an extra recipient of this secret
};
/** What agent ci (granted group app) can read. */
const CI_READABLE = [...[...VALUES.keys()].filter((p) => p.startsWith("app/")), "shared/token", "infra/extra"].sort();
const TEXT_NEW = "sk_live_rotated_456";

/** CLI exit status of each error kind (format.md section 7). */
const EXIT: Record<string, number> = { error: 1, usage: 2, vault_not_found: 3, not_found: 4, not_authorized: 5, integrity: 6 };

// The SDK's own git commands (pulls, clones) and `~` expansion see only temporary directories.
isolateProcess("av-live-process-home-");


interface CliOpts {
  stdin?: Uint8Array | string;
  home?: string;
  cwd?: string;
  env?: Record<string, string>;
  check?: boolean;
}

/**
 * A directory holding a vault repository made by the CLI, the owner's HOME, the agent's HOME and the Git identity
 * file, all relative to `base`, so that a copy of the directory is an independent world.
 */
class World {
  constructor(readonly base: string) {}
  get repo(): string {
    return path.join(this.base, "repo");
  }
  get gitcfg(): string {
    return path.join(this.base, "gitconfig");
  }
  get ownerHome(): string {
    return path.join(this.base, "owner-home");
  }
  get agentHome(): string {
    return path.join(this.base, "agent-home");
  }
  /** The agent-vault home of the agent's machine, where the SDK keeps marks, known vaults and clones. */
  get agentAV(): string {
    return path.join(this.agentHome, ".agent-vault");
  }
  get ownerAV(): string {
    return path.join(this.ownerHome, ".agent-vault");
  }
  /** The agent's key file as the owner's add-agent wrote it. */
  agentKey(name = "ci"): string {
    return path.join(this.ownerAV, "agents", `${name}.key`);
  }

  /** Runs the CLI (as the owner unless `home` says otherwise) in `cwd` (default: the repository). */
  cli(args: string[], o: CliOpts = {}): { status: number; stdout: Buffer; stderr: string } {
    const res = spawnSync(BIN, args, {
      cwd: o.cwd ?? this.repo,
      env: { ...baseEnv(o.home ?? this.ownerHome, this.gitcfg), ...(o.env ?? {}) },
      input: o.stdin ?? "",
      timeout: 60_000,
    });
    if (res.error) throw res.error;
    const out = { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr.toString() };
    if ((o.check ?? true) && out.status !== 0) throw new Error(`agent-vault ${args.join(" ")} exited ${out.status}: ${out.stderr}`);
    return out;
  }

  /** `agent-vault set` with the value on standard input (never in argv). */
  set(secret: string, value: Uint8Array | string, ...flags: string[]): void {
    this.cli(["set", secret, ...flags], { stdin: value });
  }

  git(cwd: string, ...args: string[]): string {
    return execFileSync("git", args, { cwd, env: baseEnv(this.ownerHome, this.gitcfg), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  vaultId(): string {
    const m = /^vault_id: "([0-9a-f]+)"$/m.exec(fs.readFileSync(path.join(this.repo, ".agent-vault", "config.yaml"), "utf8"));
    assert.ok(m, "vault_id in config.yaml");
    return m[1]!;
  }

  /** A Vault reading as the agent's machine (its home, an empty environment, no pulls) unless overridden. */
  open(extra: Partial<VaultOptions> = {}): Vault {
    return new Vault({ repoPath: this.repo, keyPath: this.agentKey(), home: this.agentAV, autoPull: false, env: {}, ...extra });
  }

  /** A Vault reading as the owner: the owner's home, whose owner.key is the default key. */
  openAsOwner(extra: Partial<VaultOptions> = {}): Vault {
    return new Vault({ repoPath: this.repo, home: this.ownerAV, autoPull: false, env: {}, ...extra });
  }
}

/** Copies a directory tree with modes and symbolic links as they are. */
function copyTree(from: string, to: string): void {
  execFileSync("cp", ["-a", from, to]);
}

let template: World;

before(() => {
  if (BIN === "" || !fs.existsSync(BIN)) {
    throw new Error(
      `AGENT_VAULT_BIN=${JSON.stringify(BIN)} is not an agent-vault binary. These live tests need the CLI: run ` +
        "`make test-node`, or build it (`make build`) and export AGENT_VAULT_BIN=$PWD/bin/agent-vault.",
    );
  }
  fs.accessSync(BIN, fs.constants.X_OK);
  const w = new World(path.join(tempDir("av-live-template-"), "world"));
  fs.mkdirSync(w.base);
  fs.writeFileSync(
    w.gitcfg,
    "[user]\n\tname = Vault Owner\n\temail = owner@example.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n",
  );
  fs.mkdirSync(w.ownerHome);
  fs.mkdirSync(w.agentHome);
  w.cli(["init", w.repo], { cwd: w.base });
  w.cli(["add-agent", "ci"]);
  w.cli(["add-agent", "intruder"]);
  for (const [p, v] of VALUES) w.set(p, v, ...(SET_FLAGS[p] ?? []));
  w.cli(["grant", "ci", "app"]);
  assert.equal(w.git(w.repo, "log", "-1", "--format=%an <%ae>").trim(), "Vault Owner <owner@example.invalid>");
  template = w;
});

/** A private copy of the template. */
function world(): World {
  const w = new World(path.join(tempDir("av-live-"), "world"));
  copyTree(template.base, w.base);
  return w;
}

function kind(k: string, cls?: Function): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof AgentVaultError, `not an AgentVaultError: ${String(e)}`);
    assert.equal(e.kind, k, e.message);
    if (cls !== undefined) assert.ok(e instanceof cls, `${e.name} is not a ${cls.name}`);
    else assert.equal(e.constructor, AgentVaultError, `${e.name} should be the base class`);
    return true;
  };
}

const str = (b: Uint8Array) => Buffer.from(b).toString("utf8");

// -- reading -----------------------------------------------------------------------------------------------------

test("the owner reads every value exactly, as the CLI does", async () => {
  const w = world();
  const v = w.openAsOwner(); // no key given: <home>/owner.key
  for (const [p, value] of VALUES) {
    assert.deepEqual(await v.getBytes(p), value, p);
    assert.deepEqual(new Uint8Array(w.cli(["get", p, "--no-pull"]).stdout), value, `CLI ${p}`);
  }
  assert.equal(await v.get("app/unicode"), "pässwörd – 日本語 ✓ 🔑");
  assert.equal(await v.get("app/multiline"), "line one\nline two\r\n\n  indented\tand tabbed\n");
  assert.equal(await v.get("infra/db-url"), "postgres://u:p@db.internal/app");
  v.close();
});

test("the agent reads with keyPath, pinned: no trust on first use", async () => {
  const w = world();
  const logger = new RecordingLogger();
  const v = w.open({ logger });
  for (const p of CI_READABLE) assert.deepEqual(await v.getBytes(p), VALUES.get(p), p);
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  assert.deepEqual(logger.warnings, []);
  assert.ok(!fs.existsSync(path.join(w.agentAV, "known_vaults")));
  const marks = JSON.parse(fs.readFileSync(path.join(w.agentAV, "state", `${w.vaultId()}.json`), "utf8"));
  assert.ok(marks.version >= 1 && "app/text" in marks.secrets);
});

test("the agent reads with keyStr holding the whole key file", async () => {
  const w = world();
  const content = fs.readFileSync(w.agentKey(), "utf8");
  assert.match(content, /# agent-vault-owner-verify-key: /);
  const v = w.open({ keyPath: undefined, keyStr: content });
  assert.equal(await v.get("app/unicode"), "pässwörd – 日本語 ✓ 🔑");
  assert.deepEqual(await v.getBytes("app/binary"), VALUES.get("app/binary"));
});

test("the agent reads from a subdirectory of the repository", async () => {
  const w = world();
  const sub = path.join(w.repo, "src", "deep");
  fs.mkdirSync(sub, { recursive: true });
  assert.equal(await w.open({ repoPath: sub }).get("app/text"), "sk_live_abc123");
});

for (const form of ["whole file", "identity line", "path"] as const) {
  test(`the agent reads with AGENT_VAULT_KEY holding the ${form}`, async () => {
    const w = world();
    const content = fs.readFileSync(w.agentKey(), "utf8");
    const identity = content.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
    const value = form === "whole file" ? content : form === "identity line" ? identity : w.agentKey();
    const logger = new RecordingLogger();
    const v = w.open({ keyPath: undefined, env: { AGENT_VAULT_KEY: value }, logger });
    assert.equal(await v.get("app/text"), "sk_live_abc123");
    assert.equal(await v.get("app/multiline"), str(VALUES.get("app/multiline")!));
    // The CLI takes the same variable in the same forms.
    assert.equal(w.cli(["get", "app/text", "--no-pull"], { home: w.agentHome, env: { AGENT_VAULT_KEY: value } }).stdout.toString(), "sk_live_abc123");
    if (form === "identity line") {
      // No pins: trust on first use, said once, recorded for the next reader.
      assert.equal(logger.warnings.length, 1, logger.warnings.join("\n"));
      assert.match(logger.warnings[0]!, /first use/);
      assert.equal(fs.readFileSync(path.join(w.agentAV, "known_vaults"), "utf8").split(" ")[0], w.vaultId());
    } else {
      assert.deepEqual(logger.warnings, []);
    }
  });
}

test("AGENT_VAULT_KEY is read from process.env by default", async () => {
  const w = world();
  process.env["AGENT_VAULT_KEY"] = fs.readFileSync(w.agentKey(), "utf8");
  try {
    const v = new Vault({ repoPath: w.repo, home: w.agentAV, autoPull: false });
    assert.equal(await v.get("app/text"), "sk_live_abc123");
  } finally {
    delete process.env["AGENT_VAULT_KEY"];
  }
});

test("listSecrets returns the metadata the CLI lists", async () => {
  const w = world();
  const v = w.open();
  const infos = await v.listSecrets();
  assert.deepEqual(infos.map((i) => i.name), CI_READABLE);
  assert.deepEqual((await v.listSecrets("app")).map((i) => i.name), CI_READABLE.filter((p) => p !== "infra/extra"));
  assert.deepEqual((await v.listSecrets("infra")).map((i) => i.name), ["infra/extra"]);
  // An unknown group: [] by default, as in agent-vault 0.1; an error with strict.
  assert.deepEqual(v.listSecrets("no-such-group"), []);
  assert.deepEqual(await v.listSecretsAsync("no-such-group"), []);
  await assert.rejects(v.listSecretsAsync("no-such-group", { strict: true }), kind("not_found", SecretNotFoundError));
  assert.throws(() => v.listSecrets("no-such-group", { strict: true }), kind("not_found", SecretNotFoundError));
  const byName = new Map(infos.map((i) => [i.name, i]));
  const exp = byName.get("app/expiring")!;
  assert.equal(exp.expires?.toISOString(), "2031-01-02T03:04:05.000Z");
  assert.equal(exp.group, "app");
  assert.deepEqual(exp.authorizedAgents, ["ci"]);
  assert.equal(byName.get("shared/token")!.group, "app");
  assert.equal(byName.get("infra/extra")!.group, "infra");
  assert.deepEqual(byName.get("infra/extra")!.authorizedAgents, ["ci"]);
  for (const i of infos) {
    assert.ok(i.rotated.getTime() >= i.created.getTime());
    if (i.name !== "app/expiring") assert.equal(i.expires, null);
  }
  const cli = JSON.parse(w.cli(["list", "--json", "--key", w.agentKey()], { home: w.agentHome }).stdout.toString()) as Array<Record<string, unknown>>;
  assert.deepEqual(cli.map((c) => c["name"]), CI_READABLE);
  for (const c of cli) {
    const i = byName.get(c["name"] as string)!;
    assert.equal(c["group"], i.group);
    assert.deepEqual(c["authorized_agents"], i.authorizedAgents);
    assert.deepEqual(c["allow_hosts"] ?? [], i.allowHosts);
    assert.equal(new Date(c["created"] as string).getTime(), i.created.getTime());
    assert.equal(new Date(c["rotated"] as string).getTime(), i.rotated.getTime());
    assert.equal(c["expires"] === null ? null : new Date(c["expires"] as string).getTime(), i.expires?.getTime() ?? null);
  }
  const owner = w.openAsOwner();
  assert.deepEqual((await owner.listSecrets()).map((i) => i.name), [...VALUES.keys()].sort());
  assert.deepEqual(
    (await owner.listSecrets("infra")).map((i) => [i.name, i.authorizedAgents]),
    [["infra/db-url", []], ["infra/extra", ["ci"]]],
  );
});

test("a rotated value is read by the same Vault object", async () => {
  const w = world();
  const v = w.open();
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  const created = (await v.listSecrets()).find((i) => i.name === "app/text")!.created;
  w.set("app/text", TEXT_NEW);
  assert.equal(await v.get("app/text"), TEXT_NEW);
  const info = (await v.listSecrets()).find((i) => i.name === "app/text")!;
  assert.equal(info.created.getTime(), created.getTime());
  assert.ok(info.rotated.getTime() >= created.getTime());
});

test("a deleted secret is not found; re-created, it reads again", async () => {
  const w = world();
  const v = w.open();
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  w.cli(["rm", "app/text"]);
  await assert.rejects(v.get("app/text"), kind("not_found", SecretNotFoundError));
  assert.ok(!(await v.listSecrets()).some((i) => i.name === "app/text"));
  w.set("app/text", TEXT_NEW); // a new entry: its version is above the mark the first read left
  assert.equal(await v.get("app/text"), TEXT_NEW);
});

test("a recovered agent key replaces the old one", async () => {
  const w = world();
  const oldKey = path.join(w.agentHome, "ci-old.key");
  fs.copyFileSync(w.agentKey(), oldKey);
  const old = w.open({ keyPath: oldKey });
  assert.equal(await old.get("app/text"), "sk_live_abc123");
  w.cli(["recover-agent", "ci"]); // writes a new key file in place of the old one
  await assert.rejects(old.get("app/text"), kind("not_authorized", NotAuthorizedError));
  assert.notEqual(fs.readFileSync(w.agentKey(), "utf8"), fs.readFileSync(oldKey, "utf8"));
  const fresh = w.open();
  assert.equal(await fresh.get("app/text"), "sk_live_abc123");
  assert.deepEqual((await fresh.listSecrets()).map((i) => i.name), CI_READABLE);
});

// -- every error kind ------------------------------------------------------------------------------------------

test("no vault: VaultNotFoundError from the constructor (CLI exit 3)", async () => {
  const w = world();
  const empty = tempDir("av-live-empty-");
  assert.throws(() => w.open({ repoPath: empty }), kind("vault_not_found", VaultNotFoundError));
  const res = w.cli(["get", "app/text", "--key", w.agentKey()], { cwd: empty, home: w.agentHome, check: false });
  assert.equal(res.status, EXIT["vault_not_found"]);
  assert.equal(res.stdout.length, 0);
});

test("the agent-vault home is never a vault: a project below HOME with no vault is VaultNotFoundError (CLI exit 3)", async () => {
  const w = world();
  // The owner's HOME: ~/.agent-vault holds owner.key and agent keys made by the CLI.
  assert.ok(fs.existsSync(path.join(w.ownerAV, "owner.key")));
  const project = path.join(w.ownerHome, "project");
  fs.mkdirSync(path.join(project, "src"), { recursive: true });
  assert.throws(() => new Vault({ repoPath: project, home: w.ownerAV, env: {} }), kind("vault_not_found", VaultNotFoundError));
  assert.throws(() => new Vault({ repoPath: path.join(project, "src"), env: { AGENT_VAULT_HOME: w.ownerAV } }), kind("vault_not_found", VaultNotFoundError));
  const res = w.cli(["get", "app/text"], { cwd: project, check: false });
  assert.equal(res.status, EXIT["vault_not_found"], res.stderr);
});

test("no key: VaultNotFoundError (CLI exit 3)", async () => {
  const w = world();
  // The agent's machine has no owner.key, and the environment has no AGENT_VAULT_KEY.
  await assert.rejects(w.open({ keyPath: undefined }).get("app/text"), kind("vault_not_found", VaultNotFoundError));
  assert.equal(w.cli(["get", "app/text"], { home: w.agentHome, check: false }).status, EXIT["vault_not_found"]);
});

test("unknown secret: SecretNotFoundError (CLI exit 4)", async () => {
  const w = world();
  await assert.rejects(w.open().get("app/no-such-secret"), kind("not_found", SecretNotFoundError));
  const res = w.cli(["get", "app/no-such-secret", "--key", w.agentKey()], { home: w.agentHome, check: false });
  assert.equal(res.status, EXIT["not_found"]);
});

test("ungranted agent: NotAuthorizedError (CLI exit 5)", async () => {
  const w = world();
  const v = w.open({ keyPath: w.agentKey("intruder") });
  await assert.rejects(v.get("app/text"), (e: unknown) => {
    kind("not_authorized", NotAuthorizedError)(e);
    assert.ok(!(e as Error).message.includes("sk_live"));
    return true;
  });
  assert.deepEqual(await v.listSecrets(), []);
  // ci is granted app but not infra.
  await assert.rejects(w.open().get("infra/db-url"), kind("not_authorized", NotAuthorizedError));
  const res = w.cli(["get", "app/text", "--key", w.agentKey("intruder")], { home: w.agentHome, check: false });
  assert.equal(res.status, EXIT["not_authorized"]);
  assert.equal(res.stdout.length, 0);
});

test("revoked and removed agents: NotAuthorizedError", async () => {
  const w = world();
  const v = w.open();
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  w.cli(["revoke", "ci", "app"]);
  await assert.rejects(v.get("app/text"), kind("not_authorized", NotAuthorizedError));
  await assert.rejects(v.get("shared/token"), kind("not_authorized", NotAuthorizedError), "placed in app");
  assert.deepEqual((await v.listSecrets()).map((i) => i.name), ["infra/extra"], "an extra recipient, not through app");
  assert.equal(await v.get("infra/extra"), str(VALUES.get("infra/extra")!));
  w.cli(["grant", "ci", "app"]);
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  w.cli(["remove-agent", "ci"]);
  await assert.rejects(v.get("app/text"), (e: unknown) => {
    kind("not_authorized", NotAuthorizedError)(e);
    assert.match((e as Error).message, /neither the owner nor an agent/);
    return true;
  });
});

test("tampered ciphertext: IntegrityError (CLI exit 6)", async () => {
  const w = world();
  const file = path.join(w.repo, ".agent-vault", "secrets", "app", "text.enc");
  const data = fs.readFileSync(file);
  data[data.length - 1] = data[data.length - 1]! ^ 0x01;
  fs.writeFileSync(file, data);
  const v = w.open();
  await assert.rejects(v.get("app/text"), (e: unknown) => {
    kind("integrity", IntegrityError)(e);
    assert.match((e as Error).message, /text\.enc/);
    return true;
  });
  assert.equal(await v.get("app/unicode"), "pässwörd – 日本語 ✓ 🔑", "the other secrets still read");
  const res = w.cli(["get", "app/text", "--key", w.agentKey()], { home: w.agentHome, check: false });
  assert.equal(res.status, EXIT["integrity"]);
  assert.equal(res.stdout.length, 0);
});

test("rolled-back state: IntegrityError", async () => {
  const w = world();
  const old = path.join(tempDir("av-live-old-"), "repo");
  copyTree(w.repo, old);
  w.set("app/text", TEXT_NEW);
  assert.equal(await w.open().get("app/text"), TEXT_NEW);
  const v = w.open({ repoPath: old });
  await assert.rejects(v.get("app/text"), (e: unknown) => {
    kind("integrity", IntegrityError)(e);
    assert.match((e as Error).message, /rollback/);
    return true;
  });
  await assert.rejects(v.listSecretsAsync(), kind("integrity", IntegrityError), "the root itself is older than the mark");
  assert.throws(() => v.listSecrets(), kind("integrity", IntegrityError), "the root itself is older than the mark");
});

test("usage errors and other errors are the base class with their kind", async () => {
  const w = world();
  const v = w.open();
  for (const bad of ["../app/text", "/app/text", "app//text", ""]) {
    await assert.rejects(v.get(bad), kind("usage"), JSON.stringify(bad));
  }
  // A binary value through get(): kind "error", and the message does not carry the value.
  await assert.rejects(v.get("app/binary"), (e: unknown) => {
    kind("error")(e);
    assert.match((e as Error).message, /getBytes/);
    return true;
  });
  v.close();
  await assert.rejects(v.get("app/text"), kind("usage"), "closed");
  assert.throws(() => new Vault({ repoPath: w.repo, keyStr: 42 as unknown as string }), kind("usage"));
});

test("a key file others can read is refused (CLI exit 3)", async () => {
  const w = world();
  const loose = path.join(w.agentHome, "loose.key");
  fs.copyFileSync(w.agentKey(), loose);
  fs.chmodSync(loose, 0o644);
  await assert.rejects(w.open({ keyPath: loose }).get("app/text"), kind("vault_not_found", VaultNotFoundError));
  assert.equal(w.cli(["get", "app/text", "--key", loose], { home: w.agentHome, check: false }).status, EXIT["vault_not_found"]);
});

// -- pulling -----------------------------------------------------------------------------------------------------

/** Makes `remote` a bare clone of the owner's repository and the owner's upstream. */
function publish(w: World, remote: string): void {
  w.git(w.base, "clone", "-q", "--bare", w.repo, remote);
  w.git(w.repo, "remote", "add", "origin", remote);
  w.git(w.repo, "fetch", "-q", "origin");
  w.git(w.repo, "branch", "-q", "--set-upstream-to=origin/main");
}

function agentClone(w: World, remote: string): string {
  const clone = path.join(w.base, "agent-clone");
  w.git(w.base, "clone", "-q", remote, clone);
  return clone;
}

test("a change pushed to a local bare remote is pulled into the agent's pull view, not its clone", async () => {
  const w = world();
  const remote = path.join(w.base, "remote.git");
  publish(w, remote);
  const clone = agentClone(w, remote);
  const head = w.git(clone, "rev-parse", "HEAD");
  const logger = new RecordingLogger();
  const v = w.open({ repoPath: clone, autoPull: true, pullIntervalMs: 0, logger });
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  w.set("app/text", TEXT_NEW);
  w.git(w.repo, "push", "-q");
  assert.equal(await v.get("app/text"), TEXT_NEW);
  // format.md 6.8: the new state is read from the pull view; the agent's checkout stays where it was.
  assert.equal(w.git(clone, "rev-parse", "HEAD"), head);
  assert.notEqual(head, w.git(w.repo, "rev-parse", "HEAD"));
  assert.deepEqual(logger.warnings, []);
});

test("autoPull false reads the local copy", async () => {
  const w = world();
  const remote = path.join(w.base, "remote.git");
  publish(w, remote);
  const clone = agentClone(w, remote);
  w.set("app/text", TEXT_NEW);
  w.git(w.repo, "push", "-q");
  assert.equal(await w.open({ repoPath: clone, autoPull: false }).get("app/text"), "sk_live_abc123");
});

test("a file:// URL is cloned into <home>/cache, and a push is seen after the pull interval", async () => {
  const w = world();
  const remote = path.join(w.base, "remote.git");
  publish(w, remote);
  const url = pathToFileURL(remote).href;
  assert.match(url, /^file:\/\/\//);
  const intervalMs = 1500;
  const opened = Date.now();
  const v = w.open({ repoPath: url, autoPull: true, pullIntervalMs: intervalMs });
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  const cache = path.join(w.agentAV, "cache", createHash("sha256").update(url).digest("hex").slice(0, 16));
  assert.ok(fs.statSync(path.join(cache, ".git")).isDirectory());
  assert.ok(fs.statSync(path.join(cache, ".agent-vault", "state", "root")).isFile());

  w.set("app/text", TEXT_NEW);
  w.git(w.repo, "push", "-q");
  const first = await v.get("app/text");
  if (Date.now() - opened < intervalMs) assert.equal(first, "sk_live_abc123", "the clone counts as a pull: none before the interval");
  // Bounded wait: the new value must show up once the interval has passed.
  const deadline = Date.now() + intervalMs + 10_000;
  while ((await v.get("app/text")) !== TEXT_NEW) {
    assert.ok(Date.now() < deadline, "the pushed value never arrived");
    await new Promise((r) => setTimeout(r, 200));
  }
  // A second Vault object reuses the clone.
  assert.equal(await w.open({ repoPath: url, autoPull: true, pullIntervalMs: intervalMs }).get("app/text"), TEXT_NEW);
  assert.deepEqual(fs.readdirSync(path.join(w.agentAV, "cache")), [path.basename(cache)]);
});

test("an unreachable remote warns once and the local copy is read", async () => {
  const w = world();
  const remote = path.join(w.base, "remote.git");
  publish(w, remote);
  const clone = agentClone(w, remote);
  fs.rmSync(remote, { recursive: true, force: true }); // the remote's URL now names a deleted path
  const logger = new RecordingLogger();
  const v = w.open({ repoPath: clone, autoPull: true, pullIntervalMs: 0, logger });
  assert.equal(await v.get("app/text"), "sk_live_abc123");
  assert.equal(await v.get("app/unicode"), "pässwörd – 日本語 ✓ 🔑");
  assert.equal((await v.listSecrets()).length, CI_READABLE.length);
  assert.equal(logger.warnings.length, 1, logger.warnings.join("\n"));
  assert.match(logger.warnings[0]!, /could not pull .*local copy/);
  assert.ok(!logger.warnings[0]!.includes("sk_live"));
});

test("an unreachable file:// URL is VaultNotFoundError", async () => {
  const w = world();
  const url = pathToFileURL(path.join(w.base, "no-such-remote.git")).href;
  await assert.rejects(w.open({ repoPath: url, autoPull: true }).get("app/text"), (e: unknown) => {
    kind("vault_not_found", VaultNotFoundError)(e);
    assert.match((e as Error).message, /cannot clone/);
    return true;
  });
});

// -- high-water marks shared with the CLI ----------------------------------------------------------------------

test("marks raised by the CLI make the SDK refuse an older copy", async () => {
  const w = world();
  const old = path.join(tempDir("av-live-old-"), "repo");
  copyTree(w.repo, old);
  w.set("app/text", TEXT_NEW); // on the owner's machine: the agent's home does not see this
  assert.equal(await w.open({ repoPath: old }).get("app/text"), "sk_live_abc123", "nothing newer seen yet");
  // The CLI, on the agent's machine, reads the newer state ...
  assert.equal(w.cli(["get", "app/text", "--no-pull", "--key", w.agentKey()], { home: w.agentHome }).stdout.toString(), TEXT_NEW);
  // ... so the SDK there now refuses the older copy.
  await assert.rejects(w.open({ repoPath: old }).get("app/text"), (e: unknown) => {
    kind("integrity", IntegrityError)(e);
    assert.match((e as Error).message, /rollback/);
    return true;
  });
});

test("marks raised by the SDK make the CLI refuse an older copy", async () => {
  const w = world();
  const old = path.join(tempDir("av-live-old-"), "repo");
  copyTree(w.repo, old);
  w.set("app/text", TEXT_NEW);
  assert.equal(w.cli(["get", "app/text", "--key", w.agentKey()], { cwd: old, home: w.agentHome }).stdout.toString(), "sk_live_abc123");
  assert.equal(await w.open().get("app/text"), TEXT_NEW);
  const res = w.cli(["get", "app/text", "--key", w.agentKey()], { cwd: old, home: w.agentHome, check: false });
  assert.equal(res.status, EXIT["integrity"]);
  assert.equal(res.stdout.length, 0);
  assert.match(res.stderr, /rollback/);
});

// -- reading while the vault changes (format.md 6.6) ---------------------------------------------------------------

/** Number of secrets in group `load` of the big template. */
const LOAD_SECRETS = 200;
const loadPath = (i: number) => `load/k${String(i).padStart(3, "0")}`;
const loadValue = (i: number, round: number) => `value ${i} of round ${round}`;

let bigTemplate: World | null = null;

// The template of the churn tests, made once by the CLI (a few seconds per hundred secrets): group `load` of
// LOAD_SECRETS secrets granted to `ci`, and an agent `temp` to grant and revoke.
before(() => {
  const t = new World(path.join(tempDir("av-live-big-"), "world"));
  copyTree(template.base, t.base);
  t.cli(["add-agent", "temp"]);
  for (let i = 0; i < LOAD_SECRETS; i++) t.set(loadPath(i), loadValue(i, 0));
  t.cli(["grant", "ci", "load"]);
  bigTemplate = t;
});

/** A private copy of the churn tests' template. */
function bigWorld(): World {
  assert.ok(bigTemplate !== null, "the big template was made");
  const w = new World(path.join(tempDir("av-live-"), "world"));
  copyTree(bigTemplate.base, w.base);
  return w;
}

/** Runs the CLI (as the owner) or git without blocking the event loop, so that a reader runs meanwhile. */
function runAsync(w: World, cmd: string, args: string[], cwd: string, stdin = ""): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: baseEnv(w.ownerHome, w.gitcfg), stdio: [stdin === "" ? "ignore" : "pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${code}: ${stderr}`))));
    if (child.stdin !== null) {
      child.stdin.on("error", () => {}); // a command that exits without reading: its status says what happened
      child.stdin.end(stdin);
    }
  });
}

interface Churn {
  /** Every value each secret has had: a read may return any of them, and nothing else. */
  readonly accepted: Map<string, Set<string>>;
  /** The owner's changes, run until `until()` says stop (at least `minCycles` grant/set/revoke cycles). */
  run(until: () => boolean): Promise<number>;
}

/** The owner's churn on group `load`: grant temp, set one secret, revoke temp; `after` runs after each command. */
function churn(w: World, minCycles: number, after: () => Promise<void> = async () => {}): Churn {
  const accepted = new Map<string, Set<string>>();
  for (let i = 0; i < LOAD_SECRETS; i++) accepted.set(loadPath(i), new Set([loadValue(i, 0)]));
  return {
    accepted,
    async run(until) {
      let cycles = 0;
      for (; cycles < minCycles || !until(); cycles++) {
        assert.ok(cycles < 200, "the reader never reached its count");
        await runAsync(w, BIN, ["grant", "temp", "load"], w.repo);
        await after();
        const i = (cycles * 37) % LOAD_SECRETS;
        const value = loadValue(i, cycles + 1);
        accepted.get(loadPath(i))!.add(value); // before the set: a reader may see it as soon as set starts
        await runAsync(w, BIN, ["set", loadPath(i)], w.repo, value);
        await after();
        await runAsync(w, BIN, ["revoke", "temp", "load"], w.repo);
        await after();
      }
      return cycles;
    },
  };
}

/** What a reader loop and the writer it runs against share. */
interface Progress {
  gets: number;
  lists: number;
  writing: boolean;
}

/** A reader looping over gets (and a list every 40 gets) while the writer writes; returns every failure. */
async function readLoop(v: Vault, accepted: Map<string, Set<string>>, progress: Progress): Promise<string[]> {
  const failures: string[] = [];
  const describe = (e: unknown) => (e instanceof AgentVaultError ? `${e.kind}: ${e.message}` : String(e));
  const deadline = Date.now() + 60_000;
  for (let n = 0; progress.writing; n++) {
    assert.ok(Date.now() < deadline, "the read loop ran for a minute");
    const p = loadPath((n * 7919) % LOAD_SECRETS);
    try {
      const value = await v.get(p);
      if (!accepted.get(p)!.has(value)) failures.push(`${p}: a value that was never set`);
    } catch (e) {
      failures.push(`get ${p}: ${describe(e)}`);
    }
    progress.gets++;
    // A get whose awaits all settle at once never yields to I/O: let the writer's process events through.
    await new Promise((resolve) => setImmediate(resolve));
    if (progress.gets % 40 === 0) {
      try {
        const names = (await v.listSecrets("load")).map((i) => i.name);
        if (names.length !== LOAD_SECRETS) failures.push(`list: ${names.length} secrets`);
      } catch (e) {
        failures.push(`list: ${describe(e)}`);
      }
      progress.lists++;
    }
  }
  return failures;
}

const MIN_GETS = 500;

/**
 * The reader's agent-vault home for the churn tests: in memory when the machine has /dev/shm. Nearly every get
 * there raises a per-secret mark (each grant or revoke gives every entry a new version), and each raise is an
 * fsynced write; on a busy disk those writes, not the reads, would make up the test's time.
 */
function readerHome(w: World): string {
  const shm = "/dev/shm";
  if (!fs.existsSync(shm)) return w.agentAV;
  const dir = fs.mkdtempSync(path.join(shm, "av-live-home-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("reads during grant, revoke and set in the same working tree: every value right, no integrity error", async () => {
  const w = bigWorld();
  const c = churn(w, 3);
  const v = w.open({ home: readerHome(w) });
  const progress: Progress = { gets: 0, lists: 0, writing: true };
  const writer = c.run(() => progress.gets >= MIN_GETS).finally(() => (progress.writing = false));
  const started = Date.now();
  const failures = await readLoop(v, c.accepted, progress);
  const cycles = await writer;
  assert.deepEqual(failures, []);
  assert.ok(progress.gets >= MIN_GETS, `${progress.gets} gets`);
  assert.ok(progress.lists >= 10, `${progress.lists} lists`);
  // After the churn the last values are read, and the CLI agrees.
  const last = loadValue(((cycles - 1) * 37) % LOAD_SECRETS, cycles);
  assert.equal(await v.get(loadPath(((cycles - 1) * 37) % LOAD_SECRETS)), last);
  assert.ok(Date.now() - started < 60_000);
});

test("reads of a clone during git pull of the owner's pushes: every value right, no integrity error", async () => {
  const w = bigWorld();
  const remote = path.join(w.base, "remote.git");
  publish(w, remote);
  const clone = agentClone(w, remote);
  const c = churn(w, 3, () => runAsync(w, "git", ["push", "-q"], w.repo));
  const v = w.open({ repoPath: clone, home: readerHome(w) });
  const progress: Progress = { gets: 0, lists: 0, writing: true };
  let pulls = 0;
  const writer = c.run(() => progress.gets >= MIN_GETS).finally(() => (progress.writing = false));
  const puller = (async () => {
    while (progress.writing) {
      await runAsync(w, "git", ["pull", "-q", "--ff-only"], clone);
      pulls++;
    }
  })();
  const failures = await readLoop(v, c.accepted, progress);
  const cycles = await writer;
  await puller;
  await runAsync(w, "git", ["pull", "-q", "--ff-only"], clone);
  assert.deepEqual(failures, []);
  assert.ok(progress.gets >= MIN_GETS, `${progress.gets} gets`);
  assert.ok(progress.lists >= 10, `${progress.lists} lists`);
  assert.ok(pulls >= cycles, `${pulls} pulls for ${cycles} cycles`);
  const i = ((cycles - 1) * 37) % LOAD_SECRETS;
  assert.equal(await v.get(loadPath(i)), loadValue(i, cycles));
});
