/**
 * Key files and key resolution (format.md sections 3.2 and 3.4).
 *
 * A key file is an age identity file with exactly one `AGE-SECRET-KEY-1…` line; its `# agent-vault-…` comment
 * lines pin the vault id and the owner verify key. Every problem with a key (absent, unreadable, readable by
 * others, malformed, inconsistent pins) is a {@link VaultNotFoundError}: the reader has no usable key.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { createPrivateKey, createPublicKey, hkdfSync } from "node:crypto";
import { bech32Decode } from "./bech32.js";
import { VaultNotFoundError, usageError } from "./errors.js";
import { expandTilde, type Env } from "./home.js";
import { isVerifyKey } from "./signed.js";

/** Environment variable holding a key path, a whole key file, or a bare identity line. */
export const KEY_ENV = "AGENT_VAULT_KEY";
/** Largest key file the SDK reads. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

const IDENTITY_LINE = /^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]+$/;
const HYBRID_IDENTITY_LINE = /^AGE-SECRET-KEY-PQ-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]+$/;
const PIN_LINE = /^# agent-vault-(agent|vault-id|owner-verify-key): (\S+)\s*$/;
const HKDF_INFO = "agent-vault/v1 owner signing key";
const HKDF_INFO_HYBRID = "agent-vault/v2 owner signing key mlkem768x25519";

/** Trust anchors pinned in a key file. */
export interface Pin {
  /** The vault id (32 lowercase hex characters). */
  readonly vaultId: string;
  /** The owner verify key, `ed25519:<base64>`. */
  readonly verifyKey: string;
}

/** A parsed key file. `source` describes where it came from, for messages (never its content). */
export interface KeyFile {
  readonly identity: string;
  readonly pin: Pin | null;
  /** The `agent-vault-agent` pin, when present. */
  readonly agent: string | null;
  readonly source: string;
}

/** A resolved key and whether it was read from `<home>/owner.key`. */
export interface ResolvedKey {
  readonly key: KeyFile;
  readonly fromOwnerKeyFile: boolean;
}

/** Returns the 32 bytes encoded by an `AGE-SECRET-KEY-1…` identity, or null when it is not a valid X25519 identity. */
export function identityBytes(identity: string): Uint8Array | null {
  if (!IDENTITY_LINE.test(identity)) return null;
  const d = bech32Decode(identity);
  if (d === null || d.hrp !== "age-secret-key-" || d.data.length !== 32) return null;
  return d.data;
}

/**
 * Returns the 32-byte seed encoded by a post-quantum `AGE-SECRET-KEY-PQ-1…` identity (ML-KEM-768 + X25519), or null
 * when it is not one.
 */
export function hybridSeed(identity: string): Uint8Array | null {
  if (!HYBRID_IDENTITY_LINE.test(identity)) return null;
  const d = bech32Decode(identity);
  if (d === null || d.hrp !== "age-secret-key-pq-" || d.data.length !== 32) return null;
  return d.data;
}

/** Reports whether `identity` is a post-quantum (hybrid) identity. */
export function isHybridIdentity(identity: string): boolean {
  return HYBRID_IDENTITY_LINE.test(identity);
}

/**
 * Parses key file content (format.md 3.2). Lines are read after stripping a trailing `\r`; pin lines are
 * collected, other `#` lines (after leading white space) are comments, blank lines are ignored, and every other
 * line must be an identity. Exactly one identity is required; a pinned file has both `vault-id` and
 * `owner-verify-key`, and the verify key must be well formed (the vault id is compared with the signed root
 * later, so a malformed one surfaces there as a pin mismatch); a pin given twice must repeat the same value.
 * Throws VaultNotFoundError naming `source` otherwise; the message never quotes key material.
 */
