package vault

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"filippo.io/age"
)

// Owner is a vault opened for change by its owner: the vault is locked, its state verified with the
// owner's own derived key, and every recipient taken from that verified state.
type Owner struct {
	*Snapshot
	signer ed25519.PrivateKey
	unlock func()
	// ring is the owner identity for re-wrapping file keys (made on first use).
	ring *keyring
	// Progress, when set, is told how far each step of a change has come: phase is "re-wrapping",
	// "encrypting" or "writing", and done of total items are finished. It may be called from several
	// goroutines at once.
	Progress func(phase string, done, total int)
	// Migrated is true when opening converted a format 1 vault to the current format.
	Migrated bool
}

// OpenOwner locks the vault, finishes or discards an interrupted change (docs/format.md section 9.1),
// converts a format 1 vault, and verifies the vault as its owner. Close releases the lock.
func (v *Vault) OpenOwner(key *Key) (*Owner, error) { return v.lockedOwner(key, v.openOwnerLocked) }

// ownerSigner is the start of every owner opening, under the lock: key must be an owner's key (an agent's
// key file is refused as the wrong key, not as tampering), its signing key is loaded, and an interrupted
// change is finished or discarded (docs/format.md section 9.1).
func (v *Vault) ownerSigner(key *Key) (ed25519.PrivateKey, error) {
	if key.Pinned() {
		// An agent's key file (owner keys carry no pins): the wrong key, not a tampered vault.
		return nil, newErr(KindNotAuthorized, "key %s is an agent's key, not the owner key of this vault", key.Source)
	}
	signer, err := key.SigningKey()
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", key.Source)
	}
	if _, err := v.resolvePending(key); err != nil {
		return nil, err
	}
	return signer, nil
}

// lockedOwner takes the vault's lock and opens it with open, which the lock's release is handed to (the
// Owner's Close calls it); when open fails, the lock is released here.
func (v *Vault) lockedOwner(key *Key, open func(key *Key, unlock func()) (*Owner, error)) (*Owner, error) {
	unlock, err := v.lock()
	if err != nil {
		return nil, err
	}
	o, err := open(key, unlock)
	if err != nil {
		unlock()
	}
	return o, err
}

func (v *Vault) openOwnerLocked(key *Key, unlock func()) (*Owner, error) {
	signer, err := v.ownerSigner(key)
	if err != nil {
		return nil, err
	}
	if v.BeforeChange != nil {
		if err := v.BeforeChange(); err != nil {
			return nil, err
		}
	}
	s, err := v.open(key, true)
	migrated := false
	if errors.Is(err, errFormat1) {
		if err := v.migrateFormat1(key, signer); err != nil {
			return nil, err
		}
		s, err = v.open(key, true)
		migrated = true
	}
	if err != nil {
		return nil, err
	}
	if !s.Role.Owner {
		return nil, newErr(KindNotAuthorized, "key %s is not the owner key of this vault", key.Source)
	}
	return &Owner{Snapshot: s, signer: signer, unlock: unlock, Migrated: migrated}, nil
}

// Close releases the vault lock.
func (o *Owner) Close() {
	if o.unlock != nil {
		o.unlock()
		o.unlock = nil
	}
}

// Init creates a vault in top/.agent-vault owned by ownerKey and returns it. It refuses a directory that
// already holds a vault.
func Init(top string, ownerKey *Key) (*Vault, error) {
	v := New(top)
	return v, v.Init(ownerKey)
}

// New returns the vault of the directory top, which need not exist yet (for Init, or to set a Recorder
// before Init).
func New(top string) *Vault { return &Vault{Top: top, Dir: filepath.Join(top, DirName)} }

