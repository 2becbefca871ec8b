package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"
)

// Vault is a vault found on disk: the directory Top holds the vault directory Dir (Top/.agent-vault).
type Vault struct {
	Top string
	Dir string
	// Recorder, when set, records a finished owner change in version control (the CLI commits it to
	// Git): paths are the files below Dir, slash-separated, that the change wrote or removed, and
	// nothing else may be recorded. Without one, changes are only written to disk.
	Recorder func(paths []string, message string) error
	// Adopter, when set, records a finished sync or fast-forward (docs/format.md section 9.4): commit is
	// the commit whose vault is what the change wrote (a sync's merge commit, or the upstream's commit a
	// fast-forward goes to), from the commit the branch moves from ("": commit's first parent); the CLI
	// moves the branch to commit and brings the index and the other files it changed in line.
	Adopter func(commit, from string) error
	// BeforeChange, when set, runs when an owner change has the vault's lock and has finished any
	// interrupted change, before the vault is verified: the CLI brings the working tree up to date with
	// its upstream there (docs/format.md section 9.4).
	BeforeChange func() error
	// Origin, when set, is the .agent-vault directory of the working tree that Dir is a read-only copy
	// of (a pull's view of the fetched commit, docs/format.md section 6.8): trust records name Origin,
	// so that first-use trust stays bound to the repository the agent works in.
	Origin string
}

// Find looks for .agent-vault in start and its parents, as git looks for .git. The agent-vault home
// (docs/format.md section 6.4) and plain files named .agent-vault are passed over.
func Find(start string) (*Vault, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "cannot resolve %s", start)
	}
	var homes []string // resolved only when a candidate is found: most searches meet one vault and stop
	for d := abs; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, DirName)
		fi, err := os.Lstat(cand)
		if err == nil && homes == nil {
			homes = homeDirs()
		}
		if err == nil && !isHome(cand, homes) {
			if fi.Mode()&os.ModeSymlink != 0 {
				return nil, newErr(KindIntegrity, "%s is a symbolic link, which a vault never is", cand)
			}
			if fi.IsDir() {
				return &Vault{Top: d, Dir: cand}, nil
			}
		}
		if filepath.Dir(d) == d {
			return nil, newErr(KindVaultNotFound, "vault not found: no %s directory in %s or any parent; run 'agent-vault init' or pass -C DIR", DirName, abs)
		}
	}
}

// homeDirs returns the agent-vault homes a search must pass over, resolved: $AGENT_VAULT_HOME and
// ~/.agent-vault.
func homeDirs() []string {
	var out []string
	if h := os.Getenv("AGENT_VAULT_HOME"); h != "" {
		out = append(out, h)
	}
	if u, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(u, DirName))
	}
	for i, h := range out {
		if r, err := filepath.EvalSymlinks(h); err == nil {
			out[i] = r
		}
	}
	return out
}

func isHome(dir string, homes []string) bool {
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		r = dir
	}
	return slices.Contains(homes, r)
}

// Role names who a key is in a vault.
type Role struct {
	Owner bool   // an admin: the owner of a vault without admins, or one of its admins
	Admin string // the admin's name, set when Owner and the vault has admins (docs/format.md section 4.1)
	Agent string // set when !Owner
}

// String is the role for people: "owner", "admin NAME", or the agent's name.
func (r Role) String() string {
	if r.Owner {
		if r.Admin != "" {
			return "admin " + r.Admin
		}
		return "owner"
	}
	return r.Agent
}

// Snapshot is the verified signed state of a vault as one key sees it. Its reads are consistent: a read
// that meets a change in progress waits for it and reads the new state (docs/format.md section 6.6), so
// the Root of a Snapshot may advance between calls. It is safe for use by one goroutine.
type Snapshot struct {
	Vault   *Vault // the vault read: the one opened, or its pull view (see Vault.Open)
	Key     *Key   // the key it was opened with
	Root    *Root  // the verified signed root
	RootSHA string // the hash of the root file
	Role    Role   // who Key is in the vault
	// FirstUse is set when this Open trusted the vault's owner key on first use (a key without pins
	// meeting a vault this machine had not trusted before): the trust rests on nothing but the
	// repository. Commands that act on a value's behalf (run, brokered HTTP) refuse it unless told so.
	FirstUse bool

	home    string
	asOwner bool
	// detached verifies a state that is not this machine's current one (a sync's upstream or merge base,
	// docs/format.md section 9.4): no high-water mark is applied or raised, no path is bound.
	detached bool
	// base is the working tree's Vault a reader opened, whose pull view may be read instead (section
	// 6.8): a retry that finds the state it reads below this machine's mark chooses again from it.
	base    *Vault
	anchor  anchor
	chain   *adminChain // the admin chain the last load verified, nil when the root's bytes were verified before
	rootRaw []byte      // the root bytes the last load read, nil when there were none
	marks   *markFile
	shards  map[string]*Shard
}

