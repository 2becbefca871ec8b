package vault

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Sync (docs/format.md section 9.4): when this machine's vault and the upstream's both changed since
// their common state, the local operations are re-applied on top of the verified upstream state, as
// operations — secrets set or removed, agents added, re-keyed or removed, group members added or removed
// — derived from the verified base and local signed states. Ciphertexts and signed files are never merged
// as text. The result is one new signed state, above both sides' versions.

// Prefer says which side wins a conflict: two changes to the same secret, or to the same agent.
type Prefer int

const (
	PreferNone   Prefer = iota // a conflict stops the sync
	PreferLocal                // this machine's change wins
	PreferRemote               // the upstream's change wins
)

// ConflictError lists what both sides changed differently, and the admins this machine removed whose
// keys signed the upstream's changes; nothing was changed.
type ConflictError struct{ Secrets, Agents, Admins, Signed []string }

// Error names the conflicting secrets and agents and how to resolve them.
func (e *ConflictError) Error() string {
	var what []string
	for _, s := range e.Secrets {
		what = append(what, "secret "+s)
	}
	for _, a := range e.Agents {
		what = append(what, "agent "+a)
	}
	for _, a := range e.Admins {
		what = append(what, "admin "+a)
	}
	var msg string
	if len(what) > 0 {
		shown := strings.Join(what[:min(len(what), 10)], ", ")
		if len(what) > 10 {
			shown += fmt.Sprintf(" and %d more", len(what)-10)
		}
		msg = "this machine and the upstream both changed " + shown + "; "
	}
	if len(e.Signed) > 0 {
		msg += "this machine removed admin " + strings.Join(e.Signed, ", ") + ", whose key signed the upstream's changes since the common state; "
	}
	msg += "nothing was changed. Keep one side's version with 'agent-vault sync --prefer local' (this machine's) or '--prefer remote' (the upstream's); the other side's changes to them are dropped"
	if len(e.Signed) > 0 {
		msg += ". For a removed admin, --prefer local keeps the removal and merges the changes its key signed, --prefer remote keeps it an admin; if it was removed because its key is compromised, merge nothing: review the upstream's history and restore this machine's (git push --force)"
	}
	return msg
}

// OpenDetached verifies, as its owner, the vault in dir: a copy of another state of v (the upstream's,
// or the merge base's, written from Git). The signature, the owner key and the structure are checked as
// for any state, and its vault id must be v's; no high-water mark is applied or raised (the state is not
// this machine's current one) and no path is bound.
func (v *Vault) OpenDetached(dir string, key *Key, vaultID string) (*Snapshot, error) {
	s, err := (&Vault{Top: filepath.Dir(dir), Dir: dir, Origin: v.Dir}).ownerSnapshot(key)
	if err != nil {
		return nil, err
	}
	if vaultID != "" && s.Root.VaultID != vaultID {
		return nil, newErr(KindIntegrity, "%s holds vault %s, not vault %s", dir, s.Root.VaultID, vaultID)
	}
	if !s.Role.Owner {
		return nil, newErr(KindIntegrity, "%s is not owned by this owner key", dir)
	}
	if err := s.VerifyAll(); err != nil {
		return nil, err
	}
	return s, nil
}

// DescendsFrom reports whether the signed state tip descends from the state whose root hash is from,
// following prev_sha256 and merged_sha256 through roots, each of which must verify with the founding
// owner's key or with the key of an admin of tip's admin chain (roots that do not are ignored; a
// plugin-held owner's key is read without unsealing). roots are the candidate root files (those that Git
// history between the two holds). A state descends from itself.
func DescendsFrom(key *Key, tip *Snapshot, from string, roots [][]byte) (bool, error) {
	h, err := tip.history(roots)
	if err != nil {
		return false, err
	}
	seen := map[string]bool{}
	var walk func(sha string) bool
	walk = func(sha string) bool {
		if sha == from {
			return true
		}
		if sha == "" || seen[sha] {
			return false
		}
		seen[sha] = true
		r, ok := h.roots[sha]
		return ok && (walk(r.PrevSHA256) || walk(r.Merged))
	}
	return walk(tip.RootSHA), nil
}

