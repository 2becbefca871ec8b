/** Strict parsing of the untrusted `config.yaml`, the one YAML file readers read. */

import { parse as parseYaml } from "yaml";
import { IntegrityError } from "./errors.js";

/**
 * Parses `bytes` as one UTF-8 YAML mapping: strict, unique keys, no aliases. Throws IntegrityError naming
 * `what` otherwise.
 */
export function parseYamlMapping(bytes: Uint8Array, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    doc = parseYaml(text, { strict: true, uniqueKeys: true, maxAliasCount: 0, prettyErrors: false });
  } catch {
    throw new IntegrityError(`${what}: not valid UTF-8 YAML`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new IntegrityError(`${what}: not a YAML mapping`);
  return doc as Record<string, unknown>;
}
