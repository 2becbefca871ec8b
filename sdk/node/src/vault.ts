/**
 * The {@link Vault} reader: the read path of format.md section 6.
 *
 * A Vault verifies the signed root with its trust anchor before it parses it, checks every index shard and secret
 * file against the size and hash that vouch for it, applies the high-water marks shared with the CLI, and decrypts
 * with the reader's age identity. A read that meets a half-replaced state (an owner change or a `git pull` in
 * progress) waits for the writer and reads again (format.md 6.6, snapshot.ts). The verified root and shards are
 * cached in the object and re-verified whenever their file changes (inode, size, mtime or ctime); a secret's
 * `.enc` is read and hashed on every call. Local file reads are synchronous (small files on a local disk); Git
 * runs asynchronously.
 */

import { createHash } from "node:crypto";
import { Decrypter } from "age-encryption";
import {
  AgentVaultError,
  IntegrityError,
  NotAuthorizedError,
  SecretNotFoundError,
  VaultNotFoundError,
  VouchingError,
  usageError,
} from "./errors.js";
import { agentVaultHome, agentVaultHomes, expandTilde, type Env } from "./home.js";
import { checkSecretPath, checkSegment } from "./names.js";
import { deriveOwnerVerifyKey, identityBytes, isHybridIdentity, isMachineOwnerKey, resolveKey, type KeyFile } from "./keys.js";
import { recipientKind } from "./recipient.js";
import { LIMITS, MISSING, VAULT_DIR, existsInVault, locateVault, readInVault, readVouched, sameStamp, statInVault, type FileStamp, type VaultLocation } from "./layout.js";
import { ROOT_DOMAIN, ROOT_DOMAIN_V1, signatureValid, splitSigned } from "./signed.js";
import { ROOT_FILE, parseFormat1Root, parseRoot, type Root } from "./root.js";
import { applyChainMark, checkRootAdmins, readAdminChain, verifyWithAny, type AdminChain } from "./adminchain.js";
import { parseShard, secretInfo, shardFile, shardIdOf, type SecretEntry, type SecretInfo, type Shard } from "./shard.js";
import { CONFIG_FILE, parseConfig, type VaultConfig } from "./config.js";
import { BelowMarkError, checkKnownVault, realDir, wrongVault, checkRootMark, checkSecretMark, knownVaultsPath, marksPath, raiseMarks, readMarks, recordKnownVault, type Marks } from "./trust.js";
import { NodeX25519Identity } from "./x25519.js";
import { MixedStanzasError, ValueTooLargeError, decryptAgeFile } from "./agefile.js";
import { Puller, ensureClone, isGitUrl, redactUrl, type Logger } from "./gitsync.js";
import { otherDir, readingDir } from "./view.js";
import { originalVaultError } from "./original.js";
import { WRITER_WAIT_MS, WriterProbe, readSnapshot, type Attempt, type SnapshotIO } from "./snapshot.js";
import { Manifest } from "./manifest.js";
import { cloneSync, pullSync, readSnapshotSync, recipientOf } from "./syncio.js";
import * as fs from "node:fs";
import * as path from "node:path";

/** Options of {@link Vault}. */
export interface VaultOptions {
  /** A local path (the vault is `.agent-vault/` in it or in the nearest parent) or a Git URL to clone. */
  readonly repoPath: string;
  /** Path of the key file. `keyStr` overrides it (agent-vault 0.1's order). */
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
  /**
   * How long one read waits, in all, for a writer it meets (an owner change in progress or Git's index lock,
   * format.md 6.6) before it gives up with an error of kind `error`, in ms. Default 10000.
   */
  readonly writerWaitMs?: number | undefined;
  /** Environment to read `AGENT_VAULT_KEY` and `AGENT_VAULT_HOME` from. Default `process.env`. */
  readonly env?: Env | undefined;
}

/** Options of {@link Vault.listSecrets}. */
export interface ListOptions {
  /**
   * Throw SecretNotFoundError for a group the vault does not have (as `agent-vault list --group` exits 4), instead
   * of returning an empty array as agent-vault 0.1 did. Default false.
   */
  readonly strict?: boolean | undefined;
}

type Anchor =
  | { readonly kind: "pinned"; readonly vaultId: string; readonly verifyKey: string }
  | { readonly kind: "owner"; readonly verifyKey: string }
  | { readonly kind: "tofu" };

type Role = { readonly kind: "owner" } | { readonly kind: "agent"; readonly name: string } | null;

interface Opened {
  /** Where reads verify: the working tree's vault, or its pull view (format.md 6.8), chosen per read. */
  readonly loc: VaultLocation;
  /** The working tree's `.agent-vault`, symbolic links resolved: the directory trust records name. */
  readonly trustDir: string;
  readonly key: KeyFile;
  readonly recipient: string;
  readonly decrypter: Decrypter;
  readonly anchor: Anchor;
  readonly puller: Puller | null;
  /**
   * For one read: the other candidate of format.md 6.8 (the working tree's vault when reading the view, the view
   * when reading the working tree), read instead when the chosen one verifies below the high-water mark; null
   * when there is none or it was already taken.
   */
  alt?: { dir: string | null };
}