// HistorySigners returns the verify keys that signed the states of tip's history since the state whose
// root hash is from (tip included, from excluded): every root reachable from tip through prev_sha256 and
// merged_sha256 without passing through from, among roots (as for DescendsFrom). Sync uses them to tell
// whether an admin that this machine removed signed the upstream's changes (docs/format.md section 9.4).
func HistorySigners(tip *Snapshot, from string, roots [][]byte) ([]string, error) {
	h, err := tip.history(roots)
	if err != nil {
		return nil, err
	}
	signers := map[string]bool{}
	seen := map[string]bool{}
	var walk func(sha string)
	walk = func(sha string) {
		if sha == from || sha == "" || seen[sha] {
			return
		}
		seen[sha] = true
		r, ok := h.roots[sha]
		if !ok {
			return
		}
		signers[h.signers[sha]] = true
		walk(r.PrevSHA256)
		walk(r.Merged)
	}
	walk(tip.RootSHA)
	return sortedKeys(signers), nil
}

// rootHistory is the signed roots of a state's history by hash, each with the verify key that signed it.
type rootHistory struct {
	roots   map[string]*Root
	signers map[string]string
}

// history verifies roots (root files from Git) with every key that may have signed a root of s's
// history and keeps those of s's vault; s's own root is in it.
func (s *Snapshot) history(roots [][]byte) (*rootHistory, error) {
	keys, err := s.everKeys()
	if err != nil {
		return nil, err
	}
	h := &rootHistory{roots: map[string]*Root{}, signers: map[string]string{}}
	add := func(raw []byte) {
		body, key, err := verifyWithAny(raw, keys)
		if err != nil {
			return
		}
		if r, err := parseRoot(body); err == nil && r.VaultID == s.Root.VaultID {
			h.roots[Hash(raw)], h.signers[Hash(raw)] = r, FormatVerifyKey(key)
		}
	}
	for _, raw := range roots {
		add(raw)
	}
	add(s.rootRaw)
	h.roots[s.RootSHA] = s.Root
	return h, nil
}

// SyncResult is a merged state, signed and ready for ApplySync: the new vault directory exactly (the
// upstream's files with the re-applied operations), Root its signed root and Version that root's
// version.
type SyncResult struct {
	Root    []byte
	Version uint64
	Applied []string // what was re-applied, for the user
	Kept    []string // conflicts resolved for one side, for the user
	tx      *tx
	// yield is set when the merged admin chain drops links of this machine's (section 9.4, "Admins").
	yield *chainYield
}

