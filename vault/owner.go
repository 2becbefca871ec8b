package vault

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
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
	// Progress, when set, is told how far a re-encryption has come.
	Progress func(done, total int)
}

// ErrPending is the message of the error returned when an interrupted change waits for repair.
const pendingHint = "an interrupted change is waiting in .agent-vault/.pending; run 'agent-vault repair' first"

// OpenOwner locks the vault and verifies it as its owner. Close releases the lock.
func (v *Vault) OpenOwner(key *Key) (*Owner, error) {
	unlock, err := v.lock()
	if err != nil {
		return nil, err
	}
	if exists(v.Dir, pendingDir) {
		unlock()
		return nil, newErr(KindError, pendingHint)
	}
	o, err := v.openOwnerLocked(key, unlock)
	if err != nil {
		unlock()
	}
	return o, err
}

func (v *Vault) openOwnerLocked(key *Key, unlock func()) (*Owner, error) {
	if key.Pinned() {
		// An agent's key file (owner keys carry no pins): the wrong key, not a tampered vault.
		return nil, newErr(KindNotAuthorized, "key %s is an agent's key, not the owner key of this vault", key.Source)
	}
	signer, err := DeriveSigningKey(key.Identity)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", key.Source)
	}
	s, err := v.open(key, true)
	if err != nil {
		return nil, err
	}
	if !s.Role.Owner {
		return nil, newErr(KindNotAuthorized, "key %s is not the owner key of this vault", key.Source)
	}
	return &Owner{Snapshot: s, signer: signer, unlock: unlock}, nil
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
	v := &Vault{Top: top, Dir: filepath.Join(top, DirName)}
	if _, err := os.Lstat(v.Dir); err == nil {
		return nil, newErr(KindError, "%s already exists: this directory already holds a vault", v.Dir)
	}
	signer, err := DeriveSigningKey(ownerKey.Identity)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "owner key")
	}
	if err := os.MkdirAll(filepath.Join(v.Dir, "state"), 0o755); err != nil {
		return nil, wrapErr(KindError, err, "cannot create %s", v.Dir)
	}
	unlock, err := v.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	id := make([]byte, 16)
	rand.Read(id)
	verifyKey := FormatVerifyKey(signer.Public().(ed25519.PublicKey))
	t := newTx(v, signer, nil, "")
	t.root = &Root{Type: rootType, Format: FormatVersion, VaultID: hex.EncodeToString(id),
		Owner: RootOwner{Recipient: ownerKey.Recipient, VerifyKey: verifyKey},
		Files: map[string]string{}, Agents: map[string]RootAgent{}, Groups: map[string]RootGroup{}, Placement: map[string]string{}}
	for rel, data := range map[string][]byte{
		configFile:   encodeConfig(&Config{Format: FormatVersion, VaultID: t.root.VaultID, OwnerVerifyKey: verifyKey, Created: now()}),
		ownerPubFile: []byte(ownerKey.Recipient + "\n"),
		ignoreFile:   []byte(gitignoreContent),
	} {
		t.write(rel, data)
		t.root.Files[rel] = Hash(data)
	}
	rootBytes, err := t.commit(nil)
	if err != nil {
		return nil, err
	}
	home, err := Home()
	if err != nil {
		return nil, err
	}
	if err := rememberVault(home, t.root.VaultID, verifyKey); err != nil {
		return nil, err
	}
	if err := bindOwnedPath(home, v.Dir, t.root.VaultID, true); err != nil {
		return nil, err
	}
	return v, raiseMarks(home, t.root.VaultID, 1, Hash(rootBytes), nil)
}

// begin starts a change on the verified state.
func (o *Owner) begin() *tx { return newTx(o.Vault, o.signer, o.Root, o.RootSHA) }

