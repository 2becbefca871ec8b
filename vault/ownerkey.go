package vault

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// pqOwnerKeyName is the file under <home> that holds the owner key of post-quantum vaults; owner.key
// keeps the classic one, so that one machine can own vaults of both kinds (docs/format.md section 3.3).
const pqOwnerKeyName = "owner-pq.key"

// PQOwnerKey loads <home>/owner-pq.key with opts, creating it (0600) with a new hybrid identity when it
// does not exist. created reports whether it was made now.
func PQOwnerKey(opts *KeyOptions) (key *Key, path string, created bool, err error) {
	home, err := homeDir()
	if err != nil {
		return nil, "", false, err
	}
	if err := fsutil.MkdirPrivate(home); err != nil {
		return nil, "", false, err
	}
	path = filepath.Join(home, pqOwnerKeyName)
	if _, err := os.Lstat(path); errNotExist(err) {
		data, err := NewOwnerKeyFileOf(KeyHybrid)
		if err != nil {
			return nil, "", false, err
		}
		if err := fsutil.WriteNewPrivateFile(path, data); err != nil {
			return nil, "", false, wrapErr(KindError, err, "cannot write the owner key %s", path)
		}
		created = true
	}
	key, err = LoadKeyFile(path, opts)
	if err != nil {
		return nil, "", false, err
	}
	if key.Kind() != KeyHybrid {
		return nil, "", false, newErr(KindVaultNotFound, "%s holds a classic key; the post-quantum owner key must be an AGE-SECRET-KEY-PQ-1 identity", path)
	}
	key.IsOwner = true
	return key, path, created, nil
}

// wantsPQOwner reports whether v's owner is post-quantum, as far as its unverified files say: the pending
// root when there is one (a change being finished may be migrate --pq's), else owner.pub. It only chooses
// which owner key file to try; the key is then verified against the signed state as always.
func (v *Vault) wantsPQOwner() bool {
	if raw, err := readRepoFile(v.Dir, pendingDir+"/root", LimitRoot); err == nil {
		if RecipientKind(rootOwnerRecipient(raw)) == KeyHybrid {
			return true
		}
	}
	pub, err := readRepoFile(v.Dir, ownerPubFile, LimitOther)
	return err == nil && RecipientKind(string(pub)) == KeyHybrid
}

// ResolveKeyFor is ResolveKey for the vault v: when no key is given (no explicit key, no AGENT_VAULT_KEY)
// and v's owner is post-quantum as far as its files say (a pending root, else owner.pub; the key is then
// verified against the signed state as always), it is <home>/owner-pq.key when that file exists.
func ResolveKeyFor(v *Vault, explicit string, opts *KeyOptions) (*Key, error) {
	if explicit == "" && os.Getenv("AGENT_VAULT_KEY") == "" && v != nil && v.wantsPQOwner() {
		home, err := homeDir()
		if err != nil {
			return nil, err
		}
		p := filepath.Join(home, pqOwnerKeyName)
		if _, err := os.Lstat(p); err == nil {
			k, err := LoadKeyFile(p, opts)
			if err == nil {
				k.IsOwner = true
			}
			return k, err
		}
	}
	return ResolveKey(explicit, opts)
}

// rootOwnerRecipient returns the owner recipient a signed root file names, without verifying it (for
// choices and messages only), or "".
func rootOwnerRecipient(raw []byte) string {
	body, _, err := splitSigned(raw)
	if err != nil {
		return ""
	}
	var r struct {
		Owner struct {
			Recipient string `json:"recipient"`
		} `json:"owner"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	return r.Owner.Recipient
}

// adoptSuccessor lets the owner's tools follow a vault whose id changed in one signed step (migrate --pq,
// docs/format.md section 3.8): when vault_paths ties dir to another vault id, and root — verified with the
// owner's own key — names as its predecessor the very root this machine last verified under that id (its
// high-water mark), dir is tied to root's vault id instead. A conversion cut before it recorded the new id
// (the next owner command, or repair, finishes it) is thus not taken for another vault copied in. Anything
// else is left to bindOwnedPath to judge.
func adoptSuccessor(home, dir string, root *Root) error {
	if root.PrevSHA256 == "" {
		return nil
	}
	old := ownedPathID(home, dir)
	if old == "" || old == root.VaultID {
		return nil
	}
	m, err := loadMarks(home, old)
	if err != nil || m.RootSHA256 != root.PrevSHA256 {
		return nil
	}
	if err := rememberVault(home, root.VaultID, root.Owner.VerifyKey); err != nil && KindOf(err) != KindIntegrity {
		return err
	}
	return bindOwnedPath(home, dir, root.VaultID, true)
}

// ownedPathID is the vault id vault_paths ties dir to, "" when none.
func ownedPathID(home, dir string) string {
	data, err := os.ReadFile(filepath.Join(home, "vault_paths"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if id, path, ok := strings.Cut(line, " "); ok && path == dir {
			return id
		}
	}
	return ""
}
