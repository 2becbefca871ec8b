/**
 * The signed root `state/root` (format.md section 4): parsing and checking of a body whose signature has already
 * been verified. Every name found in it is checked (integrity error when invalid); unknown fields are ignored.
 * A format 1 root (section 11) is only identified, never read: {@link parseFormat1Root}.
 */

import { IntegrityError } from "./errors.js";
import { asObject, field, intField, parseJsonBytes, stringArray, stringField, vouchFields, isSha256, type Vouch } from "./json.js";
import { checkSegment } from "./names.js";
import { isRecipient, recipientKind } from "./recipient.js";
import { isVerifyKey } from "./signed.js";
import { isVaultId } from "./trust.js";

/** Path of the root below `.agent-vault/`. */
export const ROOT_FILE = "state/root";
/** The format this SDK reads. */
export const FORMAT = 2;

/** An agent entry of the root. */
export interface RootAgent {
  readonly recipient: string;
}

/** A group entry of the root. */
export interface RootGroup {
  readonly members: readonly string[];
  /** The number of secrets whose entry names this group. */
  readonly secrets: number;
}

/** An index entry of the root: the vouch of one shard and its number of entries. */
export interface RootShard extends Vouch {
  readonly secrets: number;
}

/** An admin of the root (format.md 4.1). */
export interface RootAdmin {
  readonly recipient: string;
  readonly verifyKey: string;
}

/** The admin set of a root and its place in the chain of admin changes (format.md 4.1). */
export interface RootAdmins {
  /** The version of the root that made this set, kept as `state/admins/<since>`. */
  readonly since: number;
  /** The hash of the previous admin change's root file; "" for the first. */
  readonly prevSha256: string;
  readonly members: ReadonlyMap<string, RootAdmin>;
}

/** A verified, parsed format 2 root. */
export interface Root {
  readonly vaultId: string;
  readonly version: number;
  readonly prevSha256: string;
  readonly time: string;
  readonly ownerRecipient: string;
  readonly ownerVerifyKey: string;
  readonly files: ReadonlyMap<string, Vouch>;
  readonly agents: ReadonlyMap<string, RootAgent>;
  readonly groups: ReadonlyMap<string, RootGroup>;
  /** Shard id → vouch, only for shards that hold a secret. */
  readonly index: ReadonlyMap<string, RootShard>;
  /** The admin set; null in a vault without admin changes (its only admin is the founding owner). */
  readonly admins: RootAdmins | null;
}

const SHARD_ID = /^[0-9a-f]{2}$/;

/** Reports whether `s` is a shard id: two lowercase hex characters. */
export function isShardId(s: string): boolean {
  return SHARD_ID.test(s);
}

function checkPrevSha256(obj: Record<string, unknown>, w: string): string {
  const prevSha256 = stringField(obj, "prev_sha256", w);
  if (prevSha256 !== "" && !isSha256(prevSha256)) throw new IntegrityError(`${w}: prev_sha256 is not a SHA-256`);
  return prevSha256;
}

/**
 * Parses a verified root body and checks it (format.md 4): `type`, `format` 2, the vault id, the version, the
 * owner, every agent, group, member and shard, the recipient rules (each recipient a lower-case `age1` Bech32
 * string of 32 bytes; the owner's and the agents' recipients pairwise distinct), and that members name agents of
 * the root. Throws IntegrityError on any violation. The caller checks the vault id and verify key against its
 * anchor.
 */