// anchor is what a key trusts (docs/format.md section 6.1).
type anchor struct {
	vaultID   string // "" when the key does not pin one (owner key)
	verifyKey string
	pub       ed25519.PublicKey
	unpinned  bool // trust on first use: the anchor comes from config.yaml
	tofu      bool // trusted on first use in this call
	// admin is set for an owner key that is not the vault's founding key: its own verify key, which the
	// verified state must list as an admin's (docs/format.md section 4.1).
	admin string
}

// Open verifies the vault's signed state against the key's trust anchor (docs/format.md section 6.1),
// applies the high-water mark and works out the key's role. It decrypts nothing. It reads v's pull view
// instead of v when that holds a newer state (section 6.8); the Snapshot's Vault is then the view, with
// Origin set to v.Dir. Owner changes (OpenOwner) always work on v itself.
func (v *Vault) Open(key *Key) (*Snapshot, error) {
	return v.openReading(key)
}

func (v *Vault) open(key *Key, asOwner bool) (*Snapshot, error) {
	home, err := homeDir()
	if err != nil {
		return nil, err
	}
	if err := v.refuseOriginal(home); err != nil {
		return nil, err
	}
	a, err := v.anchorFor(key, asOwner, home)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Vault: v, Key: key, home: home, asOwner: asOwner, anchor: a}
	if err := s.consistently(nil); err != nil {
		return nil, err
	}
	if a.unpinned {
		rcpt := key.Recipient
		if a.admin != "" {
			rcpt = "" // an admin key, like the owner's, may serve several vaults: no key line
		}
		if err := recordFirstUse(home, v.trustDir(), rcpt, s.Root.VaultID, a.verifyKey); err != nil {
			return nil, err
		}
	}
	if a.tofu {
		s.FirstUse = true
		key.opts.warn("trusting the owner key of vault " + s.Root.VaultID + " on first use (" + a.verifyKey + "); a key file with pins avoids this (the owner prints them with 'agent-vault pins')")
	}
	return s, nil
}

// anchorFor works out what key trusts in v.
func (v *Vault) anchorFor(key *Key, asOwner bool, home string) (anchor, error) {
	var a anchor
	switch {
	case asOwner:
		vk, err := key.ownerVerifyKey() // a plugin-held owner's is read without unsealing (section 3.7)
		if err != nil {
			return a, wrapErr(KindVaultNotFound, err, "key %s", key.Source)
		}
		a.verifyKey = vk
		if adm, err := v.adminAnchor(key, vk, home); err != nil || adm != nil {
			if err != nil {
				return a, err
			}
			a = *adm
		}
	case key.Pinned():
		a.vaultID, a.verifyKey = key.PinVaultID, key.PinVerifyKey
	default:
		cfgBytes, err := readRepoFile(v.Dir, configFile, LimitOther)
		if err != nil {
			if errNotExist(err) && !exists(v.Dir, rootFile) {
				return a, newErr(KindVaultNotFound, "%s is not an agent-vault vault (no config.yaml or state/root)", v.Dir)
			}
			return a, classifyRead(err, configFile)
		}
		cfg, err := parseConfig(cfgBytes)
		if err != nil {
			return a, err
		}
		first, err := firstUse(home, v.trustDir(), key.Recipient, cfg.VaultID, cfg.OwnerVerifyKey)
		if err != nil {
			return a, err
		}
		a.vaultID, a.verifyKey, a.unpinned, a.tofu = cfg.VaultID, cfg.OwnerVerifyKey, true, first
	}
	pub, err := ParseVerifyKey(a.verifyKey)
	if err != nil {
		return a, wrapErr(KindIntegrity, err, "owner verify key")
	}
	a.pub = pub
	return a, nil
}

// errFormat1 marks a genuine format 1 vault, which the owner converts and readers ask to have converted.
var errFormat1 = errors.New("the owner runs 'agent-vault migrate' (any owner command also converts it) and pushes the change")

