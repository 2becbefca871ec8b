/**
 * Recognising a vault of the original agent-vault 0.1 that has not been converted (format.md section 11.2).
 *
 * Such a vault has no signed state: no `state/` directory, and a `config.yaml` that says `version` and `encryption`
 * and none of this format's fields (`format`, `vault_id`, `owner_verify_key`). A reader cannot verify anything in it,
 * so it sends the user to `agent-vault migrate` (VaultNotFoundError, exit 3). A vault of this format whose
 * `state/root` was deleted keeps its own `config.yaml` and stays an integrity error.
 */

import { VaultNotFoundError } from "./errors.js";
import { LIMITS, MISSING, existsInVault, readInVault } from "./layout.js";
import { parseYamlMapping } from "./yamlmap.js";

/** True when the `.agent-vault` directory `vaultDir` holds an unconverted vault of agent-vault 0.1. */
export function isOriginalLayout(vaultDir: string): boolean {
  try {
    if (existsInVault(vaultDir, "state") || existsInVault(vaultDir, ".pending/root")) return false;
    const file = readInVault(vaultDir, "config.yaml", LIMITS.config);
    if (file === MISSING) return false;
    const cfg = parseYamlMapping(file.bytes, "config.yaml");
    if (["format", "vault_id", "owner_verify_key"].some((k) => k in cfg)) return false;
    return "version" in cfg && "encryption" in cfg;
  } catch {
    return false;
  }
}

/** The error a reader reports for an unconverted vault of agent-vault 0.1 in `vaultDir`, or null when it is not one. */
export function originalVaultError(vaultDir: string): VaultNotFoundError | null {
  if (!isOriginalLayout(vaultDir)) return null;
  return new VaultNotFoundError(
    `${vaultDir} is a vault of the original agent-vault 0.1, which this version reads only once it is converted: ` +
      "the owner converts it with `agent-vault migrate` and pushes the change",
  );
}
