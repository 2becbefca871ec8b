/**
 * The {@link Vault} reader: the read path of format.md section 6.
 *
 * A Vault verifies the signed root with its trust anchor before it parses it, checks every group index and
 * secret file against the hashes the root vouches for, applies the high-water marks shared with the CLI, and
 * decrypts with the reader's age identity. The verified root and group indexes are cached in the object and
 * re-verified whenever their file changes (inode, size, mtime or ctime); a secret's `.enc` is read and hashed on
 * every call. Local file reads are synchronous (small files on a local disk); Git runs asynchronously.
 */

import { createHash } from "node:crypto";
import { Decrypter, identityToRecipient } from "age-encryption";
import { AgentVaultError, IntegrityError, NotAuthorizedError, SecretNotFoundError, VaultNotFoundError, usageError } from "./errors.js";
import { agentVaultHome, expandTilde, type Env } from "./home.js";
import { checkSecretPath, checkSegment } from "./names.js";
import { deriveOwnerVerifyKey, identityBytes, isMachineOwnerKey, resolveKey, type KeyFile } from "./keys.js";
import { LIMITS, MISSING, VAULT_DIR, existsInVault, locateVault, readInVault, sameStamp, statInVault, type FileStamp, type VaultLocation } from "./layout.js";
import { ROOT_DOMAIN, verifySigned } from "./signed.js";
import { ROOT_FILE, groupOf, parseRoot, type Root, type RootGroup } from "./root.js";
import { groupIndexFile, parseGroupIndex, type GroupIndex, type IndexEntry } from "./groupindex.js";
import { parseMeta, type SecretInfo } from "./meta.js";
import { CONFIG_FILE, parseConfig } from "./config.js";
import { checkKnownVault, checkRootMark, checkSecretMark, knownVaultsPath, marksPath, raiseMarks, readMarks, recordKnownVault, type Marks } from "./trust.js";
import { NodeX25519Identity } from "./x25519.js";
import { decryptAgeFile } from "./agefile.js";
import { Puller, ensureClone, isGitUrl, redactUrl, type Logger } from "./gitsync.js";
import * as fs from "node:fs";
import * as path from "node:path";

/** Options of {@link Vault}. */
export interface VaultOptions {
  /** A local path (the vault is `.agent-vault/` in it or in the nearest parent) or a Git URL to clone. */
  readonly repoPath: string;
  /** Path of the key file. Exclusive with `keyStr`. */
  readonly keyPath?: string | undefined;
  /** Key file content, a bare `AGE-SECRET-KEY-1…` line, or (when it holds no identity) a path. */
  readonly keyStr?: string | undefined;
  /** Pull (`git pull --ff-only`) before reads when the working tree has an upstream. Default true. */
  readonly autoPull?: boolean | undefined;
  /** The agent-vault home; default `$AGENT_VAULT_HOME`, else `~/.agent-vault`. */
  readonly home?: string | undefined;
  /** Receives warnings (failed pull, trust on first use). Default `console`. */
  readonly logger?: Logger | undefined;
  /** Minimum time between two pulls of this Vault object, in ms. Default 5000. */
  readonly pullIntervalMs?: number | undefined;
  /** Time limit of one `git pull` (and of each git command around it), in ms. Default 15000. */
  readonly pullTimeoutMs?: number | undefined;
  /** Time limit of the first `git clone` of a URL, in ms. Default 120000. */
  readonly cloneTimeoutMs?: number | undefined;
  /** Environment to read `AGENT_VAULT_KEY` and `AGENT_VAULT_HOME` from. Default `process.env`. */
  readonly env?: Env | undefined;
}

type Anchor =
  | { readonly kind: "pinned"; readonly vaultId: string; readonly verifyKey: string }
  | { readonly kind: "owner"; readonly verifyKey: string }
  | { readonly kind: "tofu" };

type Role = { readonly kind: "owner" } | { readonly kind: "agent"; readonly name: string } | null;

interface Opened {
  readonly loc: VaultLocation;
  readonly key: KeyFile;
  readonly recipient: string;
  readonly decrypter: Decrypter;
  readonly anchor: Anchor;
  readonly puller: Puller | null;
}

interface RootState {
  readonly stamp: FileStamp;
  readonly root: Root;
  readonly sha256: string;
  readonly role: Role;
  /** Set while a trust-on-first-use anchor is still to be recorded in known_vaults. */
  firstUse: { readonly vaultId: string; readonly verifyKey: string } | null;
}

