/**
 * Secret metadata files `secrets/<path>.meta` (format.md section 5.1). The caller hash-checks the bytes against
 * the index entry before calling {@link parseMeta}.
 */

import { parseYamlMapping } from "./yamlmap.js";
import { IntegrityError } from "./errors.js";
import { checkSegment } from "./names.js";

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
  /** The agents that can read the secret (sorted; the owner is not listed). */
  readonly authorizedAgents: readonly string[];
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(v: unknown, name: string, what: string): Date {
  if (typeof v !== "string" || !RFC3339.test(v)) throw new IntegrityError(`${what}: ${name} is not an RFC 3339 time`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new IntegrityError(`${what}: ${name} is not an RFC 3339 time`);
  return d;
}

/**
 * Parses `.meta` bytes of the secret `name` in `group` and checks that its `name` and `group` are those of the
 * index entry that vouched for it. Throws IntegrityError on malformed YAML, a missing or mistyped field, or a
 * name or group mismatch.
 */
export function parseMeta(bytes: Uint8Array, name: string, group: string): SecretInfo {
  const w = `secrets/${name}.meta`;
  const m = parseYamlMapping(bytes, w);
  if (m["name"] !== name) throw new IntegrityError(`${w}: name does not match the index entry ${name}`);
  if (m["group"] !== group) throw new IntegrityError(`${w}: group does not match the group ${group} of the index`);
  const agents = m["authorized_agents"] ?? [];
  if (!Array.isArray(agents)) throw new IntegrityError(`${w}: authorized_agents is not a list`);
  for (const a of agents) checkSegment(a, "repo", `agent in ${w} authorized_agents`);
  const expires = m["expires"];
  return {
    name,
    group,
    created: parseTime(m["created"], "created", w),
    rotated: parseTime(m["rotated"], "rotated", w),
    expires: expires === undefined || expires === null || expires === "" ? null : parseTime(expires, "expires", w),
    authorizedAgents: agents as string[],
  };
}