// MergeSync re-applies the operations of o's local state since base on top of remote (both opened with
// OpenDetached) and signs the result, with version max(local, remote) + 1, prev_sha256 the local root and
// merged_sha256 the remote root. remoteSigners are the verify keys that signed remote's history since
// base (HistorySigners). It writes the merged vault into remote's directory, which it takes over (a
// scratch copy), verifies it there as its owner, and changes nothing else. Conflicts stop it with a
// *ConflictError unless prefer says which side wins; an upstream that no longer lists o's key as an admin
// stops it with a not-authorized error.
func (o *Owner) MergeSync(base, remote *Snapshot, prefer Prefer, remoteSigners []string) (*SyncResult, error) {
	am, err := o.mergeAdmins(base, remote, prefer, remoteSigners)
	if err != nil {
		return nil, err
	}
	ro := &Owner{Snapshot: remote, signer: o.signer, Progress: o.Progress}
	t := newTx(remote.Vault, o.signer, remote.Root, o.RootSHA)
	t.version = max(o.Root.Version, remote.Root.Version) + 1
	t.root.Merged = remote.RootSHA
	t.root.Admins, t.adminChange = am.admins, am.newLink
	t.message = fmt.Sprintf("sync: re-apply this machine's changes on the upstream's version %d", remote.Root.Version)
	for _, l := range am.keep {
		// This machine's admin changes, the only ones since the base: kept byte for byte, so that readers
		// here that verified them keep finding them in the chain.
		raw, err := readVouchedHash(o.Vault.Dir, adminChainFile(l.version), LimitRoot, l.sha)
		if err != nil {
			return nil, err
		}
		t.write(adminChainFile(l.version), raw)
	}
	res := &SyncResult{tx: t, Applied: am.applied, Kept: am.kept}
	conflicts := &ConflictError{Admins: am.conflicts, Signed: am.signed}
	fromLocal := map[string]bool{} // agents whose entry and files come from this machine's state

	// Agents: an agent changed when its key did (its recipient, its public key file, whether it has an
	// escrow); an escrow encrypted again to another admin set holds the same key, and is not a change.
	agentNames := dedupSorted(append(base.Root.AgentNames(), o.Root.AgentNames()...))
	for _, name := range agentNames {
		ab, inB := base.Root.Agents[name]
		al, inL := o.Root.Agents[name]
		ar, inR := remote.Root.Agents[name]
		if inB == inL && sameAgent(ab, al) {
			continue
		}
		if (inB != inR || !sameAgent(ab, ar)) && (inL != inR || !sameAgent(al, ar)) {
			conflicts.Agents = append(conflicts.Agents, name)
			if prefer != PreferLocal {
				res.Kept = append(res.Kept, "agent "+name+": the upstream's")
				continue
			}
			res.Kept = append(res.Kept, "agent "+name+": this machine's")
		}
		if !inL {
			if inR {
				removeAgent(t, name)
				res.Applied = append(res.Applied, "remove agent "+name)
			}
			continue
		}
		pub, err := readVouchedHash(o.Vault.Dir, agentPubFile(name), LimitOther, al.PublicKeySHA256)
		if err != nil {
			return nil, err
		}
		t.write(agentPubFile(name), pub)
		t.remove(escrowFile(name))
		if al.HasEscrow() {
			esc, err := readVouchedHash(o.Vault.Dir, escrowFile(name), LimitOther, al.EscrowSHA256)
			if err != nil {
				return nil, err
			}
			t.write(escrowFile(name), esc)
		}
		t.root.Agents[name] = al
		fromLocal[name] = true
		res.Applied = append(res.Applied, "agent "+name)
	}

	// Group members: each membership this machine added or removed.
	groups := dedupSorted(append(sortedKeys(base.Root.Groups), sortedKeys(o.Root.Groups)...))
	for _, g := range groups {
		for _, a := range dedupSorted(append(slices.Clone(base.Root.Groups[g].Members), o.Root.Groups[g].Members...)) {
			inB, inL := slices.Contains(base.Root.Groups[g].Members, a), slices.Contains(o.Root.Groups[g].Members, a)
			if inB == inL {
				continue
			}
			if err := ensureGroup(t, g); err != nil {
				return nil, err
			}
			rg := t.root.Groups[g]
			rg.Members = slices.DeleteFunc(slices.Clone(rg.Members), func(m string) bool { return m == a })
			if inL {
				if _, ok := t.root.Agents[a]; !ok {
					continue // the agent is gone from the merged state
				}
				rg.Members = append(rg.Members, a)
				res.Applied = append(res.Applied, "grant "+a+" "+g)
			} else {
				res.Applied = append(res.Applied, "revoke "+a+" "+g)
			}
			sort.Strings(rg.Members)
			t.root.Groups[g] = rg
		}
	}

	// Secrets.
	eb, err := allEntries(base)
	if err != nil {
		return nil, err
	}
	el, err := allEntries(o.Snapshot)
	if err != nil {
		return nil, err
	}
	er, err := allEntries(remote)
	if err != nil {
		return nil, err
	}
	changes := map[string]*change{}
	for _, p := range dedupSorted(append(sortedKeys(eb), sortedKeys(el)...)) {
		b, l, r := eb[p], el[p], er[p]
		localChanged, err := secretChanged(base, o.Snapshot, p, b, l)
		if err != nil {
			return nil, err
		}
		if !localChanged {
			continue
		}
		remoteChanged, err := secretChanged(base, remote, p, b, r)
		if err != nil {
			return nil, err
		}
		if remoteChanged {
			differ, err := secretChanged(o.Snapshot, remote, p, l, r)
			if err != nil {
				return nil, err
			}
			if !differ {
				continue // both made the same change
			}
			conflicts.Secrets = append(conflicts.Secrets, p)
			if prefer != PreferLocal {
				res.Kept = append(res.Kept, "secret "+p+": the upstream's")
				continue
			}
			res.Kept = append(res.Kept, "secret "+p+": this machine's")
		}
		sh, err := ro.txShard(t, ShardOf(p))
		if err != nil {
			return nil, err
		}
		if l == nil {
			if r != nil {
				t.deleteEntry(sh, p, r)
				res.Applied = append(res.Applied, "delete "+p)
			}
			continue
		}
		// The local value is always taken (decrypted with the owner key, encrypted afresh to the merged
		// recipients): its metadata alone cannot tell a new value set within the same second.
		c := &change{path: p, entry: *l, old: r}
		enc, err := readVouched(o.Vault.Dir, encFile(p), l.enc())
		if err != nil {
			return nil, err
		}
		if c.value, err = decrypt(enc, o.Key.Identity); err != nil {
			return nil, newErr(KindIntegrity, "the owner key cannot decrypt %s, although the signed state lists it", p)
		}
		res.Applied = append(res.Applied, "set "+p)
		if err := ensureGroup(t, l.Group); err != nil {
			return nil, err
		}
		changes[p] = c
	}
	if len(conflicts.Secrets)+len(conflicts.Agents)+len(conflicts.Admins)+len(conflicts.Signed) > 0 && prefer == PreferNone {
		return nil, &Error{Kind: KindError, Msg: "sync stopped on a conflict", Err: conflicts}
	}
	// Every escrow is encrypted to every admin: one from a side whose admin set differs from the merged one
	// is encrypted again (decrypted with this machine's key, which is an admin of both sides).
	for _, name := range t.root.AgentNames() {
		a := t.root.Agents[name]
		src := ro
		if fromLocal[name] {
			src = o
		}
		if !a.HasEscrow() || slices.Equal(adminRecipients(src.Root), adminRecipients(t.root)) {
			continue
		}
		keyFile, err := src.Escrow(name)
		if err != nil {
			return nil, err
		}
		admins, err := adminAgeRecipients(t.root, o.Key.opts)
		if err != nil {
			return nil, err
		}
		esc, err := encrypt(keyFile, admins)
		if err != nil {
			return nil, err
		}
		t.write(escrowFile(name), esc)
		a.EscrowSHA256 = Hash(esc)
		t.root.Agents[name] = a
	}

	// Every secret of the merged state whose recipients differ from its ciphertext's (grants, revocations,
	// agents re-keyed or removed), or whose entry a reader on this machine saw at a higher version, is
	// re-wrapped and gets the new version.
	err = remote.entries(func(p string, e *Entry) {
		if _, ok := changes[p]; ok {
			return
		}
		sh := t.shards[ShardOf(p)]
		if sh != nil {
			if _, ok := sh.Secrets[p]; !ok {
				return // deleted
			}
		}
		entry := *e
		entry.ExtraAgents = slices.DeleteFunc(slices.Clone(orEmpty(e.ExtraAgents)), func(a string) bool { _, ok := t.root.Agents[a]; return !ok })
		old := *e
		if !slices.Equal(recipientList(remote.Root, &old), recipientList(t.root, &entry)) || el[p] != nil && el[p].Version > e.Version {
			changes[p] = &change{path: p, entry: entry, old: &old}
		}
	})
	if err != nil {
		return nil, err
	}
	list := make([]*change, 0, len(changes))
	for _, p := range sortedKeys(changes) {
		c := changes[p]
		c.entry.ExtraAgents = slices.DeleteFunc(slices.Clone(orEmpty(c.entry.ExtraAgents)), func(a string) bool { _, ok := t.root.Agents[a]; return !ok })
		list = append(list, c)
	}
	if err := ro.rewrite(t, list); err != nil {
		return nil, err
	}
	root, err := t.seal()
	if err != nil {
		return nil, err
	}
	// The scratch copy becomes the merged vault.
	for _, rel := range sortedKeys(t.writes) {
		p := filepath.Join(remote.Vault.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, wrapErr(KindError, err, "cannot write the merged vault")
		}
		if err := os.WriteFile(p, t.writes[rel], 0o644); err != nil {
			return nil, wrapErr(KindError, err, "cannot write the merged vault")
		}
	}
	for rel := range t.removes {
		os.Remove(filepath.Join(remote.Vault.Dir, filepath.FromSlash(rel)))
		pruneEmptyDirs(remote.Vault.Dir, filepath.Dir(filepath.Join(remote.Vault.Dir, filepath.FromSlash(rel))))
	}
	if err := os.WriteFile(filepath.Join(remote.Vault.Dir, filepath.FromSlash(rootFile)), root, 0o644); err != nil {
		return nil, wrapErr(KindError, err, "cannot write the merged vault")
	}
	res.Root, res.Version = root, t.root.Version
	if len(am.superseded) > 0 {
		head := am.head
		if am.newLink {
			head = &chainLink{version: t.root.Version, sha: Hash(root), admins: t.root.Admins}
		}
		res.yield = &chainYield{superseded: am.superseded, common: am.common, head: head}
	}
	// What readers will verify, verified here first: the merged vault as a whole, its admin chain included.
	if _, err := o.Vault.OpenDetached(remote.Vault.Dir, o.Key, o.Root.VaultID); err != nil {
		return nil, &Error{Kind: KindError, Msg: "the merged state does not verify, so sync stopped; nothing was changed", Err: err}
	}
	return res, nil
}

