/**
 * `config.yaml` (format.md section 3.5). It is not signed: readers use it only in trust-on-first-use mode, to
 * learn which vault id and owner verify key to look up in `known_vaults`, and then verify the root with that key.
 */

import { parseYamlMapping } from "./yamlmap.js";
import { IntegrityError } from "./errors.js";
import { isVerifyKey } from "./signed.js";
import { isVaultId } from "./trust.js";

/** Path of the configuration below `.agent-vault/`. */
export const CONFIG_FILE = "config.yaml";

/** What a reader takes from `config.yaml`. */
export interface VaultConfig {
  /** 2, or 1 for a format 1 vault to migrate (format.md 11): the root decides which it is. */
  readonly format: 1 | 2;
  readonly vaultId: string;
  readonly ownerVerifyKey: string;
}

/**
 * Parses `config.yaml`: `format` must be 2 (or 1, a vault to migrate), `vault_id` 32 lowercase hex characters and
 * `owner_verify_key` a verify key. Unknown fields are ignored. Throws IntegrityError otherwise.
 */
export function parseConfig(bytes: Uint8Array): VaultConfig {
  const w = CONFIG_FILE;
  const c = parseYamlMapping(bytes, w);
  const format = c["format"];
  if (format !== 1 && format !== 2) {
    throw new IntegrityError(`${w}: unknown format ${JSON.stringify(format ?? null)} (this SDK reads format 2)`);
  }
  const vaultId = c["vault_id"];
  if (!isVaultId(vaultId)) throw new IntegrityError(`${w}: vault_id is not 32 lowercase hex characters`);
  const ownerVerifyKey = c["owner_verify_key"];
  if (!isVerifyKey(ownerVerifyKey)) throw new IntegrityError(`${w}: owner_verify_key is malformed`);
  return { format, vaultId, ownerVerifyKey };
}
