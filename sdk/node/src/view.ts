/**
 * The pull view (format.md section 6.8): where a reader's pull puts the upstream's vault, and which directory a
 * read then verifies.
 *
 * A pull never changes the agent's working tree. It writes the vault directory of the fetched upstream commit, and
 * nothing else, to `<git dir>/agent-vault/views/<commit>/<prefix>.agent-vault` and names that commit in
 * `<git dir>/agent-vault/view`. A read verifies the view instead of the working tree's vault unless the view's
 * `state/root` declares a lower version; the versions are read unverified, only to choose what is then verified
 * in full with the same anchor and high-water marks. `gitsync.ts` writes views.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { LIMITS, MISSING, VAULT_DIR, readInVault } from "./layout.js";
import { splitSigned } from "./signed.js";
import { findGitTop } from "./snapshot.js";

const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Where the pull view of one vault lives. */
export interface ViewLayout {
  /** One line: the hex name of the current view's commit. */
  readonly pointer: string;
  /** One directory per commit. */
  readonly views: string;
  /** The vault's top relative to the working tree's top: "" or ending in "/". */
  readonly prefix: string;
}

/** The view layout of the vault whose top (the directory holding `.agent-vault`) is `top`; null outside Git. */
export function viewLayout(top: string): ViewLayout | null {
  const found = findGitTop(top);
  if (found === null) return null;
  const rel = path.relative(found.top, path.resolve(top));
  if (rel === ".." || rel.startsWith(".." + path.sep) || path.isAbsolute(rel)) return null;
  const prefix = rel === "" ? "" : rel.split(path.sep).join("/") + "/";
  const home = path.join(found.gitDir, "agent-vault");
  return { pointer: path.join(home, "view"), views: path.join(home, "views"), prefix };
}

/** The vault directory of `commit`'s view. */
export function viewDir(layout: ViewLayout, commit: string): string {
  return path.join(layout.views, commit, ...layout.prefix.split("/").filter((p) => p !== ""), VAULT_DIR);
}

/** The commit the pointer names, or null when there is none or it is malformed. */
export function viewCommit(layout: ViewLayout): string | null {
  try {
    const st = fs.lstatSync(layout.pointer, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile() || st.size > 128) return null;
    const text = fs.readFileSync(layout.pointer, "latin1").replace(/\n$/, "");
    return COMMIT.test(text) ? text : null;
  } catch {
    return null;
  }
}

/** The version `state/root` in `vaultDir` declares, unverified; null when it cannot be read or parsed. */
export function rootVersion(vaultDir: string): number | null {
  try {
    const f = readInVault(vaultDir, "state/root", LIMITS.root);
    if (f === MISSING) return null;
    const { body } = splitSigned(f.bytes, "state/root");
    const v: unknown = (JSON.parse(Buffer.from(body).toString("utf8")) as { version?: unknown }).version;
    return typeof v === "number" && Number.isSafeInteger(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * The vault directory a read verifies for the working tree's `vaultDir` (format.md section 6.8): the working
 * tree's own when there is no view, or when the view's root is of a lower version (the owner's own newer change);
 * otherwise the current view (newer; the same version, so that a tampered file pushed beside an unchanged root
 * fails loudly; a root that does not parse, which then fails verification; or a working tree whose root cannot be
 * read or parsed, which the agent's own git pull may be replacing).
 */
export function readingDir(vaultDir: string): string {
  const view = currentView(vaultDir);
  if (view === null) return vaultDir;
  const own = rootVersion(vaultDir);
  if (own === null) return view; // the agent's own git pull may be replacing the working tree's root; the view never changes
  const seen = rootVersion(view);
  if (seen !== null && seen < own) return vaultDir;
  return view;
}

/**
 * The other candidate of format.md 6.8 for a read of `chosen`, given the working tree's `vaultDir`: the working
 * tree's vault when reading the view, the current view when reading the working tree; null when there is no view.
 */
export function otherDir(vaultDir: string, chosen: string): string | null {
  return chosen !== vaultDir ? vaultDir : currentView(vaultDir);
}

/** The vault directory of the view the pointer names for the working tree's `vaultDir`, when it is a directory. */
export function currentView(vaultDir: string): string | null {
  const layout = viewLayout(path.dirname(vaultDir));
  const commit = layout === null ? null : viewCommit(layout);
  if (layout === null || commit === null) return null;
  const view = viewDir(layout, commit);
  const st = fs.lstatSync(view, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() ? view : null;
}