// load reads and verifies the root and makes it the snapshot's state.
func (s *Snapshot) load() error {
	v := s.Vault
	s.rootRaw = nil
	raw, err := readRepoFile(v.Dir, rootFile, LimitRoot)
	if err != nil {
		if errNotExist(err) {
			if exists(v.Dir, configFile) {
				return vouchErr("state/root is missing: the vault has no signed state")
			}
			return newErr(KindVaultNotFound, "%s is not an agent-vault vault (no state/root)", v.Dir)
		}
		return classifyRead(err, rootFile)
	}
	s.rootRaw = raw
	rootSHA := Hash(raw)
	var marks *markFile
	if s.anchor.vaultID != "" {
		if marks, err = loadMarks(s.home, s.anchor.vaultID); err != nil {
			return err
		}
	}
	var body []byte
	var chain *adminChain
	if marks != nil && marks.verified(rootSHA, s.anchor.verifyKey) {
		// Checked on this machine already (section 6.3): most of a get's own work, for an unchanged vault.
		body, _, err = splitSigned(raw)
	} else {
		if chain, err = readAdminChain(v.Dir, s.anchor); err != nil {
			return err
		}
		body, err = chain.verify(raw)
		if err != nil && chain.head() != nil {
			return err
		}
	}
	if err != nil {
		if ferr := s.checkFormat1(raw); ferr != nil {
			return ferr
		}
		if s.asOwner {
			if werr := kindMismatch(raw, s.Key); werr != nil {
				return werr
			}
			return &Error{Kind: KindIntegrity, Msg: "the vault is not signed by this owner key (" + s.Key.Source + ")", Err: err, vouching: true}
		}
		if werr := s.otherVault(raw); werr != nil {
			return werr
		}
		return &Error{Kind: KindIntegrity, Msg: err.Error(), vouching: true}
	}
	root, err := parseRoot(body)
	if err != nil {
		return err
	}
	if chain != nil {
		if err := chain.check(root); err != nil {
			return err
		}
	}
	if err := s.checkAnchor(root); err != nil {
		return err
	}
	s.chain = chain
	if s.detached {
		role, err := roleOf(root, s.Key, s.asOwner, s.anchor.admin != "")
		s.Root, s.RootSHA, s.Role, s.marks, s.shards = root, Hash(raw), role, &markFile{}, map[string]*Shard{}
		return err
	}
	if s.asOwner {
		// Only a key that is an admin of this state binds the directory to it.
		if _, err := roleOf(root, s.Key, s.asOwner, s.anchor.admin != ""); err != nil {
			return err
		}
		if err := adoptSuccessor(s.home, v.recordDir(), root); err != nil {
			return err
		}
		if err := bindOwnedPath(s.home, v.recordDir(), root.VaultID, false); err != nil {
			return err
		}
	}
	if marks == nil || root.VaultID != s.anchor.vaultID {
		if marks, err = loadMarks(s.home, root.VaultID); err != nil {
			return err
		}
	}
	if err := marks.checkRoot(root.Version, rootSHA); err != nil {
		// A writer on this machine raises the mark right after it replaces the root: a mark above a root
		// that has been replaced since it was read is a race, read again; above the current root, a rollback.
		if now, rerr := readRepoFile(v.Dir, rootFile, LimitRoot); rerr == nil && !bytes.Equal(now, raw) {
			return &Error{Kind: KindIntegrity, Msg: err.Error(), vouching: true}
		}
		return err
	}
	if err := marks.checkChain(chain, root); err != nil {
		return err
	}
	role, err := roleOf(root, s.Key, s.asOwner, s.anchor.admin != "")
	if err != nil {
		return err
	}
	if h := chain.head(); h != nil && (marks.Admins == nil || h.version > marks.Admins.Version) {
		if err := raiseChainMark(s.home, root.VaultID, h); err != nil {
			return err
		}
		marks.Admins = &chainMark{Version: h.version, SHA256: h.sha}
	}
	if root.Version > marks.Version || !marks.verified(rootSHA, s.anchor.verifyKey) {
		if err := raiseMarks(s.home, root.VaultID, root.Version, rootSHA, s.anchor.verifyKey, nil); err != nil {
			return err
		}
		marks.Version, marks.RootSHA256 = root.Version, rootSHA
		marks.Verified = &verifiedRoot{RootSHA256: rootSHA, VerifyKey: s.anchor.verifyKey}
	}
	s.Root, s.RootSHA, s.Role, s.marks, s.shards = root, rootSHA, role, marks, map[string]*Shard{}
	return nil
}

