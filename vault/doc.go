// Package vault is the Go SDK of agent-vault, and the one implementation of its on-disk format, which
// [docs/format.md] describes normatively (the sections cited below are its). It finds a vault in a Git
// working tree, verifies it, reads secrets with an agent's key or the owner's, and makes the owner's
// changes: set, grant, revoke, agents, check and repair. The agent-vault CLI and MCP server are thin
// layers over it.
//
// # Trust model
//
// Git only carries the vault and is not trusted: anyone who can push to it may be hostile. age gives
// confidentiality only, since anyone can encrypt to the public keys in the repository; so readers believe
// nothing that the owner did not sign.
//
//   - The owner's age identity derives an Ed25519 signing key (section 3.4). Every owner
//     change ends by writing a new signed root, state/root: the single commit point. The root vouches, by
//     hash and size (directly or through the index shards it hashes), for every file that decides a
//     value, a version or a recipient set.
//   - An agent's key file pins the owner's verify key and the vault id (section 3.2); the owner's key
//     derives its own. A key without pins trusts the owner key a vault publishes on first use, says so
//     once through KeyOptions.Warn, and records it in the agent-vault home (section 6.2).
//   - Readers verify the signature over the root's exact bytes before they parse it, keep a high-water
//     mark per vault under the home, and refuse a rollback or a fork (sections 6.1 to 6.3). Nothing turns
//     verification off.
//   - Every failure is an *Error whose Kind (KindOf) is the same on every surface: the CLI's exit code
//     (Kind.ExitCode), the Python and Node SDKs' exception classes, the MCP server's tool errors
//     (section 7). A failed verification is KindIntegrity. No message holds a secret value.
//
// # Files
//
// A vault is the directory .agent-vault (DirName) inside a Git working tree (section 1):
//
//	.agent-vault/
//	  config.yaml                        vault id, format, owner verify key
//	  owner.pub                          owner's age recipient
//	  manifest.yaml                      agents and groups, a view for people
//	  state/root                         the signed root: the single commit point
//	  state/index/<xx>.json              index shard: the secrets whose path hashes to xx
//	  state/admins/<version>             a root that changed the admin set, kept as it was
//	  agents/<name>/public.key           agent's age recipient
//	  agents/<name>/private.key.escrow   agent's key file, age-encrypted to the owner
//	  secrets/<path>.enc                 the value: a plain age file, which the age CLI decrypts
//	  secrets/<path>.meta                metadata, a view for people
//	  .gitignore                         keeps private key material out of Git
//	  .lock, .pending/                   local to one working tree, ignored by Git
//
// Keys and trust records live in the agent-vault home, $AGENT_VAULT_HOME or ~/.agent-vault (section
// 3.3): owner.key, agents/<name>.key, known_vaults and state/<vault_id>.json.
//
// # Reading a secret
//
// An agent program finds the vault, resolves its key and reads:
//
//	v, err := vault.Find(".") // .agent-vault here or in a parent
//	if err != nil {
//		return err
//	}
//	key, err := vault.ResolveKey("", nil) // $AGENT_VAULT_KEY, else <home>/owner.key
//	if err != nil {
//		return err
//	}
//	s, err := v.Open(key) // verifies the signed state against the key's anchor
//	if err != nil {
//		return err
//	}
//	value, err := s.Get("stripe/api-key")
//
// The owner changes a vault through Vault.OpenOwner and the methods of Owner; the package example creates
// a vault as its owner and reads it as an agent.
//
// [docs/format.md]: https://github.com/agent-vault/agent-vault/blob/main/docs/format.md
package vault