// Init creates the vault v, owned by ownerKey, and records it with v's Recorder. It refuses a directory
// that already holds a vault.
func (v *Vault) Init(ownerKey *Key) error {
	if err := v.ClearForInit(); err != nil {
		return err
	}
	signer, err := ownerKey.SigningKey()
	if err != nil {
		return wrapErr(KindVaultNotFound, err, "owner key")
	}
	if err := os.MkdirAll(filepath.Join(v.Dir, "state"), 0o755); err != nil {
		return wrapErr(KindError, err, "cannot create %s", v.Dir)
	}
	unlock, err := v.lock()
	if err != nil {
		return err
	}
	defer unlock()
	id := make([]byte, 16)
	rand.Read(id)
	verifyKey := FormatVerifyKey(signer.Public().(ed25519.PublicKey))
	t := newTx(v, signer, nil, "")
	t.root = &Root{Type: rootType, Format: FormatVersion, VaultID: hex.EncodeToString(id),
		Owner: RootOwner{Recipient: ownerKey.Recipient, VerifyKey: verifyKey},
		Files: map[string]FileRef{}, Agents: map[string]RootAgent{}, Groups: map[string]RootGroup{}, Index: map[string]ShardRef{}}
	t.message = "initialise vault " + t.root.VaultID
	t.writeViewFiles(now())
	rootBytes, err := t.commit()
	if err != nil {
		return err
	}
	home, err := homeDir()
	if err != nil {
		return err
	}
	if err := rememberVault(home, t.root.VaultID, verifyKey); err != nil {
		return err
	}
	if err := bindOwnedPath(home, v.Dir, t.root.VaultID, true); err != nil {
		return err
	}
	if err := raiseMarks(home, t.root.VaultID, 1, Hash(rootBytes), "", nil); err != nil {
		return err
	}
	return v.Record()
}

// ClearForInit refuses a directory that holds a vault, or an init that reached its commit point
// (repair finishes it). What an init cut before its commit point left (the lock, the pending directory,
// an empty state directory) is cleared, so that init can simply run again.
func (v *Vault) ClearForInit() error {
	entries, err := os.ReadDir(v.Dir)
	if errNotExist(err) {
		return nil
	}
	if err != nil {
		return wrapErr(KindError, err, "cannot read %s", v.Dir)
	}
	if exists(v.Dir, pendingDir+"/root") {
		return newErr(KindError, "%s holds an interrupted init that reached its commit point; run 'agent-vault repair' to finish it", v.Dir)
	}
	for _, e := range entries {
		switch e.Name() {
		case ".lock", pendingDir, doneDir:
			continue
		case "state":
			if sub, err := os.ReadDir(filepath.Join(v.Dir, "state")); err == nil && len(sub) == 0 {
				continue
			}
		}
		return newErr(KindError, "%s already holds a vault (%s exists)", v.Top, DirName)
	}
	for _, leftover := range []string{pendingDir, doneDir} {
		if err := os.RemoveAll(filepath.Join(v.Dir, leftover)); err != nil {
			return wrapErr(KindError, err, "cannot clear what an interrupted init left in %s", v.Dir)
		}
	}
	return nil
}

// begin starts a change on the verified state; message says what it does, for the Git commit.
func (o *Owner) begin(message string) *tx {
	t := newTx(o.Vault, o.signer, o.Root, o.RootSHA)
	t.message = message
	t.progress = o.Progress
	return t
}

// finish commits t and makes the new state this Owner's current one. The change is on disk and readers
// see it; it is recorded in Git by Record.
func (o *Owner) finish(t *tx) error {
	rootBytes, err := t.commit()
	if err != nil {
		return err
	}
	if err := rememberVault(o.home, t.root.VaultID, t.root.Owner.VerifyKey); err != nil && KindOf(err) != KindIntegrity {
		return err
	}
	// Per-secret marks are left to reads: recording every secret a change touched would make the
	// marks file, which every read parses, grow with the vault.
	if err := raiseMarks(o.home, t.root.VaultID, t.root.Version, Hash(rootBytes), "", nil); err != nil {
		return err
	}
	o.Root, o.RootSHA, o.rootRaw = t.root, Hash(rootBytes), rootBytes
	for id, sh := range t.shards {
		if len(sh.Secrets) == 0 {
			delete(o.shards, id)
		} else {
			o.shards[id] = sh
		}
	}
	return o.Vault.Record()
}

