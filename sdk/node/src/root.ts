/**
 * The signed root `state/root` (format.md section 4): parsing and checking of a body whose signature has already
 * been verified. Every name found in it is checked (integrity error when invalid); unknown fields are ignored.
 */

import { IntegrityError } from "./errors.js";
import { checkSecretPath, checkSegment, firstSegment } from "./names.js";
import { isVerifyKey } from "./signed.js";
import { isVaultId } from "./trust.js";

/** Path of the root below `.agent-vault/`. */
export const ROOT_FILE = "state/root";

/** An agent entry of the root. */
export interface RootAgent {
  readonly recipient: string;
  readonly publicKeySha256: string;
  readonly escrowSha256: string;
}

/** A group entry of the root. */
export interface RootGroup {
  readonly members: readonly string[];
  readonly indexSha256: string;
  readonly secrets: number;
}

/** A verified, parsed root. */
export interface Root {
  readonly vaultId: string;
  readonly version: number;
  readonly prevSha256: string;
  readonly time: string;
  readonly ownerRecipient: string;
  readonly ownerVerifyKey: string;
  readonly files: ReadonlyMap<string, unknown>;
  readonly agents: ReadonlyMap<string, RootAgent>;
  readonly groups: ReadonlyMap<string, RootGroup>;
  readonly placement: ReadonlyMap<string, string>;
}

const SHA256 = /^[0-9a-f]{64}$/;
const RECIPIENT = /^age1[02-9ac-hj-np-z]+$/;

/** Reports whether `s` is a SHA-256 as written in the format (64 lowercase hex characters). */
export function isSha256(s: unknown): s is string {
  return typeof s === "string" && SHA256.test(s);
}

/** Reports whether `s` looks like an age X25519 recipient (`age1` and lower-case Bech32 characters). */
export function isRecipient(s: unknown): s is string {
  return typeof s === "string" && RECIPIENT.test(s);
}

/** Decodes UTF-8 (fatal) and parses JSON; throws IntegrityError naming `what` on failure. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new IntegrityError(`${what}: not valid UTF-8`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IntegrityError(`${what}: not valid JSON`);
  }
}

/** Returns `v` as a plain JSON object or throws IntegrityError naming `what`. */
export function asObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new IntegrityError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Reads a required field of a JSON object, throwing IntegrityError when it is absent. */
export function field(obj: Record<string, unknown>, name: string, what: string): unknown {
  if (!Object.hasOwn(obj, name)) throw new IntegrityError(`${what}: missing field ${name}`);
  return obj[name];
}

/** Reads a required string field. */
export function stringField(obj: Record<string, unknown>, name: string, what: string): string {
  const v = field(obj, name, what);
  if (typeof v !== "string") throw new IntegrityError(`${what}: field ${name} is not a string`);
  return v;
}

/** Reads a required non-negative integer field. */
export function intField(obj: Record<string, unknown>, name: string, what: string): number {
  const v = field(obj, name, what);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new IntegrityError(`${what}: field ${name} is not a non-negative integer`);
  }
  return v;
}

/** Reads a required SHA-256 field. */
export function shaField(obj: Record<string, unknown>, name: string, what: string): string {
  const v = stringField(obj, name, what);
  if (!SHA256.test(v)) throw new IntegrityError(`${what}: field ${name} is not a SHA-256`);
  return v;
}

/** Reads an array of strings. */
export function stringArray(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new IntegrityError(`${what}: not an array of strings`);
  }
  return v as string[];
}

/**
 * Parses a verified root body and checks it (format.md 4): `type`, `format` 1, the vault id, the version, the
 * owner, and every agent, group, member and placement name. Member lists may name only agents of `agents`.
 * Throws IntegrityError on any violation. The caller checks the vault id and verify key against its anchor.
 */
export function parseRoot(body: Uint8Array): Root {
  const w = "state/root";
  const obj = asObject(parseJsonBytes(body, w), w);
  if (field(obj, "type", w) !== "agent-vault-root") throw new IntegrityError(`${w}: type is not "agent-vault-root"`);
  const format = field(obj, "format", w);
  if (format !== 1) throw new IntegrityError(`${w}: unknown format ${JSON.stringify(format)} (this SDK reads format 1)`);
  const vaultId = stringField(obj, "vault_id", w);
  if (!isVaultId(vaultId)) throw new IntegrityError(`${w}: vault_id is not 32 lowercase hex characters`);
  const version = intField(obj, "version", w);
  if (version < 1) throw new IntegrityError(`${w}: version ${version} is below 1`);
  const prevSha256 = stringField(obj, "prev_sha256", w);
  if (prevSha256 !== "" && !SHA256.test(prevSha256)) throw new IntegrityError(`${w}: prev_sha256 is not a SHA-256`);
  const time = stringField(obj, "time", w);

  const owner = asObject(field(obj, "owner", w), `${w} owner`);
  const ownerRecipient = stringField(owner, "recipient", `${w} owner`);
  if (!isRecipient(ownerRecipient)) throw new IntegrityError(`${w}: owner.recipient is not an age1 recipient`);
  const ownerVerifyKey = stringField(owner, "verify_key", `${w} owner`);
  if (!isVerifyKey(ownerVerifyKey)) throw new IntegrityError(`${w}: owner.verify_key is malformed`);

  // Readers do not use `files` (the hashes of the human-readable views); only its shape is checked.
  const files = new Map<string, unknown>(Object.entries(asObject(field(obj, "files", w), `${w} files`)));

  const agents = new Map<string, RootAgent>();
  for (const [name, v] of Object.entries(asObject(field(obj, "agents", w), `${w} agents`))) {
    checkSegment(name, "repo", `agent name in ${w}`);
    const aw = `${w} agent ${name}`;
    const a = asObject(v, aw);
    const recipient = stringField(a, "recipient", aw);
    if (!isRecipient(recipient)) throw new IntegrityError(`${aw}: recipient is not an age1 recipient`);
    // The key and escrow hashes are for writers and `check`; readers only need them to be present.
    agents.set(name, {
      recipient,
      publicKeySha256: stringField(a, "public_key_sha256", aw),
      escrowSha256: stringField(a, "escrow_sha256", aw),
    });
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
    groups.set(name, { members, indexSha256: shaField(g, "index_sha256", gw), secrets: intField(g, "secrets", gw) });
  }

  const placement = new Map<string, string>();
  for (const [p, g] of Object.entries(asObject(field(obj, "placement", w), `${w} placement`))) {
    checkSecretPath(p, "repo", `secret path in ${w} placement`);
    placement.set(p, checkSegment(g, "repo", `group of placement ${p} in ${w}`));
  }

  return { vaultId, version, prevSha256, time, ownerRecipient, ownerVerifyKey, files, agents, groups, placement };
}

/** The group of a secret path in `root`: its placement, else its first segment. */
export function groupOf(root: Root, secretPath: string): string {
  return root.placement.get(secretPath) ?? firstSegment(secretPath);
}