export function parseRoot(body: Uint8Array): Root {
  const w = ROOT_FILE;
  const obj = asObject(parseJsonBytes(body, w), w);
  if (field(obj, "type", w) !== "agent-vault-root") throw new IntegrityError(`${w}: type is not "agent-vault-root"`);
  const format = field(obj, "format", w);
  if (format !== FORMAT) throw new IntegrityError(`${w}: unknown format ${JSON.stringify(format)} (this SDK reads format ${FORMAT})`);
  const vaultId = stringField(obj, "vault_id", w);
  if (!isVaultId(vaultId)) throw new IntegrityError(`${w}: vault_id is not 32 lowercase hex characters`);
  const version = intField(obj, "version", w);
  if (version < 1) throw new IntegrityError(`${w}: version ${version} is below 1`);
  const prevSha256 = checkPrevSha256(obj, w);
  const time = stringField(obj, "time", w);

  const owner = asObject(field(obj, "owner", w), `${w} owner`);
  const ownerRecipient = stringField(owner, "recipient", `${w} owner`);
  if (!isRecipient(ownerRecipient)) throw new IntegrityError(`${w}: owner.recipient is not a lower-case age1 or age1pq1 recipient`);
  const ownerVerifyKey = stringField(owner, "verify_key", `${w} owner`);
  if (!isVerifyKey(ownerVerifyKey)) throw new IntegrityError(`${w}: owner.verify_key is malformed`);

  // Readers do not read the view files; only the shape of their vouches is checked.
  const files = new Map<string, Vouch>();
  for (const [name, v] of Object.entries(asObject(field(obj, "files", w), `${w} files`))) {
    const fw = `${w} files ${JSON.stringify(name.slice(0, 80))}`;
    files.set(name, vouchFields(asObject(v, fw), "sha256", "size", fw));
  }

  const agents = new Map<string, RootAgent>();
  const holder = new Map<string, string>([[ownerRecipient, "the owner"]]);
  for (const [name, v] of Object.entries(asObject(field(obj, "agents", w), `${w} agents`))) {
    checkSegment(name, "repo", `agent name in ${w}`);
    const aw = `${w} agent ${name}`;
    const a = asObject(v, aw);
    const recipient = stringField(a, "recipient", aw);
    if (!isRecipient(recipient)) throw new IntegrityError(`${aw}: recipient is not a lower-case age1 or age1pq1 recipient`);
    if (recipientKind(recipient) !== recipientKind(ownerRecipient)) {
      throw new IntegrityError(`${aw}: recipient is of another kind than the owner's (post-quantum and classic keys never mix)`);
    }
    const other = holder.get(recipient);
    if (other !== undefined) throw new IntegrityError(`${aw}: recipient is also that of ${other === "the owner" ? other : `agent ${other}`}`);
    holder.set(recipient, name);
    // The key and escrow hashes are for writers and `check`; readers only need them to be present.
    stringField(a, "public_key_sha256", aw);
    stringField(a, "escrow_sha256", aw);
    agents.set(name, { recipient });
  }

  const groups = new Map<string, RootGroup>();
  for (const [name, v] of Object.entries(asObject(field(obj, "groups", w), `${w} groups`))) {
    checkSegment(name, "repo", `group name in ${w}`);
    const gw = `${w} group ${name}`;
    const g = asObject(v, gw);
    const members = stringArray(field(g, "members", gw), `${gw} members`);
    for (const m of members) {
      checkSegment(m, "repo", `member of ${gw}`);
      if (!agents.has(m)) throw new IntegrityError(`${gw}: member ${m} is not an agent of the root`);
    }
    groups.set(name, { members, secrets: intField(g, "secrets", gw) });
  }

  const index = new Map<string, RootShard>();
  for (const [id, v] of Object.entries(asObject(field(obj, "index", w), `${w} index`))) {
    if (!isShardId(id)) throw new IntegrityError(`${w}: index key ${JSON.stringify(id.slice(0, 80))} is not a shard id`);
    const sw = `${w} index ${id}`;
    const s = asObject(v, sw);
    index.set(id, { ...vouchFields(s, "sha256", "size", sw), secrets: intField(s, "secrets", sw) });
  }

  const admins = obj["admins"] === undefined ? null : parseAdmins(obj, version, ownerRecipient, ownerVerifyKey, holder);
  return { vaultId, version, prevSha256, time, ownerRecipient, ownerVerifyKey, files, agents, groups, index, admins };
}

/**
 * Parses and checks the optional `admins` field (format.md 4.1): names, recipients of the owner's kind and distinct
 * from each other and every agent's, verify keys well formed and distinct, the founding owner's recipient only with
 * its verify key, `since` between 1 and the root's version, `prev_sha256` "" or a SHA-256.
 */
