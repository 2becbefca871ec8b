/**
 * Git as the (untrusted) sync layer: clones of remote vaults into `<home>/cache/` and `git pull --ff-only` before
 * reads. Git is driven through the `git` CLI so that users' credential helpers and SSH configuration apply;
 * prompts are disabled (GIT_TERMINAL_PROMPT=0) and every command has a time limit.
 */

import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { VaultNotFoundError } from "./errors.js";
import { ensurePrivateDir } from "./home.js";

/** Something that receives warnings (default: `console`). */
export interface Logger {
  warn(message: string): void;
}

const URL_SCHEME = /^(https?|ssh|git|file):\/\//i;
const SCP_LIKE = /^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:(?!\/\/)/;

/** Reports whether `repoPath` is a Git URL (https://, http://, ssh://, git://, file://, or `user@host:path`). */
export function isGitUrl(repoPath: string): boolean {
  return URL_SCHEME.test(repoPath) || SCP_LIKE.test(repoPath);
}

/** The clone directory of `url`: `<home>/cache/<first 16 hex of sha256(url)>`. */
export function cacheDirFor(home: string, url: string): string {
  return path.join(home, "cache", createHash("sha256").update(url, "utf8").digest("hex").slice(0, 16));
}

/** `url` with any user information (`user:token@`) hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, "$1***@");
}

/** Result of a git command. */
interface GitResult {
  readonly ok: boolean;
  readonly stderr: string;
  readonly stdout: string;
}

/** Runs `git args…` with prompts disabled and a time limit; never throws. */
export function runGit(args: readonly string[], opts: { cwd?: string; timeoutMs: number }): Promise<GitResult> {
  return new Promise((resolve) => {
    const child = execFile(
      "git",
      args,
      {
        cwd: opts.cwd,
        timeout: opts.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 4 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0" },
        windowsHide: true,
      },
      (err, stdout, stderr) => {
        resolve({ ok: err === null, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.end();
  });
}

/** The first non-empty line of git's stderr, cut, with any URL user information hidden. */
function firstLine(s: string): string {
  const line = s.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.trim().replace(/:\/\/[^/@\s]*@/g, "://***@").slice(0, 300);
}

/**
 * Makes sure `url` is cloned into its cache directory and returns that directory. A missing clone is made in a
 * temporary directory next to it and renamed into place, so that an interrupted clone leaves nothing half made.
 * Throws VaultNotFoundError when the clone fails.
 */
export async function ensureClone(home: string, url: string, timeoutMs: number): Promise<{ dir: string; fresh: boolean }> {
  const dir = cacheDirFor(home, url);
  if (fs.existsSync(path.join(dir, ".git"))) return { dir, fresh: false };
  ensurePrivateDir(path.dirname(dir));
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const res = await runGit(["clone", "--quiet", "--", url, tmp], { timeoutMs });
  if (!res.ok) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new VaultNotFoundError(`cannot clone ${redactUrl(url)}: ${firstLine(res.stderr) || "git clone failed or timed out"}`);
  }
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // Another process cloned it at the same time: use that clone.
    if (!fs.existsSync(path.join(dir, ".git"))) throw err;
  }
  return { dir, fresh: true };
}

/** Options of {@link Puller}. */
export interface PullerOptions {
  /** The working tree to pull in. */
  readonly workTree: string;
  /** Minimum time between two pulls. */
  readonly intervalMs: number;
  /** Time limit of one git command. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/**
 * Pulls a working tree (`git pull --ff-only`) at most once per `intervalMs`, sharing one pull among concurrent
 * callers. A tree without an upstream (or outside Git) is not pulled. A failed pull is reported once through the
 * logger, and again only after a pull has succeeded since; the caller then reads the local copy.
 */
export class Puller {
  #opts: PullerOptions;
  #last = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | null = null;
  #warned = false;

  constructor(opts: PullerOptions) {
    this.#opts = opts;
  }

  /** Records that the tree is fresh now (e.g. just cloned), postponing the next pull by one interval. */
  markFresh(): void {
    this.#last = Date.now();
  }

  /** Pulls unless a pull started less than `intervalMs` ago; resolves when the tree may be read. Never throws. */
  maybePull(): Promise<void> {
    if (this.#inflight !== null) return this.#inflight;
    if (Date.now() - this.#last < this.#opts.intervalMs) return Promise.resolve();
    this.#last = Date.now();
    this.#inflight = this.#pull().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #pull(): Promise<void> {
    const { workTree, timeoutMs, logger } = this.#opts;
    const up = await runGit(["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"], { cwd: workTree, timeoutMs });
    if (!up.ok) return; // no upstream, or not a Git working tree: nothing to pull
    const res = await runGit(["pull", "--ff-only", "--quiet"], { cwd: workTree, timeoutMs });
    if (res.ok) {
      this.#warned = false;
      return;
    }
    if (!this.#warned) {
      this.#warned = true;
      const why = firstLine(res.stderr) || "git pull failed or timed out";
      logger.warn(`agent-vault: could not pull ${workTree} (${why}); reading the local copy`);
    }
  }
}