// YieldChainMark moves this machine's admin-chain mark off the links of its own that the merged state
// res drops (both sides changed the admin set: the local admin operations are re-applied in a new link,
// docs/format.md section 9.4), before the merge is pushed: readers here then accept the upstream's
// state, the merged one and this working tree's, and raise the mark again to whichever they read.
// Nothing when res drops no link.
func (o *Owner) YieldChainMark(res *SyncResult) error {
	if res.yield == nil {
		return nil
	}
	return res.yield.before(res.tx.root.VaultID)
}

// ApplySync makes the merged state res the working tree's vault, as an owner change on o's state: every
// file that differs between the local vault and the merged one (changed, the vault-relative paths) is
// written from dir (the merged vault) or removed, with res's signed root as the commit point. commit is
// the Git commit that already records the merged vault: recording the change adopts it (Vault.Adopter).
func (o *Owner) ApplySync(res *SyncResult, dir string, changed []string, commit string) error {
	t := newTx(o.Vault, o.signer, o.Root, o.RootSHA)
	t.message = res.tx.message
	t.adopt = commit
	t.yield = res.yield
	if err := t.stageFrom(dir, changed); err != nil {
		return err
	}
	if err := t.commitSealed(res.Root); err != nil {
		return err
	}
	if err := raiseMarks(o.home, res.tx.root.VaultID, res.Version, Hash(res.Root), "", nil); err != nil {
		return err
	}
	o.Root, o.RootSHA, o.rootRaw, o.shards = res.tx.root, Hash(res.Root), res.Root, map[string]*Shard{}
	return o.Vault.Record()
}

