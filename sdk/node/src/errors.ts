/**
 * Error classes of the agent-vault SDK (format.md section 7).
 *
 * Every error thrown by the SDK is an {@link AgentVaultError}; its `kind` says which of the six kinds of the format
 * it is, and the subclasses let callers use `instanceof`. Messages name what failed (a path, a file, a version)
 * and never contain a secret value.
 */

/** The error kinds of format.md section 7, shared by the CLI, the Python SDK and this SDK. */
export type ErrorKind = "usage" | "vault_not_found" | "not_found" | "not_authorized" | "integrity" | "error";

/** Base of every error the SDK throws. `kind` is `usage` for bad arguments and `error` for anything unclassified. */
export class AgentVaultError extends Error {
  readonly kind: ErrorKind;

  constructor(message: string, kind: ErrorKind = "error", options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = "AgentVaultError";
  }
}

/**
 * agent-vault 0.1's name for the base class: the same class, so `instanceof VaultError` holds for every error the
 * SDK throws.
 */
export { AgentVaultError as VaultError };

/**
 * Kept from agent-vault 0.1, whose manifest.yaml parser threw it. This SDK never throws it: the access policy is
 * part of the signed state, and a state that fails to verify or parse throws {@link IntegrityError}.
 */
export class ManifestError extends AgentVaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "error", options);
    this.name = "ManifestError";
  }
}

/** No `.agent-vault/` was found, the repository could not be cloned, or no usable key was found (kind `vault_not_found`). */
export class VaultNotFoundError extends AgentVaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "vault_not_found", options);
    this.name = "VaultNotFoundError";
  }
}

/** No such secret or group in the signed state (kind `not_found`). */
export class SecretNotFoundError extends AgentVaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "not_found", options);
    this.name = "SecretNotFoundError";
  }
}

/** The key is not a recipient of the secret, or cannot decrypt it (kind `not_authorized`). */
export class NotAuthorizedError extends AgentVaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "not_authorized", options);
    this.name = "NotAuthorizedError";
  }
}

/**
 * The repository failed verification (kind `integrity`): bad signature, hash mismatch, rollback, fork, pin
 * mismatch, bad name, oversized file or symbolic link in the repository, unsigned secret.
 */
export class IntegrityError extends AgentVaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "integrity", options);
    this.name = "IntegrityError";
  }
}

/** A usage error: bad arguments or a bad name typed by the caller (kind `usage`). */
export function usageError(message: string): AgentVaultError {
  return new AgentVaultError(message, "usage");
}

/**
 * A vouching failure (format.md 6.6): `state/root` missing or failing its signature, or a vouched file missing or
 * differing in size or hash. It may be a writer caught half way, so the reader waits for writers and reads again
 * before it reports it; on a stable state it is reported as the IntegrityError it is (or as `stable()` says).
 * Internal to the SDK: callers only ever see it as an IntegrityError.
 */
export class VouchingError extends IntegrityError {
  readonly #stable: (() => AgentVaultError) | undefined;

  constructor(message: string, stable?: () => AgentVaultError) {
    super(message);
    this.#stable = stable;
  }

  /** The error to report when the failure persists on a stable state. */
  stable(): AgentVaultError {
    return this.#stable?.() ?? this;
  }
}
