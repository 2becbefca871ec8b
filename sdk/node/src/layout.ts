/**
 * The vault layout (format.md section 1), finding the vault (section 6.4), and safe reads below `.agent-vault/`
 * (section 6.5, limits): no symbolic link on the path read (each directory component is lstat-ed and the file is
 * opened with O_NOFOLLOW), regular files only, the two fixed limits, and vouched files read at exactly the size
 * that vouches for them.
 */

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { IntegrityError, VaultNotFoundError, VouchingError } from "./errors.js";
import type { Vouch } from "./json.js";

/** Name of the vault directory inside a working tree. */
export const VAULT_DIR = ".agent-vault";

/**
 * The only fixed size limits of format.md 6.5, in bytes: the root, and the untrusted `config.yaml`. Every other
 * file the reader reads is vouched for with its exact size.
 */
export const LIMITS = {
  root: 16 * 1024 * 1024,
  config: 64 * 1024,
} as const;

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

/** Where a vault lives: `vaultDir` is the `.agent-vault` directory, `workTree` the directory that holds it. */
export interface VaultLocation {
  readonly vaultDir: string;
  readonly workTree: string;
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/**
 * Finds `.agent-vault/` in `start` or the nearest of its parents, as Git finds `.git` (format.md 6.4). An
 * agent-vault home (any of `homes`, compared after resolving symbolic links) is never a vault, and neither is a
 * plain file named `.agent-vault`: the search passes over both and goes on upwards. Throws VaultNotFoundError when
 * `start` is not a directory or no vault is found up to the file-system root, and IntegrityError when the nearest
 * `.agent-vault` is a symbolic link (other than one to a home).
 */
export function locateVault(start: string, homes: readonly string[]): VaultLocation {
  let dir = path.resolve(start);
  try {
    if (!fs.statSync(dir).isDirectory()) throw new VaultNotFoundError(`${dir} is not a directory`);
  } catch (err) {
    if (err instanceof VaultNotFoundError) throw err;
    throw new VaultNotFoundError(`No vault found at ${dir}: ${dir} does not exist`);
  }
  const homesReal = new Set(homes.map(realpathOr));
  let passed: string | null = null;
  for (;;) {
    const candidate = path.join(dir, VAULT_DIR);
    const st = fs.lstatSync(candidate, { throwIfNoEntry: false });
    if (st !== undefined && (st.isSymbolicLink() || st.isDirectory())) {
      if (homesReal.has(realpathOr(candidate))) {
        passed = candidate;
      } else {
        if (st.isSymbolicLink()) throw new IntegrityError(`${candidate} is a symbolic link, which a vault never is`);
        return { vaultDir: candidate, workTree: dir };
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const note = passed === null ? "" : ` (${passed} is the agent-vault home, which holds keys, not a vault)`;
  throw new VaultNotFoundError(
    `No vault found at ${path.resolve(start)}: no ${VAULT_DIR}/ vault in it or any parent directory${note}; the owner creates one with 'agent-vault init'`,
  );
}

/** Identity of one version of a file, for caches: re-verify when any field changes. */
export interface FileStamp {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** Reports whether two stamps are equal. */
export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

function stampOf(st: fs.Stats): FileStamp {
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(err: unknown): boolean {
  const c = code(err);
  return c === "ENOENT" || c === "ENOTDIR";
}

/** Result of a safe stat or read: the file is missing (ENOENT or ENOTDIR on the way). */
export const MISSING = Symbol("missing");

/**
 * lstat-s every directory between `vaultDir` and the file `rel` (a `/`-separated path below `.agent-vault/`)
 * and the file itself. Returns the file's stamp, or {@link MISSING}. Throws IntegrityError on a symbolic link
 * anywhere on the way, or when a component is not a directory or the file not a regular file.
 */
export function statInVault(vaultDir: string, rel: string): FileStamp | typeof MISSING {
  const parts = rel.split("/");
  let cur = vaultDir;
  for (let i = 0; i < parts.length; i++) {
    cur = path.join(cur, parts[i]!);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch (err) {
      if (isMissing(err)) return MISSING;
      throw err;
    }
    const shown = `${VAULT_DIR}/${parts.slice(0, i + 1).join("/")}`;
    if (st.isSymbolicLink()) throw new IntegrityError(`${shown} is a symbolic link`);
    if (i < parts.length - 1) {
      if (!st.isDirectory()) return MISSING;
    } else {
      if (!st.isFile()) throw new IntegrityError(`${shown} is not a regular file`);
      return stampOf(st);
    }
  }
  return MISSING;
}

/** Reports whether anything (file, directory, link) exists at `rel` below `.agent-vault/`. */
export function existsInVault(vaultDir: string, rel: string): boolean {
  try {
    fs.lstatSync(path.join(vaultDir, ...rel.split("/")));
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * Reads the regular file `rel` below `.agent-vault/`, refusing symbolic links on the way (lstat of each
 * directory, O_NOFOLLOW on the file) and files over `limit` bytes (IntegrityError). Returns the bytes and the
 * stamp of the opened file, or {@link MISSING}.
 */
export function readInVault(
  vaultDir: string,
  rel: string,
  limit: number,
): { bytes: Buffer; stamp: FileStamp } | typeof MISSING {
  const pre = statInVault(vaultDir, rel);
  if (pre === MISSING) return MISSING;
  const shown = `${VAULT_DIR}/${rel}`;
  const file = path.join(vaultDir, ...rel.split("/"));
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (isMissing(err)) return MISSING;
    if (code(err) === "ELOOP" || code(err) === "EMLINK") throw new IntegrityError(`${shown} is a symbolic link`);
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new IntegrityError(`${shown} is not a regular file`);
    if (st.size > limit) throw new IntegrityError(`${shown} is larger than the limit of ${limit} bytes`);
    // Read at most limit + 1 bytes, so that a file that grew after fstat is still caught.
    let buf = Buffer.allocUnsafe(Math.min(st.size, limit) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > limit) throw new IntegrityError(`${shown} is larger than the limit of ${limit} bytes`);
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, limit + 1));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
    }
    return { bytes: buf.subarray(0, n), stamp: stampOf(st) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads the file `rel` below `.agent-vault/` that `vouch` vouches for (format.md 6.5): the size first, then the
 * hash. A missing file, or one whose size or hash differs, is a {@link VouchingError} naming `by` (what vouches
 * for the file); a symbolic link or a non-regular file is an IntegrityError. Never reads more than the vouched
 * size plus one byte. Returns the bytes and the stamp of the opened file.
 */
export function readVouched(vaultDir: string, rel: string, vouch: Vouch, by: string): { bytes: Buffer; stamp: FileStamp } {
  const shown = `${VAULT_DIR}/${rel}`;
  const missing = () => new VouchingError(`${shown} is missing, but ${by} vouches for it`);
  const wrongSize = (n: number) => new VouchingError(`${shown} has ${n} bytes, but ${by} vouches for ${vouch.size}`);
  if (statInVault(vaultDir, rel) === MISSING) throw missing();
  let fd: number;
  try {
    fd = fs.openSync(path.join(vaultDir, ...rel.split("/")), fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (isMissing(err)) throw missing();
    if (code(err) === "ELOOP" || code(err) === "EMLINK") throw new IntegrityError(`${shown} is a symbolic link`);
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new IntegrityError(`${shown} is not a regular file`);
    if (st.size !== vouch.size) throw wrongSize(st.size);
    // One byte more than vouched, so that a file that grew after fstat is caught.
    const buf = Buffer.allocUnsafe(vouch.size + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    if (n !== vouch.size) throw wrongSize(n);
    const bytes = buf.subarray(0, n);
    if (createHash("sha256").update(bytes).digest("hex") !== vouch.sha256) {
      throw new VouchingError(`${shown} does not match the hash that ${by} vouches for`);
    }
    return { bytes, stamp: stampOf(st) };
  } finally {
    fs.closeSync(fd);
  }
}