interface RootState {
  readonly stamp: FileStamp;
  readonly bytes: Uint8Array;
  readonly root: Root;
  readonly sha256: string;
  /** The key the root verified with (the anchor's, or in trust on first use the one config.yaml published). */
  readonly verifyKey: string;
  readonly role: Role;
  /** Set while a trust-on-first-use anchor is still to be recorded in known_vaults. */
  firstUse: { readonly vaultId: string; readonly verifyKey: string } | null;
  /** The verified admin chain (format.md 4.1), until the marks file's `admins` mark was applied to it. */
  chain: AdminChain | null;
}

interface ShardState {
  readonly stamp: FileStamp;
  readonly root: Root;
  readonly shard: Shard;
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

/**
 * A typage Decrypter for `identity`: X25519 file keys are unwrapped with node:crypto (see x25519.ts), post-quantum
 * (mlkem768x25519) ones by typage's own HybridIdentity.
 */
function decrypterFor(identity: string): Decrypter {
  if (isHybridIdentity(identity)) {
    const d = new Decrypter();
    d.addIdentity(identity);
    return d;
  }
  const raw = identityBytes(identity);
  if (raw === null) throw new VaultNotFoundError("the key is not an AGE-SECRET-KEY-1 identity");
  const d = new Decrypter();
  d.addIdentity(new NodeX25519Identity(raw));
  raw.fill(0);
  return d;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A read-only handle on one vault for one key.
 *
 * Contract: every method verifies before it returns anything; a value is returned only if the signed root (with
 * the anchor of format.md 6.1) vouches for it through its index shard, no high-water mark is violated, and the
 * key decrypts it. Errors are {@link AgentVaultError}s whose `kind` follows format.md section 7; their messages
 * never contain a value. The constructor finds a local vault (format.md 6.4); the key is resolved, and a Git URL
 * cloned, on the first call.
 */
export class Vault {
  readonly #options: VaultOptions;
  readonly #env: Env;
  readonly #home: string;
  readonly #logger: Logger;
  readonly #writerWaitMs: number;
  /** The local vault found at construction; null for a Git URL (cloned on first use). */
  readonly #location: VaultLocation | null;
  #opening: Promise<Opened> | null = null;
  /** The handle once opened (by either path). */
  #opened: Opened | null = null;
  /** When the synchronous methods last pulled (or an asynchronous read asked the puller to). */
  #lastPullMs = Number.NEGATIVE_INFINITY;
  /** Whether a failed pull was reported and no pull succeeded since: automatic pulls warn once (as Puller does). */
  #pullWarned = false;
  #closed = false;
  #root: RootState | null = null;
  #shards = new Map<string, ShardState>();
  /** The vault directory the last read verified (the working tree's or its pull view); caches belong to it. */
  #readDir: string | null = null;
  #marks: MarksState | null = null;

  /**
   * Creates a handle. Throws a usage AgentVaultError on malformed options. For a local `repoPath`, finds the vault
   * now: throws VaultNotFoundError when there is none (the agent-vault homes — this reader's, `$AGENT_VAULT_HOME`
   * and `~/.agent-vault` — and plain files named `.agent-vault` are passed over) and IntegrityError when
   * `.agent-vault` is a symbolic link. Touches no network.
   */
  constructor(options: VaultOptions) {
    if (typeof options !== "object" || options === null) throw usageError("new Vault(options): options must be an object");
    if (typeof options.repoPath !== "string" || options.repoPath.trim() === "") throw usageError("repoPath must be a non-empty string");
    for (const k of ["keyPath", "keyStr", "home"] as const) {
      if (options[k] !== undefined && typeof options[k] !== "string") throw usageError(`${k} must be a string`);
    }
    for (const k of ["pullIntervalMs", "pullTimeoutMs", "cloneTimeoutMs", "writerWaitMs"] as const) {
      const v = options[k];
      if (v !== undefined && (typeof v !== "number" || !(v >= 0))) throw usageError(`${k} must be a non-negative number`);
    }
    this.#options = options;
    this.#env = options.env ?? process.env;
    this.#home = agentVaultHome(this.#env, options.home);
    this.#logger = options.logger ?? console;
    this.#writerWaitMs = options.writerWaitMs ?? WRITER_WAIT_MS;
    this.#location = isGitUrl(options.repoPath) ? null : locateVault(expandTilde(options.repoPath), agentVaultHomes(this.#env, this.#home));
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

  /**
   * Returns the exact bytes of the secret `secretPath` (format.md 6.5): reads the root, one index shard and one
   * `.enc`, whatever the size of the vault; never a `.meta`.
   */
  async getBytes(secretPath: string): Promise<Uint8Array> {
    this.#checkOpen();
    checkSecretPath(secretPath, "user", "secret path");
    const opened = await this.#ready();
    return readSnapshot(this.#io(opened), async (a) => {
      const { rs, marks } = this.#attemptRoot(opened, a);
      const { root, role } = rs;
      if (role === null) throw this.#notAKey(opened, root);

      const id = shardIdOf(secretPath);
      const entry = root.index.has(id) ? this.#loadShard(opened, root, id).get(secretPath) : undefined;
      if (entry === undefined) {
        this.#refuseUnsigned(opened, secretPath);
        throw new SecretNotFoundError(`Secret not found: ${secretPath} (no secret ${secretPath} in vault ${root.vaultId})`);
      }
      if (!canRead(role, root, entry)) {
        throw new NotAuthorizedError(`Cannot decrypt '${secretPath}': agent ${(role as { name: string }).name} is not granted secret ${secretPath}`);
      }
      const rises = markChecked(opened, a, () => checkSecretMark(marks, root.vaultId, secretPath, entry.version));

      const rel = `secrets/${secretPath}.enc`;
      const file = readVouched(opened.loc.vaultDir, rel, entry.enc, `the entry of ${secretPath} in ${shardFile(id)}`);
      let value: Uint8Array;
      try {
        value = await decryptAgeFile(opened.decrypter, file.bytes, MAX_VALUE_BYTES);
      } catch (err) {
        if (err instanceof ValueTooLargeError) {
          throw new IntegrityError(`secret ${secretPath} decrypts to more than ${MAX_VALUE_BYTES} bytes, the limit of a value`);
        }
        if (err instanceof MixedStanzasError) throw new IntegrityError(`secret ${secretPath}: ${err.message}`);
        throw new NotAuthorizedError(`Cannot decrypt '${secretPath}': this key cannot decrypt secret ${secretPath}`);
      }
      if (rises) {
        this.#setMarks(raiseMarks(this.#home, root.vaultId, { secrets: new Map([[secretPath, entry.version]]) }), root.vaultId);
      }
      return value;
    });
  }

  /**
   * Lists the secrets this key can read (all of them for the owner), sorted by name, optionally only those whose
   * entry names `group`. Synchronous, as in agent-vault 0.1 (`const secrets = vault.listSecrets("stripe")`;
   * `await vault.listSecrets()` works too, since awaiting an array gives the array); see {@link listSecretsAsync}
   * for the same listing without blocking the event loop. Pulls first when due, as the other reads do (the Git step
   * runs in a child process that this call waits for). Verifies the root and every index shard; reads no `.meta`
   * and decrypts nothing. Checks that the entries naming each group number what the root counts. A group the vault
   * does not have gives [] (agent-vault 0.1's behaviour) or, with `{ strict: true }`, throws SecretNotFoundError.
   */
  listSecrets(group?: string, options?: ListOptions): SecretInfo[] {
    this.#checkOpen();
    if (group !== undefined) checkSegment(group, "user", "group name");
    const opened = this.#readySync();
    return readSnapshotSync(this.#io(opened), (a) => this.#listAttempt(opened, a, group, options?.strict === true));
  }

  /** {@link listSecrets} returning a Promise: the pull (or first clone) runs without blocking the event loop. */
  async listSecretsAsync(group?: string, options?: ListOptions): Promise<SecretInfo[]> {
    this.#checkOpen();
    if (group !== undefined) checkSegment(group, "user", "group name");
    const opened = await this.#ready();
    return readSnapshot(this.#io(opened), async (a) => this.#listAttempt(opened, a, group, options?.strict === true));
  }

  /**
   * Every agent of the vault and its groups, from the verified root, sorted by name (groups sorted):
   * `[{ name: "ci", groups: ["stripe"] }, …]`, as agent-vault 0.1 returned them. Any key of the vault (the owner's
   * or an agent's) may list them; a key that is neither throws NotAuthorizedError. Synchronous; pulls when due.
   */
  listAgents(): Array<{ name: string; groups: string[] }> {
    return this.manifest.listAgents();
  }

  /**
   * The access policy (agents, groups, the secrets of each group) of the verified state, as agent-vault 0.1's
   * `manifest` offered it. Reads and verifies the root and every index shard. Synchronous; pulls when due.
   */
  get manifest(): Manifest {
    this.#checkOpen();
    const opened = this.#readySync();
    return readSnapshotSync(this.#io(opened), (a) => {
      const { rs } = this.#attemptRoot(opened, a);
      const { root, role } = rs;
      if (role === null) throw this.#notAKey(opened, root);
      const entries = new Map<string, SecretEntry>();
      const counts = new Map<string, number>();
      for (const id of [...root.index.keys()].sort()) {
        for (const [secretPath, entry] of this.#loadShard(opened, root, id)) {
          counts.set(entry.group, (counts.get(entry.group) ?? 0) + 1);
          entries.set(secretPath, entry);
        }
      }
      checkCounts(root, counts);
      return new Manifest(root, entries);
    });
  }

  /**
   * Pulls now (also with `autoPull: false`): fetches the working tree's upstream into the pull view, as reads do
   * before they verify (format.md 6.8); the working tree is never changed. A tree without an upstream is left
   * alone. Synchronous, as in agent-vault 0.1: the Git step runs in a child process that this call waits for.
   * Never throws for Git: a failure (offline, remote gone, time limit) is reported through the logger every time,
   * and reads go on with what is on disk. Throws VaultNotFoundError when the key or a Git URL's clone is unusable,
   * and a usage error when the Vault is closed.
   */
  pull(): void {
    this.#checkOpen();
    const opened = this.#openSync();
    this.#pullNow(opened, true);
  }

  /**
   * Forgets the cached verified state, so the next read verifies the vault from disk afresh (agent-vault 0.1
   * re-read its manifest here). Reads already notice a changed file; this also drops the choice between the
   * working tree and its pull view. Synchronous; throws a usage error on a closed Vault.
   */
  reload(): void {
    this.#checkOpen();
    this.#root = null;
    this.#shards.clear();
    this.#readDir = null;
    this.#marks = null;
  }

  #listAttempt(opened: Opened, a: Attempt, group: string | undefined, strict: boolean): SecretInfo[] {
    const { rs } = this.#attemptRoot(opened, a);
    const { root, role } = rs;
    if (role === null) throw this.#notAKey(opened, root);
    if (strict && group !== undefined && !root.groups.has(group)) {
      throw new SecretNotFoundError(`Group not found: ${group} (no group ${group} in vault ${root.vaultId})`);
    }
    const counts = new Map<string, number>();
    const out: SecretInfo[] = [];
    for (const id of [...root.index.keys()].sort()) {
      for (const [secretPath, entry] of this.#loadShard(opened, root, id)) {
        counts.set(entry.group, (counts.get(entry.group) ?? 0) + 1);
        if (group !== undefined && entry.group !== group) continue;
        if (canRead(role, root, entry)) out.push(secretInfo(root, secretPath, entry));
      }
    }
    // Every shard was read, so every group is counted (the group listed included).
    checkCounts(root, counts);
    return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  }

  /** Drops the cached state and the key; later calls throw a usage error. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#opening = null;
    this.#opened = null;
    this.#root = null;
    this.#shards.clear();
    this.#marks = null;
  }

  #checkOpen(): void {
    if (this.#closed) throw usageError("this Vault is closed");
  }

  /**
   * Opens, pulls when due (into the pull view; the working tree is never changed), and chooses where this read
   * verifies (format.md 6.8): the view while it is newer than the working tree's vault, else the working tree's.
   */
  async #ready(): Promise<Opened> {
    const opened = await this.#open();
    if (opened.puller !== null) {
      await opened.puller.maybePull();
      this.#lastPullMs = Date.now();
    }
    return this.#chooseDir(opened);
  }

  /** {@link #ready} for the synchronous methods: the pull, when due, runs in a child process waited for. */
  #readySync(): Opened {
    const opened = this.#openSync();
    if (opened.puller !== null && Date.now() - this.#lastPullMs >= (this.#options.pullIntervalMs ?? 5000)) {
      this.#pullNow(opened, false);
    }
    return this.#chooseDir(opened);
  }