// removeAgent drops agent name from t's root, its groups and its files (extra_agents are filtered by the
// caller).
func removeAgent(t *tx, name string) {
	for g, rg := range t.root.Groups {
		if slices.Contains(rg.Members, name) {
			rg.Members = slices.DeleteFunc(slices.Clone(rg.Members), func(m string) bool { return m == name })
			t.root.Groups[g] = rg
		}
	}
	delete(t.root.Agents, name)
	t.remove(agentPubFile(name))
	t.remove(escrowFile(name))
}

// sameAgent reports whether two entries of an agent name the same key: an escrow may have been encrypted
// to another admin set, which changes its bytes, not the key inside (a new key always has a new
// recipient).
func sameAgent(a, b RootAgent) bool {
	return a.Recipient == b.Recipient && a.PublicKeySHA256 == b.PublicKeySHA256 && a.HasEscrow() == b.HasEscrow()
}

// allEntries returns every entry of s by path.
func allEntries(s *Snapshot) (map[string]*Entry, error) {
	out := map[string]*Entry{}
	err := s.entries(func(p string, e *Entry) { c := *e; out[p] = &c })
	return out, err
}

// sameOptions reports whether two entries agree on everything but their files and version.
func sameOptions(a, b *Entry) bool {
	return a.Group == b.Group && a.Created == b.Created && a.Rotated == b.Rotated && a.Expires == b.Expires &&
		slices.Equal(orEmpty(a.AllowHosts), orEmpty(b.AllowHosts)) && slices.Equal(orEmpty(a.ExtraAgents), orEmpty(b.ExtraAgents))
}

// secretChanged reports whether a secret differs between its entries a (in sa) and b (in sb): presence,
// options, or value. Two ciphertexts with the same metadata but other bytes (re-wrapped for other
// recipients, or a value set twice within one second) are decrypted and compared.
func secretChanged(sa, sb *Snapshot, p string, a, b *Entry) (bool, error) {
	if a == nil || b == nil {
		return a != b, nil
	}
	if !sameOptions(a, b) {
		return true, nil
	}
	if a.EncSHA256 == b.EncSHA256 {
		return false, nil
	}
	va, err := ownerValue(sa, p, a)
	if err != nil {
		return false, err
	}
	vb, err := ownerValue(sb, p, b)
	if err != nil {
		return false, err
	}
	return !bytes.Equal(va, vb), nil
}

// ownerValue decrypts the value of entry e of path p in s with s's (owner) key.
func ownerValue(s *Snapshot, p string, e *Entry) ([]byte, error) {
	enc, err := readVouched(s.Vault.Dir, encFile(p), e.enc())
	if err != nil {
		return nil, err
	}
	v, err := decrypt(enc, s.Key.Identity)
	if err != nil {
		return nil, newErr(KindIntegrity, "the owner key cannot decrypt %s in %s", p, s.Vault.Dir)
	}
	return v, nil
}

