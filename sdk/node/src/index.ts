/**
 * agent-vault: read secrets from an agent-vault repository.
 *
 * ```ts
 * import { Vault } from "agent-vault";
 * const vault = new Vault({ repoPath: "." });
 * const apiKey = await vault.get("stripe/api-key");
 * ```
 */

export { Vault, type VaultOptions } from "./vault.js";
export type { SecretInfo } from "./shard.js";
export type { Logger } from "./gitsync.js";
export {
  AgentVaultError,
  VaultNotFoundError,
  SecretNotFoundError,
  NotAuthorizedError,
  IntegrityError,
  type ErrorKind,
} from "./errors.js";
