/**
 * Test fixture: writes vaults in the format of docs/format.md with keys generated in the test, so that the reader
 * can be tested before (and besides) the shared vectors written by the Go generator. It is a minimal writer for
 * tests only: no locking, no transactions, no Git.
 */

import { createHash, createPrivateKey, hkdfSync, randomBytes, sign, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { deriveOwnerVerifyKey, identityBytes } from "../src/keys.js";

export function sha256hex(b: Uint8Array | string): string {
  return createHash("sha256").update(b).digest("hex");
}

const made: string[] = [];
process.on("exit", () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(prefix = "av-test-"): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  made.push(d);
  return d;
}

/** Writes `content` to `file` with mode 0600 (parents 0700) and returns the path. */
export function writePrivate(file: string, content: string | Uint8Array): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

/** The owner's Ed25519 signing key, derived from the owner identity as format.md 3.4 says. */
export function ownerSigningKey(identity: string): KeyObject {
  const ikm = identityBytes(identity)!;
  const seed = Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), "agent-vault/v1 owner signing key", 32));
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

/** Signs a root body with a domain (default format 2's): returns body + signature line. */
export function signRoot(body: string | Uint8Array, key: KeyObject, domain = "agent-vault/v2 root\n"): Buffer {
  const b = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
  const sig = sign(null, Buffer.concat([Buffer.from(domain), b]), key);
  return Buffer.concat([b, Buffer.from(`signature: ed25519 ${sig.toString("base64")}\n`)]);
}

/** A secret's shard id (format.md 5: SHA-256 of the path in ASCII lower case), computed independently of the SDK. */
export function shardOf(secretPath: string): string {
  return sha256hex(Buffer.from(secretPath.toLowerCase(), "utf8")).slice(0, 2);
}

/** A JSON object of a test, indexed freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export interface FixtureSecret {
  path: string;
  value: string | Uint8Array;
  /** Placement in a group other than the first segment. */
  group?: string;
  extraAgents?: string[];
  allowHosts?: string[];
  /** Index version of the entry; default: the root version. */
  version?: number;
  expires?: string;
}

export interface FixtureSpec {
  agents: string[];
  groups: Record<string, string[]>;
  secrets: FixtureSecret[];
}

export interface WriteOptions {
  /** Where the new root goes: `state/root` (default), or `.pending/root` to leave a change at its commit point. */
  rootTo?: "state/root" | ".pending/root";
}

const TIME = "2026-11-29T13:50:00Z";

/** A vault on disk plus the keys that made it. */
export class Fixture {
  readonly repo: string;
  readonly vaultDir: string;
  readonly vaultId: string;
  readonly ownerIdentity: string;
  readonly ownerRecipient: string;
  readonly verifyKey: string;
  readonly signingKey: KeyObject;
  readonly agentIdentities = new Map<string, string>();
  readonly agentRecipients = new Map<string, string>();
  version = 0;
  prevSha256 = "";
  /** The body object of the last root written. */
  lastRoot: Record<string, unknown> | null = null;
  /** Mutates the root body object before it is serialised and signed. */
  mutateRoot: ((root: Json) => void) | null = null;

  private constructor(repo: string, ownerIdentity: string, ownerRecipient: string) {
    this.repo = repo;
    this.vaultDir = path.join(repo, ".agent-vault");
    this.vaultId = randomBytes(16).toString("hex");
    this.ownerIdentity = ownerIdentity;
    this.ownerRecipient = ownerRecipient;
    this.verifyKey = deriveOwnerVerifyKey(ownerIdentity);
    this.signingKey = ownerSigningKey(ownerIdentity);
  }

  /** Creates an empty fixture in a new temporary directory (no vault written yet). */
  static async create(repo = tempDir("av-repo-")): Promise<Fixture> {
    const id = await generateX25519Identity();
    return new Fixture(repo, id, await identityToRecipient(id));
  }

  async agentIdentity(name: string): Promise<string> {
    let id = this.agentIdentities.get(name);
    if (id === undefined) {
      id = await generateX25519Identity();
      this.agentIdentities.set(name, id);
      this.agentRecipients.set(name, await identityToRecipient(id));
    }
    return id;
  }

  /** The key file of an agent: pinned (default) or bare. */
  async agentKeyFile(name: string, pinned = true): Promise<string> {
    const id = await this.agentIdentity(name);
    const lines = ["# agent-vault agent key", `# created: ${TIME}`, `# public key: ${this.agentRecipients.get(name)}`];
    if (pinned) {
      lines.push(`# agent-vault-agent: ${name}`, `# agent-vault-vault-id: ${this.vaultId}`, `# agent-vault-owner-verify-key: ${this.verifyKey}`);
    }
    lines.push(id, "");
    return lines.join("\n");
  }

