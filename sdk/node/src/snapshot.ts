/**
 * A snapshot or nothing (format.md 6.6): reading while the owner's writer or Git replaces files one at a time.
 *
 * A read attempt that meets a vouching failure ({@link VouchingError}) waits for writers — a `.pending/root` that
 * is a signed successor of the failed attempt's root, or Git's `index.lock` — polling every 10 ms for at most the
 * writer wait (10 s) in all, then reads the root again. If a writer was seen or the root changed, the read starts
 * over (at most 5 attempts, pausing 10, 20, 40, 80 ms); otherwise the state is stable and the failure is reported
 * as the integrity error it is. Every other error is decided on the attempt that meets it.
 */

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { AgentVaultError, VouchingError } from "./errors.js";
import { LIMITS, MISSING, readInVault, sameStamp, statInVault, type FileStamp } from "./layout.js";
import { prevSha256Of, versionOf } from "./root.js";
import { ROOT_DOMAIN, signatureValid, splitSigned } from "./signed.js";

/** Attempts of one read in all (format.md 6.6 step 3). */
export const MAX_ATTEMPTS = 5;
/** Poll interval while waiting for writers, in ms. */
export const POLL_MS = 10;
/** Default writer wait, in ms. */
export const WRITER_WAIT_MS = 10_000;
/** Path of the owner's pending root below `.agent-vault/`. */
export const PENDING_ROOT = ".pending/root";
/** Path of the hash of the root a pending fast-forward replaces, below `.agent-vault/` (format.md 9.4). */
const PENDING_FROM = ".pending/from";

/** What one attempt read: the root bytes (null when missing) and the verify key it checked them with. */
export interface Attempt {
  rootBytes: Uint8Array | null;
  verifyKey: string | null;
  /** The verify keys of the admins of the vault's admin chain (format.md 4.1), any of whom may be the writer. */
  writerKeys?: readonly string[];
}

/** A writer met while waiting. */
export type Writer = { readonly kind: "owner"; readonly where: string } | { readonly kind: "git"; readonly where: string };

