package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"

	"filippo.io/age"
)

// MigratedAgent is one agent of a converted original vault.
type MigratedAgent struct {
	Name      string // the agent's name
	Recipient string // its recipient, which it keeps
	// KeyFile is the agent's key file under <home>/agents/ that holds its key, "" when this machine has
	// none: the file to pin (docs/format.md section 3.2) before handing it to the agent.
	KeyFile string
	// EscrowRecreated is set when the vault had no escrow and KeyFile supplied the identity.
	EscrowRecreated bool
}

// MigratedOriginal reports what MigrateOriginal converted: the new vault id, the owner's verify key and
// the version of the first signed state, how many secrets and groups carried over, and every agent.
type MigratedOriginal struct {
	VaultID   string
	VerifyKey string
	Version   uint64
	Secrets   int
	Groups    int
	Agents    []MigratedAgent
}

// MigrateOriginal converts the vault of the original agent-vault 0.1 in v, owned by key, in place into
// format 2 (docs/format.md section 11.2), in one signed change recorded by v's Recorder. Everything is
// read and checked first (readOriginal); when anything fails, nothing is written. Values, groups,
// members, extra recipients, times and expiries carry over; every agent keeps its key (its escrow is
// rewritten as a pinned key file encrypted to the owner); every value is encrypted afresh to exactly
// the recipients the new signed state names, since the original's files say nothing signed about who
// can read them. The vault gets a new random vault id, and starts at version 1.
func (v *Vault) MigrateOriginal(key *Key) (*MigratedOriginal, error) {
	if key.Pinned() {
		return nil, newErr(KindNotAuthorized, "key %s is an agent's key, not the owner key of this vault", key.Source)
	}
	signer, err := key.SigningKey()
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", key.Source)
	}
	unlock, err := v.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !v.IsOriginal() {
		return nil, newErr(KindError, "%s is not an unconverted agent-vault 0.1 vault", v.Dir)
	}
	home, err := homeDir()
	if err != nil {
		return nil, err
	}
	if err := v.refuseOriginal(home); KindOf(err) != KindVaultNotFound {
		return nil, err // this machine knows the directory as a signed vault: its state was removed
	}
	ov, err := readOriginal(v, key, home)
	if err != nil {
		return nil, err
	}
	t, rep, err := originalTx(v, key, signer, ov)
	if err != nil {
		return nil, err
	}
	rootBytes, err := t.commit()
	if err != nil {
		return nil, err
	}
	rep.Version = t.root.Version
	if err := rememberVault(home, rep.VaultID, rep.VerifyKey); err != nil {
		return nil, err
	}
	if err := bindOwnedPath(home, v.recordDir(), rep.VaultID, false); err != nil {
		return nil, err
	}
	if err := raiseMarks(home, rep.VaultID, t.root.Version, Hash(rootBytes), "", nil); err != nil {
		return nil, err
	}
	return rep, v.Record()
}

// originalTx builds the signed change that writes ov as a format 2 vault.
func originalTx(v *Vault, key *Key, signer ed25519.PrivateKey, ov *originalVault) (*tx, *MigratedOriginal, error) {
	id := make([]byte, 16)
	rand.Read(id)
	rep := &MigratedOriginal{VaultID: hex.EncodeToString(id), VerifyKey: FormatVerifyKey(signer.Public().(ed25519.PublicKey)),
		Secrets: len(ov.secrets), Groups: len(ov.groups)}
	t := newTx(v, signer, nil, "")
	t.root = &Root{Type: rootType, Format: FormatVersion, VaultID: rep.VaultID,
		Owner: RootOwner{Recipient: key.Recipient, VerifyKey: rep.VerifyKey},
		Files: map[string]FileRef{}, Agents: map[string]RootAgent{}, Groups: map[string]RootGroup{}, Index: map[string]ShardRef{}}
	t.message = "migrate the agent-vault 0.1 vault to format 2"
	owner, err := parseRecipient(key.Recipient, key.opts)
	if err != nil {
		return nil, nil, wrapErr(KindVaultNotFound, err, "key %s", key.Source)
	}
	for _, name := range sortedKeys(ov.agents) {
		ag := ov.agents[name]
		rcpt := ag.identity.Recipient().String()
		pub := []byte(rcpt + "\n")
		escrow, err := encrypt(agentKeyFile(ag.identity, name, rep.VaultID, rep.VerifyKey), []age.Recipient{owner})
		if err != nil {
			return nil, nil, wrapErr(KindError, err, "cannot write the escrow of agent %s", name)
		}
		t.write(agentPubFile(name), pub)
		t.write(escrowFile(name), escrow)
		t.root.Agents[name] = RootAgent{Recipient: rcpt, PublicKeySHA256: Hash(pub), EscrowSHA256: Hash(escrow)}
		rep.Agents = append(rep.Agents, MigratedAgent{Name: name, Recipient: rcpt, KeyFile: ag.keyFile, EscrowRecreated: ag.escrowRecreated})
	}
	for g, members := range ov.groups {
		t.root.Groups[g] = RootGroup{Members: orEmpty(members)}
	}
	for _, p := range sortedKeys(ov.secrets) {
		s := ov.secrets[p]
		e := Entry{Group: s.group, Version: t.nextVersion(), Created: fmtTime(s.created), Rotated: fmtTime(s.rotated),
			ExtraAgents: orEmpty(s.extra), AllowHosts: []string{}}
		if s.expires != nil {
			e.Expires = fmtTime(*s.expires)
		}
		rs, err := recipients(t.root, &e, key.opts)
		if err != nil {
			return nil, nil, err
		}
		enc, err := encrypt(s.value, rs)
		if err != nil {
			return nil, nil, wrapErr(KindError, err, "cannot encrypt %s", p)
		}
		meta := encodeMeta(metaOf(t.root, p, &e))
		e.EncSHA256, e.EncSize = Hash(enc), int64(len(enc))
		e.MetaSHA256, e.MetaSize = Hash(meta), int64(len(meta))
		sh, err := t.shardFor(p)
		if err != nil {
			return nil, nil, err
		}
		t.putEntry(sh, p, e, nil)
		t.write(encFile(p), enc)
		t.write(metaFile(p), meta)
	}
	t.writeViewFiles(now())
	return t, rep, nil
}