  /**
   * Pulls `opened`'s working tree now and waits; never throws for Git. A failure is reported through the logger:
   * always for an explicit pull(), once (until a pull succeeds) for the automatic ones.
   */
  #pullNow(opened: Opened, explicit: boolean): void {
    const warnings = pullSync(opened.loc.workTree, this.#options.pullTimeoutMs ?? 15000);
    if (warnings.length > 0 && (explicit || !this.#pullWarned)) {
      for (const w of warnings) this.#logger.warn(w);
    }
    this.#pullWarned = warnings.length > 0;
    this.#lastPullMs = Date.now();
    opened.puller?.markFresh();
    this.#checkOpen();
  }

  #chooseDir(opened: Opened): Opened {
    this.#checkOpen();
    const vaultDir = readingDir(opened.loc.vaultDir);
    this.#useDir(vaultDir);
    // A fresh location per read: markChecked may move this read to the other candidate.
    return { ...opened, loc: { ...opened.loc, vaultDir }, alt: { dir: otherDir(opened.loc.vaultDir, vaultDir) } };
  }

  /** Reads from the vault directory `vaultDir` (the working tree's or a pull view) from now on. */
  #useDir(vaultDir: string): void {
    if (vaultDir !== this.#readDir) {
      this.#readDir = vaultDir;
      this.#root = null;
      this.#shards.clear();
    }
  }

  /** Opens on first use; a failed open is retried by the next call. */
  #open(): Promise<Opened> {
    if (this.#opened !== null) return Promise.resolve(this.#opened);
    if (this.#opening === null) {
      const p: Promise<Opened> = this.#doOpen().then((o) => {
        if (this.#opening === p && !this.#closed) this.#opened = o;
        return o;
      });
      this.#opening = p;
      p.catch(() => {
        if (this.#opening === p) this.#opening = null;
      });
    }
    return this.#opening;
  }

  async #doOpen(): Promise<Opened> {
    const o = this.#options;
    const resolved = resolveKey({ keyPath: o.keyPath, keyStr: o.keyStr, env: this.#env, home: this.#home });
    const clone = this.#location === null ? await ensureClone(this.#home, o.repoPath, o.cloneTimeoutMs ?? 120000).catch(cloneFailed(o.repoPath)) : null;
    return this.#finishOpen(resolved, clone);
  }

  /** Opens synchronously (a first clone runs in a child process waited for); shares the handle with #open. */
  #openSync(): Opened {
    if (this.#opened !== null) return this.#opened;
    const o = this.#options;
    const resolved = resolveKey({ keyPath: o.keyPath, keyStr: o.keyStr, env: this.#env, home: this.#home });
    let clone: { dir: string; fresh: boolean } | null = null;
    if (this.#location === null) {
      try {
        clone = cloneSync(this.#home, o.repoPath, o.cloneTimeoutMs ?? 120000, this.#logger);
      } catch (err) {
        cloneFailed(o.repoPath)(err);
      }
    }
    const opened = this.#finishOpen(resolved, clone);
    this.#opened = opened;
    return opened;
  }

  #finishOpen(resolved: ReturnType<typeof resolveKey>, clone: { dir: string; fresh: boolean } | null): Opened {
    const o = this.#options;
    const { key, fromOwnerKeyFile } = resolved;
    const autoPull = o.autoPull ?? true;
    const pullLogger = {
      warn: (m: string) => {
        if (!this.#pullWarned) this.#logger.warn(m);
        this.#pullWarned = true;
      },
    };
    const pullOpts = { intervalMs: o.pullIntervalMs ?? 5000, timeoutMs: o.pullTimeoutMs ?? 15000, logger: pullLogger };
    let loc: VaultLocation;
    let puller: Puller | null = null;
    if (clone !== null) {
      const { dir, fresh } = clone;
      const vaultDir = path.join(dir, VAULT_DIR);
      const st = fs.lstatSync(vaultDir, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) throw new IntegrityError(`${vaultDir} is a symbolic link, which a vault never is`);
      if (!st?.isDirectory()) throw new VaultNotFoundError(`No vault found at ${redactUrl(o.repoPath)}: the repository has no ${VAULT_DIR}/ at its top`);
      loc = { vaultDir, workTree: dir };
      if (autoPull) {
        puller = new Puller({ workTree: dir, ...pullOpts });
        if (fresh) {
          puller.markFresh();
          this.#lastPullMs = Date.now();
        }
      }
    } else {
      if (this.#location === null) throw new Error("internal: a Git URL without its clone");
      loc = this.#location;
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
    const recipient = recipientOf(key.identity);
    const decrypter = decrypterFor(key.identity);
    return { loc, trustDir: realDir(loc.vaultDir), key, recipient, decrypter, anchor, puller };
  }

  /** The side effects of the snapshot protocol for one read. */
  #io(opened: Opened): SnapshotIO {
    const probe = new WriterProbe(opened.loc.vaultDir, opened.loc.workTree);
    return {
      writerWaitMs: this.#writerWaitMs,
      readRoot: () => currentRoot(opened.loc.vaultDir),
      writer: (a) => probe.find(a),
      sleep,
      now: () => Date.now(),
    };
  }

  /**
   * One attempt's root: verified (or from the cache), checked against the high-water mark (raised when newer),
   * and the first use recorded. Records in `a` what the snapshot protocol needs.
   */
  #attemptRoot(opened: Opened, a: Attempt): { rs: RootState; marks: Marks } {
    this.#checkOpen();
    const rs = this.#loadRoot(opened, a);
    const { vaultId, version } = rs.root;
    let marks = this.#loadMarks(vaultId);
    if (markChecked(opened, a, () => checkRootMark(marks, vaultId, version, rs.sha256))) {
      marks = raiseMarks(this.#home, vaultId, { root: { version, rootSha256: rs.sha256 } });
      this.#setMarks(marks, vaultId);
      // Another process may have raised the mark past this root meanwhile.
      markChecked(opened, a, () => checkRootMark(marks, vaultId, version, rs.sha256));
    }
    if (rs.chain !== null) {
      applyChainMark(this.#home, vaultId, rs.chain, rs.root);
      rs.chain = null;
    }
    if (rs.firstUse !== null) {
      const { vaultId, verifyKey } = rs.firstUse;
      rs.firstUse = null;
      // Re-checked: another reader may have recorded the vault since the root was verified.
      const dir = opened.trustDir;
      const rcpt = opened.anchor.kind === "owner" ? "" : opened.recipient;
      checkKnownVault(this.#home, vaultId, verifyKey, rcpt, dir);
      if (recordKnownVault(this.#home, vaultId, verifyKey, rcpt, dir)) {
        this.#logger.warn(
          `agent-vault: trusted owner key ${verifyKey} of vault ${vaultId} on first use ` +
            `(recorded in ${knownVaultsPath(this.#home)}); a pinned agent key file avoids trust on first use (the owner prints the pins with 'agent-vault pins')`,
        );
      }
    }
    return { rs, marks };
  }

  #loadRoot(opened: Opened, a: Attempt): RootState {
    const { vaultDir } = opened.loc;
    const what = `${VAULT_DIR}/${ROOT_FILE}`;
    const stamp = statInVault(vaultDir, ROOT_FILE);
    const cached = this.#root;
    if (stamp !== MISSING && cached !== null && sameStamp(cached.stamp, stamp)) {
      a.rootBytes = cached.bytes;
      a.verifyKey = cached.verifyKey;
      return cached;
    }
    const file = stamp === MISSING ? MISSING : readInVault(vaultDir, ROOT_FILE, LIMITS.root);
    if (file === MISSING) {
      // A vault directory with a configuration but no signed state has lost it (or never had it): refuse. An
      // empty or foreign `.agent-vault/` is not a vault at all. Either is decided on a stable state only.
      throw new VouchingError(`${what} is missing`, () =>
        existsInVault(vaultDir, CONFIG_FILE)
          ? (originalVaultError(vaultDir) ?? new IntegrityError(`${what} is missing: the vault has no signed state`))
          : new VaultNotFoundError(`${vaultDir} is not an agent-vault vault (no ${ROOT_FILE})`),
      );
    }
    a.rootBytes = file.bytes;
    const anchor = opened.anchor;
    let cfg: VaultConfig | null = null;
    let verifyKey: string;
    let firstUse: { vaultId: string; verifyKey: string } | null = null;
    // An owner key that is not the vault's founding key is an admin's (format.md 4.1): trusted as a key without
    // pins is, and only when the verified state lists it as an admin.
    const admin = anchor.kind === "owner" && this.#configKey(opened) !== anchor.verifyKey;
    if (anchor.kind === "tofu" || admin) {
      const cfgFile = readInVault(vaultDir, CONFIG_FILE, LIMITS.config);
      if (cfgFile === MISSING) throw new IntegrityError(`${VAULT_DIR}/${CONFIG_FILE} is missing`);
      cfg = parseConfig(cfgFile.bytes);
      // No key line for an admin's key: like the owner's, it may serve several vaults.
      checkKnownVault(this.#home, cfg.vaultId, cfg.ownerVerifyKey, admin ? "" : opened.recipient, opened.trustDir);
      // Recorded (with the key's and the repository's lines) once the root verified and the key has a role.
      firstUse = { vaultId: cfg.vaultId, verifyKey: cfg.ownerVerifyKey };
      verifyKey = cfg.ownerVerifyKey;
    } else {
      verifyKey = anchor.verifyKey;
    }
    a.verifyKey = verifyKey;

    let signed: { body: Uint8Array; signature: Uint8Array };
    try {
      signed = splitSigned(file.bytes, what);
    } catch (err) {
      throw new VouchingError(err instanceof Error ? err.message : `${what}: malformed`);
    }
    // Every link has the anchor's vault id (format.md 4.1 step 2): the pinned one, or config.yaml's for trust on first
    // use and an admin's key; this machine's owner key anchors no vault id.
    const chain = readAdminChain(vaultDir, verifyKey, anchor.kind === "pinned" ? anchor.vaultId : (cfg?.vaultId ?? null));
    const chained = chain.links.length > 0;
    a.writerKeys = chain.keys;
    if (chained && verifyWithAny(file.bytes, chain.keys, what) === null) {
      throw new VouchingError(`${what}: signature does not verify with the key of any current admin (a removed admin's signature, or a forgery)`);
    }
    if (!chained && !signatureValid(signed.body, signed.signature, ROOT_DOMAIN, verifyKey)) {
      if (signatureValid(signed.body, signed.signature, ROOT_DOMAIN_V1, verifyKey)) {
        throw this.#format1(opened, a, signed.body, file.bytes, verifyKey, cfg);
      }
      if (anchor.kind === "pinned") this.#otherVault(opened, signed);
      if (anchor.kind === "owner") ownerKindMismatch(opened.recipient, signed.body);
      throw new VouchingError(`${what}: bad signature (not signed by owner key ${verifyKey})`);
    }
    const root = parseRoot(signed.body);
    checkRootAdmins(chain, root);
    if (anchor.kind === "pinned" && root.vaultId !== anchor.vaultId && this.#configNames(opened, root.vaultId, root.ownerVerifyKey)) {
      throw wrongVault(this.#home, opened.trustDir, anchor.vaultId, root.vaultId);
    }
    this.#checkAnchor(opened, root.vaultId, root.ownerVerifyKey, verifyKey, cfg);
    const role = roleOf(root, opened);
    if (admin && root.admins === null && recipientKind(opened.recipient) !== recipientKind(root.ownerRecipient)) {
      throw this.#notAKey(opened, root);
    }
    if (admin && root.admins === null) {
      // Only the founding owner administers a vault without admins: another owner key meeting one is the case of
      // a vault re-signed by someone else.
      throw new IntegrityError(`${what}: bad signature (the vault is not signed by this owner key)`);
    }
    // In a root with admins, the founding owner's recipient gives no role unless it is a member's (format.md 4.1): its
    // key, removed, is not authorized.
    if (anchor.kind === "owner" && !admin && root.admins === null && role?.kind !== "owner") {
      throw new IntegrityError(`${what}: signed with this owner key's signing key, but names another owner recipient`);
    }
    // Trust on first use is recorded only for a vault this key belongs to, once the marks accept the root.
    const rs: RootState = {
      stamp: file.stamp,
      bytes: file.bytes,
      root,
      sha256: sha256hex(file.bytes),
      verifyKey,
      role,
      firstUse: role === null ? null : firstUse,
      chain,
    };
    this.#root = rs;
    this.#shards.clear();
    return rs;
  }

  /** The owner verify key config.yaml names (unverified), or null when it cannot be read. */
  #configKey(opened: Opened): string | null {
    try {
      const f = readInVault(opened.loc.vaultDir, CONFIG_FILE, LIMITS.config);
      return f === MISSING ? null : parseConfig(f.bytes).ownerVerifyKey;
    } catch {
      return null;
    }
  }

  /** Reports whether config.yaml names `vaultId` and `verifyKey`: the repository holds one whole vault. */
  #configNames(opened: Opened, vaultId: string, verifyKey: string): boolean {
    try {
      const f = readInVault(opened.loc.vaultDir, CONFIG_FILE, LIMITS.config);
      if (f === MISSING) return false;
      const cfg = parseConfig(f.bytes);
      return cfg.vaultId === vaultId && cfg.ownerVerifyKey === verifyKey;
    } catch {
      return false;
    }
  }

  /**
   * A pinned key used on another vault (format.md 6.1): the root does not verify with the pin but does with the
   * owner key config.yaml publishes, and belongs to the vault config.yaml names, which is not the pinned one.
   * Throws the configuration error; returns when the repository is not such a vault.
   */
  #otherVault(opened: Opened, signed: { body: Uint8Array; signature: Uint8Array }): void {
    const a = opened.anchor;
    if (a.kind !== "pinned") return;
    let root;
    try {
      const f = readInVault(opened.loc.vaultDir, CONFIG_FILE, LIMITS.config);
      if (f === MISSING) return;
      const cfg = parseConfig(f.bytes);
      if (cfg.vaultId === a.vaultId || !signatureValid(signed.body, signed.signature, ROOT_DOMAIN, cfg.ownerVerifyKey)) return;
      root = parseRoot(signed.body);
      if (root.vaultId !== cfg.vaultId || root.ownerVerifyKey !== cfg.ownerVerifyKey) return;
    } catch {
      return;
    }
    throw wrongVault(this.#home, opened.trustDir, a.vaultId, root.vaultId);
  }

  /** Checks a verified root's vault id and verify key against the anchor (and, in trust on first use, config.yaml). */
  #checkAnchor(opened: Opened, vaultId: string, ownerVerifyKey: string, verifyKey: string, cfg: VaultConfig | null): void {
    const what = `${VAULT_DIR}/${ROOT_FILE}`;
    const a = opened.anchor;
    if (cfg !== null) {
      if (vaultId !== cfg.vaultId) throw new IntegrityError(`${what}: vault_id differs from ${CONFIG_FILE}`);
      if (ownerVerifyKey !== cfg.ownerVerifyKey) throw new IntegrityError(`${what}: owner.verify_key differs from ${CONFIG_FILE}`);
      return;
    }
    if (ownerVerifyKey !== verifyKey) {
      throw new IntegrityError(`${what}: owner.verify_key ${ownerVerifyKey} is not the ${a.kind === "pinned" ? "pinned" : "owner's"} key ${verifyKey}`);
    }
    if (a.kind === "pinned" && vaultId !== a.vaultId) {
      throw new IntegrityError(`${what}: vault id ${vaultId} is not the pinned vault id ${a.vaultId}`);
    }
  }

  /**
   * A root that verifies with the format 1 domain (format.md 11): after the anchor and the high-water mark (a
   * rollback or fork is an IntegrityError, thrown), the error to throw: VaultNotFoundError naming the migration.
   */
  #format1(opened: Opened, a: Attempt, body: Uint8Array, bytes: Uint8Array, verifyKey: string, cfg: VaultConfig | null): AgentVaultError {
    const r1 = parseFormat1Root(body);
    this.#checkAnchor(opened, r1.vaultId, r1.ownerVerifyKey, verifyKey, cfg);
    const marks = this.#loadMarks(r1.vaultId);
    markChecked(opened, a, () => checkRootMark(marks, r1.vaultId, r1.version, sha256hex(bytes)));
    return new VaultNotFoundError(
      `${opened.loc.vaultDir} holds vault ${r1.vaultId} in format 1 (version ${r1.version}), which this SDK does not read: ` +
        "the owner must convert it with `agent-vault migrate`",
    );
  }

  #loadShard(opened: Opened, root: Root, id: string): Shard {
    const rel = shardFile(id);
    const { vaultDir } = opened.loc;
    const cached = this.#shards.get(id);
    if (cached !== undefined && cached.root === root) {
      const stamp = statInVault(vaultDir, rel);
      if (stamp !== MISSING && sameStamp(cached.stamp, stamp)) return cached.shard;
    }
    const vouch = root.index.get(id);
    if (vouch === undefined) throw new Error(`internal: no shard ${id} in the root`);
    const file = readVouched(vaultDir, rel, vouch, `the signed root (version ${root.version})`);
    const shard = parseShard(file.bytes, id, root);
    this.#shards.set(id, { stamp: file.stamp, root, shard });
    return shard;
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

  /**
   * No entry lists `secretPath`: a `.enc` or `.meta` for it on disk is an unsigned secret. It is a vouching failure
   * (a file the signed state does not vouch for), since a writer adding the secret puts its files in place before
   * the root that lists it: reported only on a stable state (format.md 6.6).
   */
  #refuseUnsigned(opened: Opened, secretPath: string): void {
    for (const ext of [".enc", ".meta"]) {
      const rel = `secrets/${secretPath}${ext}`;
      if (existsInVault(opened.loc.vaultDir, rel)) {
        throw new VouchingError(`unsigned secret: ${VAULT_DIR}/${rel} exists, but no signed index entry lists ${secretPath}`);
      }
    }
  }

  #notAKey(opened: Opened, root: Root): NotAuthorizedError {
    const theirs = recipientKind(root.ownerRecipient);
    if (recipientKind(opened.recipient) !== theirs) {
      const kind = (k: string) => (k === "hybrid" ? "post-quantum (age1pq)" : "classic (X25519)");
      return new NotAuthorizedError(
        `this key is a ${kind(recipientKind(opened.recipient))} key, but vault ${root.vaultId} uses ${kind(theirs)} keys: ` +
          "use the key file the owner made for this vault (after 'agent-vault migrate --pq', the agent's new key file)",
      );
    }
    const shown = opened.recipient.length > 64 ? `${opened.recipient.slice(0, 16)}…${opened.recipient.slice(-8)}` : opened.recipient;
    return new NotAuthorizedError(`this key (${shown}) is neither the owner nor an agent of vault ${root.vaultId}`);
  }
}

/**
 * Throws NotAuthorizedError when an owner key did not verify a root whose owner recipient (unverified: this only
 * chooses the message) is of the other kind: a classic owner key given for a post-quantum vault, or the reverse, is
 * the wrong key, not tampering (format.md 3.8). Returns otherwise.
 */
function ownerKindMismatch(recipient: string, body: Uint8Array): void {
  let theirs: unknown;
  try {
    theirs = (JSON.parse(new TextDecoder().decode(body)) as { owner?: { recipient?: unknown } }).owner?.recipient;
  } catch {
    return;
  }
  if (typeof theirs !== "string" || theirs === "" || recipientKind(theirs) === recipientKind(recipient)) return;
  const kind = (k: string) => (k === "hybrid" ? "post-quantum (age1pq)" : "classic (X25519)");
  throw new NotAuthorizedError(
    `this owner key is a ${kind(recipientKind(recipient))} key, but this vault uses ${kind(recipientKind(theirs))} keys: ` +
      "give the owner key of this vault (a post-quantum vault's is ~/.agent-vault/owner-pq.key)",
  );
}

/** Rethrows a failed clone of `url` as VaultNotFoundError with agent-vault 0.1's leading words. */
function cloneFailed(url: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof VaultNotFoundError) throw new VaultNotFoundError(`Failed to clone/update ${redactUrl(url)}: ${err.message}`, { cause: err });
    throw err;
  };
}

