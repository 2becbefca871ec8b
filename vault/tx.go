package vault

import (
	"crypto/ed25519"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// The transaction protocol of docs/format.md section 9.

const (
	pendingDir = ".pending"
	doneDir    = ".pending.done"
	// pendingKeySuffix names a new agent key file waiting beside its target for the commit point.
	pendingKeySuffix = ".pending"
)

// crashHook lets in-package tests stop a transaction at a named step, as a crash would.
var crashHook = func(step string) {}

// tx collects the files of one change and commits it with the new signed root written last.
type tx struct {
	v       *Vault
	signer  ed25519.PrivateKey
	prev    *Root  // nil for init
	prevSHA string // hash of the previous root file
	root    *Root  // the new root, edited by the operation
	message string // what the change does, for the Git commit
	writes  map[string][]byte
	removes map[string]bool
	shards  map[string]*Shard // every shard the change touched, as edited
	keys    map[string][]byte // absolute target path → agent key file the change installs
	// newPaths are the secrets the change creates, so that two of them differing only in case are refused.
	newPaths []string
	// progress, when set, is told how many files have been written (Owner.Progress).
	progress func(phase string, done, total int)
	// version, when set, is the new root's version instead of the previous one's + 1 (a sync signs a
	// version above both sides').
	version uint64
	// adopt, when set, is the Git commit that already records this change (a sync's merge commit, the
	// upstream's commit of a fast-forward): recording adopts it instead of making a commit
	// (.pending/commit; adoptFrom, when set, is its second line: the commit the branch moves from).
	adopt, adoptFrom string
	// from, when set, is the hash of the root this change replaces although the new root's prev_sha256
	// names another (a fast-forward over several versions; .pending/from).
	from string
	// adminChange is set when the change makes a new admin set: seal stamps the set with the new version
	// and keeps the signed root as state/admins/<version>.
	adminChange bool
	// yield, when set, lists links of this machine's admin chain that the change supersedes (a sync's, or
	// the fast-forward to a sync this machine pushed): this machine's mark is moved off them around the
	// commit point (.pending/yield; syncadmins.go).
	yield *chainYield
}

func newTx(v *Vault, signer ed25519.PrivateKey, prev *Root, prevSHA string) *tx {
	t := &tx{v: v, signer: signer, prev: prev, prevSHA: prevSHA,
		writes: map[string][]byte{}, removes: map[string]bool{}, shards: map[string]*Shard{}, keys: map[string][]byte{}}
	if prev != nil {
		t.root = cloneRoot(prev)
	}
	return t
}

func (t *tx) write(rel string, data []byte) { t.writes[rel] = data; delete(t.removes, rel) }
func (t *tx) remove(rel string)             { t.removes[rel] = true; delete(t.writes, rel) }

// writeSecret records in t the files of secret path, its ciphertext enc and the .meta view of entry e under
// t's root, and returns e with their hashes and sizes and the entry version.
func (t *tx) writeSecret(path string, e Entry, enc []byte, version uint64) Entry {
	meta := encodeMeta(metaOf(t.root, path, &e))
	t.write(encFile(path), enc)
	t.write(metaFile(path), meta)
	e.EncSHA256, e.EncSize, e.MetaSHA256, e.MetaSize, e.Version = Hash(enc), int64(len(enc)), Hash(meta), int64(len(meta)), version
	return e
}

// nextVersion is the version the new root will carry.
func (t *tx) nextVersion() uint64 {
	if t.version != 0 {
		return t.version
	}
	if t.prev == nil {
		return 1
	}
	return t.prev.Version + 1
}

// putEntry records e as the entry of path, keeping the groups' counts; old is the current entry or nil.
func (t *tx) putEntry(sh *Shard, path string, e Entry, old *Entry) {
	if old != nil {
		t.countSecret(old.Group, -1)
	}
	t.countSecret(e.Group, +1)
	sh.Secrets[path] = e
}

// deleteEntry removes path's entry old from sh and its files.
func (t *tx) deleteEntry(sh *Shard, path string, old *Entry) {
	t.countSecret(old.Group, -1)
	delete(sh.Secrets, path)
	t.remove(encFile(path))
	t.remove(metaFile(path))
}

func (t *tx) countSecret(group string, d int) {
	rg, ok := t.root.Groups[group]
	if !ok {
		rg.Members = []string{}
	}
	rg.Secrets += d
	t.root.Groups[group] = rg
}

// seal finishes the new root: shard references, group counts, the manifest view, the version chain and
// the signature.
func (t *tx) seal() ([]byte, error) {
	for id, sh := range t.shards {
		if len(sh.Secrets) == 0 {
			delete(t.root.Index, id)
			t.remove(shardFile(id))
			continue
		}
		b := encodeCompact(sh)
		t.write(shardFile(id), b)
		t.root.Index[id] = ShardRef{SHA256: Hash(b), Size: int64(len(b)), Secrets: len(sh.Secrets)}
	}
	for g, rg := range t.root.Groups {
		if rg.Secrets == 0 && len(rg.Members) == 0 {
			delete(t.root.Groups, g) // a group with neither secrets nor members ceases to exist
		}
	}
	manifest := encodeManifest(t.root)
	if ref := refOf(manifest); t.root.Files[manifestFile] != ref {
		t.write(manifestFile, manifest)
		t.root.Files[manifestFile] = ref
	}
	t.root.Version, t.root.PrevSHA256, t.root.Time = t.nextVersion(), t.prevSHA, now()
	if t.adminChange {
		t.root.Admins.Since = t.root.Version
	}
	body := encodeCompact(t.root)
	if len(body) > LimitRoot-128 {
		return nil, newErr(KindUsage, "the change would make the signed root %d bytes, over the %d-byte limit that readers accept; the vault has too many agents or groups", len(body), LimitRoot)
	}
	signed := SignRoot(t.signer, body)
	if t.adminChange {
		// The root that changes the admin set is kept, byte for byte, as a link of the chain readers
		// follow from their anchor (docs/format.md section 4.1).
		t.write(adminChainFile(t.root.Version), signed)
	}
	return signed, nil
}

// commit writes the transaction (docs/format.md section 9, steps 1 to 4): stage every file under
// .pending/, mark it complete with the signed root, then move everything into place. The pending
// directory stays until the change is recorded (Owner.Record). It returns the new root file's bytes.
func (t *tx) commit() ([]byte, error) {
	rootBytes, err := t.seal()
	if err != nil {
		return nil, err
	}
	return rootBytes, t.commitSealed(rootBytes)
}

// commitSealed stages and applies t with rootBytes, a root that seal already signed.
func (t *tx) commitSealed(rootBytes []byte) error {
	pend := filepath.Join(t.v.Dir, pendingDir)
	if err := os.RemoveAll(pend); err != nil {
		return wrapErr(KindError, err, "cannot clear %s", pend)
	}
	rels := sortedKeys(t.writes)
	removes := sortedKeys(t.removes)
	// Every directory is checked, once, before anything is staged.
	checked := map[string]bool{}
	for _, rel := range append(slices.Clone(rels), removes...) {
		if d := path.Dir(rel); !checked[d] {
			checked[d] = true
			if err := checkParents(t.v.Dir, filepath.FromSlash(rel)); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(pend, 0o755); err != nil {
		return wrapErr(KindError, err, "cannot create %s", pend)
	}
	// Every new file goes into one staged file: a change of 10,000 secrets creates one file here, not
	// 20,000, and the apply step below rewrites the vault's files in place.
	var written int
	err := writeStaged(filepath.Join(pend, stagedData), rels, t.writes, func() {
		if written++; t.progress != nil {
			t.progress("writing", written, len(rels))
		}
	})
	if err != nil {
		return wrapErr(KindError, err, "cannot stage the change")
	}
	paths := append(append(slices.Clone(rels), removes...), rootFile)
	sort.Strings(paths)
	targets := sortedKeys(t.keys)
	for name, content := range map[string]string{
		"remove": strings.Join(removes, "\n"), "paths": strings.Join(paths, "\n"),
		"message": t.message, "keys": strings.Join(targets, "\n"), "commit": strings.TrimSpace(t.adopt + "\n" + t.adoptFrom),
		"from": t.from,
	} {
		if err := os.WriteFile(filepath.Join(pend, name), []byte(content), 0o644); err != nil {
			return wrapErr(KindError, err, "cannot stage the transaction's %s list", name)
		}
	}
	for _, target := range targets {
		if err := fsutil.MkdirPrivate(filepath.Dir(target)); err != nil {
			return wrapErr(KindError, err, "cannot create the directory of %s", target)
		}
		// Written in place, not through a temporary file: a partial file is only ever seen before the commit
		// point, where discarding the transaction removes it.
		if err := fsutil.WritePrivateFile(target+pendingKeySuffix, t.keys[target]); err != nil {
			return wrapErr(KindError, err, "cannot write the new key beside %s", target)
		}
	}
	if t.yield != nil {
		if err := os.WriteFile(filepath.Join(pend, yieldFile), []byte(t.yield.encode()), 0o644); err != nil {
			return wrapErr(KindError, err, "cannot stage the transaction's yield list")
		}
		if err := t.yield.before(t.root.VaultID); err != nil {
			return err
		}
	}
	crashHook("staged")
	if err := syncTree(t.v.Dir); err != nil {
		return err
	}
	// The pending root makes the transaction complete; from here on repair rolls it forward.
	if err := fsutil.WriteFileAtomic(filepath.Join(pend, "root"), rootBytes, 0o644); err != nil {
		return wrapErr(KindError, err, "cannot stage the signed root")
	}
	crashHook("marked")
	if err := applyPending(t.v.Dir, t.writes); err != nil {
		return err
	}
	if t.yield != nil {
		return settleChainMark(pend, t.root.VaultID)
	}
	return nil
}

// applyPending writes a complete pending transaction into place: staged holds its files (nil: read them
// from .pending/data). It is idempotent: writing a file again writes the same bytes, and a removal
// already made is skipped.
func applyPending(dir string, staged map[string][]byte) error {
	pend := filepath.Join(dir, pendingDir)
	if staged == nil {
		var err error
		if staged, err = readStaged(pend); err != nil {
			return wrapErr(KindError, err, "cannot read the pending transaction")
		}
	}
	rels := sortedKeys(staged)
	// Each destination directory is checked and created once, not once per file.
	prepared := map[string]bool{}
	for _, rel := range rels {
		if d := path.Dir(rel); !prepared[d] {
			prepared[d] = true
			if err := checkParents(dir, filepath.FromSlash(rel)); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
				return wrapErr(KindError, err, "cannot create the directory of %s", rel)
			}
		}
	}
	put := func(i int) error {
		if err := writeInPlace(filepath.Join(dir, filepath.FromSlash(rels[i])), staged[rels[i]]); err != nil {
			return wrapErr(KindError, err, "cannot write %s", rels[i])
		}
		return nil
	}
	// New links of the admin chain go first: a reader that meets the change half applied then finds the
	// keys that may sign its pending root (a fast-forward's, signed by an admin the upstream added) in the
	// chain on disk, and waits for it (docs/format.md section 6.6).
	links := 0
	for i, rel := range rels {
		if strings.HasPrefix(rel, adminChainDir+"/") {
			rels[i], rels[links] = rels[links], rels[i]
			links++
		}
	}
	if err := parallel(links, put); err != nil {
		return err
	}
	rels = rels[links:]
	// Two halves, so that the crash hook runs between them on this goroutine (a test's panic must be
	// recoverable by the caller, which it is not from a worker goroutine).
	half := len(rels) / 2
	if err := parallel(half, put); err != nil {
		return err
	}
	crashHook("half-applied")
	if err := parallel(len(rels)-half, func(i int) error { return put(half + i) }); err != nil {
		return err
	}
	for _, rel := range pendingList(pend, "remove") {
		if !filepath.IsLocal(rel) {
			continue
		}
		if err := checkParents(dir, filepath.FromSlash(rel)); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil && !os.IsNotExist(err) {
			return wrapErr(KindError, err, "cannot remove %s", rel)
		}
		pruneEmptyDirs(dir, filepath.Dir(filepath.Join(dir, filepath.FromSlash(rel))))
	}
	if err := syncTree(dir); err != nil {
		return err
	}
	crashHook("applied")
	rootBytes, err := os.ReadFile(filepath.Join(pend, "root"))
	if err != nil {
		return wrapErr(KindError, err, "cannot read the pending root")
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		return wrapErr(KindError, err, "cannot create the state directory")
	}
	// The copy is made inside .pending, so that a kill leaves no temporary file among the vault's files;
	// .pending/root itself stays until the change is recorded.
	next := filepath.Join(pend, "root.next")
	if err := fsutil.WriteFileAtomic(next, rootBytes, 0o644); err != nil {
		return wrapErr(KindError, err, "cannot copy the signed root")
	}
	if err := os.Rename(next, filepath.Join(dir, filepath.FromSlash(rootFile))); err != nil {
		return wrapErr(KindError, err, "cannot move the signed root into place")
	}
	if err := fsutil.SyncDir(filepath.Join(dir, "state")); err != nil {
		return err
	}
	crashHook("rooted")
	return installKeys(pend)
}

// installKeys moves every pending agent key file of the transaction onto its target (step 4).
func installKeys(pend string) error {
	for _, target := range pendingList(pend, "keys") {
		if !filepath.IsAbs(target) {
			continue
		}
		err := os.Rename(target+pendingKeySuffix, target)
		if err != nil && !os.IsNotExist(err) {
			return wrapErr(KindError, err, "cannot install the new key file %s", target)
		}
		if err == nil {
			if err := fsutil.SyncDir(filepath.Dir(target)); err != nil {
				return err
			}
		}
	}
	crashHook("keyed")
	return nil
}

// discardKeys removes the pending agent key files of a transaction that never reached its commit point.
func discardKeys(pend string) {
	for _, target := range pendingList(pend, "keys") {
		if filepath.IsAbs(target) {
			os.Remove(target + pendingKeySuffix)
		}
	}
}

// pendingList reads one of the transaction's lists, one entry a line.
func pendingList(pend, name string) []string {
	data, err := os.ReadFile(filepath.Join(pend, name))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\n")
}

// checkParents refuses to write or remove rel when a directory on its way below dir is a symbolic link
// or not a directory: a repository could otherwise plant a link that sends the owner's writes elsewhere.
func checkParents(dir, rel string) error {
	p := dir
	parts := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	for _, part := range parts {
		if part == "." {
			break
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return wrapErr(KindError, err, "cannot inspect %s", p)
		}
		if !fi.IsDir() {
			return newErr(KindIntegrity, "refusing to write %s: %s is a symbolic link or not a directory", filepath.ToSlash(rel), p)
		}
	}
	return nil
}

// pruneEmptyDirs removes d and its parents while they are empty, stopping at the vault's top folders.
func pruneEmptyDirs(vaultDir, d string) {
	for {
		rel, err := filepath.Rel(vaultDir, d)
		if err != nil || !strings.Contains(rel, string(filepath.Separator)) && (rel == "secrets" || rel == "agents" || rel == "state" || rel == ".") {
			return
		}
		if os.Remove(d) != nil {
			return
		}
		d = filepath.Dir(d)
	}
}

func cloneRoot(r *Root) *Root {
	c := *r
	c.Files = cloneMap(r.Files)
	c.Agents = cloneMap(r.Agents)
	c.Index = cloneMap(r.Index)
	c.Admins = cloneAdmins(r.Admins)
	c.Groups = make(map[string]RootGroup, len(r.Groups))
	for g, rg := range r.Groups {
		rg.Members = append([]string{}, rg.Members...)
		c.Groups[g] = rg
	}
	return &c
}

func cloneMap[V any](m map[string]V) map[string]V {
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func cloneShard(sh *Shard) *Shard {
	c := *sh
	c.Secrets = cloneMap(sh.Secrets)
	return &c
}