func (s *Snapshot) checkAnchor(root *Root) error {
	if s.anchor.vaultID != "" && root.VaultID != s.anchor.vaultID {
		if !s.anchor.unpinned && s.configNames(root) {
			return wrongVault(s.home, s.Vault.trustDir(), s.anchor.vaultID, root.VaultID)
		}
		return newErr(KindIntegrity, "the signed state belongs to vault %s, but the key is pinned to vault %s", root.VaultID, s.anchor.vaultID)
	}
	if root.Owner.VerifyKey != s.anchor.verifyKey {
		return newErr(KindIntegrity, "the signed state names owner verify key %s, not the trusted %s", root.Owner.VerifyKey, s.anchor.verifyKey)
	}
	return nil
}

// otherVault returns the error for a pinned key used on another vault (docs/format.md section 6.1): the
// root does not verify with the pinned key, but it does with the owner key that config.yaml publishes,
// and it belongs to the vault config.yaml names, which is not the pinned one. Such a repository is
// another vault, not a forgery of the key's (which is refused as an integrity error). nil otherwise.
func (s *Snapshot) otherVault(raw []byte) error {
	if s.anchor.unpinned || s.anchor.vaultID == "" {
		return nil
	}
	data, err := readRepoFile(s.Vault.Dir, configFile, LimitOther)
	if err != nil {
		return nil
	}
	cfg, err := parseConfig(data)
	if err != nil || cfg.VaultID == s.anchor.vaultID {
		return nil
	}
	pub, err := ParseVerifyKey(cfg.OwnerVerifyKey)
	if err != nil {
		return nil
	}
	body, err := VerifyRoot(raw, pub)
	if err != nil {
		return nil
	}
	root, err := parseRoot(body)
	if err != nil || !s.configNames(root) {
		return nil
	}
	return wrongVault(s.home, s.Vault.trustDir(), s.anchor.vaultID, root.VaultID)
}

// configNames reports whether config.yaml names root's vault id and owner verify key: the repository
// holds one whole vault, not the state of one vault copied beside the configuration of another.
func (s *Snapshot) configNames(root *Root) bool {
	data, err := readRepoFile(s.Vault.Dir, configFile, LimitOther)
	if err != nil {
		return false
	}
	cfg, err := parseConfig(data)
	return err == nil && cfg.VaultID == root.VaultID && cfg.OwnerVerifyKey == root.Owner.VerifyKey
}

// checkFormat1 returns nil when raw is not a genuine format 1 root of the anchor's vault; else the error
// a reader reports for it: a rollback below the high-water mark, or a request to migrate.
func (s *Snapshot) checkFormat1(raw []byte) error {
	body, err := verifySigned(raw, s.anchor.pub, rootSigDomainV1)
	if err != nil {
		return nil
	}
	var h rootHeader
	if json.Unmarshal(body, &h) != nil || h.Type != rootType || h.Format != formatV1 || !validVaultID(h.VaultID) {
		return nil
	}
	if s.anchor.vaultID != "" && h.VaultID != s.anchor.vaultID {
		return newErr(KindIntegrity, "the signed state belongs to vault %s, but the key is pinned to vault %s", h.VaultID, s.anchor.vaultID)
	}
	marks, err := loadMarks(s.home, h.VaultID)
	if err != nil {
		return err
	}
	if err := marks.checkRoot(h.Version, Hash(raw)); err != nil {
		return err
	}
	return wrapErr(KindVaultNotFound, errFormat1, "vault %s is in format 1, which this version reads only once it is converted", h.VaultID)
}