  ownerKeyFile(): string {
    return `# agent-vault owner key\n${this.ownerIdentity}\n`;
  }

  private put(rel: string, content: string | Uint8Array): Buffer {
    const file = path.join(this.vaultDir, ...rel.split("/"));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const b = typeof content === "string" ? Buffer.from(content, "utf8") : Buffer.from(content);
    // Replace by rename so that the inode changes, as the Go writer does.
    const tmp = `${file}.tmp-${randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, b);
    fs.renameSync(tmp, file);
    return b;
  }

  private vouch(rel: string, content: string | Uint8Array): { sha256: string; size: number } {
    const b = this.put(rel, content);
    return { sha256: sha256hex(b), size: b.length };
  }

  /**
   * Writes a complete new version of the vault described by `spec` (format 2) and returns the root bytes. With
   * `rootTo: ".pending/root"` the files are in place but the root is left at the owner's commit point.
   */
  async write(spec: FixtureSpec, opts: WriteOptions = {}): Promise<Buffer> {
    this.version += 1;
    const version = this.version;
    for (const a of spec.agents) await this.agentIdentity(a);
    const gitignore = "*.key\n!agents/*/public.key\n*.pem\n**/private.*\n!agents/*/private.key.escrow\n.lock\n.pending/\n.pending.done/\n";
    const config = `format: 2\nvault_id: "${this.vaultId}"\nowner_verify_key: "${this.verifyKey}"\ncreated: "${TIME}"\n`;
    const files: Record<string, unknown> = {
      "config.yaml": this.vouch("config.yaml", config),
      "owner.pub": this.vouch("owner.pub", `${this.ownerRecipient}\n`),
      "manifest.yaml": this.vouch("manifest.yaml", "# view\n"),
      ".gitignore": this.vouch(".gitignore", gitignore),
    };
    const agents: Record<string, unknown> = {};
    for (const a of [...spec.agents].sort()) {
      const recipient = this.agentRecipients.get(a)!;
      const pub = this.put(`agents/${a}/public.key`, `${recipient}\n`);
      const escrow = this.put(`agents/${a}/private.key.escrow`, randomBytes(64));
      agents[a] = { recipient, public_key_sha256: sha256hex(pub), escrow_sha256: sha256hex(escrow) };
    }
    const groupCounts = new Map<string, number>(Object.keys(spec.groups).map((g) => [g, 0]));
    const shards = new Map<string, Record<string, unknown>>();
    for (const s of spec.secrets) {
      const group = s.group ?? s.path.split("/")[0]!;
      groupCounts.set(group, (groupCounts.get(group) ?? 0) + 1);
      const members = spec.groups[group] ?? [];
      const extra = s.extraAgents ?? [];
      const enc = new Encrypter();
      enc.addRecipient(this.ownerRecipient);
      for (const a of new Set([...members, ...extra])) enc.addRecipient(this.agentRecipients.get(a)!);
      const ct = await enc.encrypt(typeof s.value === "string" ? Buffer.from(s.value, "utf8") : s.value);
      const encV = this.vouch(`secrets/${s.path}.enc`, ct);
      const authorized = [...new Set([...members, ...extra])].sort();
      let meta = `name: "${s.path}"\ngroup: "${group}"\ncreated: "${TIME}"\nrotated: "${TIME}"\n`;
      if (s.expires !== undefined) meta += `expires: "${s.expires}"\n`;
      meta += `authorized_agents: [${authorized.map((a) => `"${a}"`).join(", ")}]\n`;
      const metaV = this.vouch(`secrets/${s.path}.meta`, meta);
      const id = shardOf(s.path);
      if (!shards.has(id)) shards.set(id, {});
      shards.get(id)![s.path] = {
        group,
        version: s.version ?? version,
        enc_sha256: encV.sha256,
        enc_size: encV.size,
        meta_sha256: metaV.sha256,
        meta_size: metaV.size,
        created: TIME,
        rotated: TIME,
        expires: s.expires ?? "",
        extra_agents: extra,
        allow_hosts: s.allowHosts ?? [],
      };
    }
    const groups: Record<string, unknown> = {};
    for (const [g, n] of [...groupCounts].sort()) groups[g] = { members: [...(spec.groups[g] ?? [])].sort(), secrets: n };
    const index: Record<string, unknown> = {};
    for (const [id, secrets] of [...shards].sort()) {
      const shard = JSON.stringify({ type: "agent-vault-index-shard", format: 2, vault_id: this.vaultId, shard: id, secrets }, null, 2) + "\n";
      index[id] = { ...this.vouch(`state/index/${id}.json`, shard), secrets: Object.keys(secrets).length };
    }
    const root: Record<string, unknown> = {
      type: "agent-vault-root",
      format: 2,
      vault_id: this.vaultId,
      version,
      prev_sha256: this.prevSha256,
      time: TIME,
      owner: { recipient: this.ownerRecipient, verify_key: this.verifyKey },
      files,
      agents,
      groups,
      index,
    };
    this.mutateRoot?.(root);
    return this.installRoot(root, opts.rootTo ?? "state/root");
  }

  /** Signs `root` (format 2), writes it to `to`, and makes it the previous root of the next one. */
  installRoot(root: Record<string, unknown>, to: "state/root" | ".pending/root" = "state/root"): Buffer {
    const signed = signRoot(JSON.stringify(root, null, 2) + "\n", this.signingKey);
    this.put(to, signed);
    this.lastRoot = root;
    this.prevSha256 = sha256hex(signed);
    return signed;
  }

  /** Re-signs the last root with the next version (and `mutate` applied) and installs it; returns its bytes. */
  resign(mutate: (root: Json) => void = () => {}, to: "state/root" | ".pending/root" = "state/root"): Buffer {
    const root = JSON.parse(JSON.stringify(this.lastRoot)) as Record<string, unknown>;
    this.version += 1;
    root["version"] = this.version;
    root["prev_sha256"] = this.prevSha256;
    mutate(root);
    return this.installRoot(root, to);
  }

  /** Replaces the vault by a format 1 one as far as a reader gets: config.yaml and a root signed with the v1 domain. */
  writeFormat1(version = this.version + 1): Buffer {
    this.version = version;
    this.put("config.yaml", `format: 1\nvault_id: "${this.vaultId}"\nowner_verify_key: "${this.verifyKey}"\ncreated: "${TIME}"\n`);
    const root = {
      type: "agent-vault-root",
      format: 1,
      vault_id: this.vaultId,
      version,
      prev_sha256: this.prevSha256,
      time: TIME,
      owner: { recipient: this.ownerRecipient, verify_key: this.verifyKey },
      files: {},
      agents: {},
      groups: {},
      placement: {},
    };
    const signed = signRoot(JSON.stringify(root, null, 2) + "\n", this.signingKey, "agent-vault/v1 root\n");
    this.put("state/root", signed);
    this.prevSha256 = sha256hex(signed);
    return signed;
  }

  /** Replaces a file below `.agent-vault/` (by rename, new inode). */
  replace(rel: string, content: string | Uint8Array): void {
    this.put(rel, content);
  }

  read(rel: string): Buffer {
    return fs.readFileSync(path.join(this.vaultDir, ...rel.split("/")));
  }
}

/** A fresh agent-vault home directory (0700). */
export function freshHome(): string {
  const h = tempDir("av-home-");
  fs.chmodSync(h, 0o700);
  return h;
}

/** A logger that records warnings. */
export class RecordingLogger {
  readonly warnings: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
}

/** The standard small vault used by many tests. */
export const BASIC: FixtureSpec = {
  agents: ["ci", "deployer", "reader"],
  groups: { stripe: ["ci"], db: ["deployer"], misc: [] },
  secrets: [
    { path: "stripe/api-key", value: "sk_live_123", expires: "2027-02-27T13:50:00Z", allowHosts: ["api.stripe.com"] },
    { path: "stripe/webhook", value: "whsec_abc", extraAgents: ["deployer"] },
    { path: "db/password", value: "hunter2" },
    { path: "shared/token", value: "tok", group: "stripe" },
    { path: "misc/binary", value: Uint8Array.from([0xff, 0xfe, 0x00, 0x41]), extraAgents: ["ci"] },
  ],
};

/**
 * Points this test process's HOME at a new temporary directory and drops the AGENT_VAULT_* variables (but
 * AGENT_VAULT_BIN) and the Git identity variables, so that the SDK's own git commands and `~` expansion see only
 * temporary directories. Returns the new HOME.
 */
export function isolateProcess(prefix: string): string {
  const home = tempDir(prefix);
  process.env["HOME"] = home;
  process.env["GIT_CONFIG_NOSYSTEM"] = "1";
  for (const k of Object.keys(process.env)) {
    if (k.startsWith("AGENT_VAULT_") && k !== "AGENT_VAULT_BIN") delete process.env[k];
    if (k.startsWith("GIT_AUTHOR_") || k.startsWith("GIT_COMMITTER_")) delete process.env[k];
  }
  return home;
}

/** The environment of a CLI or git process: ours without AGENT_VAULT_* or GIT_* variables, with its own HOME. */
export function baseEnv(home: string, gitcfg: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("AGENT_VAULT_") && !k.startsWith("GIT_")) env[k] = v;
  }
  return { ...env, HOME: home, GIT_CONFIG_GLOBAL: gitcfg, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" };
}
