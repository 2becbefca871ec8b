package vault

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"

	"filippo.io/age"
)

// Vault is a vault found on disk: the directory Top holds the vault directory Dir (Top/.agent-vault).
type Vault struct {
	Top string
	Dir string
}

// Find looks for .agent-vault in start and its parents, as git looks for .git.
func Find(start string) (*Vault, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "cannot resolve %s", start)
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(filepath.Join(d, DirName))
		if err == nil {
			if fi.Mode()&os.ModeSymlink != 0 {
				return nil, newErr(KindIntegrity, "%s is a symbolic link, which a vault never is", filepath.Join(d, DirName))
			}
			if fi.IsDir() {
				return &Vault{Top: d, Dir: filepath.Join(d, DirName)}, nil
			}
		}
		if filepath.Dir(d) == d {
			return nil, newErr(KindVaultNotFound, "no %s directory in %s or any parent; run 'agent-vault init' or pass -C DIR", DirName, abs)
		}
	}
}

// Role names who a key is in a vault.
type Role struct {
	Owner bool
	Agent string // set when !Owner
}

func (r Role) String() string {
	if r.Owner {
		return "owner"
	}
	return r.Agent
}

// Snapshot is the verified signed state of a vault as one key sees it. It is safe for use by one goroutine.
type Snapshot struct {
	Vault   *Vault
	Key     *Key
	Root    *Root
	RootSHA string
	Role    Role

	home    string
	marks   *Marks
	indexes map[string]*Index
}

// Open verifies the vault's signed state against the key's trust anchor (docs/format.md section 6.1),
// applies the high-water mark and works out the key's role. It decrypts nothing.
func (v *Vault) Open(key *Key) (*Snapshot, error) {
	return v.open(key, key.IsOwner)
}