// txShard returns shard id as edited by t.
func (o *Owner) txShard(t *tx, id string) (*Shard, error) {
	if sh, ok := t.shards[id]; ok {
		return sh, nil
	}
	sh, err := o.shard(id)
	if err != nil {
		return nil, err
	}
	if sh == nil {
		sh = &Shard{Type: shardType, Format: FormatVersion, VaultID: t.root.VaultID, Shard: id, Secrets: map[string]Entry{}}
	} else {
		sh = cloneShard(sh)
	}
	t.shards[id] = sh
	return sh, nil
}

// ensureGroup creates group in t when it does not exist, refusing a name that differs from an existing
// group's only in case.
func ensureGroup(t *tx, group string) error {
	if _, ok := t.root.Groups[group]; ok {
		return nil
	}
	if other := caseTwin(group, sortedKeys(t.root.Groups)); other != "" {
		return newErr(KindUsage, "group %q differs from group %q only in case, which collides on case-insensitive file systems", group, other)
	}
	t.root.Groups[group] = RootGroup{Members: []string{}}
	return nil
}

// recipients returns the recipients of a secret under root, in the order of recipientList, for the key
// with opts (parseRecipient). It refuses a list that mixes classic and post-quantum recipients.
func recipients(root *Root, e *Entry, opts *KeyOptions) ([]age.Recipient, error) {
	list := recipientList(root, e)
	if err := refuseMixedRecipients(list); err != nil {
		return nil, err
	}
	rs := make([]age.Recipient, len(list))
	for i, r := range list {
		rc, err := parseRecipient(r, opts)
		if err != nil {
			return nil, err
		}
		rs[i] = rc
	}
	return rs, nil
}