// finish commits t and makes the new state this Owner's current one.
func (o *Owner) finish(t *tx) error {
	all, err := o.allIndexes()
	if err != nil {
		return err
	}
	for g, ix := range t.indexes {
		all[g] = ix
	}
	rootBytes, err := t.commit(all)
	if err != nil {
		return err
	}
	if err := rememberVault(o.home, t.root.VaultID, t.root.Owner.VerifyKey); err != nil && KindOf(err) != KindIntegrity {
		return err
	}
	// Per-secret marks are left to reads: recording every secret a change touched would make the
	// marks file, which every read parses, grow with the vault.
	if err := raiseMarks(o.home, t.root.VaultID, t.root.Version, Hash(rootBytes), nil); err != nil {
		return err
	}
	o.Root, o.RootSHA = t.root, Hash(rootBytes)
	o.indexes = map[string]*Index{}
	for g, ix := range all {
		if _, live := t.root.Groups[g]; live && ix != nil {
			o.indexes[g] = ix
		}
	}
	return nil
}

func (o *Owner) allIndexes() (map[string]*Index, error) {
	all := map[string]*Index{}
	for g := range o.Root.Groups {
		ix, err := o.Index(g)
		if err != nil {
			return nil, err
		}
		all[g] = ix
	}
	return all, nil
}

// txIndex returns the index of group as edited by t, creating the group when create is set.
func (o *Owner) txIndex(t *tx, group string, create bool) (*Index, error) {
	if ix, ok := t.indexes[group]; ok && ix != nil {
		return ix, nil
	}
	if _, ok := t.root.Groups[group]; !ok {
		if !create {
			return nil, newErr(KindNotFound, "no group %q in this vault", group)
		}
		if other := caseTwin(group, sortedKeys(t.root.Groups)); other != "" {
			return nil, newErr(KindUsage, "group %q differs from group %q only in case, which collides on case-insensitive file systems", group, other)
		}
		t.root.Groups[group] = RootGroup{Members: []string{}}
		ix := &Index{Type: indexType, Format: FormatVersion, VaultID: t.root.VaultID, Group: group, Secrets: map[string]IndexEntry{}}
		t.indexes[group] = ix
		return ix, nil
	}
	ix, err := o.Index(group)
	if err != nil {
		return nil, err
	}
	ix = cloneIndex(ix)
	t.indexes[group] = ix
	return ix, nil
}

// recipients returns the recipient set of a secret of group with extra agents under t's new root, and
// the sorted names of the agents in it. The owner is always included.
func recipients(root *Root, group string, extras []string) ([]age.Recipient, []string, error) {
	names := map[string]bool{}
	for _, m := range root.Groups[group].Members {
		names[m] = true
	}
	for _, a := range extras {
		names[a] = true
	}
	owner, err := age.ParseX25519Recipient(root.Owner.Recipient)
	if err != nil {
		return nil, nil, newErr(KindIntegrity, "state/root: malformed owner recipient")
	}
	// Agents first, the owner last: a reader tries the stanzas in order, and agents read far more often.
	var rs []age.Recipient
	agents := sortedKeys(names)
	for _, a := range agents {
		r, err := age.ParseX25519Recipient(root.Agents[a].Recipient)
		if err != nil {
			return nil, nil, newErr(KindIntegrity, "state/root: malformed recipient for agent %s", a)
		}
		rs = append(rs, r)
	}
	return append(rs, owner), agents, nil
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
	path, group string
	entry       IndexEntry // the new entry; hashes are filled in by rewrite
	meta        *Meta      // the new metadata; AuthorizedAgents is filled in by rewrite
	value       []byte     // nil: decrypt the current ciphertext (re-encryption)
	oldEnc      string     // hash of the current ciphertext, when value is nil
}

// rewrite encrypts every change to its recipients under t's new root, on all cores, and records the new
// files and index entries in t.
func (o *Owner) rewrite(t *tx, changes []*change) error {
	encs := make([][]byte, len(changes))
	var done atomic.Int64
	err := parallel(len(changes), func(i int) error {
		var err error
		encs[i], err = o.encryptChange(t, changes[i])
		if o.Progress != nil {
			o.Progress(int(done.Add(1)), len(changes))
		}
		return err
	})
	if err != nil {
		return err
	}
	version := t.nextVersion()
	for i, c := range changes {
		meta := encodeMeta(c.meta)
		t.write(encFile(c.path), encs[i])
		t.write(metaFile(c.path), meta)
		c.entry.EncSHA256, c.entry.MetaSHA256, c.entry.Version = Hash(encs[i]), Hash(meta), version
		ix, err := o.txIndex(t, c.group, true)
		if err != nil {
			return err
		}
		ix.Secrets[c.path] = c.entry
	}
	return nil
}