/** The side effects of the protocol, injectable for tests. */
export interface SnapshotIO {
  /** The longest time to wait for writers, over the whole read, in ms. */
  readonly writerWaitMs: number;
  /** The current bytes of `state/root`, or null when it is missing or cannot be read. */
  readRoot(): Uint8Array | null;
  /** A writer at work on the state that `attempt` read, or null. */
  writer(attempt: Attempt): Writer | null;
  sleep(ms: number): Promise<void>;
  now(): number;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function writerError(w: Writer, waitedMs: number): AgentVaultError {
  const s = `${Math.round(waitedMs / 100) / 10} s`;
  if (w.kind === "owner") {
    return new AgentVaultError(
      `the owner's change to the vault is unfinished after ${s} (${w.where} is a signed successor of the state read): ` +
        "it was interrupted or is still running; if no agent-vault command is running, run `agent-vault repair`",
    );
  }
  return new AgentVaultError(
    `Git holds its index lock ${w.where} after ${s}: wait for the Git command to finish, or remove the lock if no Git process is running`,
  );
}

/**
 * Runs `attempt` under the protocol of format.md 6.6 and returns its result. Throws what an attempt throws,
 * except that a VouchingError is reported only on a stable state (as {@link VouchingError.stable}); a writer
 * still there after the writer wait, or a root that changes through every attempt, is an AgentVaultError of kind
 * `error`.
 */
export async function readSnapshot<T>(io: SnapshotIO, attempt: (a: Attempt) => Promise<T>): Promise<T> {
  const wait: WriterWait = { started: 0, deadline: null };
  for (let n = 1; ; n++) {
    const a: Attempt = { rootBytes: null, verifyKey: null };
    try {
      return await attempt(a);
    } catch (err) {
      for (const ms of afterFailure(io, wait, a, err, n)) await io.sleep(ms);
    }
  }
}

/** When the wait for writers began, over the whole read, and when it ends (null until a first failure). */
export interface WriterWait {
  started: number;
  deadline: number | null;
}

/**
 * What follows attempt `n` that failed with `err`, under the protocol of format.md 6.6: yields the pauses to wait
 * (for a writer to finish, then before the next attempt) and returns when the next attempt may start; throws what
 * the read reports instead. Shared by {@link readSnapshot} and syncio.ts's blocking `readSnapshotSync`.
 */
export function* afterFailure(io: SnapshotIO, wait: WriterWait, a: Attempt, err: unknown, n: number): Generator<number, void> {
  if (!(err instanceof VouchingError)) throw err;
  if (wait.deadline === null) {
    wait.started = io.now();
    wait.deadline = wait.started + io.writerWaitMs;
  }
  let seen = false;
  for (;;) {
    const w = io.writer(a);
    if (w === null) break;
    seen = true;
    if (io.now() >= wait.deadline) throw writerError(w, io.now() - wait.started);
    yield POLL_MS;
  }
  if (!seen && sameBytes(io.readRoot(), a.rootBytes)) throw err.stable();
  if (n >= MAX_ATTEMPTS) {
    throw new AgentVaultError(
      `the vault kept changing while it was read (${n} attempts, the last failing with: ${err.message}); try again`,
    );
  }
  yield POLL_MS * 2 ** (n - 1);
}

/** Finds the Git directory of the working tree holding `start`: `.git` upwards, or the directory a `.git` file names. */
export function findGitDir(start: string): string | null {
  return findGitTop(start)?.gitDir ?? null;
}

/**
 * Finds the working tree holding `start`: `top` is the directory in which `.git` was met upwards, `gitDir` that
 * `.git` directory or the directory a `.git` file names. Null when there is none.
 */
export function findGitTop(start: string): { top: string; gitDir: string } | null {
  let dir = path.resolve(start);
  for (;;) {
    const dotGit = path.join(dir, ".git");
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(dotGit, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) return { top: dir, gitDir: dotGit };
    if (st?.isFile()) {
      try {
        const m = /^gitdir: *(.+?)\s*$/m.exec(fs.readFileSync(dotGit, "utf8").slice(0, 4096));
        if (m !== null) return { top: dir, gitDir: path.resolve(dir, m[1]!) };
      } catch {
        // unreadable: not a Git directory we can watch
      }
      return null;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * Looks for the writers of format.md 6.6 step 2 around one vault. A `.pending/root` counts only when it is a
 * signed successor of the attempt's root (its signature verifies with the attempt's verify key and its
 * `prev_sha256` is the hash of the attempt's root), or a fast-forward from it (signed likewise, `.pending/from`
 * holding the hash of the attempt's root, itself signed likewise, and a later version of the same vault):
 * anyone can push a file, nobody but the owner can sign one.
 * The verdict on a pending root is remembered for as long as its file does not change.
 */
export class WriterProbe {
  readonly #vaultDir: string;
  readonly #workTree: string;
  #gitDir: string | null | undefined;
  #pending: { stamp: FileStamp; rootSha256: string; verifyKey: string; successor: boolean } | null = null;

  constructor(vaultDir: string, workTree: string) {
    this.#vaultDir = vaultDir;
    this.#workTree = workTree;
  }

  /** The writer at work on the state `a` read, or null. */
  find(a: Attempt): Writer | null {
    if (this.#pendingSuccessor(a)) return { kind: "owner", where: path.join(this.#vaultDir, ...PENDING_ROOT.split("/")) };
    if (this.#gitDir === undefined) this.#gitDir = findGitDir(this.#workTree);
    if (this.#gitDir !== null) {
      const lock = path.join(this.#gitDir, "index.lock");
      if (fs.existsSync(lock)) return { kind: "git", where: lock };
    }
    return null;
  }

  #pendingSuccessor(a: Attempt): boolean {
    if (a.rootBytes === null || a.verifyKey === null) return false;
    try {
      const stamp = statInVault(this.#vaultDir, PENDING_ROOT);
      if (stamp === MISSING) return false;
      const rootSha256 = createHash("sha256").update(a.rootBytes).digest("hex");
      const c = this.#pending;
      const keys = [a.verifyKey, ...(a.writerKeys ?? [])];
      const keyId = keys.join(" ");
      if (c !== null && sameStamp(c.stamp, stamp) && c.rootSha256 === rootSha256 && c.verifyKey === keyId) return c.successor;
      const file = readInVault(this.#vaultDir, PENDING_ROOT, LIMITS.root);
      if (file === MISSING) return false;
      const { body, signature } = splitSigned(file.bytes, PENDING_ROOT);
      const signedBy = (b: Uint8Array, sig: Uint8Array) => keys.some((k) => signatureValid(b, sig, ROOT_DOMAIN, k));
      let successor = signedBy(body, signature) && prevSha256Of(body) === rootSha256;
      if (!successor && signedBy(body, signature)) {
        // A fast-forward to the upstream's state several versions on (format.md 9.4): .pending/from names the
        // attempt's root, itself signed, and the pending root is a later version of the same vault.
        const from = readInVault(this.#vaultDir, PENDING_FROM, 256);
        if (from !== MISSING && Buffer.from(from.bytes).toString("latin1").trim() === rootSha256) {
          const root = splitSigned(a.rootBytes, "state/root");
          const next = versionOf(body);
          const cur = versionOf(root.body);
          successor = signedBy(root.body, root.signature) && next !== null && cur !== null && next.vaultId === cur.vaultId && next.version > cur.version;
        }
      }
      this.#pending = { stamp: file.stamp, rootSha256, verifyKey: keyId, successor };
      return successor;
    } catch {
      return false; // unreadable, a link, malformed or unsigned: not a writer
    }
  }
}
