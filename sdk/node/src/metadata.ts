/**
 * agent-vault 0.1's `.meta` parsers, kept for code that calls them. A `.meta` file is an unsigned view that anyone
 * who can push may edit: what these functions return is NOT verified. Readers of this SDK never use them;
 * {@link Vault.listSecrets} gives the same metadata from the signed index. Use them only to display a file.
 */

import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import { ManifestError } from "./errors.js";
import type { SecretInfo } from "./shard.js";

/** Largest `.meta` file parsed. */
const MAX_META_BYTES = 64 * 1024;

function date(v: unknown): Date {
  const d = v instanceof Date ? v : typeof v === "string" ? new Date(v) : null;
  return d !== null && !Number.isNaN(d.getTime()) ? d : new Date(0);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/**
 * The YAML mapping in `text` (empty text is `{}`), for agent-vault 0.1's unverified file parsers. Throws
 * ManifestError ("Invalid WHAT YAML: ...") when it is not YAML or not a mapping; aliases are refused.
 */
export function parseYamlMapping(text: string, what: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 0 });
  } catch (err) {
    throw new ManifestError(`Invalid ${what} YAML: ${err instanceof Error ? err.message.split("\n")[0] : "parse error"}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) throw new ManifestError(`Invalid ${what} YAML: not a mapping`);
  return data as Record<string, unknown>;
}

/**
 * Parses the YAML of a `.meta` file (unverified, see the module comment). Missing fields become "" / epoch / [];
 * `expires` is null (`expiresAt` undefined) when absent. Throws ManifestError when the text is not a YAML mapping.
 */
export function parseMetadata(content: string): SecretInfo {
  const m = parseYamlMapping(content, "metadata");
  const created = date(m["created"]);
  const rotated = date(m["rotated"]);
  const expires = m["expires"] ? date(m["expires"]) : null;
  return {
    name: typeof m["name"] === "string" ? m["name"] : "",
    group: typeof m["group"] === "string" ? m["group"] : "",
    created,
    rotated,
    expires,
    authorizedAgents: strings(m["authorized_agents"]),
    allowHosts: strings(m["allow_hosts"]),
    createdAt: created,
    rotatedAt: rotated,
    expiresAt: expires ?? undefined,
  };
}

/** Reads and parses a `.meta` file (unverified, see the module comment); files over 64 KiB are refused. */
export function parseMetadataFile(filePath: string): SecretInfo {
  const st = fs.statSync(filePath);
  if (!st.isFile() || st.size > MAX_META_BYTES) throw new ManifestError(`Invalid metadata file: ${filePath} is not a regular file of at most ${MAX_META_BYTES} bytes`);
  return parseMetadata(fs.readFileSync(filePath, "utf8"));
}