export function parseKeyFile(text: string, source: string): KeyFile {
  const bad = (why: string): VaultNotFoundError => new VaultNotFoundError(`key ${source} is not a usable key file: ${why}`);
  refuseCustody(text, source);
  let identity: string | null = null;
  const pins = new Map<string, string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    const m = PIN_LINE.exec(line);
    if (m !== null) {
      const name = m[1]!;
      const value = m[2]!;
      const prev = pins.get(name);
      if (prev !== undefined && prev !== value) throw bad(`pin agent-vault-${name} is given twice with different values`);
      pins.set(name, value);
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    if (trimmed.toUpperCase().startsWith("AGE-PLUGIN-")) {
      throw new VaultNotFoundError(
        `key ${source} holds an age plugin identity (a hardware-held key), which the Node SDK cannot use: ` +
          "read the secret with the agent-vault CLI (agent-vault get) or its MCP server (agent-vault mcp), which run the age plugin",
      );
    }
    if (identityBytes(trimmed) === null && hybridSeed(trimmed) === null) {
      throw bad(`line ${i + 1} is neither a comment nor an AGE-SECRET-KEY-1 or AGE-SECRET-KEY-PQ-1 identity`);
    }
    if (identity !== null) throw bad("more than one identity line");
    identity = trimmed;
  }
  if (identity === null) throw bad("no AGE-SECRET-KEY-1 identity line");
  const vaultId = pins.get("vault-id");
  const verifyKey = pins.get("owner-verify-key");
  const agent = pins.get("agent");
  if ((vaultId === undefined) !== (verifyKey === undefined)) {
    throw bad("pinned with only one of agent-vault-vault-id and agent-vault-owner-verify-key");
  }
  if (verifyKey !== undefined && !isVerifyKey(verifyKey)) throw bad("agent-vault-owner-verify-key is not ed25519:<base64 of 32 bytes>");
  const pin = vaultId !== undefined && verifyKey !== undefined ? { vaultId, verifyKey } : null;
  return { identity, pin, agent: agent ?? null, source };
}

const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";
const AGE_BINARY = "age-encryption.org/v1\n";

/** Refuses a passphrase-protected key file (format.md 3.6) with a message that says what to use instead. */
function refuseCustody(text: string, source: string): void {
  if (text.trimStart().startsWith(ARMOR_BEGIN) || text.startsWith(AGE_BINARY)) {
    throw new VaultNotFoundError(
      `key ${source} is passphrase-protected, which the Node SDK cannot unlock: read the secret with the agent-vault CLI ` +
        "(it asks for the passphrase, or reads it from --passphrase-fd), or remove the passphrase with 'agent-vault key unprotect'",
    );
  }
}

/**
 * Reads and parses the key file at `file`. Refuses (VaultNotFoundError) a file that is missing, not a regular
 * file, larger than 64 KiB, or readable or writable by group or others (mode & 0o077, POSIX only).
 */