func (o *Owner) encryptChange(t *tx, c *change) ([]byte, error) {
	rs, agents, err := recipients(t.root, c.group, c.entry.ExtraAgents)
	if err != nil {
		return nil, err
	}
	c.meta.AuthorizedAgents = agents
	value := c.value
	if value == nil {
		enc, err := readVouched(o.Vault.Dir, encFile(c.path), LimitEnc, c.oldEnc)
		if err != nil {
			return nil, err
		}
		if value, err = decrypt(enc, o.Key.Identity); err != nil {
			return nil, newErr(KindIntegrity, "the owner key cannot decrypt %s, although the signed state lists it", c.path)
		}
	}
	return encrypt(value, rs)
}

// reencryptChanges lists the secrets of the current state that match keep, for re-encryption.
func (o *Owner) reencryptChanges(keep func(group, path string, e IndexEntry) bool) ([]*change, error) {
	var out []*change
	for _, g := range sortedKeys(o.Root.Groups) {
		ix, err := o.Index(g)
		if err != nil {
			return nil, err
		}
		for _, p := range sortedKeys(ix.Secrets) {
			e := ix.Secrets[p]
			if !keep(g, p, e) {
				continue
			}
			info, err := o.info(p, g, e)
			if err != nil {
				return nil, err
			}
			m := info.Meta
			out = append(out, &change{path: p, group: g, entry: e, meta: &m, oldEnc: e.EncSHA256})
		}
	}
	return out, nil
}