// OpenOwnerForSync is OpenOwner for sync: the working tree's state is verified with the owner key but not
// held to this machine's high-water mark, which reads of the upstream's newer state (the pull view) may
// have raised above it — an honest state that sync is about to merge. The merged state it signs is above
// both sides' versions, and so above the mark.
func (v *Vault) OpenOwnerForSync(key *Key) (*Owner, error) {
	return v.lockedOwner(key, v.openOwnerForSync)
}

func (v *Vault) openOwnerForSync(key *Key, unlock func()) (*Owner, error) {
	signer, err := v.ownerSigner(key)
	if err != nil {
		return nil, err
	}
	s, err := v.ownerSnapshot(key)
	if err != nil {
		return nil, err
	}
	if !s.Role.Owner {
		return nil, newErr(KindNotAuthorized, "key %s is not the owner key of this vault", key.Source)
	}
	if err := bindOwnedPath(s.home, v.Dir, s.Root.VaultID, false); err != nil {
		return nil, err
	}
	return &Owner{Snapshot: s, signer: signer, unlock: unlock}, nil
}

// ownerSnapshot verifies the vault of v as its owner would (signature, owner key, structure) without
// holding it to this machine's high-water marks or raising them (a detached snapshot): for states that
// are not this machine's current one, or that reads may have overtaken (sync).
func (v *Vault) ownerSnapshot(key *Key) (*Snapshot, error) {
	home, a, err := v.ownerAnchor(key)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Vault: v, Key: key, home: home, asOwner: true, detached: true, anchor: a}
	if err := s.consistently(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// ownerAnchor returns this machine's agent-vault home and what key, as an owner (admin) key, trusts in v.
func (v *Vault) ownerAnchor(key *Key) (string, anchor, error) {
	home, err := homeDir()
	if err != nil {
		return "", anchor{}, err
	}
	a, err := v.anchorFor(key, true, home)
	return home, a, err
}

// stageFrom stages the files changed (vault-relative paths) from dir, a vault directory holding the
// change's result: each is written with dir's content, or removed when dir has none. The root is left
// to the caller (it is the commit point).
func (t *tx) stageFrom(dir string, changed []string) error {
	for _, rel := range changed {
		if rel == rootFile {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		switch {
		case err == nil:
			t.write(rel, data)
		case os.IsNotExist(err):
			t.remove(rel)
		default:
			return wrapErr(KindError, err, "cannot read %s", filepath.Join(dir, filepath.FromSlash(rel)))
		}
	}
	return nil
}

// VerifyAll checks every file of s against its signed state (what a reader checks of the files it reads,
// for all of them) and that the directory holds no file the state does not vouch for: a state from Git
// that a fast-forward or a sync is about to use must be whole, not only signed. The first failure is
// returned as an integrity error naming the file.
func (s *Snapshot) VerifyAll() error {
	dir := s.Vault.Dir
	vouched := map[string]bool{rootFile: true}
	links, err := s.chainFiles()
	if err != nil {
		return err
	}
	for _, rel := range links {
		vouched[rel] = true
	}
	for rel, ref := range s.Root.Files {
		vouched[rel] = true
		if _, err := readVouched(dir, rel, ref); err != nil {
			return err
		}
	}
	for name, a := range s.Root.Agents {
		vouched[agentPubFile(name)] = true
		if _, err := readVouchedHash(dir, agentPubFile(name), LimitOther, a.PublicKeySHA256); err != nil {
			return err
		}
		if a.HasEscrow() {
			vouched[escrowFile(name)] = true
			if _, err := readVouchedHash(dir, escrowFile(name), LimitOther, a.EscrowSHA256); err != nil {
				return err
			}
		}
	}
	for id := range s.Root.Index {
		vouched[shardFile(id)] = true
	}
	var ferr error
	err = s.entries(func(p string, e *Entry) {
		vouched[encFile(p)], vouched[metaFile(p)] = true, true
		if ferr == nil {
			if _, err := readVouched(dir, encFile(p), e.enc()); err != nil {
				ferr = err
			} else if _, err := readVouched(dir, metaFile(p), e.meta()); err != nil {
				ferr = err
			}
		}
	})
	if err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.Type()&os.ModeSymlink != 0 {
			return newErr(KindIntegrity, "%s is a symbolic link, which a vault never contains", rel)
		}
		if d.IsDir() || vouched[rel] {
			return nil
		}
		return newErr(KindIntegrity, "%s is not in the signed state (planted or orphaned file)", rel)
	})
}