func encrypt(value []byte, rs []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(value); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// change is one secret to (re)write in a transaction.
type change struct {
	path  string
	entry Entry  // the new entry; version, hashes and sizes are filled in by rewrite
	old   *Entry // the current entry, nil for a new secret
	value []byte // nil: keep the current value (its file key is re-wrapped for the new recipients)
	// freshKey re-encrypts a kept value under a new file key instead of re-wrapping the current one.
	freshKey bool
}

// rewrite encrypts every change to its recipients under t's new root, on all cores, and records the new
// files and entries in t.
func (o *Owner) rewrite(t *tx, changes []*change) error {
	encs := make([][]byte, len(changes))
	if o.ring == nil {
		var err error
		if o.ring, err = newKeyring(o.Key); err != nil {
			return err
		}
	}
	phase := "re-wrapping"
	if slices.ContainsFunc(changes, func(c *change) bool { return c.value != nil || c.freshKey }) {
		phase = "encrypting"
	}
	var done atomic.Int64
	err := parallel(len(changes), func(i int) error {
		var err error
		encs[i], err = o.encryptChange(t, changes[i])
		if o.Progress != nil {
			o.Progress(phase, int(done.Add(1)), len(changes))
		}
		return err
	})
	if err != nil {
		return err
	}
	version := t.nextVersion()
	for i, c := range changes {
		e := t.writeSecret(c.path, c.entry, encs[i], version)
		sh, err := o.txShard(t, ShardOf(c.path))
		if err != nil {
			return err
		}
		t.putEntry(sh, c.path, e, c.old)
	}
	return nil
}

func (o *Owner) encryptChange(t *tx, c *change) ([]byte, error) {
	value := c.value
	if value == nil {
		enc, err := readVouched(o.Vault.Dir, encFile(c.path), c.old.enc())
		if err != nil {
			return nil, err
		}
		if !c.freshKey {
			out, ok, err := rewrap(enc, recipientList(o.Root, c.old), recipientList(t.root, &c.entry), o.ring)
			if ok || err != nil {
				return out, err
			}
		}
		if value, err = decrypt(enc, o.Key.Identity); err != nil {
			return nil, newErr(KindIntegrity, "the owner key cannot decrypt %s, although the signed state lists it", c.path)
		}
	}
	rs, err := recipients(t.root, &c.entry, o.Key.opts)
	if err != nil {
		return nil, err
	}
	return encrypt(value, rs)
}

// reencryptChanges lists the secrets of the current state that match keep, for re-encryption.
func (o *Owner) reencryptChanges(keep func(path string, e *Entry) bool) ([]*change, error) {
	var out []*change
	err := o.entries(func(p string, e *Entry) {
		if keep(p, e) {
			old := *e
			out = append(out, &change{path: p, entry: old, old: &old})
		}
	})
	slices.SortFunc(out, func(a, b *change) int { return strings.Compare(a.path, b.path) })
	return out, err
}

func (o *Owner) requireAgent(name string) error {
	if err := userSegment("agent", name); err != nil {
		return err
	}
	if _, ok := o.Root.Agents[name]; !ok {
		return NotFoundf(NameAgent, name, "agent '%s' not found in this vault", name)
	}
	return nil
}

// SetOptions are the optional parts of Set.
type SetOptions struct {
	Group      string     // place the secret in this group instead of its current or default group
	Agents     []string   // agents to add as recipients beyond the group's members
	Expires    *time.Time // new expiry; nil keeps the current one
	NoExpiry   bool       // remove the expiry
	AllowHosts []string   // replace the allowed hosts when non-nil
	// NoOverwrite refuses, before anything is written, a path that already holds a secret; the error
	// names them.
	NoOverwrite bool
}

// Set stores value at path (a new secret or a new value), or, when value is nil, changes only the
// options of an existing secret.
func (o *Owner) Set(path string, value []byte, opts SetOptions) error {
	return o.SetMany([]string{path}, [][]byte{value}, opts)
}

// SetMany stores several secrets with the same options in one change: one re-encryption pass on all
// cores and one signed state. values[i] belongs to paths[i]; a nil value keeps the current one.
func (o *Owner) SetMany(paths []string, values [][]byte, opts SetOptions) error {
	if len(paths) != len(values) {
		return newErr(KindUsage, "%d paths but %d values", len(paths), len(values))
	}
	for _, a := range opts.Agents {
		if err := o.requireAgent(a); err != nil {
			return err
		}
	}
	for _, h := range opts.AllowHosts {
		if err := CheckHost(h); err != nil {
			return wrapErr(KindUsage, err, "invalid --allow-host")
		}
	}
	if opts.Group != "" {
		if err := userSegment("group", opts.Group); err != nil {
			return err
		}
	}
	what := "set "
	if !slices.ContainsFunc(values, func(v []byte) bool { return v != nil }) {
		what = "update options of "
	}
	message := what + strings.Join(paths, ", ")
	if len(paths) > 3 {
		message = fmt.Sprintf("%s%d secrets", what, len(paths))
	}
	t := o.begin(message)
	changes := make([]*change, 0, len(paths))
	seen := map[string]bool{}
	for i, path := range paths {
		if seen[path] {
			return newErr(KindUsage, "%s is given twice", path)
		}
		seen[path] = true
		c, err := o.setChange(t, path, values[i], opts)
		if err != nil {
			return err
		}
		changes = append(changes, c)
	}
	if opts.NoOverwrite {
		var existing []string
		for _, c := range changes {
			if c.old != nil {
				existing = append(existing, c.path)
			}
		}
		if len(existing) > 0 {
			return &Error{Kind: KindUsage, Msg: "nothing was written", Err: &ExistsError{Paths: existing}}
		}
	}
	if err := o.rewrite(t, changes); err != nil {
		return err
	}
	return o.finish(t)
}

// ExistsError is SetMany's refusal, under SetOptions.NoOverwrite, of paths that already hold secrets.
type ExistsError struct{ Paths []string }

// Error names the secrets that already exist (the first five, and how many more).
func (e *ExistsError) Error() string {
	shown := strings.Join(e.Paths[:min(len(e.Paths), 5)], ", ")
	if len(e.Paths) > 5 {
		shown += fmt.Sprintf(" and %d more", len(e.Paths)-5)
	}
	if len(e.Paths) == 1 {
		return "secret " + shown + " already exists"
	}
	return fmt.Sprintf("%d secrets already exist: %s", len(e.Paths), shown)
}

// checkNewPath refuses a new secret path whose files would collide with another secret's: a path that
// differs from an existing one (or one new in t) only in case (one file on case-insensitive file
// systems; such paths share a shard), or a directory segment ending in .enc or .meta (a directory where
// another secret's file may be).
func (o *Owner) checkNewPath(t *tx, path string) error {
	segs := strings.Split(path, "/")
	for _, seg := range segs[:len(segs)-1] {
		if l := strings.ToLower(seg); strings.HasSuffix(l, ".enc") || strings.HasSuffix(l, ".meta") {
			return newErr(KindUsage, "secret path %q: a directory segment may not end in .enc or .meta", path)
		}
	}
	sh, err := o.txShard(t, ShardOf(path))
	if err != nil {
		return err
	}
	if other := caseTwin(path, append(sortedKeys(sh.Secrets), t.newPaths...)); other != "" {
		return newErr(KindUsage, "secret path %q differs from %q only in case, which collides on case-insensitive file systems", path, other)
	}
	if exists(o.Vault.Dir, encFile(path)) || exists(o.Vault.Dir, metaFile(path)) {
		return newErr(KindIntegrity, "%s has files in the repository but is not in the signed state (unsigned secret); remove them before setting it", path)
	}
	t.newPaths = append(t.newPaths, path)
	return nil
}

// caseTwin returns the name in names that equals name but for case, or "".
func caseTwin(name string, names []string) string {
	for _, n := range names {
		if n != name && strings.EqualFold(n, name) {
			return n
		}
	}
	return ""
}

// setChange prepares the change that stores value at path under t.
func (o *Owner) setChange(t *tx, path string, value []byte, opts SetOptions) (*change, error) {
	if err := CheckUserPath(path); err != nil {
		return nil, err
	}
	if len(value) > MaxValueSize {
		return nil, newErr(KindUsage, "value of %s is %d bytes, over the %d-byte limit", path, len(value), MaxValueSize)
	}
	sh, err := o.txShard(t, ShardOf(path))
	if err != nil {
		return nil, err
	}
	c := &change{path: path, value: value}
	ts := now()
	if old, ok := sh.Secrets[path]; ok {
		c.old = &old
		c.entry = old
		c.entry.ExtraAgents, c.entry.AllowHosts = slices.Clone(orEmpty(old.ExtraAgents)), slices.Clone(orEmpty(old.AllowHosts))
		if value != nil {
			c.entry.Rotated = ts
		}
	} else {
		if value == nil {
			return nil, NotFoundf(NameSecret, path, "secret '%s' not found in vault %s", path, o.Root.VaultID)
		}
		if err := o.checkNewPath(t, path); err != nil {
			return nil, err
		}
		c.entry = Entry{Group: DefaultGroup(path), Created: ts, Rotated: ts, ExtraAgents: []string{}, AllowHosts: []string{}}
	}
	if opts.Group != "" {
		c.entry.Group = opts.Group
	}
	if err := ensureGroup(t, c.entry.Group); err != nil {
		return nil, err
	}
	for _, a := range opts.Agents {
		if !slices.Contains(c.entry.ExtraAgents, a) {
			c.entry.ExtraAgents = append(c.entry.ExtraAgents, a)
		}
	}
	sort.Strings(c.entry.ExtraAgents)
	if opts.AllowHosts != nil {
		c.entry.AllowHosts = dedupSorted(opts.AllowHosts)
	}
	if opts.NoExpiry {
		c.entry.Expires = ""
	} else if opts.Expires != nil {
		c.entry.Expires = fmtTime(opts.Expires.UTC().Truncate(time.Second))
	}
	return c, nil
}

// Remove deletes the secret at path.
func (o *Owner) Remove(path string) error {
	e, err := o.entry(path)
	if err != nil {
		return err
	}
	t := o.begin("delete " + path)
	sh, err := o.txShard(t, ShardOf(path))
	if err != nil {
		return err
	}
	t.deleteEntry(sh, path, &e)
	return o.finish(t)
}

// AddAgent creates an agent with a new key pair and no groups. Its key file (with pins) is written to
// keyPath, which must not exist, as part of the change: a change cut at any point leaves either no agent
// and no key file, or both (after repair).
func (o *Owner) AddAgent(name, keyPath string) error {
	if err := o.checkNewAgent(name); err != nil {
		return err
	}
	if _, err := os.Lstat(keyPath); err == nil {
		return newErr(KindError, "%s already exists; refusing to overwrite it", keyPath)
	}
	t := o.begin("add agent " + name)
	if err := o.newAgentKey(t, name, keyPath); err != nil {
		return err
	}
	return o.finish(t)
}

// newAgentKey makes a key pair for name, records its public key and escrow in t, and has t install its
// key file at keyPath.
func (o *Owner) newAgentKey(t *tx, name, keyPath string) error {
	abs, err := filepath.Abs(keyPath)
	if err != nil {
		return wrapErr(KindUsage, err, "key path %s", keyPath)
	}
	// An agent's key is of the vault's kind: the owner's.
	id, err := generateIdentity(RecipientKind(t.root.Owner.Recipient))
	if err != nil {
		return err
	}
	keyFile := agentKeyFile(id.id, name, t.root.VaultID, t.root.Owner.VerifyKey)
	admins, err := adminAgeRecipients(t.root, o.Key.opts)
	if err != nil {
		return err
	}
	escrow, err := encrypt(keyFile, admins)
	if err != nil {
		return err
	}
	pub := []byte(id.recipient + "\n")
	t.write(agentPubFile(name), pub)
	t.write(escrowFile(name), escrow)
	t.root.Agents[name] = RootAgent{Recipient: id.recipient, PublicKeySHA256: Hash(pub), EscrowSHA256: Hash(escrow)}
	t.keys[abs] = keyFile
	return nil
}

// agentChanges lists the secrets agent can read, for re-encryption.
func (o *Owner) agentChanges(agent string) ([]*change, error) {
	if err := o.requireAgent(agent); err != nil {
		return nil, err
	}
	return o.reencryptChanges(func(p string, e *Entry) bool { return readableBy(o.Root, agent, *e) })
}

// RemoveAgent removes an agent: every secret it could read is re-encrypted without it, its files and
// policy entries go. It returns the secrets it could read, which should be rotated at their source.
func (o *Owner) RemoveAgent(name string) ([]string, error) {
	changes, err := o.agentChanges(name)
	if err != nil {
		return nil, err
	}
	t := o.begin(fmt.Sprintf("remove agent %s (%s re-wrapped)", name, plural(len(changes), "secret")))
	for _, g := range o.Root.AgentGroups(name) {
		rg := t.root.Groups[g]
		rg.Members = slices.DeleteFunc(slices.Clone(rg.Members), func(m string) bool { return m == name })
		t.root.Groups[g] = rg
	}
	for _, c := range changes {
		c.entry.ExtraAgents = slices.DeleteFunc(slices.Clone(c.entry.ExtraAgents), func(m string) bool { return m == name })
	}
	delete(t.root.Agents, name)
	t.remove(agentPubFile(name))
	t.remove(escrowFile(name))
	if err := o.rewrite(t, changes); err != nil {
		return nil, err
	}
	return changePaths(changes), o.finish(t)
}

// RecoverAgent gives an agent a new key pair and escrow and re-encrypts its secrets for the new key. The
// new key file replaces keyPath as part of the change: the agent never holds a key the vault no longer
// accepts once the change is finished or repaired.
func (o *Owner) RecoverAgent(name, keyPath string) error {
	changes, err := o.agentChanges(name)
	if err != nil {
		return err
	}
	if !o.Root.Agents[name].HasEscrow() {
		return &Error{Kind: KindUsage, Msg: "recover-agent without --recipient", Err: &NoEscrowError{Agent: name}}
	}
	t := o.begin("recover agent " + name + " with a new key")
	if err := o.newAgentKey(t, name, keyPath); err != nil {
		return err
	}
	if err := o.rewrite(t, changes); err != nil {
		return err
	}
	return o.finish(t)
}

// Escrow decrypts an agent's escrowed key file and checks that the identity inside is the agent's signed
// recipient.
func (o *Owner) Escrow(name string) ([]byte, error) {
	if err := o.requireAgent(name); err != nil {
		return nil, err
	}
	a := o.Root.Agents[name]
	if !a.HasEscrow() {
		return nil, &Error{Kind: KindNotFound, Msg: "no escrow", Err: &NoEscrowError{Agent: name}}
	}
	enc, err := readVouchedHash(o.Vault.Dir, escrowFile(name), LimitOther, a.EscrowSHA256)
	if err != nil {
		return nil, err
	}
	keyFile, err := decrypt(enc, o.Key.Identity)
	if err != nil {
		return nil, newErr(KindIntegrity, "the escrow of agent %s does not decrypt with the owner key", name)
	}
	k, err := ParseKeyFile(keyFile, escrowFile(name), o.Key.opts)
	if err != nil || k.Recipient != a.Recipient {
		return nil, newErr(KindIntegrity, "the escrow of agent %s holds a key that is not the agent's signed recipient", name)
	}
	return keyFile, nil
}

// Grant adds agent to group and re-encrypts the group's secrets for it. It returns how many secrets were
// re-encrypted, and false when the agent was already a member (nothing changed).
func (o *Owner) Grant(agent, group string) (int, bool, error) {
	if err := o.requireAgent(agent); err != nil {
		return 0, false, err
	}
	if err := userSegment("group", group); err != nil {
		return 0, false, err
	}
	if slices.Contains(o.Root.Groups[group].Members, agent) {
		return 0, false, nil
	}
	changes, err := o.reencryptChanges(func(p string, e *Entry) bool {
		return e.Group == group && !slices.Contains(e.ExtraAgents, agent)
	})
	if err != nil {
		return 0, false, err
	}
	t := o.begin(fmt.Sprintf("grant %s %s (%s re-wrapped)", agent, group, plural(len(changes), "secret")))
	if err := ensureGroup(t, group); err != nil {
		return 0, false, err
	}
	rg := t.root.Groups[group]
	rg.Members = append(slices.Clone(rg.Members), agent)
	sort.Strings(rg.Members)
	t.root.Groups[group] = rg
	if err := o.rewrite(t, changes); err != nil {
		return 0, false, err
	}
	return len(changes), true, o.finish(t)
}

// RevokeOptions are the optional parts of Revoke.
type RevokeOptions struct {
	// Reencrypt re-encrypts the group's secrets under fresh file keys, instead of dropping the agent's
	// stanzas from their headers (docs/format.md section 9.2).
	Reencrypt bool
}

// Revoke removes agent from group and drops it from the recipients of the group's secrets. It returns
// the secrets the agent could read through the group, which should be rotated at their source.
func (o *Owner) Revoke(agent, group string, opts RevokeOptions) ([]string, error) {
	if err := o.requireAgent(agent); err != nil {
		return nil, err
	}
	if err := userSegment("group", group); err != nil {
		return nil, err
	}
	if !slices.Contains(o.Root.Groups[group].Members, agent) {
		return nil, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("agent %s is not a member of group %q", agent, group),
			cause: &NotFoundError{What: NameGroup, Name: group, Agent: agent}}
	}
	changes, err := o.reencryptChanges(func(p string, e *Entry) bool {
		return e.Group == group && !slices.Contains(e.ExtraAgents, agent)
	})
	if err != nil {
		return nil, err
	}
	what := "re-wrapped"
	if opts.Reencrypt {
		what = "re-encrypted"
		for _, c := range changes {
			c.freshKey = true
		}
	}
	t := o.begin(fmt.Sprintf("revoke %s %s (%s %s)", agent, group, plural(len(changes), "secret"), what))
	rg := t.root.Groups[group]
	rg.Members = slices.DeleteFunc(slices.Clone(rg.Members), func(m string) bool { return m == agent })
	t.root.Groups[group] = rg
	if err := o.rewrite(t, changes); err != nil {
		return nil, err
	}
	return changePaths(changes), o.finish(t)
}

func changePaths(cs []*change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.path
	}
	return out
}

func dedupSorted(xs []string) []string {
	out := slices.Clone(xs)
	sort.Strings(out)
	return slices.Compact(out)
}

// plural writes n and noun, with an s when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
