/**
 * Local trust files in the agent-vault home (format.md sections 6.2 and 6.3): `known_vaults` for trust on first
 * use, and the high-water marks `state/<vault_id>.json` shared with the CLI, the other SDKs and the MCP server.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { AgentVaultError, IntegrityError, VaultNotFoundError } from "./errors.js";
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

/** The parsed `known_vaults` (format.md 6.2): vault lines, `key` lines and `repo` lines; the first line counts. */
interface KnownVaults {
  readonly owners: Map<string, string>;
  readonly keys: Map<string, { vaultId: string; verifyKey: string }>;
  readonly repos: Map<string, string>;
}

function readKnownVaults(home: string): KnownVaults {
  let text = "";
  try {
    text = fs.readFileSync(knownVaultsPath(home), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new AgentVaultError(`cannot read ${knownVaultsPath(home)} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  const k: KnownVaults = { owners: new Map(), keys: new Map(), repos: new Map() };
  for (let line of text.split("\n")) {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.startsWith("repo ")) {
      const rest = line.slice(5);
      const sp = rest.indexOf(" ");
      const id = sp < 0 ? "" : rest.slice(0, sp);
      const dir = sp < 0 ? "" : rest.slice(sp + 1);
      if (isVaultId(id) && path.isAbsolute(dir) && !k.repos.has(dir)) k.repos.set(dir, id);
      continue;
    }
    const f = line.trim().split(/\s+/);
    if (f.length === 4 && f[0] === "key" && isVaultId(f[2]) && !k.keys.has(f[1]!)) k.keys.set(f[1]!, { vaultId: f[2]!, verifyKey: f[3]! });
    else if (f.length === 2 && isVaultId(f[0]) && !k.owners.has(f[0]!)) k.owners.set(f[0]!, f[1]!);
  }
  return k;
}

/** Returns the verify keys recorded for `vaultId` in `<home>/known_vaults` (empty when none or no file). */
export function knownVerifyKeys(home: string, vaultId: string): string[] {
  const k = readKnownVaults(home).owners.get(vaultId);
  return k === undefined ? [] : [k];
}

/** The directories known to have held `vaultId`: repo lines of known_vaults, and the owner's vault_paths. */
export function knownDirs(home: string, vaultId: string): string[] {
  const out: string[] = [];
  for (const [dir, id] of readKnownVaults(home).repos) if (id === vaultId) out.push(dir);
  try {
    for (const line of fs.readFileSync(path.join(home, "vault_paths"), "utf8").split("\n")) {
      const sp = line.indexOf(" ");
      if (sp > 0 && line.slice(0, sp) === vaultId) out.push(line.slice(sp + 1));
    }
  } catch {
    // no record
  }
  return out;
}

/**
 * Trust on first use of `verifyKey` for `vaultId` (format.md 6.2), bound to the key (`recipient`) and to the
 * repository (`dir`, the real path of its `.agent-vault`). Returns "known" or "unknown" (a first use); throws
 * IntegrityError when the vault id is recorded with another key or `dir` held another vault, and
 * VaultNotFoundError when the key trusts another vault. Does not write: see {@link recordKnownVault}.
 */
export function checkKnownVault(home: string, vaultId: string, verifyKey: string, recipient = "", dir = ""): "known" | "unknown" {
  const k = readKnownVaults(home);
  const known = k.owners.get(vaultId);
  if (known !== undefined && known !== verifyKey) {
    throw new IntegrityError(`vault ${vaultId} publishes owner key ${verifyKey}, but ${knownVaultsPath(home)} records ${known} for it`);
  }
  const held = dir === "" ? undefined : k.repos.get(dir);
  if (held !== undefined && held !== vaultId) {
    throw new IntegrityError(
      `${dir} held vault ${held} when this machine first trusted it, but now holds vault ${vaultId}: the repository was replaced; ` +
        `if its owner re-created the vault deliberately, delete the lines naming ${dir} from ${knownVaultsPath(home)} and read again, or use a pinned key file (agent-vault pins)`,
    );
  }
  const bound = recipient === "" ? undefined : k.keys.get(recipient);
  if (bound !== undefined && (bound.vaultId !== vaultId || bound.verifyKey !== verifyKey)) {
    if (bound.vaultId === vaultId) {
      throw new IntegrityError(`vault ${vaultId} now publishes owner verify key ${verifyKey}, but this key trusted ${bound.verifyKey} on first use; refusing`);
    }
    const dirs = knownDirs(home, bound.vaultId);
    const where = dirs.length > 0 ? dirs.join(", ") : "a directory this machine does not know";
    throw new VaultNotFoundError(
      `this key (${recipient}) belongs to vault ${bound.vaultId} (${where}), but ${dir} holds vault ${vaultId}; use that vault's key, ` +
        `or read vault ${bound.vaultId} there. To trust vault ${vaultId} with this key deliberately, delete the line 'key ${recipient} ...' from ${knownVaultsPath(home)}`,
    );
  }
  return known === undefined ? "unknown" : "known";
}

/** Appends the known_vaults lines that trusting `vaultId` with `recipient` in `dir` needs and lacks; true when the vault line was new. */
export function recordKnownVault(home: string, vaultId: string, verifyKey: string, recipient = "", dir = ""): boolean {
  const k = readKnownVaults(home);
  let lines = "";
  const first = !k.owners.has(vaultId);
  if (first) lines += `${vaultId} ${verifyKey}\n`;
  if (recipient !== "" && !k.keys.has(recipient)) lines += `key ${recipient} ${vaultId} ${verifyKey}\n`;
  if (dir !== "" && !k.repos.has(dir) && !/[\r\n]/.test(dir)) lines += `repo ${vaultId} ${dir}\n`;
  if (lines !== "") appendPrivateFile(knownVaultsPath(home), lines);
  return first;
}

/**
 * The error for a key pinned to vault `want` used on `dir`, which holds another, self-consistent vault `got`
 * (format.md 6.1): VaultNotFoundError naming the key's vault (and its directory when known), or IntegrityError
 * when `dir` is known to have held the key's own vault.
 */
export function wrongVault(home: string, dir: string, want: string, got: string): Error {
  const dirs = knownDirs(home, want);
  if (dirs.some((d) => realDir(d) === dir)) {
    return new IntegrityError(`${dir} held vault ${want}, the vault this key is pinned to, but its signed state now belongs to vault ${got}: the repository was replaced`);
  }
  const where = dirs.length > 0 ? `at ${dirs.join(", ")}` : "its directory is not known on this machine";
  return new VaultNotFoundError(`this key belongs to vault ${want} (${where}), but ${dir} holds vault ${got}: use the key of vault ${got} here, or read vault ${want} where it is`);
}

/** `dir` absolute with symbolic links resolved: the form trust records name a vault directory in. */
export function realDir(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
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

export function readMarksFile(file: string): { marks: Marks; raw: Record<string, unknown> } {
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
 * A verified state below this machine's high-water mark (a rollback or a fork of the root). A reader with two local
 * candidates (format.md 6.8) reads the other one before it reports it.
 */
export class BelowMarkError extends IntegrityError {}

/**
 * Applies the root high-water mark (format.md 6.3) to a verified root: a version below the mark is a rollback
 * and the same version with another hash is a fork (both IntegrityError). Returns true when the root is newer
 * than the mark, i.e. when the mark must be raised.
 */
export function checkRootMark(marks: Marks, vaultId: string, version: number, rootSha256: string): boolean {
  if (version < marks.version) {
    throw new BelowMarkError(
      `rollback: vault ${vaultId} root is at version ${version}, but this machine has already seen version ${marks.version}`,
    );
  }
  if (version === marks.version) {
    if (marks.rootSha256 !== "" && marks.rootSha256 !== rootSha256) {
      throw new BelowMarkError(
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