interface IndexState {
  readonly stamp: FileStamp;
  readonly root: Root;
  readonly index: GroupIndex;
}

interface MarksState {
  readonly stamp: FileStamp | null;
  readonly marks: Marks;
}

/** Largest secret value (format.md 5.1). */
const MAX_VALUE_BYTES = 1024 * 1024;

function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A typage Decrypter for `identity`, unwrapping file keys with node:crypto (see x25519.ts). */
function decrypterFor(identity: string): Decrypter {
  const raw = identityBytes(identity);
  if (raw === null) throw new VaultNotFoundError("the key is not an AGE-SECRET-KEY-1 identity");
  const d = new Decrypter();
  d.addIdentity(new NodeX25519Identity(raw));
  raw.fill(0);
  return d;
}

/**
 * A read-only handle on one vault for one key.
 *
 * Contract: every method verifies before it returns anything; a value is returned only if the signed root (with
 * the anchor of format.md 6.1) vouches for it through its group index, no high-water mark is violated, and the
 * key decrypts it. Errors are {@link AgentVaultError}s whose `kind` follows format.md section 7; their messages
 * never contain a value. Opening (key resolution, locating or cloning the repository) happens on the first call.
 */
export class Vault {
  readonly #options: VaultOptions;
  readonly #env: Env;
  readonly #home: string;
  readonly #logger: Logger;
  #opening: Promise<Opened> | null = null;
  #closed = false;
  #root: RootState | null = null;
  #indexes = new Map<string, IndexState>();
  #marks: MarksState | null = null;

  /** Creates a handle. Throws a usage AgentVaultError on malformed options; touches neither disk nor network. */
  constructor(options: VaultOptions) {
    if (typeof options !== "object" || options === null) throw usageError("new Vault(options): options must be an object");
    if (typeof options.repoPath !== "string" || options.repoPath.trim() === "") throw usageError("repoPath must be a non-empty string");
    if (options.keyPath !== undefined && options.keyStr !== undefined) throw usageError("give keyPath or keyStr, not both");
    for (const k of ["keyPath", "keyStr", "home"] as const) {
      if (options[k] !== undefined && typeof options[k] !== "string") throw usageError(`${k} must be a string`);
    }
    for (const k of ["pullIntervalMs", "pullTimeoutMs", "cloneTimeoutMs"] as const) {
      const v = options[k];
      if (v !== undefined && (typeof v !== "number" || !(v >= 0))) throw usageError(`${k} must be a non-negative number`);
    }
    this.#options = options;
    this.#env = options.env ?? process.env;
    this.#home = agentVaultHome(this.#env, options.home);
    this.#logger = options.logger ?? console;
  }

  /** The agent-vault home this handle uses. */
  get home(): string {
    return this.#home;
  }

