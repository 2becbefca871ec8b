/**
 * Git as the (untrusted) sync layer: clones of remote vaults into `<home>/cache/` and pulls of the upstream's vault
 * into the pull view (format.md section 6.8) before reads; the working tree is never changed. Git is driven through the `git` CLI so that users' credential helpers and SSH configuration apply;
 * prompts are disabled (GIT_TERMINAL_PROMPT=0) and every command has a time limit.
 */

import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { VaultNotFoundError } from "./errors.js";
import { ensurePrivateDir } from "./home.js";
import { VAULT_DIR } from "./layout.js";
import { type ViewLayout, viewCommit, viewDir, viewLayout } from "./view.js";

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
export function runGit(
  args: readonly string[],
  opts: { cwd?: string; timeoutMs: number; env?: Readonly<Record<string, string>> },
): Promise<GitResult> {
  return new Promise((resolve) => {
    const child = execFile(
      "git",
      args,
      {
        cwd: opts.cwd,
        timeout: opts.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 4 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", ...opts.env },
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
  /** The directory that holds `.agent-vault` (inside the working tree whose upstream is pulled). */
  readonly workTree: string;
  /** Minimum time between two pulls. */
  readonly intervalMs: number;
  /** Time limit of one git command. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/**
 * Pulls the upstream of a working tree into the pull view (format.md section 6.8) at most once per `intervalMs`,
 * sharing one pull among concurrent callers: `git fetch`, then, when the upstream's commit holds something HEAD
 * lacks, that commit's vault directory (and nothing else) is written to the view through a temporary index. The
 * working tree, its index and HEAD are never changed; files outside the vault reach the working tree only when its
 * user pulls. A tree without an upstream (or outside Git) is not pulled. A failed pull is reported once through
 * the logger, and again only after a pull has succeeded since; the caller then reads what is on disk.
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
    let res = await runGit(["fetch", "--quiet"], { cwd: workTree, timeoutMs });
    if (res.ok) {
      try {
        res = await this.#updateView();
      } catch (err) {
        res = { ok: false, stdout: "", stderr: err instanceof Error ? err.message : String(err) };
      }
    }
    if (res.ok) {
      this.#warned = false;
      return;
    }
    if (!this.#warned) {
      this.#warned = true;
      const why = firstLine(res.stderr) || "git fetch failed or timed out";
      logger.warn(`agent-vault: could not pull ${workTree} (${why}); reading the local copy`);
    }
  }

  /** After a fetch: writes the upstream's vault into the view unless HEAD already contains the upstream. */
  async #updateView(): Promise<GitResult> {
    const { workTree, timeoutMs } = this.#opts;
    const up = await runGit(["rev-parse", "--verify", "-q", "@{u}^{commit}"], { cwd: workTree, timeoutMs });
    if (!up.ok) return { ok: false, stdout: "", stderr: "the upstream's commit is not known after fetching" };
    const commit = up.stdout.trim();
    const head = await runGit(["rev-parse", "--verify", "-q", "HEAD"], { cwd: workTree, timeoutMs });
    if (head.ok && (await runGit(["merge-base", "--is-ancestor", commit, "HEAD"], { cwd: workTree, timeoutMs })).ok) {
      return { ok: true, stdout: "", stderr: "" };
    }
    const layout = viewLayout(workTree);
    if (layout === null) return { ok: false, stdout: "", stderr: `${workTree} is not in a Git working tree` };
    return writeView(workTree, layout, commit, timeoutMs);
  }
}

/**
 * Makes `commit`'s view complete and current (format.md section 6.8). The view directory is written whole under a
 * temporary name and renamed into place, and the pointer replaced atomically last, so a reader never meets half of
 * either. The pointer never moves back to an ancestor of the commit it names. Views other than the new one and the
 * one it replaces are removed.
 */
export async function writeView(cwd: string, layout: ViewLayout, commit: string, timeoutMs: number): Promise<GitResult> {
  const done = { ok: true, stdout: "", stderr: "" };
  const prev = viewCommit(layout);
  if (prev !== null && fs.lstatSync(viewDir(layout, prev), { throwIfNoEntry: false })?.isDirectory()) {
    if ((await runGit(["merge-base", "--is-ancestor", commit, prev], { cwd, timeoutMs })).ok) return done;
  }
  const tree = `${commit}:${layout.prefix}${VAULT_DIR}`;
  const type = await runGit(["cat-file", "-t", tree], { cwd, timeoutMs });
  if (!type.ok || type.stdout.trim() !== "tree") return done; // no vault there in the upstream's commit
  fs.mkdirSync(layout.views, { recursive: true, mode: 0o700 });
  const dest = path.join(layout.views, commit);
  if (fs.lstatSync(dest, { throwIfNoEntry: false }) === undefined) {
    const tmp = fs.mkdtempSync(path.join(layout.views, ".tmp-"));
    try {
      const env = { GIT_INDEX_FILE: path.join(tmp, "index") };
      let res = await runGit(["read-tree", `--prefix=${layout.prefix}${VAULT_DIR}/`, tree], { cwd, timeoutMs, env });
      if (res.ok) res = await runGit(["checkout-index", "-a", "-f", `--prefix=${path.join(tmp, "view")}${path.sep}`], { cwd, timeoutMs, env });
      if (!res.ok) return res;
      try {
        fs.renameSync(path.join(tmp, "view"), dest);
      } catch (err) {
        if (fs.lstatSync(dest, { throwIfNoEntry: false }) === undefined) throw err;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  const part = `${layout.pointer}.tmp${process.pid}`;
  fs.writeFileSync(part, commit + "\n", { mode: 0o600 });
  fs.renameSync(part, layout.pointer);
  pruneViews(layout.views, commit, prev);
  return done;
}

/** Removes views other than `keep` and `prev`, and temporary directories over an hour old. */
function pruneViews(views: string, keep: string, prev: string | null): void {
  for (const name of fs.readdirSync(views)) {
    if (name === keep || name === prev) continue;
    const p = path.join(views, name);
    if (name.startsWith(".tmp-")) {
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined || Date.now() - st.mtimeMs < 3600_000) continue;
    }
    fs.rmSync(p, { recursive: true, force: true });
  }
}