function parseAdmins(obj: Record<string, unknown>, version: number, ownerRecipient: string, ownerVerifyKey: string, holder: Map<string, string>): RootAdmins {
  const w = `${ROOT_FILE} admins`;
  const a = asObject(obj["admins"], w);
  const since = intField(a, "since", w);
  const prevSha256 = checkPrevSha256(a, w);
  if (since < 1 || since > version) throw new IntegrityError(`${w}: since ${since} is not a version up to this root's`);
  const members = new Map<string, RootAdmin>();
  const keys = new Set<string>();
  for (const [name, v] of Object.entries(asObject(field(a, "members", w), `${w} members`))) {
    checkSegment(name, "repo", `admin name in ${w}`);
    const mw = `${w} ${name}`;
    const m = asObject(v, mw);
    const recipient = stringField(m, "recipient", mw);
    const verifyKey = stringField(m, "verify_key", mw);
    if (!isRecipient(recipient) || recipientKind(recipient) !== recipientKind(ownerRecipient)) {
      throw new IntegrityError(`${mw}: recipient is malformed or of another kind than the owner's`);
    }
    if (!isVerifyKey(verifyKey)) throw new IntegrityError(`${mw}: verify_key is malformed`);
    if (keys.has(verifyKey) || [...members.values()].some((o) => o.recipient === recipient)) {
      throw new IntegrityError(`${mw}: shares a key with another admin`);
    }
    if ((recipient === ownerRecipient) !== (verifyKey === ownerVerifyKey)) {
      throw new IntegrityError(`${mw}: has only one of the founding owner's two keys`);
    }
    const other = holder.get(recipient);
    if (other !== undefined && other !== "the owner") throw new IntegrityError(`${mw}: recipient is also that of agent ${other}`);
    keys.add(verifyKey);
    members.set(name, { recipient, verifyKey });
  }
  if (members.size === 0) throw new IntegrityError(`${w}: no admin`);
  return { since, prevSha256, members };
}

/** Reports whether two admin entries are the same (format.md 4.1: a root names exactly its last admin change's). */
export function sameAdmins(a: RootAdmins | null, b: RootAdmins | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.since !== b.since || a.prevSha256 !== b.prevSha256 || a.members.size !== b.members.size) return false;
  for (const [name, m] of a.members) {
    const o = b.members.get(name);
    if (o === undefined || o.recipient !== m.recipient || o.verifyKey !== m.verifyKey) return false;
  }
  return true;
}

/** What a reader takes from a format 1 root: enough to apply its anchor and high-water mark. */
export interface Format1Root {
  readonly vaultId: string;
  readonly version: number;
  readonly ownerVerifyKey: string;
}

/**
 * Parses the body of a root verified with the format 1 domain (format.md 11): `type`, `format` 1, the vault id,
 * the version and the owner's verify key. Throws IntegrityError when any of these is wrong.
 */
export function parseFormat1Root(body: Uint8Array): Format1Root {
  const w = `${ROOT_FILE} (format 1)`;
  const obj = asObject(parseJsonBytes(body, w), w);
  if (field(obj, "type", w) !== "agent-vault-root") throw new IntegrityError(`${w}: type is not "agent-vault-root"`);
  const format = field(obj, "format", w);
  if (format !== 1) throw new IntegrityError(`${w}: signed as format 1, but format is ${JSON.stringify(format)}`);
  const vaultId = stringField(obj, "vault_id", w);
  if (!isVaultId(vaultId)) throw new IntegrityError(`${w}: vault_id is not 32 lowercase hex characters`);
  const version = intField(obj, "version", w);
  if (version < 1) throw new IntegrityError(`${w}: version ${version} is below 1`);
  const owner = asObject(field(obj, "owner", w), `${w} owner`);
  const ownerVerifyKey = stringField(owner, "verify_key", `${w} owner`);
  if (!isVerifyKey(ownerVerifyKey)) throw new IntegrityError(`${w}: owner.verify_key is malformed`);
  return { vaultId, version, ownerVerifyKey };
}

/** Reads `vault_id` and `version` of a verified root body (for a pending fast-forward, format.md 6.6), or null. */
export function versionOf(body: Uint8Array): { vaultId: string; version: number } | null {
  try {
    const obj = asObject(parseJsonBytes(body, ROOT_FILE), ROOT_FILE);
    const vaultId = obj["vault_id"];
    const version = obj["version"];
    if (typeof vaultId !== "string" || typeof version !== "number" || !Number.isSafeInteger(version)) return null;
    return { vaultId, version };
  } catch {
    return null;
  }
}

/** Reads `prev_sha256` of a verified format 2 root body (for a pending successor, format.md 6.6), or null. */
export function prevSha256Of(body: Uint8Array): string | null {
  try {
    const obj = asObject(parseJsonBytes(body, ROOT_FILE), ROOT_FILE);
    return checkPrevSha256(obj, ROOT_FILE);
  } catch {
    return null;
  }
}
