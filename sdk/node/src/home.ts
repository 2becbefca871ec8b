/**
 * The agent-vault home (format.md section 3.3) and the private-file helpers used to write into it.
 *
 * Directories created here are 0700 and files 0600, whatever the umask. Writes that replace a file are atomic
 * (temporary file in the same directory, fsync, rename, fsync of the directory).
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

/** Environment variables the SDK reads. */
export type Env = Readonly<Record<string, string | undefined>>;

/** `<home>`: `override` when given, else `$AGENT_VAULT_HOME` when set and non-empty, else `~/.agent-vault`. */
export function agentVaultHome(env: Env, override?: string): string {
  if (override !== undefined && override !== "") return path.resolve(expandTilde(override));
  const fromEnv = env["AGENT_VAULT_HOME"];
  if (fromEnv !== undefined && fromEnv !== "") return path.resolve(expandTilde(fromEnv));
  return path.join(os.homedir(), ".agent-vault");
}

/**
 * The agent-vault homes a search for a vault passes over (format.md 6.4): `home` (the one this reader uses), the
 * environment's `$AGENT_VAULT_HOME` when set, and `~/.agent-vault`.
 */
export function agentVaultHomes(env: Env, home: string): string[] {
  const out = [home, path.join(os.homedir(), ".agent-vault")];
  const fromEnv = env["AGENT_VAULT_HOME"];
  if (fromEnv !== undefined && fromEnv !== "") out.push(path.resolve(expandTilde(fromEnv)));
  return out;
}

/** Replaces a leading `~/` (or a lone `~`) by the user's home directory. */
export function expandTilde(p: string): string {
  if (p === "~") return os.homedir();
  if (p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return p;
}

/**
 * Creates `dir` and any missing parents. Every directory this call creates is chmod-ed to 0700; existing
 * directories are left as they are.
 */
export function ensurePrivateDir(dir: string): void {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  for (;;) {
    try {
      const st = fs.statSync(cur);
      if (!st.isDirectory()) throw new Error(`${cur} exists and is not a directory`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      missing.push(cur);
      const parent = path.dirname(cur);
      if (parent === cur) break;
      cur = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      continue;
    }
    fs.chmodSync(d, 0o700);
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some platforms and file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Atomically replaces `file` with `data`, mode 0600: a temporary file in the same directory is written, fsynced,
 * and renamed over `file`, then the directory is fsynced. The parent directory is created 0700 when missing.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  ensurePrivateDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    throw err;
  }
  fsyncDir(dir);
}

/** Appends `text` to `file`, creating it 0600 (and its directory 0700) when missing. */
export function appendPrivateFile(file: string, text: string): void {
  ensurePrivateDir(path.dirname(file));
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o600);
  try {
    const st = fs.fstatSync(fd);
    if ((st.mode & 0o077) !== 0 && st.size === 0) fs.fchmodSync(fd, 0o600);
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
