/**
 * Local trust files in the agent-vault home (format.md sections 6.2 and 6.3): `known_vaults` for trust on first
 * use, and the high-water marks `state/<vault_id>.json` shared with the CLI, the other SDKs and the MCP server.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { AgentVaultError, IntegrityError } from "./errors.js";
import { appendPrivateFile, writeFileAtomic } from "./home.js";
import { isValidSecretPath } from "./names.js";

const VAULT_ID = /^[0-9a-f]{32}$/;

/** Reports whether `s` is a vault id: 32 lowercase hex characters. */
export function isVaultId(s: unknown): s is string {
  return typeof s === "string" && VAULT_ID.test(s);
}

/** Path of `<home>/known_vaults`. */
export function knownVaultsPath(home: string): string {
  return path.join(home, "known_vaults");
}

/** Returns the verify keys recorded for `vaultId` in `<home>/known_vaults` (empty when none or no file). */
export function knownVerifyKeys(home: string, vaultId: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(knownVaultsPath(home), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new AgentVaultError(`cannot read ${knownVaultsPath(home)} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const keys: string[] = [];
  for (const raw of text.split("\n")) {
    const fields = raw.trim().split(/\s+/);
    if (fields.length >= 2 && fields[0] === vaultId) keys.push(fields[1]!);
  }
  return keys;
}

/**
 * Trust on first use of `verifyKey` for `vaultId` (format.md 6.2). Returns "known" when the pair is recorded,
 * "unknown" when the vault id is not recorded at all; throws IntegrityError when the vault id is recorded with
 * another key. Does not write: call {@link recordKnownVault} once the root has verified with the key.
 */
export function checkKnownVault(home: string, vaultId: string, verifyKey: string): "known" | "unknown" {
  const keys = knownVerifyKeys(home, vaultId);
  if (keys.length === 0) return "unknown";
  const other = keys.find((k) => k !== verifyKey);
  if (other !== undefined) {
    throw new IntegrityError(
      `vault ${vaultId} publishes owner key ${verifyKey}, but ${knownVaultsPath(home)} records ${other} for it`,
    );
  }
  return "known";
}

/** Appends `<vault_id> <verify_key>` to `<home>/known_vaults`, creating it 0600. */
export function recordKnownVault(home: string, vaultId: string, verifyKey: string): void {
  appendPrivateFile(knownVaultsPath(home), `${vaultId} ${verifyKey}\n`);
}

/** High-water marks of one vault. `version` 0 and empty `rootSha256` when the file does not exist. */
export interface Marks {
  readonly version: number;
  readonly rootSha256: string;
  readonly secrets: ReadonlyMap<string, number>;
}

const NO_MARKS: Marks = { version: 0, rootSha256: "", secrets: new Map() };

/** Path of `<home>/state/<vault_id>.json`. */
export function marksPath(home: string, vaultId: string): string {
  if (!isVaultId(vaultId)) throw new Error("invalid vault id");
  return path.join(home, "state", `${vaultId}.json`);
}

function isMark(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/** Parses a marks file's bytes; `raw` keeps every field so that a rewrite preserves what it does not know. */
function parseMarks(text: string, file: string): { marks: Marks; raw: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = null;
  }
  const malformed = (): AgentVaultError => new AgentVaultError(`high-water mark file ${file} is malformed`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw malformed();
  const obj = raw as Record<string, unknown>;
  const version = obj["version"] ?? 0;
  const rootSha256 = obj["root_sha256"] ?? "";
  const secretsRaw = obj["secrets"] ?? {};
  if (!isMark(version) || typeof rootSha256 !== "string") throw malformed();
  if (typeof secretsRaw !== "object" || secretsRaw === null || Array.isArray(secretsRaw)) throw malformed();
  const secrets = new Map<string, number>();
  for (const [k, v] of Object.entries(secretsRaw)) {
    if (!isMark(v)) throw malformed();
    secrets.set(k, v);
  }
  return { marks: { version, rootSha256, secrets }, raw: obj };
}

function readMarksFile(file: string): { marks: Marks; raw: Record<string, unknown> } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { marks: NO_MARKS, raw: {} };
    throw new AgentVaultError(`cannot read high-water mark file ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return parseMarks(text, file);
}

/** Reads `<home>/state/<vault_id>.json`; absent means version 0 with no secret marks. */
export function readMarks(home: string, vaultId: string): Marks {
  return readMarksFile(marksPath(home, vaultId)).marks;
}

/**
 * Applies the root high-water mark (format.md 6.3) to a verified root: a version below the mark is a rollback
 * and the same version with another hash is a fork (both IntegrityError). Returns true when the root is newer
 * than the mark, i.e. when the mark must be raised.
 */
export function checkRootMark(marks: Marks, vaultId: string, version: number, rootSha256: string): boolean {
  if (version < marks.version) {
    throw new IntegrityError(
      `rollback: vault ${vaultId} root is at version ${version}, but this machine has already seen version ${marks.version}`,
    );
  }
  if (version === marks.version) {
    if (marks.rootSha256 !== "" && marks.rootSha256 !== rootSha256) {
      throw new IntegrityError(
        `fork: vault ${vaultId} root version ${version} has hash ${rootSha256}, but this machine has seen ${marks.rootSha256} for the same version`,
      );
    }
    return false;
  }
  return true;
}

/** Applies a per-secret high-water mark: an index version below the mark is a rollback (IntegrityError). */
export function checkSecretMark(marks: Marks, vaultId: string, secret: string, version: number): boolean {
  const mark = marks.secrets.get(secret) ?? 0;
  if (version < mark) {
    throw new IntegrityError(
      `rollback: secret ${secret} of vault ${vaultId} is at version ${version}, but this machine has already seen version ${mark}`,
    );
  }
  return version > mark;
}

/** Marks to raise; each rises only if above what the file holds when it is written. */
export interface MarkUpdate {
  readonly root?: { readonly version: number; readonly rootSha256: string };
  readonly secrets?: ReadonlyMap<string, number>;
}

/**
 * Raises marks in `<home>/state/<vault_id>.json`: re-reads the file, takes the maximum of each mark, keeps every
 * field it does not know, and writes atomically (0600, directory 0700) only when some mark rises. Never lowers a
 * mark. Returns the marks now on disk.
 */
export function raiseMarks(home: string, vaultId: string, update: MarkUpdate): Marks {
  const file = marksPath(home, vaultId);
  const { marks, raw } = readMarksFile(file);
  let changed = false;
  let version = marks.version;
  let rootSha256 = marks.rootSha256;
  if (update.root !== undefined && update.root.version > marks.version) {
    version = update.root.version;
    rootSha256 = update.root.rootSha256;
    changed = true;
  }
  const secrets = new Map(marks.secrets);
  for (const [name, v] of update.secrets ?? []) {
    if (!isValidSecretPath(name)) continue;
    if (v > (secrets.get(name) ?? 0)) {
      secrets.set(name, v);
      changed = true;
    }
  }
  if (!changed) return marks;
  const out: Record<string, unknown> = { ...raw, version, root_sha256: rootSha256, secrets: Object.fromEntries(secrets) };
  writeFileAtomic(file, JSON.stringify(out) + "\n");
  return { version, rootSha256, secrets };
}
