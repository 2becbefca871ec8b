package cli

import (
	"github.com/agent-vault/agent-vault/vault"
)

// initOwnerKey is the owner key of a new vault: with --pq the post-quantum owner key
// <home>/owner-pq.key (made on first use, reused afterwards, like owner.key), else owner.key.
func (o *initOptions) initOwnerKey() (*vault.Key, string, bool, error) {
	if !o.pq {
		return o.ownerKey()
	}
	if o.passphrase {
		return nil, "", false, &vault.Error{Kind: vault.KindUsage, Msg: "--pq with --passphrase: run 'agent-vault init --pq', then protect the post-quantum owner key with 'agent-vault key protect ~/.agent-vault/owner-pq.key'"}
	}
	return vault.PQOwnerKey(o.keyOptions())
}