  /**
   * Returns the value of the secret `secretPath` decoded as UTF-8. A value that is not valid UTF-8 throws an
   * AgentVaultError (kind `error`) telling to use {@link getBytes}.
   */
  async get(secretPath: string): Promise<string> {
    const bytes = await this.getBytes(secretPath);
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      throw new AgentVaultError(`secret ${secretPath} is not valid UTF-8 text; use getBytes() to read it`);
    } finally {
      bytes.fill(0);
    }
  }

  /** Returns the exact bytes of the secret `secretPath` (format.md 6.4). */
  async getBytes(secretPath: string): Promise<Uint8Array> {
    this.#checkOpen();
    checkSecretPath(secretPath, "user", "secret path");
    const { opened, rs, marks } = await this.#state();
    const { root } = rs;
    if (rs.role === null) throw this.#notAKey(opened, root);

    const group = groupOf(root, secretPath);
    const g = root.groups.get(group);
    const entry = g === undefined ? undefined : this.#loadIndex(opened, root, group, g).get(secretPath);
    if (g === undefined || entry === undefined) {
      this.#refuseUnsigned(opened, secretPath);
      throw new SecretNotFoundError(`no secret ${secretPath} in vault ${root.vaultId}`);
    }
    if (!canRead(rs.role, g, entry)) {
      throw new NotAuthorizedError(`agent ${(rs.role as { name: string }).name} is not granted secret ${secretPath}`);
    }
    const rises = checkSecretMark(marks, root.vaultId, secretPath, entry.version);

    const rel = `secrets/${secretPath}.enc`;
    const file = readInVault(opened.loc.vaultDir, rel, LIMITS.enc);
    if (file === MISSING) throw new IntegrityError(`${VAULT_DIR}/${rel} is missing, but the index of group ${group} lists it`);
    if (sha256hex(file.bytes) !== entry.encSha256) {
      throw new IntegrityError(`${VAULT_DIR}/${rel} does not match the hash in the signed index of group ${group}`);
    }
    let value: Uint8Array;
    try {
      value = await decryptAgeFile(opened.decrypter, file.bytes);
    } catch {
      throw new NotAuthorizedError(`this key cannot decrypt secret ${secretPath}`);
    }
    if (value.length > MAX_VALUE_BYTES) {
      value.fill(0);
      throw new NotAuthorizedError(`secret ${secretPath} decrypts to more than ${MAX_VALUE_BYTES} bytes, the limit of a value`);
    }
    if (rises) {
      this.#setMarks(raiseMarks(this.#home, root.vaultId, { secrets: new Map([[secretPath, entry.version]]) }), root.vaultId);
    }
    return value;
  }

  /**
   * Lists the secrets this key can read (all of them for the owner), sorted by name, optionally only those of
   * `group`. Verifies the root, the indexes it uses and each `.meta` file's hash; decrypts nothing. An unknown
   * group throws SecretNotFoundError.
   */
  async listSecrets(group?: string): Promise<SecretInfo[]> {
    this.#checkOpen();
    if (group !== undefined) checkSegment(group, "user", "group name");
    const { opened, rs } = await this.#state();
    const { root } = rs;
    if (rs.role === null) throw this.#notAKey(opened, root);
    let groups: string[];
    if (group !== undefined) {
      if (!root.groups.has(group)) throw new SecretNotFoundError(`no group ${group} in vault ${root.vaultId}`);
      groups = [group];
    } else {
      groups = [...root.groups.keys()].sort();
    }
    const out: SecretInfo[] = [];
    for (const name of groups) {
      const g = root.groups.get(name)!;
      const index = this.#loadIndex(opened, root, name, g);
      for (const [secretPath, entry] of index) {
        if (!canRead(rs.role, g, entry)) continue;
        const rel = `secrets/${secretPath}.meta`;
        const file = readInVault(opened.loc.vaultDir, rel, LIMITS.other);
        if (file === MISSING) throw new IntegrityError(`${VAULT_DIR}/${rel} is missing, but the index of group ${name} lists it`);
        if (sha256hex(file.bytes) !== entry.metaSha256) {
          throw new IntegrityError(`${VAULT_DIR}/${rel} does not match the hash in the signed index of group ${name}`);
        }
        out.push(parseMeta(file.bytes, secretPath, name));
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Drops the cached state and the key; later calls throw a usage error. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#opening = null;
    this.#root = null;
    this.#indexes.clear();
    this.#marks = null;
  }

  #checkOpen(): void {
    if (this.#closed) throw usageError("this Vault is closed");
  }

  /** Opens on first use; a failed open is retried by the next call. */
  #open(): Promise<Opened> {
    if (this.#opening === null) {
      const p = this.#doOpen();
      this.#opening = p;
      p.catch(() => {
        if (this.#opening === p) this.#opening = null;
      });
    }
    return this.#opening;
  }

  async #doOpen(): Promise<Opened> {
    const o = this.#options;
    const { key, fromOwnerKeyFile } = resolveKey({ keyPath: o.keyPath, keyStr: o.keyStr, env: this.#env, home: this.#home });
    const autoPull = o.autoPull ?? true;
    const pullOpts = { intervalMs: o.pullIntervalMs ?? 5000, timeoutMs: o.pullTimeoutMs ?? 15000, logger: this.#logger };
    let loc: VaultLocation;
    let puller: Puller | null = null;
    if (isGitUrl(o.repoPath)) {
      const { dir, fresh } = await ensureClone(this.#home, o.repoPath, o.cloneTimeoutMs ?? 120000);
      const vaultDir = path.join(dir, VAULT_DIR);
      if (!fs.statSync(vaultDir, { throwIfNoEntry: false })?.isDirectory()) {
        throw new VaultNotFoundError(`repository ${redactUrl(o.repoPath)} has no ${VAULT_DIR}/ at its top`);
      }
      loc = { vaultDir, workTree: dir };
      if (autoPull) {
        puller = new Puller({ workTree: dir, ...pullOpts });
        if (fresh) puller.markFresh();
      }
    } else {
      loc = locateVault(expandTilde(o.repoPath));
      if (autoPull) puller = new Puller({ workTree: loc.workTree, ...pullOpts });
    }
    let anchor: Anchor;
    if (key.pin !== null) {
      anchor = { kind: "pinned", vaultId: key.pin.vaultId, verifyKey: key.pin.verifyKey };
    } else if (fromOwnerKeyFile || isMachineOwnerKey(key.identity, this.#home)) {
      anchor = { kind: "owner", verifyKey: deriveOwnerVerifyKey(key.identity) };
    } else {
      anchor = { kind: "tofu" };
    }
    const recipient = await identityToRecipient(key.identity);
    const decrypter = decrypterFor(key.identity);
    return { loc, key, recipient, decrypter, anchor, puller };
  }

  /** Opens, pulls when due, and returns the verified root and the marks it was checked against. */
  async #state(): Promise<{ opened: Opened; rs: RootState; marks: Marks }> {
    const opened = await this.#open();
    if (opened.puller !== null) await opened.puller.maybePull();
    this.#checkOpen();
    const rs = this.#loadRoot(opened);
    let marks = this.#loadMarks(rs.root.vaultId);
    if (checkRootMark(marks, rs.root.vaultId, rs.root.version, rs.sha256)) {
      marks = raiseMarks(this.#home, rs.root.vaultId, { root: { version: rs.root.version, rootSha256: rs.sha256 } });
      this.#setMarks(marks, rs.root.vaultId);
      // Another process may have raised the mark past this root meanwhile.
      checkRootMark(marks, rs.root.vaultId, rs.root.version, rs.sha256);
    }
    if (rs.firstUse !== null) {
      const { vaultId, verifyKey } = rs.firstUse;
      rs.firstUse = null;
      // Re-checked: another reader may have recorded the vault since the root was verified.
      if (checkKnownVault(this.#home, vaultId, verifyKey) === "unknown") {
        recordKnownVault(this.#home, vaultId, verifyKey);
        this.#logger.warn(
          `agent-vault: trusted owner key ${verifyKey} of vault ${vaultId} on first use ` +
            `(recorded in ${knownVaultsPath(this.#home)}); a pinned agent key file avoids trust on first use`,
        );
      }
    }
    return { opened, rs, marks };
  }

  #loadRoot(opened: Opened): RootState {
    const { vaultDir } = opened.loc;
    const stamp = statInVault(vaultDir, ROOT_FILE);
    if (stamp !== MISSING && this.#root !== null && sameStamp(this.#root.stamp, stamp)) return this.#root;

    const file = stamp === MISSING ? MISSING : readInVault(vaultDir, ROOT_FILE, LIMITS.root);
    if (file === MISSING) {
      // A vault directory with a configuration but no signed state has lost it (or never had it): refuse. An
      // empty or foreign `.agent-vault/` is not a vault at all.
      if (existsInVault(vaultDir, CONFIG_FILE)) {
        throw new IntegrityError(`${VAULT_DIR}/${ROOT_FILE} is missing: the vault has no signed state`);
      }
      throw new VaultNotFoundError(`${vaultDir} is not an agent-vault vault (no ${ROOT_FILE})`);
    }
    const what = `${VAULT_DIR}/${ROOT_FILE}`;
    const a = opened.anchor;
    let root: Root;
    let firstUse: { vaultId: string; verifyKey: string } | null = null;
    if (a.kind === "tofu") {
      const cfgFile = readInVault(vaultDir, CONFIG_FILE, LIMITS.other);
      if (cfgFile === MISSING) throw new IntegrityError(`${VAULT_DIR}/${CONFIG_FILE} is missing`);
      const cfg = parseConfig(cfgFile.bytes);
      const known = checkKnownVault(this.#home, cfg.vaultId, cfg.ownerVerifyKey);
      root = parseRoot(verifySigned(file.bytes, ROOT_DOMAIN, cfg.ownerVerifyKey, what));
      if (root.vaultId !== cfg.vaultId) throw new IntegrityError(`${what}: vault_id differs from ${CONFIG_FILE}`);
      if (root.ownerVerifyKey !== cfg.ownerVerifyKey) throw new IntegrityError(`${what}: owner.verify_key differs from ${CONFIG_FILE}`);
      if (known === "unknown") firstUse = { vaultId: cfg.vaultId, verifyKey: cfg.ownerVerifyKey };
    } else {
      root = parseRoot(verifySigned(file.bytes, ROOT_DOMAIN, a.verifyKey, what));
      if (root.ownerVerifyKey !== a.verifyKey) {
        throw new IntegrityError(`${what}: owner.verify_key ${root.ownerVerifyKey} is not the ${a.kind === "pinned" ? "pinned" : "owner's"} key ${a.verifyKey}`);
      }
      if (a.kind === "pinned" && root.vaultId !== a.vaultId) {
        throw new IntegrityError(`${what}: vault id ${root.vaultId} is not the pinned vault id ${a.vaultId}`);
      }
    }
    const role = roleOf(root, opened);
    if (a.kind === "owner" && role?.kind !== "owner") {
      throw new IntegrityError(`${what}: signed with this owner key's signing key, but names another owner recipient`);
    }
    // Trust on first use is recorded only for a vault this key belongs to, once the marks accept the root.
    const rs: RootState = { stamp: file.stamp, root, sha256: sha256hex(file.bytes), role, firstUse: role === null ? null : firstUse };
    this.#root = rs;
    this.#indexes.clear();
    return rs;
  }

  #loadIndex(opened: Opened, root: Root, group: string, g: RootGroup): GroupIndex {
    const rel = groupIndexFile(group);
    const { vaultDir } = opened.loc;
    const cached = this.#indexes.get(group);
    const stamp = statInVault(vaultDir, rel);
    if (stamp === MISSING) throw new IntegrityError(`${VAULT_DIR}/${rel} is missing, but the signed root lists group ${group}`);
    if (cached !== undefined && cached.root === root && sameStamp(cached.stamp, stamp)) return cached.index;
    const file = readInVault(vaultDir, rel, LIMITS.groupIndex);
    if (file === MISSING) throw new IntegrityError(`${VAULT_DIR}/${rel} is missing, but the signed root lists group ${group}`);
    if (sha256hex(file.bytes) !== g.indexSha256) {
      throw new IntegrityError(`${VAULT_DIR}/${rel} does not match the hash in the signed root`);
    }
    const index = parseGroupIndex(file.bytes, group, root);
    this.#indexes.set(group, { stamp: file.stamp, root, index });
    return index;
  }

  #loadMarks(vaultId: string): Marks {
    const file = marksPath(this.#home, vaultId);
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file);
    } catch (err) {
      if (errCode(err) !== "ENOENT") throw new AgentVaultError(`cannot read high-water mark file ${file} (${errCode(err) ?? "error"})`);
    }
    const stamp = st === undefined ? null : { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
    const c = this.#marks;
    if (c !== null && (stamp === null ? c.stamp === null : c.stamp !== null && sameStamp(c.stamp, stamp))) return c.marks;
    const marks = readMarks(this.#home, vaultId);
    this.#marks = { stamp, marks };
    return marks;
  }

  /** Caches marks just written by this object (the stamp is re-read so the next call can reuse them). */
  #setMarks(marks: Marks, vaultId: string): void {
    const st = fs.statSync(marksPath(this.#home, vaultId), { throwIfNoEntry: false });
    this.#marks = st === undefined ? null : { stamp: { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }, marks };
  }

  /** An index does not list `secretPath`: a `.enc` or `.meta` for it on disk is an unsigned secret. */
  #refuseUnsigned(opened: Opened, secretPath: string): void {
    for (const ext of [".enc", ".meta"]) {
      const rel = `secrets/${secretPath}${ext}`;
      if (existsInVault(opened.loc.vaultDir, rel)) {
        throw new IntegrityError(`unsigned secret: ${VAULT_DIR}/${rel} exists, but no signed index lists ${secretPath}`);
      }
    }
  }

  #notAKey(opened: Opened, root: Root): NotAuthorizedError {
    return new NotAuthorizedError(`this key (${opened.recipient}) is neither the owner nor an agent of vault ${root.vaultId}`);
  }
}

/** The role of the key in `root`: owner, agent (the pinned agent name first when several agents share the key), or null. */
function roleOf(root: Root, opened: Opened): Role {
  if (opened.recipient === root.ownerRecipient) return { kind: "owner" };
  const names = [...root.agents].filter(([, a]) => a.recipient === opened.recipient).map(([n]) => n).sort();
  if (names.length === 0) return null;
  const pinned = opened.key.agent;
  return { kind: "agent", name: pinned !== null && names.includes(pinned) ? pinned : names[0]! };
}

function canRead(role: Role, g: RootGroup, entry: IndexEntry): boolean {
  if (role === null) return false;
  if (role.kind === "owner") return true;
  return g.members.includes(role.name) || entry.extraAgents.includes(role.name);
}