export function readKeyFile(file: string): KeyFile {
  const p = path.resolve(expandTilde(file));
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    // agent-vault 0.1's leading words for a missing key file.
    throw new VaultNotFoundError(code === "ENOENT" ? `Key file not found: ${p}` : `key file ${p} cannot be read (${code})`);
  }
  if (!st.isFile()) throw new VaultNotFoundError(`key file ${p} is not a regular file`);
  if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    throw new VaultNotFoundError(`key file ${p} is accessible by group or others (mode ${mode}); run: chmod 600 ${p}`);
  }
  if (st.size > MAX_KEY_FILE_BYTES) throw new VaultNotFoundError(`key file ${p} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  let text: string;
  const data = fs.readFileSync(p);
  if (data.subarray(0, AGE_BINARY.length).toString("latin1") === AGE_BINARY) refuseCustody(AGE_BINARY, p);
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch (err) {
    throw new VaultNotFoundError(`key file ${p} cannot be read (${(err as NodeJS.ErrnoException).code ?? "not UTF-8"})`);
  }
  return parseKeyFile(text, p);
}

/**
 * Reports whether a key string (`keyStr`, `AGENT_VAULT_KEY`) is key-file content rather than a path (format.md
 * 3.2, the rule of the Go `IsKeyContent`): it holds `AGE-SECRET-KEY-` in any letter case, or a line break.
 */
export function isKeyContent(s: string): boolean {
  return s.toUpperCase().includes("AGE-SECRET-KEY-") || /[\r\n]/.test(s);
}

/** Takes a key string as content when {@link isKeyContent}, else as a path; a value that names no file is never echoed. */
function keyFromString(s: string, source: string): KeyFile {
  if (isKeyContent(s)) return parseKeyFile(s, source);
  if (!fs.existsSync(path.resolve(expandTilde(s)))) {
    throw new VaultNotFoundError(
      `the key ${source} is neither age key content nor the path of an existing key file (the value is not shown: it may be key material)`,
    );
  }
  return readKeyFile(s);
}

/** Options of {@link resolveKey}. */
export interface ResolveKeyOptions {
  /** A key file path. */
  readonly keyPath?: string | undefined;
  /** Key file content, a bare identity line, or a path. */
  readonly keyStr?: string | undefined;
  /** The environment to read `AGENT_VAULT_KEY` from. */
  readonly env: Env;
  /** The agent-vault home. */
  readonly home: string;
}

/**
 * Resolves the reader's key (format.md 3.2): `keyStr` when given (it overrides `keyPath`, as in agent-vault 0.1),
 * else `keyPath`, else `AGENT_VAULT_KEY` when set and non-empty, else `<home>/owner.key`. Throws VaultNotFoundError when the chosen
 * key is unusable or when there is none.
 */
export function resolveKey(opts: ResolveKeyOptions): ResolvedKey {
  const ownerKeyPath = path.join(opts.home, "owner.key");
  if (opts.keyStr !== undefined) {
    if (opts.keyStr.trim() === "") throw usageError("keyStr is empty");
    return { key: keyFromString(opts.keyStr, "given as keyStr"), fromOwnerKeyFile: false };
  }
  if (opts.keyPath !== undefined) {
    if (opts.keyPath === "") throw usageError("keyPath is empty");
    return { key: readKeyFile(opts.keyPath), fromOwnerKeyFile: false };
  }
  const env = opts.env[KEY_ENV];
  if (env !== undefined && env.trim() !== "") {
    return { key: keyFromString(env, `from ${KEY_ENV}`), fromOwnerKeyFile: false };
  }
  if (!fs.existsSync(ownerKeyPath)) {
    throw new VaultNotFoundError(`No key provided: no keyPath or keyStr, no ${KEY_ENV} and no ${ownerKeyPath}; pass one of them`);
  }
  return { key: readKeyFile(ownerKeyPath), fromOwnerKeyFile: true };
}

/**
 * Reports whether `identity` is this machine's owner key: the identity in `<home>/owner.key`. A missing,
 * unreadable, loose-mode or malformed owner.key counts as "no".
 */
export function isMachineOwnerKey(identity: string, home: string): boolean {
  try {
    return readKeyFile(path.join(home, "owner.key")).identity === identity;
  } catch {
    return false;
  }
}

/**
 * Derives the owner verify key (`ed25519:<base64>`) from an owner identity (format.md 3.4): the Ed25519 seed is
 * HKDF-SHA256(IKM = the identity's 32 bytes, salt = empty, info = "agent-vault/v1 owner signing key", L = 32), and
 * for a post-quantum identity HKDF-SHA256 of its 32-byte seed with info "agent-vault/v2 owner signing key
 * mlkem768x25519".
 */
export function deriveOwnerVerifyKey(identity: string): string {
  const hybrid = hybridSeed(identity);
  const ikm = hybrid ?? identityBytes(identity);
  if (ikm === null) throw new VaultNotFoundError("not an AGE-SECRET-KEY-1 or AGE-SECRET-KEY-PQ-1 identity");
  const seed = Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), hybrid !== null ? HKDF_INFO_HYBRID : HKDF_INFO, 32));
  ikm.fill(0);
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  seed.fill(0);
  const priv = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  der.fill(0);
  const jwk = createPublicKey(priv).export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("Ed25519 public key export failed");
  return "ed25519:" + Buffer.from(jwk.x, "base64url").toString("base64");
}
