/**
 * agent-vault: read secrets from an agent-vault repository.
 *
 * ```ts
 * import { Vault } from "agent-vault";
 * const vault = new Vault({ repoPath: "." });
 * const apiKey = await vault.get("stripe/api-key");
 * const secrets = vault.listSecrets("stripe"); // synchronous, as in agent-vault 0.1
 * ```
 *
 * agent-vault 0.1's names are kept: `VaultError` (the base class, the same as `AgentVaultError`), `ManifestError`,
 * `SecretMetadata` (the items of `listSecrets`), `Manifest` and the methods `listAgents()`, `pull()`, `reload()`.
 * `require("agent-vault")` loads the same module from CommonJS.
 */

export { Vault, type VaultOptions, type ListOptions } from "./vault.js";
export type { SecretInfo, SecretMetadata } from "./shard.js";
export type { Logger } from "./gitsync.js";
export { Manifest, type ManifestAgent, type ManifestData, type ManifestGroup } from "./manifest.js";
export { parseMetadata, parseMetadataFile } from "./metadata.js";
export {
  AgentVaultError,
  VaultError,
  VaultNotFoundError,
  SecretNotFoundError,
  NotAuthorizedError,
  IntegrityError,
  ManifestError,
  type ErrorKind,
} from "./errors.js";