func (v *Vault) open(key *Key, asOwner bool) (*Snapshot, error) {
	home, err := Home()
	if err != nil {
		return nil, err
	}
	raw, err := readRepoFile(v.Dir, rootFile, LimitRoot)
	if err != nil {
		if errNotExist(err) {
			if exists(v.Dir, configFile) {
				return nil, newErr(KindIntegrity, "state/root is missing: the vault has no signed state")
			}
			return nil, newErr(KindVaultNotFound, "%s is not an agent-vault vault (no state/root)", v.Dir)
		}
		return nil, classifyRead(err, rootFile)
	}
	var wantVaultID, verifyKey string
	tofu := false
	switch {
	case asOwner:
		signer, err := DeriveSigningKey(key.Identity)
		if err != nil {
			return nil, wrapErr(KindVaultNotFound, err, "key %s", key.Source)
		}
		verifyKey = FormatVerifyKey(signer.Public().(ed25519.PublicKey))
	case key.Pinned():
		wantVaultID, verifyKey = key.PinVaultID, key.PinVerifyKey
	default:
		cfgBytes, err := readRepoFile(v.Dir, configFile, LimitOther)
		if err != nil {
			return nil, classifyRead(err, configFile)
		}
		cfg, err := parseConfig(cfgBytes)
		if err != nil {
			return nil, err
		}
		known, err := knownVaultKey(home, cfg.VaultID)
		if err != nil {
			return nil, err
		}
		if known != "" && known != cfg.OwnerVerifyKey {
			return nil, newErr(KindIntegrity, "vault %s now publishes owner verify key %s, but %s was trusted on first use; refusing", cfg.VaultID, cfg.OwnerVerifyKey, known)
		}
		wantVaultID, verifyKey, tofu = cfg.VaultID, cfg.OwnerVerifyKey, known == ""
	}
	pub, err := ParseVerifyKey(verifyKey)
	if err != nil {
		return nil, wrapErr(KindIntegrity, err, "owner verify key")
	}
	body, err := VerifyRoot(raw, pub)
	if err != nil {
		if asOwner {
			return nil, wrapErr(KindIntegrity, err, "the vault is not signed by this owner key (%s)", key.Source)
		}
		return nil, err
	}
	root, err := parseRoot(body)
	if err != nil {
		return nil, err
	}
	if wantVaultID != "" && root.VaultID != wantVaultID {
		return nil, newErr(KindIntegrity, "the signed state belongs to vault %s, but the key is pinned to vault %s", root.VaultID, wantVaultID)
	}
	if root.Owner.VerifyKey != verifyKey {
		return nil, newErr(KindIntegrity, "the signed state names owner verify key %s, not the trusted %s", root.Owner.VerifyKey, verifyKey)
	}
	if asOwner {
		if err := bindOwnedPath(home, v.Dir, root.VaultID, false); err != nil {
			return nil, err
		}
	}
	s := &Snapshot{Vault: v, Key: key, Root: root, RootSHA: Hash(raw), home: home, indexes: map[string]*Index{}}
	if s.marks, err = loadMarks(home, root.VaultID); err != nil {
		return nil, err
	}
	if err := s.marks.checkRoot(root.Version, s.RootSHA); err != nil {
		return nil, err
	}
	switch name, isAgent := root.AgentByRecipient(key.Recipient); {
	case key.Recipient == root.Owner.Recipient:
		s.Role = Role{Owner: true}
	case asOwner:
		return nil, newErr(KindIntegrity, "the vault is signed by this key's owner signing key but names another owner recipient")
	case isAgent:
		s.Role = Role{Agent: name}
	default:
		return nil, newErr(KindNotAuthorized, "key %s (%s) is neither the owner nor an agent of vault %s", key.Source, key.Recipient, root.VaultID)
	}
	if tofu {
		if err := rememberVault(home, root.VaultID, verifyKey); err != nil {
			return nil, err
		}
		Warn("trusting the owner key of vault " + root.VaultID + " on first use (" + verifyKey + "); a key file with pins avoids this")
	}
	if root.Version > s.marks.Version {
		if err := raiseMarks(home, root.VaultID, root.Version, s.RootSHA, nil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func classifyRead(err error, rel string) error {
	if KindOf(err) != KindError {
		return err
	}
	if errNotExist(err) {
		return newErr(KindIntegrity, "%s is missing", rel)
	}
	return wrapErr(KindError, err, "cannot read %s", rel)
}

// Index returns the verified index of group, or a not-found error when the root has no such group.
func (s *Snapshot) Index(group string) (*Index, error) {
	if ix, ok := s.indexes[group]; ok {
		return ix, nil
	}
	g, ok := s.Root.Groups[group]
	if !ok {
		return nil, newErr(KindNotFound, "no group %q in vault %s", group, s.Root.VaultID)
	}
	data, err := readVouched(s.Vault.Dir, indexFile(group), LimitIndex, g.IndexSHA256)
	if err != nil {
		return nil, err
	}
	ix, err := parseIndex(data, s.Root, group)
	if err != nil {
		return nil, err
	}
	if len(ix.Secrets) != g.Secrets {
		return nil, newErr(KindIntegrity, "%s holds %d secrets, the signed root says %d", indexFile(group), len(ix.Secrets), g.Secrets)
	}
	s.indexes[group] = ix
	return ix, nil
}

// entry finds the signed index entry of path, telling an absent secret from an unsigned one.
func (s *Snapshot) entry(path string) (string, IndexEntry, error) {
	if err := CheckUserPath(path); err != nil {
		return "", IndexEntry{}, err
	}
	group := s.Root.GroupOf(path)
	var e IndexEntry
	found := false
	if _, ok := s.Root.Groups[group]; ok {
		ix, err := s.Index(group)
		if err != nil {
			return "", e, err
		}
		e, found = ix.Secrets[path]
	}
	if !found {
		if exists(s.Vault.Dir, encFile(path)) || exists(s.Vault.Dir, metaFile(path)) {
			return "", e, newErr(KindIntegrity, "%s has files in the repository but is not in the signed state (unsigned secret)", path)
		}
		return "", e, newErr(KindNotFound, "no secret %s in vault %s", path, s.Root.VaultID)
	}
	return group, e, nil
}

// CanRead reports whether the snapshot's key is a recipient of a secret in group with entry e.
func (s *Snapshot) CanRead(group string, e IndexEntry) bool {
	if s.Role.Owner {
		return true
	}
	return slices.Contains(s.Root.Groups[group].Members, s.Role.Agent) || slices.Contains(e.ExtraAgents, s.Role.Agent)
}

// Get returns the verified, decrypted value of the secret at path.
func (s *Snapshot) Get(path string) ([]byte, error) {
	group, e, err := s.entry(path)
	if err != nil {
		return nil, err
	}
	if !s.CanRead(group, e) {
		return nil, newErr(KindNotAuthorized, "agent %s is not granted %s (group %s)", s.Role.Agent, path, group)
	}
	if err := s.marks.checkSecret(path, e.Version); err != nil {
		return nil, err
	}
	enc, err := readVouched(s.Vault.Dir, encFile(path), LimitEnc, e.EncSHA256)
	if err != nil {
		return nil, err
	}
	value, err := decrypt(enc, s.Key.Identity)
	if err != nil {
		return nil, wrapErr(KindNotAuthorized, err, "this key cannot decrypt %s", path)
	}
	if e.Version > s.marks.Secrets[path] {
		if err := raiseMarks(s.home, s.Root.VaultID, s.Root.Version, s.RootSHA, map[string]uint64{path: e.Version}); err != nil {
			return nil, err
		}
		s.marks.Secrets[path] = e.Version
	}
	return value, nil
}

func decrypt(enc []byte, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		return nil, err
	}
	value, err := io.ReadAll(io.LimitReader(r, MaxValueSize+1))
	if err != nil {
		return nil, err
	}
	if len(value) > MaxValueSize {
		return nil, errors.New("value over the size limit")
	}
	return value, nil
}

// SecretInfo is a secret's verified metadata and signed policy. It holds no value.
type SecretInfo struct {
	Meta
	Version     uint64   `json:"version"`
	ExtraAgents []string `json:"extra_agents"`
	AllowHosts  []string `json:"allow_hosts"`
}

// Info returns the verified metadata of the secret at path, for any key that can read the secret.
func (s *Snapshot) Info(path string) (*SecretInfo, error) {
	group, e, err := s.entry(path)
	if err != nil {
		return nil, err
	}
	if !s.CanRead(group, e) {
		return nil, newErr(KindNotAuthorized, "agent %s is not granted %s (group %s)", s.Role.Agent, path, group)
	}
	return s.info(path, group, e)
}

func (s *Snapshot) info(path, group string, e IndexEntry) (*SecretInfo, error) {
	data, err := readVouched(s.Vault.Dir, metaFile(path), LimitOther, e.MetaSHA256)
	if err != nil {
		return nil, err
	}
	m, err := parseMeta(data, path, group)
	if err != nil {
		return nil, err
	}
	return &SecretInfo{Meta: *m, Version: e.Version, ExtraAgents: orEmpty(e.ExtraAgents), AllowHosts: orEmpty(e.AllowHosts)}, nil
}

// List returns the verified metadata of every secret the key can read, in group when group is not "",
// sorted by name. It decrypts nothing.
func (s *Snapshot) List(group string) ([]SecretInfo, error) {
	groups := sortedKeys(s.Root.Groups)
	if group != "" {
		if err := userSegment("group", group); err != nil {
			return nil, err
		}
		if _, ok := s.Root.Groups[group]; !ok {
			return nil, newErr(KindNotFound, "no group %q in vault %s", group, s.Root.VaultID)
		}
		groups = []string{group}
	}
	out := []SecretInfo{}
	for _, g := range groups {
		ix, err := s.Index(g)
		if err != nil {
			return nil, err
		}
		for _, p := range sortedKeys(ix.Secrets) {
			e := ix.Secrets[p]
			if !s.CanRead(g, e) {
				continue
			}
			info, err := s.info(p, g, e)
			if err != nil {
				return nil, err
			}
			out = append(out, *info)
		}
	}
	slices.SortFunc(out, func(a, b SecretInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