/** Checks that the entries naming each group (counted over every shard) number what the root says. */
function checkCounts(root: Root, counts: ReadonlyMap<string, number>): void {
  for (const [name, g] of root.groups) {
    const n = counts.get(name) ?? 0;
    if (n !== g.secrets) {
      throw new IntegrityError(`${VAULT_DIR}/${ROOT_FILE} counts ${g.secrets} secrets in group ${name}, but the index holds ${n}`);
    }
  }
}

/** The current bytes of `state/root`, or null when it is missing or cannot be read. */
function currentRoot(vaultDir: string): Uint8Array | null {
  try {
    const f = readInVault(vaultDir, ROOT_FILE, LIMITS.root);
    return f === MISSING ? null : f.bytes;
  } catch {
    return null;
  }
}

/**
 * Runs a high-water-mark check for attempt `a`. A rollback or fork is decided on the attempt that meets it
 * (format.md 6.6) — unless `state/root` has changed since the attempt read it: the owner's writer on this machine
 * raises the mark right after it replaces the root, and another reader right after it reads the new one, so a
 * reader that read the old root just before can meet the newer mark. That is a vouching failure: the read starts
 * over from the new root. A rollback on a root that stays is reported.
 */
function markChecked<T>(opened: Opened, a: Attempt, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof IntegrityError && !(err instanceof VouchingError) && a.rootBytes !== null) {
      const now = currentRoot(opened.loc.vaultDir);
      if (now === null || !Buffer.from(now).equals(a.rootBytes)) throw new VouchingError(err.message);
      // Below the mark here: with a pull view, the other candidate may be the newer one (format.md 6.8: another
      // reader read it while the agent's own git pull was replacing this one). The read starts over there, once;
      // a rollback in both stays a rollback.
      if (err instanceof BelowMarkError && opened.alt?.dir) {
        (opened.loc as { vaultDir: string }).vaultDir = opened.alt.dir;
        opened.alt.dir = null;
        throw new VouchingError(err.message);
      }
    }
    throw err;
  }
}

