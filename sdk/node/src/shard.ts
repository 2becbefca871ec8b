/**
 * Index shards `state/index/<xx>.json` (format.md section 5). A shard is not signed: the caller compares its size
 * and hash with the root's vouch before calling {@link parseShard}.
 */

import { createHash } from "node:crypto";
import { IntegrityError } from "./errors.js";
import { asObject, field, intField, optionalStringArray, parseJsonBytes, stringField, vouchFields, type Vouch } from "./json.js";
import { checkSecretPath, checkSegment } from "./names.js";
import { FORMAT, type Root } from "./root.js";

/**
 * A secret's shard id: the first two lowercase hex characters of SHA-256 of its path converted to ASCII lower
 * case (so two paths differing only in case, which a writer refuses, meet in one shard).
 */
export function shardIdOf(secretPath: string): string {
  const lower = secretPath.replace(/[A-Z]+/g, (c) => c.toLowerCase());
  return createHash("sha256").update(lower, "utf8").digest("hex").slice(0, 2);
}

/** Path of a shard below `.agent-vault/`. The id must be valid. */
export function shardFile(id: string): string {
  return `state/index/${id}.json`;
}

/** One secret's entry in its shard. */
export interface SecretEntry {
  /** The group the entry names (a group of the root). */
  readonly group: string;
  /** The root version at which this entry last changed. */
  readonly version: number;
  readonly enc: Vouch;
  readonly meta: Vouch;
  readonly created: Date;
  readonly rotated: Date;
  /** null when the secret does not expire. */
  readonly expires: Date | null;
  readonly extraAgents: readonly string[];
  readonly allowHosts: readonly string[];
}

/** A parsed shard: secret path → entry. */
export type Shard = ReadonlyMap<string, SecretEntry>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(v: string, name: string, what: string): Date {
  const d = RFC3339.test(v) ? new Date(v) : null;
  if (d === null || Number.isNaN(d.getTime())) throw new IntegrityError(`${what}: ${name} is not an RFC 3339 time`);
  return d;
}

/**
 * Parses the shard `id` (bytes already size- and hash-checked) and checks it against `root`: `type`, `format` 2,
 * `vault_id` and `shard` equal to the root's and to the id it was reached through, every secret path valid and
 * hashing to this shard, every entry's version at least 1, the number of entries equal to the root's count, every entry's group a group of the
 * root and every extra agent an agent of the root, and the times. `extra_agents` and `allow_hosts` may be absent
 * or null (empty). Throws IntegrityError on any violation.
 */
export function parseShard(bytes: Uint8Array, id: string, root: Root): Shard {
  const w = shardFile(id);
  const obj = asObject(parseJsonBytes(bytes, w), w);
  if (field(obj, "type", w) !== "agent-vault-index-shard") throw new IntegrityError(`${w}: type is not "agent-vault-index-shard"`);
  const format = field(obj, "format", w);
  if (format !== FORMAT) throw new IntegrityError(`${w}: unknown format ${JSON.stringify(format)} (this SDK reads format ${FORMAT})`);
  if (stringField(obj, "vault_id", w) !== root.vaultId) throw new IntegrityError(`${w}: vault_id differs from the root's`);
  if (stringField(obj, "shard", w) !== id) throw new IntegrityError(`${w}: names another shard`);
  const entries = new Map<string, SecretEntry>();
  for (const [p, v] of Object.entries(asObject(field(obj, "secrets", w), `${w} secrets`))) {
    checkSecretPath(p, "repo", `secret path in ${w}`);
    if (shardIdOf(p) !== id) throw new IntegrityError(`${w}: secret ${p} belongs to shard ${shardIdOf(p)}`);
    const ew = `${w} secret ${p}`;
    const e = asObject(v, ew);
    const group = checkSegment(stringField(e, "group", ew), "repo", `group of ${ew}`);
    if (!root.groups.has(group)) throw new IntegrityError(`${ew}: group ${group} is not a group of the root`);
    const extraAgents = optionalStringArray(e, "extra_agents", ew);
    for (const a of extraAgents) {
      checkSegment(a, "repo", `agent in ${ew} extra_agents`);
      if (!root.agents.has(a)) throw new IntegrityError(`${ew}: extra agent ${a} is not an agent of the root`);
    }
    const expires = stringField(e, "expires", ew);
    const version = intField(e, "version", ew);
    if (version < 1) throw new IntegrityError(`${ew}: version ${version} is below 1`);
    entries.set(p, {
      group,
      version,
      enc: vouchFields(e, "enc_sha256", "enc_size", ew),
      meta: vouchFields(e, "meta_sha256", "meta_size", ew),
      created: parseTime(stringField(e, "created", ew), "created", ew),
      rotated: parseTime(stringField(e, "rotated", ew), "rotated", ew),
      expires: expires === "" ? null : parseTime(expires, "expires", ew),
      extraAgents,
      allowHosts: optionalStringArray(e, "allow_hosts", ew),
    });
  }
  const want = root.index.get(id)?.secrets;
  if (entries.size !== want) throw new IntegrityError(`${w}: holds ${entries.size} entries, but the root counts ${String(want)}`);
  return entries;
}

/** Metadata of one secret, as returned by `Vault.listSecrets`. */
export interface SecretInfo {
  /** The secret path, e.g. `stripe/api-key`. */
  readonly name: string;
  /** The group the secret belongs to. */
  readonly group: string;
  readonly created: Date;
  readonly rotated: Date;
  /** When the secret expires, or null when it does not. */
  readonly expires: Date | null;
  /** The agents that can read the secret: the group's members and the extra agents, sorted (never the owner). */
  readonly authorizedAgents: readonly string[];
  /** The hosts a brokered request may send this secret to (empty: none). */
  readonly allowHosts: readonly string[];
  /** agent-vault 0.1's name of {@link created}. */
  readonly createdAt: Date;
  /** agent-vault 0.1's name of {@link rotated}. */
  readonly rotatedAt: Date;
  /** agent-vault 0.1's name of {@link expires}: undefined (not null) when the secret does not expire. */
  readonly expiresAt: Date | undefined;
}

/** agent-vault 0.1's name of {@link SecretInfo}. */
export type SecretMetadata = SecretInfo;

/** The authorized agents of an entry (format.md 5): the sorted union of its group's members and extra agents. */
export function authorizedAgents(root: Root, entry: SecretEntry): string[] {
  const members = root.groups.get(entry.group)?.members ?? [];
  return [...new Set([...members, ...entry.extraAgents])].sort();
}

/** The listing view of an entry. */
export function secretInfo(root: Root, name: string, entry: SecretEntry): SecretInfo {
  return {
    name,
    group: entry.group,
    created: new Date(entry.created.getTime()),
    rotated: new Date(entry.rotated.getTime()),
    expires: entry.expires === null ? null : new Date(entry.expires.getTime()),
    authorizedAgents: authorizedAgents(root, entry),
    allowHosts: [...entry.allowHosts],
    createdAt: new Date(entry.created.getTime()),
    rotatedAt: new Date(entry.rotated.getTime()),
    expiresAt: entry.expires === null ? undefined : new Date(entry.expires.getTime()),
  };
}