func (o *Owner) requireAgent(name string) error {
	if err := userSegment("agent", name); err != nil {
		return err
	}
	if _, ok := o.Root.Agents[name]; !ok {
		return newErr(KindNotFound, "no agent %q in this vault", name)
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
	t := o.begin()
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
	if err := o.rewrite(t, changes); err != nil {
		return err
	}
	return o.finish(t)
}

// checkNewPath refuses a new secret path whose files would collide with another secret's: a path that
// differs from an existing one (or one new in t) only in case (one file on case-insensitive file
// systems), or a directory segment ending in .enc or .meta (a directory where another secret's file may
// be).
func (o *Owner) checkNewPath(t *tx, path string) error {
	segs := strings.Split(path, "/")
	for _, seg := range segs[:len(segs)-1] {
		if l := strings.ToLower(seg); strings.HasSuffix(l, ".enc") || strings.HasSuffix(l, ".meta") {
			return newErr(KindUsage, "secret path %q: a directory segment may not end in .enc or .meta", path)
		}
	}
	if t.folded == nil {
		all, err := o.allIndexes()
		if err != nil {
			return err
		}
		t.folded = map[string]string{}
		for _, ix := range all {
			for p := range ix.Secrets {
				t.folded[strings.ToLower(p)] = p
			}
		}
	}
	if other, ok := t.folded[strings.ToLower(path)]; ok && other != path {
		return newErr(KindUsage, "secret path %q differs from %q only in case, which collides on case-insensitive file systems", path, other)
	}
	t.folded[strings.ToLower(path)] = path
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
	oldGroup, old, err := o.entry(path)
	exists := err == nil
	if err != nil && (KindOf(err) != KindNotFound || value == nil) {
		return nil, err
	}
	if !exists {
		if err := o.checkNewPath(t, path); err != nil {
			return nil, err
		}
	}
	group := DefaultGroup(path)
	if exists {
		group = oldGroup
	}
	if opts.Group != "" {
		group = opts.Group
	}
	ts := time.Now().UTC().Truncate(time.Second)
	meta := &Meta{Name: path, Group: group, Created: ts, Rotated: ts}
	entry := IndexEntry{ExtraAgents: []string{}, AllowHosts: []string{}}
	c := &change{path: path, group: group, value: value}
	if exists {
		info, err := o.info(path, oldGroup, old)
		if err != nil {
			return nil, err
		}
		meta.Created, meta.Expires = info.Created, info.Expires
		if value == nil {
			meta.Rotated = info.Rotated
		}
		entry.ExtraAgents, entry.AllowHosts = slices.Clone(orEmpty(old.ExtraAgents)), slices.Clone(orEmpty(old.AllowHosts))
		c.oldEnc = old.EncSHA256
		if oldGroup != group {
			ix, err := o.txIndex(t, oldGroup, false)
			if err != nil {
				return nil, err
			}
			delete(ix.Secrets, path)
		}
	}
	for _, a := range opts.Agents {
		if !slices.Contains(entry.ExtraAgents, a) {
			entry.ExtraAgents = append(entry.ExtraAgents, a)
		}
	}
	sort.Strings(entry.ExtraAgents)
	if opts.AllowHosts != nil {
		entry.AllowHosts = dedupSorted(opts.AllowHosts)
	}
	if opts.NoExpiry {
		meta.Expires = nil
	} else if opts.Expires != nil {
		e := opts.Expires.UTC().Truncate(time.Second)
		meta.Expires = &e
	}
	if group == DefaultGroup(path) {
		delete(t.root.Placement, path)
	} else {
		t.root.Placement[path] = group
	}
	if _, err := o.txIndex(t, group, true); err != nil {
		return nil, err
	}
	c.entry, c.meta = entry, meta
	return c, nil
}

// Remove deletes the secret at path.
func (o *Owner) Remove(path string) error {
	group, _, err := o.entry(path)
	if err != nil {
		return err
	}
	t := o.begin()
	ix, err := o.txIndex(t, group, false)
	if err != nil {
		return err
	}
	delete(ix.Secrets, path)
	delete(t.root.Placement, path)
	t.remove(encFile(path))
	t.remove(metaFile(path))
	return o.finish(t)
}

// AddAgent creates an agent with a new key pair and no groups, and returns its key file (with pins).
func (o *Owner) AddAgent(name string) ([]byte, error) {
	if err := userSegment("agent", name); err != nil {
		return nil, err
	}
	if _, ok := o.Root.Agents[name]; ok {
		return nil, newErr(KindError, "agent %q already exists; use recover-agent to give it a new key", name)
	}
	if other := caseTwin(name, o.Root.AgentNames()); other != "" {
		return nil, newErr(KindUsage, "agent %q differs from agent %q only in case, which collides on case-insensitive file systems", name, other)
	}
	t := o.begin()
	keyFile, err := o.newAgentKey(t, name)
	if err != nil {
		return nil, err
	}
	return keyFile, o.finish(t)
}

// newAgentKey makes a key pair for name and records its public key and escrow in t.
func (o *Owner) newAgentKey(t *tx, name string) ([]byte, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	keyFile := agentKeyFile(id, name, o.Root.VaultID, o.Root.Owner.VerifyKey)
	owner, err := age.ParseX25519Recipient(o.Root.Owner.Recipient)
	if err != nil {
		return nil, newErr(KindIntegrity, "state/root: malformed owner recipient")
	}
	escrow, err := encrypt(keyFile, []age.Recipient{owner})
	if err != nil {
		return nil, err
	}
	pub := []byte(id.Recipient().String() + "\n")
	t.write(agentPubFile(name), pub)
	t.write(escrowFile(name), escrow)
	t.root.Agents[name] = RootAgent{Recipient: id.Recipient().String(), PublicKeySHA256: Hash(pub), EscrowSHA256: Hash(escrow)}
	return keyFile, nil
}

// readableBy reports whether agent is a recipient of a secret of group with entry e in root.
func readableBy(root *Root, agent, group string, e IndexEntry) bool {
	return slices.Contains(root.Groups[group].Members, agent) || slices.Contains(e.ExtraAgents, agent)
}

// agentChanges starts a change and lists the secrets agent can read, for re-encryption.
func (o *Owner) agentChanges(agent string) (*tx, []*change, error) {
	if err := o.requireAgent(agent); err != nil {
		return nil, nil, err
	}
	changes, err := o.reencryptChanges(func(g, p string, e IndexEntry) bool { return readableBy(o.Root, agent, g, e) })
	return o.begin(), changes, err
}

// RemoveAgent removes an agent: every secret it could read is re-encrypted without it, its files and
// policy entries go. It returns the secrets it could read, which should be rotated at their source.
func (o *Owner) RemoveAgent(name string) ([]string, error) {
	t, changes, err := o.agentChanges(name)
	if err != nil {
		return nil, err
	}
	for _, g := range o.Root.AgentGroups(name) {
		rg := t.root.Groups[g]
		rg.Members = slices.DeleteFunc(rg.Members, func(m string) bool { return m == name })
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
	for _, g := range o.Root.AgentGroups(name) {
		if _, err := o.txIndex(t, g, false); err != nil { // touched, so dropped if now empty
			return nil, err
		}
	}
	return changePaths(changes), o.finish(t)
}

// RecoverAgent gives an agent a new key pair and escrow and re-encrypts its secrets for the new key. It
// returns the new key file.
func (o *Owner) RecoverAgent(name string) ([]byte, error) {
	t, changes, err := o.agentChanges(name)
	if err != nil {
		return nil, err
	}
	keyFile, err := o.newAgentKey(t, name)
	if err != nil {
		return nil, err
	}
	if err := o.rewrite(t, changes); err != nil {
		return nil, err
	}
	return keyFile, o.finish(t)
}

// Escrow decrypts an agent's escrowed key file and checks that the identity inside is the agent's signed
// recipient.
func (o *Owner) Escrow(name string) ([]byte, error) {
	if err := o.requireAgent(name); err != nil {
		return nil, err
	}
	a := o.Root.Agents[name]
	enc, err := readVouched(o.Vault.Dir, escrowFile(name), LimitOther, a.EscrowSHA256)
	if err != nil {
		return nil, err
	}
	keyFile, err := decrypt(enc, o.Key.Identity)
	if err != nil {
		return nil, newErr(KindIntegrity, "the escrow of agent %s does not decrypt with the owner key", name)
	}
	k, err := ParseKeyFile(keyFile, escrowFile(name))
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
	t := o.begin()
	if _, err := o.txIndex(t, group, true); err != nil {
		return 0, false, err
	}
	changes, err := o.reencryptChanges(func(g, p string, e IndexEntry) bool {
		return g == group && !slices.Contains(e.ExtraAgents, agent)
	})
	if err != nil {
		return 0, false, err
	}
	rg := t.root.Groups[group]
	rg.Members = append(rg.Members, agent)
	sort.Strings(rg.Members)
	t.root.Groups[group] = rg
	if err := o.rewrite(t, changes); err != nil {
		return 0, false, err
	}
	return len(changes), true, o.finish(t)
}

// Revoke removes agent from group and re-encrypts the group's secrets without it. It returns the secrets
// the agent could read through the group, which should be rotated at their source.
func (o *Owner) Revoke(agent, group string) ([]string, error) {
	if err := o.requireAgent(agent); err != nil {
		return nil, err
	}
	if err := userSegment("group", group); err != nil {
		return nil, err
	}
	if !slices.Contains(o.Root.Groups[group].Members, agent) {
		return nil, newErr(KindNotFound, "agent %s is not a member of group %q", agent, group)
	}
	t := o.begin()
	changes, err := o.reencryptChanges(func(g, p string, e IndexEntry) bool {
		return g == group && !slices.Contains(e.ExtraAgents, agent)
	})
	if err != nil {
		return nil, err
	}
	rg := t.root.Groups[group]
	rg.Members = slices.DeleteFunc(rg.Members, func(m string) bool { return m == agent })
	t.root.Groups[group] = rg
	if err := o.rewrite(t, changes); err != nil {
		return nil, err
	}
	if _, err := o.txIndex(t, group, false); err != nil { // touched, so dropped if now empty
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