// roleOf works out who key is in root. asOwner: the key is an owner (admin) key; admin: it is not the
// vault's founding key, so it has a role only as a listed admin.
func roleOf(root *Root, key *Key, asOwner, admin bool) (Role, error) {
	name, isAgent := root.AgentByRecipient(key.Recipient)
	adminName, adm, isAdmin := adminByRecipient(root, key.Recipient)
	if isAdmin && asOwner {
		if vk, err := key.ownerVerifyKey(); err != nil || vk != adm.VerifyKey {
			return Role{}, newErr(KindIntegrity, "the signed state names this key's recipient for admin %s with another verify key", adminName)
		}
	}
	switch {
	case isAdmin && root.Admins != nil:
		return Role{Owner: true, Admin: adminName}, nil
	case isAdmin:
		return Role{Owner: true}, nil
	case isAgent && !asOwner:
		return Role{Agent: name}, nil
	}
	if vk := RecipientKind(root.Owner.Recipient); vk != key.Kind() {
		return Role{}, newErr(KindNotAuthorized, "key %s is a %s key, but vault %s uses %s keys: use the key file the owner made for this vault (after 'agent-vault migrate --pq', the agent's new key file)", key.Source, key.Kind(), root.VaultID, vk)
	}
	switch {
	case asOwner && admin && root.Admins == nil:
		// Only the founding owner administers a vault without admins: another owner key meeting one is the
		// case of a vault re-signed by someone else, as before admins existed.
		return Role{}, newErr(KindIntegrity, "the vault is not signed by this owner key (%s)", key.Source)
	case asOwner && root.Admins != nil:
		return Role{}, newErr(KindNotAuthorized, "key %s is not an admin of vault %s (its admins: %s); an admin adds it with 'agent-vault admin add'", key.Source, root.VaultID, strings.Join(sortedKeys(adminMembers(root)), ", "))
	case asOwner:
		return Role{}, newErr(KindIntegrity, "the vault is signed by this key's owner signing key but names another owner recipient")
	}
	return Role{}, newErr(KindNotAuthorized, "key %s (%s) is neither the owner nor an agent of vault %s", key.Source, shortRecipient(key.Recipient), root.VaultID)
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

// shard returns the verified index shard id, or nil when the root has none.
func (s *Snapshot) shard(id string) (*Shard, error) {
	if sh, ok := s.shards[id]; ok {
		return sh, nil
	}
	if _, ok := s.Root.Index[id]; !ok {
		return nil, nil
	}
	sh, err := s.readShard(id)
	if err != nil {
		return nil, err
	}
	s.shards[id] = sh
	return sh, nil
}

// readShard reads and verifies shard id of the root; it touches no state of s, so that shards can be
// read in parallel.
func (s *Snapshot) readShard(id string) (*Shard, error) {
	ref := s.Root.Index[id]
	data, err := readVouched(s.Vault.Dir, shardFile(id), FileRef{SHA256: ref.SHA256, Size: ref.Size})
	if err != nil {
		return nil, err
	}
	return parseShard(data, s.Root, id)
}

// entries calls fn for every secret of the state, in no particular order, reading every shard (on all
// cores: at 10,000 secrets, parsing the shards is most of a listing).
func (s *Snapshot) entries(fn func(path string, e *Entry)) error {
	ids := sortedKeys(s.Root.Index)
	read := make([]*Shard, len(ids))
	err := parallel(len(ids), func(i int) error {
		if _, ok := s.shards[ids[i]]; ok {
			return nil
		}
		var err error
		read[i], err = s.readShard(ids[i])
		return err
	})
	if err != nil {
		return err
	}
	for i, sh := range read {
		if sh != nil {
			s.shards[ids[i]] = sh
		}
	}
	for _, id := range ids {
		sh, err := s.shard(id)
		if err != nil {
			return err
		}
		for p, e := range sh.Secrets {
			fn(p, &e)
		}
	}
	return nil
}

// entry finds the signed entry of path, telling an absent secret from an unsigned one.
func (s *Snapshot) entry(path string) (Entry, error) {
	if err := CheckUserPath(path); err != nil {
		return Entry{}, err
	}
	sh, err := s.shard(ShardOf(path))
	if err != nil {
		return Entry{}, err
	}
	if sh != nil {
		if e, ok := sh.Secrets[path]; ok {
			return e, nil
		}
	}
	if exists(s.Vault.Dir, encFile(path)) || exists(s.Vault.Dir, metaFile(path)) {
		return Entry{}, vouchErr("%s has files in the repository but is not in the signed state (unsigned secret)", path)
	}
	return Entry{}, NotFoundf(NameSecret, path, "secret '%s' not found in vault %s", path, s.Root.VaultID)
}

// CanRead reports whether the snapshot's key is a recipient of the secret with entry e.
func (s *Snapshot) CanRead(e Entry) bool {
	return s.Role.Owner || readableBy(s.Root, s.Role.Agent, e)
}

// readableBy reports whether agent is a recipient of the secret with entry e under root.
func readableBy(root *Root, agent string, e Entry) bool {
	return slices.Contains(root.Groups[e.Group].Members, agent) || slices.Contains(e.ExtraAgents, agent)
}

func (s *Snapshot) readable(path string) (Entry, error) {
	e, err := s.entry(path)
	if err != nil {
		return e, err
	}
	if !s.CanRead(e) {
		return e, newErr(KindNotAuthorized, "agent %s is not granted %s (group %s)", s.Role.Agent, path, e.Group)
	}
	return e, nil
}

// Get returns the verified, decrypted value of the secret at path.
func (s *Snapshot) Get(path string) ([]byte, error) {
	var value []byte
	err := s.consistently(func() error {
		var err error
		value, err = s.get(path)
		return err
	})
	return value, err
}

func (s *Snapshot) get(path string) ([]byte, error) {
	e, err := s.readable(path)
	if err != nil {
		return nil, err
	}
	if err := s.marks.checkSecret(path, e.Version); err != nil {
		return nil, err
	}
	enc, err := readVouched(s.Vault.Dir, encFile(path), e.enc())
	if err != nil {
		return nil, err
	}
	value, err := decrypt(enc, s.Key.Identity)
	if errors.Is(err, errValueTooBig) {
		return nil, newErr(KindIntegrity, "%s holds a value over the %d-byte limit", path, MaxValueSize)
	}
	if errors.Is(err, errMixedStanzas) {
		return nil, newErr(KindIntegrity, "%s: %w", path, err)
	}
	if KindOf(err) == KindVaultNotFound { // a plugin-held key whose plugin is missing
		return nil, err
	}
	if err != nil {
		return nil, wrapErr(KindNotAuthorized, err, "this key cannot decrypt %s", path)
	}
	if e.Version > s.marks.Secrets[path] {
		if err := raiseMarks(s.home, s.Root.VaultID, s.Root.Version, s.RootSHA, "", map[string]uint64{path: e.Version}); err != nil {
			return nil, err
		}
		s.marks.Secrets[path] = e.Version
	}
	return value, nil
}

var errValueTooBig = errors.New("value over the size limit")

func decrypt(enc []byte, id age.Identity) ([]byte, error) {
	if err := checkStanzaKinds(enc); err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		return nil, err
	}
	value, err := io.ReadAll(io.LimitReader(r, MaxValueSize+1))
	if err != nil {
		return nil, err
	}
	if len(value) > MaxValueSize {
		return nil, errValueTooBig
	}
	return value, nil
}