/**
 * The role of the key in `root`: owner (an admin, format.md 4.1; the founding owner in a vault without admins), the
 * agent whose recipient it is (recipients are distinct), or null. An owner key listed as an admin must carry that
 * admin's verify key (IntegrityError otherwise).
 */
function roleOf(root: Root, opened: Opened): Role {
  if (root.admins === null) {
    if (opened.recipient === root.ownerRecipient) return { kind: "owner" };
  } else {
    for (const a of root.admins.members.values()) {
      if (a.recipient !== opened.recipient) continue;
      if (opened.anchor.kind === "owner" && deriveOwnerVerifyKey(opened.key.identity) !== a.verifyKey) {
        throw new IntegrityError(`${VAULT_DIR}/${ROOT_FILE} names this key's recipient for an admin with another verify key`);
      }
      return { kind: "owner" };
    }
  }
  for (const [name, a] of root.agents) {
    if (a.recipient === opened.recipient) return { kind: "agent", name };
  }
  return null;
}

/** Whether `role` may read the secret of `entry`: the owner always; an agent that is a member of its group or an extra agent. */
function canRead(role: Role, root: Root, entry: SecretEntry): boolean {
  if (role === null) return false;
  if (role.kind === "owner") return true;
  return (root.groups.get(entry.group)?.members.includes(role.name) ?? false) || entry.extraAgents.includes(role.name);
}
