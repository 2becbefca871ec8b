/**
 * What the synchronous read methods of {@link Vault} need (kept from agent-vault 0.1, whose `listSecrets()`,
 * `listAgents()`, `pull()` and `reload()` returned without a Promise): the snapshot protocol of format.md 6.6 with
 * a blocking sleep, the age recipient of an identity computed with node:crypto, and the Git steps of gitsync.ts
 * run in a child process (gitworker.ts) that the caller waits for.
 */

import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { fileURLToPath } from "node:url";
import { bech32Encode } from "./bech32.js";
import { AgentVaultError, VaultNotFoundError, type ErrorKind } from "./errors.js";
import { hybridSeed, identityBytes } from "./keys.js";
import { MLKEM768X25519 } from "@noble/post-quantum/hybrid.js";
import { afterFailure, type Attempt, type SnapshotIO, type WriterWait } from "./snapshot.js";
import type { Logger } from "./gitsync.js";

const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** Blocks the thread for `ms` milliseconds. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The lower-case recipient of an identity, computed synchronously: `age1…` of an `AGE-SECRET-KEY-1…` identity,
 * `age1pq1…` (the ML-KEM-768 + X25519 public key of its seed) of an `AGE-SECRET-KEY-PQ-1…` one.
 */
export function recipientOf(identity: string): string {
  const seed = hybridSeed(identity);
  if (seed !== null) {
    try {
      return bech32Encode("age1pq", MLKEM768X25519.getPublicKey(seed));
    } finally {
      seed.fill(0);
    }
  }
  const raw = identityBytes(identity);
  if (raw === null) throw new VaultNotFoundError("the key is not an AGE-SECRET-KEY-1 identity");
  const der = Buffer.concat([PKCS8_X25519_PREFIX, raw]);
  raw.fill(0);
  try {
    const x = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" }).x;
    if (typeof x !== "string") throw new VaultNotFoundError("the key's X25519 public key cannot be computed");
    return bech32Encode("age", Buffer.from(x, "base64url"));
  } finally {
    der.fill(0);
  }
}

/**
 * The snapshot protocol of format.md 6.6, as snapshot.ts's `readSnapshot` runs it, for a synchronous attempt:
 * the waits block the thread (`io.sleep` is not used). Same attempts, pauses and errors (`afterFailure`).
 */
export function readSnapshotSync<T>(io: SnapshotIO, attempt: (a: Attempt) => T): T {
  const wait: WriterWait = { started: 0, deadline: null };
  for (let n = 1; ; n++) {
    const a: Attempt = { rootBytes: null, verifyKey: null };
    try {
      return attempt(a);
    } catch (err) {
      for (const ms of afterFailure(io, wait, a, err, n)) sleepSync(ms);
    }
  }
}

const WORKER = fileURLToPath(new URL("./gitworker.js", import.meta.url));

interface WorkerReply {
  readonly ok: boolean;
  readonly dir?: string;
  readonly fresh?: boolean;
  readonly kind?: ErrorKind;
  readonly message?: string;
  readonly warnings?: readonly string[];
}

function runWorker(req: object, limitMs: number, logger: Logger): WorkerReply {
  const res = spawnSync(process.execPath, [WORKER, JSON.stringify(req)], {
    encoding: "utf8",
    timeout: limitMs,
    killSignal: "SIGKILL",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 1024 * 1024,
    windowsHide: true,
  });
  let reply: WorkerReply | null = null;
  try {
    reply = JSON.parse(res.stdout.trim().split("\n").pop() ?? "") as WorkerReply;
  } catch {
    reply = null;
  }
  if (reply === null) {
    const why = res.error?.message ?? (res.signal !== null ? `killed by ${res.signal}` : `exit status ${res.status}`);
    return { ok: false, kind: "error", message: `the git helper process failed (${why})` };
  }
  for (const w of reply.warnings ?? []) logger.warn(w);
  return reply;
}

/**
 * Pulls the working tree holding a vault (`workTree`) into its pull view now, as the asynchronous reads do, and
 * waits for it. Never throws: returns the warnings of a failed pull (empty when it succeeded or there was nothing
 * to pull); the caller reports them and reads the local copy.
 */
export function pullSync(workTree: string, timeoutMs: number): string[] {
  const collected: string[] = [];
  const reply = runWorker({ op: "pull", workTree, timeoutMs }, timeoutMs * 6 + 10_000, { warn: (m) => void collected.push(m) });
  if (!reply.ok) collected.push(`agent-vault: could not pull ${workTree} (${reply.message ?? "error"}); reading the local copy`);
  return collected;
}

/** Clones `url` into the cache (or finds the clone) and waits for it; throws VaultNotFoundError when it fails. */
export function cloneSync(home: string, url: string, timeoutMs: number, logger: Logger): { dir: string; fresh: boolean } {
  const reply = runWorker({ op: "clone", home, url, timeoutMs }, timeoutMs + 10_000, logger);
  if (!reply.ok || typeof reply.dir !== "string") {
    const msg = reply.message ?? "git clone failed";
    throw reply.kind === "vault_not_found" || reply.kind === undefined ? new VaultNotFoundError(msg) : new AgentVaultError(msg, reply.kind);
  }
  return { dir: reply.dir, fresh: reply.fresh === true };
}