// SecretInfo is a secret's verified metadata and signed policy. It holds no value.
type SecretInfo struct {
	Meta
	Version     uint64   `json:"version"`      // the secret's signed version
	ExtraAgents []string `json:"extra_agents"` // recipients beyond its group's members
	AllowHosts  []string `json:"allow_hosts"`  // the hosts it may be sent to (SetOptions.AllowHosts)
}

// Info returns the verified metadata of the secret at path, for any key that can read the secret.
func (s *Snapshot) Info(path string) (*SecretInfo, error) {
	var info *SecretInfo
	err := s.consistently(func() error {
		e, err := s.readable(path)
		if err == nil {
			info = infoOf(s.Root, path, &e)
		}
		return err
	})
	return info, err
}

func infoOf(root *Root, path string, e *Entry) *SecretInfo {
	return &SecretInfo{Meta: *metaOf(root, path, e), Version: e.Version,
		ExtraAgents: slices.Clone(orEmpty(e.ExtraAgents)), AllowHosts: slices.Clone(orEmpty(e.AllowHosts))}
}

// List returns the verified metadata of every secret the key can read, in group when group is not "",
// sorted by name. It reads the index shards only and decrypts nothing.
func (s *Snapshot) List(group string) ([]SecretInfo, error) {
	if group != "" {
		if err := userSegment("group", group); err != nil {
			return nil, err
		}
	}
	var out []SecretInfo
	err := s.consistently(func() error {
		out = []SecretInfo{}
		if group != "" {
			if _, ok := s.Root.Groups[group]; !ok {
				return NotFoundf(NameGroup, group, "group '%s' not found in vault %s", group, s.Root.VaultID)
			}
		}
		counts := map[string]int{}
		err := s.entries(func(p string, e *Entry) {
			counts[e.Group]++
			if (group == "" || e.Group == group) && s.CanRead(*e) {
				out = append(out, *infoOf(s.Root, p, e))
			}
		})
		if err != nil {
			return err
		}
		for g, rg := range s.Root.Groups {
			if counts[g] != rg.Secrets {
				return newErr(KindIntegrity, "group %s has %d secrets in the index, the signed root says %d", g, counts[g], rg.Secrets)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b SecretInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, err
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// versionString formats a version for messages.
func versionString(v uint64) string { return strconv.FormatUint(v, 10) }
