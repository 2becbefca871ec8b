/**
 * The chain of admin changes (format.md 4.1): the roots that changed a vault's admin set, kept as
 * `state/admins/<version>`, verified in order of version from the reader's anchor. Each is signed by an admin of
 * the set before it (the anchor's key for the first), belongs to the anchor's vault, made its own admin set and links
 * to the link before it by hash; the current root must then be signed by an admin of the last set and name exactly
 * that set. A vault without admin changes has no chain. The last link this machine verified is kept in the marks
 * file (`admins`), and a chain without it is refused.
 */

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { IntegrityError, VouchingError } from "./errors.js";
import { writeFileAtomic } from "./home.js";
import { LIMITS, MISSING, readInVault } from "./layout.js";
import { ROOT_DOMAIN, signatureValid, splitSigned } from "./signed.js";
import { parseRoot, sameAdmins, type Root, type RootAdmins } from "./root.js";
import { marksPath, readMarksFile } from "./trust.js";

export const ADMIN_CHAIN_DIR = "state/admins";

/** One verified admin change. */
export interface ChainLink {
  readonly version: number;
  readonly sha256: string;
  readonly admins: RootAdmins;
}

/** A verified admin chain: its links, and the verify keys that may sign the current root. */
export interface AdminChain {
  readonly links: readonly ChainLink[];
  readonly keys: readonly string[];
}

const DECIMAL = /^[1-9][0-9]{0,15}$/;

/**
 * Reads and verifies `state/admins/` of `vaultDir` from the anchor's verify key (and vault id, when known). Failures
 * are vouching failures (format.md 6.6): a writer adds a link just before the root that names it.
 */
export function readAdminChain(vaultDir: string, anchorKey: string, vaultId: string | null): AdminChain {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(vaultDir, ...ADMIN_CHAIN_DIR.split("/")));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { links: [], keys: [anchorKey] };
    throw new IntegrityError(`${ADMIN_CHAIN_DIR} cannot be read (${code ?? "error"})`);
  }
  const versions: number[] = [];
  for (const n of names) {
    if (!DECIMAL.test(n)) throw new IntegrityError(`${ADMIN_CHAIN_DIR}/${n.slice(0, 80)} is not a link of the admin chain (planted file)`);
    versions.push(Number(n));
  }
  versions.sort((a, b) => a - b);
  let keys: string[] = [anchorKey];
  let prev = "";
  const links: ChainLink[] = [];
  for (const v of versions) {
    const rel = `${ADMIN_CHAIN_DIR}/${v}`;
    const file = readInVault(vaultDir, rel, LIMITS.root);
    if (file === MISSING) throw new VouchingError(`${rel} is missing`);
    const body = verifyWithAny(file.bytes, keys, rel);
    if (body === null) throw new VouchingError(`${rel} is not signed by an admin of the admin set before it`);
    const r = parseRoot(body);
    if (r.version !== v || r.admins === null || r.admins.since !== v) throw new VouchingError(`${rel} is not the root that made an admin set at version ${v}`);
    if ((vaultId !== null && r.vaultId !== vaultId) || r.ownerVerifyKey !== anchorKey) throw new IntegrityError(`${rel} belongs to another vault`);
    if (r.admins.prevSha256 !== prev) throw new VouchingError(`${rel} does not follow the admin change before it (a link of the admin chain is missing or replaced)`);
    vaultId = r.vaultId;
    prev = createHash("sha256").update(file.bytes).digest("hex");
    links.push({ version: v, sha256: prev, admins: r.admins });
    keys = [...r.admins.members.values()].map((m) => m.verifyKey);
  }
  return { links, keys };
}

/** Returns the body of a signed root verified with one of `keys`, or null when none verifies it. */
export function verifyWithAny(bytes: Uint8Array, keys: readonly string[], what: string): Uint8Array | null {
  let signed;
  try {
    signed = splitSigned(bytes, what);
  } catch {
    return null;
  }
  for (const k of keys) {
    if (signatureValid(signed.body, signed.signature, ROOT_DOMAIN, k)) return signed.body;
  }
  return null;
}

/** Requires the current root to name exactly the admin set of the chain's last link (none without a chain). */
export function checkRootAdmins(chain: AdminChain, root: Root): void {
  const last = chain.links[chain.links.length - 1];
  if (last === undefined) {
    if (root.admins !== null) throw new VouchingError(`state/root names admins, but ${ADMIN_CHAIN_DIR} holds no chain of admin changes`);
    return;
  }
  if (!sameAdmins(root.admins, last.admins)) throw new VouchingError(`state/root does not name the admin set of the last admin change (${ADMIN_CHAIN_DIR}/${last.version})`);
}

/**
 * Holds a verified state to the last admin change this machine saw (the marks file's `admins`), then records the
 * chain's last link when it is newer. `chain` null: the root's bytes were verified with their chain before.
 */
export function applyChainMark(home: string, vaultId: string, chain: AdminChain | null, root: Root): void {
  const file = marksPath(home, vaultId);
  const { raw } = readMarksFile(file);
  const seen = raw["admins"] as { version?: unknown; sha256?: unknown } | undefined;
  const seenVersion = typeof seen?.version === "number" ? seen.version : 0;
  if (seen !== undefined && seenVersion > 0) {
    if (root.admins === null) throw new IntegrityError(`rollback: the vault's signed state has no admin set, but admin change ${seenVersion} was already seen on this machine`);
    if (chain !== null) {
      const l = chain.links.find((x) => x.version === seenVersion);
      if (l === undefined) throw new IntegrityError(`rollback: admin change ${seenVersion}, already seen on this machine, is missing from ${ADMIN_CHAIN_DIR}`);
      if (l.sha256 !== seen.sha256) throw new IntegrityError(`fork: admin change ${seenVersion} differs from the one this machine already saw`);
    }
  }
  const last = chain?.links[chain.links.length - 1];
  if (last !== undefined && last.version > seenVersion) {
    writeFileAtomic(file, JSON.stringify({ ...readMarksFile(file).raw, admins: { version: last.version, sha256: last.sha256 } }) + "\n");
  }
}
