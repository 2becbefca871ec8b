package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync/atomic"
)

// MigratedPQ reports what MigratePQ converted: the old and new vault ids, the new owner verify key and
// version, the owner's key file and whether it was made now, how many secrets were re-encrypted, and
// each agent's new key file.
type MigratedPQ struct {
	OldVaultID, VaultID string
	VerifyKey           string
	Version             uint64
	OwnerKeyFile        string // <home>/owner-pq.key
	OwnerKeyCreated     bool
	Secrets             int
	Agents              map[string]string // agent → the key file its new key was written to
}

// MigratePQ converts the classic vault o to a post-quantum one in one signed change (docs/format.md section
// 3.8): the owner gets the hybrid key of <home>/owner-pq.key (made now when missing; it must exist before
// the commit point so that repair can verify the pending root), every agent a new hybrid key pair whose
// key file (with the new pins) is installed at keyPath(agent) and escrowed to the new owner key, and every
// value is re-encrypted under a fresh file key to the new recipients only: no X25519 stanza remains. The
// owner signing key is derived from the new owner identity, so the vault gets a new vault id (every trust
// record starts afresh); the root keeps the version chain (version + 1, prev_sha256), so that an
// interrupted conversion is finished by repair like any change. Agents that brought their own keys (no
// escrow) are refused: the owner cannot make their new keys. o is closed by the caller; after success it
// no longer describes the vault.
func (o *Owner) MigratePQ(keyPath func(agent string) string) (*MigratedPQ, error) {
	if o.Key.Kind() == KeyHybrid || RecipientKind(o.Root.Owner.Recipient) == KeyHybrid {
		return nil, newErr(KindUsage, "vault %s already uses post-quantum keys", o.Root.VaultID)
	}
	if o.Root.Admins != nil {
		return nil, newErr(KindUsage, "vault %s has several admins (or had): their keys are classic and the conversion makes a new vault with one owner; nothing was changed", o.Root.VaultID)
	}
	for _, name := range o.Root.AgentNames() {
		if o.Root.Agents[name].EscrowSHA256 == "" {
			return nil, newErr(KindUsage, "agent %s brought its own key (it has no escrow), so its new post-quantum key cannot be made here: remove it (agent-vault remove-agent %s) and add it back after the conversion; nothing was changed", name, name)
		}
	}
	newOwner, ownerPath, created, err := PQOwnerKey(o.Key.opts)
	if err != nil {
		return nil, err
	}
	signer, err := DeriveSigningKey(newOwner.Identity)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", ownerPath)
	}
	id := make([]byte, 16)
	rand.Read(id)
	rep := &MigratedPQ{OldVaultID: o.Root.VaultID, VaultID: hex.EncodeToString(id), VerifyKey: FormatVerifyKey(signer.Public().(ed25519.PublicKey)),
		OwnerKeyFile: ownerPath, OwnerKeyCreated: created, Agents: map[string]string{}}
	t := newTx(o.Vault, signer, o.Root, o.RootSHA)
	t.message = fmt.Sprintf("convert vault %s to post-quantum keys (new vault id %s)", o.Root.VaultID, rep.VaultID)
	t.progress = o.Progress
	t.root.VaultID = rep.VaultID
	t.root.Owner = RootOwner{Recipient: newOwner.Recipient, VerifyKey: rep.VerifyKey}
	t.root.Index = map[string]ShardRef{}
	for _, name := range o.Root.AgentNames() {
		abs, err := filepath.Abs(keyPath(name))
		if err != nil {
			return nil, wrapErr(KindUsage, err, "key path of agent %s", name)
		}
		if err := o.newAgentKey(t, name, abs); err != nil {
			return nil, err
		}
		rep.Agents[name] = abs
	}
	changes, err := o.reencryptChanges(func(string, *Entry) bool { return true })
	if err != nil {
		return nil, err
	}
	encs := make([][]byte, len(changes))
	var done atomic.Int64
	err = parallel(len(changes), func(i int) error {
		c := changes[i]
		enc, err := readVouched(o.Vault.Dir, encFile(c.path), c.old.enc())
		if err != nil {
			return err
		}
		value, err := decrypt(enc, o.Key.Identity)
		if err != nil {
			return newErr(KindIntegrity, "the owner key cannot decrypt %s, although the signed state lists it", c.path)
		}
		rs, err := recipients(t.root, &c.entry, o.Key.opts)
		if err == nil {
			encs[i], err = encrypt(value, rs)
		}
		clear(value)
		if o.Progress != nil {
			o.Progress("encrypting", int(done.Add(1)), len(changes))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	version := t.nextVersion()
	for i, c := range changes {
		e := t.writeSecret(c.path, c.entry, encs[i], version)
		sh, err := t.shardFor(c.path)
		if err != nil {
			return nil, err
		}
		sh.Secrets[c.path] = e // counts are unchanged: every secret keeps its group
	}
	rep.Secrets = len(changes)
	t.writeViewFiles(now())
	rootBytes, err := t.commit()
	if err != nil {
		return nil, err
	}
	rep.Version = t.root.Version
	if err := rememberVault(o.home, rep.VaultID, rep.VerifyKey); err != nil {
		return nil, err
	}
	if err := bindOwnedPath(o.home, o.Vault.recordDir(), rep.VaultID, true); err != nil {
		return nil, err
	}
	if err := raiseMarks(o.home, rep.VaultID, t.root.Version, Hash(rootBytes), "", nil); err != nil {
		return nil, err
	}
	return rep, o.Vault.Record()
}
