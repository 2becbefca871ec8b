/**
 * Group indexes `state/groups/<group>.json` (format.md section 5). An index is not signed: the caller compares
 * its hash with the root's `index_sha256` before calling {@link parseGroupIndex}.
 */

import { IntegrityError } from "./errors.js";
import { checkSecretPath, checkSegment } from "./names.js";
import { asObject, field, intField, parseJsonBytes, shaField, stringArray, stringField, groupOf, type Root } from "./root.js";

/** Path of a group's index below `.agent-vault/`. The group name must be valid. */
export function groupIndexFile(group: string): string {
  return `state/groups/${group}.json`;
}

/** One secret of a group index. */
export interface IndexEntry {
  /** The root version at which this entry last changed. */
  readonly version: number;
  readonly encSha256: string;
  readonly metaSha256: string;
  readonly extraAgents: readonly string[];
  readonly allowHosts: readonly string[];
}

/** A parsed group index: secret path → entry. */
export type GroupIndex = ReadonlyMap<string, IndexEntry>;

function optionalStringArray(obj: Record<string, unknown>, name: string, what: string): string[] {
  if (!Object.hasOwn(obj, name) || obj[name] === null) return [];
  return stringArray(obj[name], `${what} ${name}`);
}

/**
 * Parses the index of `group` (bytes already hash-checked) and checks it against `root`: `type`, `format` 1,
 * `vault_id` and `group` equal to the root's and to the group it was reached through, every secret path
 * valid and resolving to this group, and every extra agent an agent of the root. `extra_agents` and `allow_hosts` may be absent or null (empty). Throws
 * IntegrityError on any violation.
 */
export function parseGroupIndex(bytes: Uint8Array, group: string, root: Root): GroupIndex {
  const w = `state/groups/${group}.json`;
  const obj = asObject(parseJsonBytes(bytes, w), w);
  if (field(obj, "type", w) !== "agent-vault-group-index") {
    throw new IntegrityError(`${w}: type is not "agent-vault-group-index"`);
  }
  const format = field(obj, "format", w);
  if (format !== 1) throw new IntegrityError(`${w}: unknown format ${JSON.stringify(format)} (this SDK reads format 1)`);
  if (stringField(obj, "vault_id", w) !== root.vaultId) throw new IntegrityError(`${w}: vault_id differs from the root's`);
  if (stringField(obj, "group", w) !== group) throw new IntegrityError(`${w}: names another group`);
  const entries = new Map<string, IndexEntry>();
  for (const [p, v] of Object.entries(asObject(field(obj, "secrets", w), `${w} secrets`))) {
    checkSecretPath(p, "repo", `secret path in ${w}`);
    if (groupOf(root, p) !== group) throw new IntegrityError(`${w}: secret ${p} does not belong to group ${group}`);
    const ew = `${w} secret ${p}`;
    const e = asObject(v, ew);
    const extraAgents = optionalStringArray(e, "extra_agents", ew);
    for (const a of extraAgents) {
      checkSegment(a, "repo", `agent in ${ew} extra_agents`);
      if (!root.agents.has(a)) throw new IntegrityError(`${ew}: extra agent ${a} is not an agent of the root`);
    }
    entries.set(p, {
      version: intField(e, "version", ew),
      encSha256: shaField(e, "enc_sha256", ew),
      metaSha256: shaField(e, "meta_sha256", ew),
      extraAgents,
      allowHosts: optionalStringArray(e, "allow_hosts", ew),
    });
  }
  return entries;
}
