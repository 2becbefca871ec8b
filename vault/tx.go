package vault

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// The transaction protocol of docs/format.md section 9.

const pendingDir = ".pending"

// crashHook lets in-package tests stop a transaction at a named step, as a crash would.
var crashHook = func(step string) {}

// tx collects the files of one change and commits it with the new signed root written last.
type tx struct {
	v       *Vault
	signer  ed25519.PrivateKey
	prev    *Root  // nil for init
	prevSHA string // hash of the previous root file
	root    *Root  // the new root, edited by the operation
	writes  map[string][]byte
	removes map[string]bool
	indexes map[string]*Index // every index the change touched; nil removes the group's index
	folded  map[string]string // lower-cased secret path → path, built when a new path is checked
}

func newTx(v *Vault, signer ed25519.PrivateKey, prev *Root, prevSHA string) *tx {
	t := &tx{v: v, signer: signer, prev: prev, prevSHA: prevSHA,
		writes: map[string][]byte{}, removes: map[string]bool{}, indexes: map[string]*Index{}}
	if prev != nil {
		t.root = cloneRoot(prev)
	}
	return t
}

func (t *tx) write(rel string, data []byte) { t.writes[rel] = data; delete(t.removes, rel) }
func (t *tx) remove(rel string)             { t.removes[rel] = true; delete(t.writes, rel) }

// nextVersion is the version the new root will carry.
func (t *tx) nextVersion() uint64 {
	if t.prev == nil {
		return 1
	}
	return t.prev.Version + 1
}

// seal finishes the new root: index hashes, view files, version chain and signature.
func (t *tx) seal(allIndexes map[string]*Index) []byte {
	for g, ix := range t.indexes {
		if ix != nil && len(ix.Secrets) == 0 && len(t.root.Groups[g].Members) == 0 {
			ix = nil // a group with neither secrets nor members ceases to exist
			t.indexes[g] = nil
		}
		if ix == nil {
			delete(t.root.Groups, g)
			t.remove(indexFile(g))
			continue
		}
		b := encodeJSON(ix)
		t.write(indexFile(g), b)
		rg := t.root.Groups[g]
		rg.IndexSHA256, rg.Secrets = Hash(b), len(ix.Secrets)
		if rg.Members == nil {
			rg.Members = []string{}
		}
		t.root.Groups[g] = rg
	}
	secrets := map[string][]string{}
	for g, ix := range allIndexes {
		if ix != nil {
			secrets[g] = sortedKeys(ix.Secrets)
		}
	}
	manifest := encodeManifest(t.root, secrets)
	t.write(manifestFile, manifest)
	t.root.Files[manifestFile] = Hash(manifest)
	t.root.Version, t.root.PrevSHA256, t.root.Time = t.nextVersion(), t.prevSHA, now()
	return SignRoot(t.signer, encodeJSON(t.root))
}

// commit writes the transaction: stage every file under .pending/, mark it complete with the signed
// root, then move everything into place. It returns the new root file's bytes.
func (t *tx) commit(allIndexes map[string]*Index) ([]byte, error) {
	rootBytes := t.seal(allIndexes)
	pend := filepath.Join(t.v.Dir, pendingDir)
	if err := os.RemoveAll(pend); err != nil {
		return nil, wrapErr(KindError, err, "cannot clear %s", pend)
	}
	rels := sortedKeys(t.writes)
	for _, rel := range append(slices.Clone(rels), sortedKeys(t.removes)...) {
		if err := checkParents(t.v.Dir, filepath.FromSlash(rel)); err != nil {
			return nil, err
		}
	}
	err := parallel(len(rels), func(i int) error {
		p := filepath.Join(pend, "files", filepath.FromSlash(rels[i]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return wrapErr(KindError, err, "cannot stage %s", rels[i])
		}
		if err := os.WriteFile(p, t.writes[rels[i]], 0o644); err != nil {
			return wrapErr(KindError, err, "cannot stage %s", rels[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	removes := sortedKeys(t.removes)
	if err := os.MkdirAll(pend, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(pend, "remove"), []byte(strings.Join(removes, "\n")), 0o644); err != nil {
		return nil, wrapErr(KindError, err, "cannot stage the removal list")
	}
	crashHook("staged")
	if err := syncTree(t.v.Dir); err != nil {
		return nil, err
	}
	// The pending root makes the transaction complete; from here on repair rolls it forward.
	if err := WriteFileAtomic(filepath.Join(pend, "root"), rootBytes, 0o644); err != nil {
		return nil, wrapErr(KindError, err, "cannot stage the signed root")
	}
	crashHook("marked")
	if err := applyPending(t.v.Dir); err != nil {
		return nil, err
	}
	return rootBytes, nil
}

// applyPending moves a complete pending transaction into place. It is idempotent: a file already moved is
// no longer in .pending/files, and a removal already made is skipped.
func applyPending(dir string) error {
	pend := filepath.Join(dir, pendingDir)
	files := filepath.Join(pend, "files")
	var rels []string
	err := filepath.WalkDir(files, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == files {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(files, p)
			rels = append(rels, rel)
		}
		return nil
	})
	if err != nil {
		return wrapErr(KindError, err, "cannot read the pending transaction")
	}
	sort.Strings(rels)
	move := func(i int) error {
		dst := filepath.Join(dir, rels[i])
		if err := checkParents(dir, rels[i]); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return wrapErr(KindError, err, "cannot create the directory of %s", rels[i])
		}
		if err := os.Rename(filepath.Join(files, rels[i]), dst); err != nil {
			return wrapErr(KindError, err, "cannot move %s into place", rels[i])
		}
		return nil
	}
	// Two parallel halves, so that the crash hook runs on this goroutine (a test's panic must be
	// recoverable by the caller, which it is not from a worker goroutine).
	half := len(rels) / 2
	if err := parallel(half, move); err != nil {
		return err
	}
	crashHook("half-applied")
	if err := parallel(len(rels)-half, func(i int) error { return move(half + i) }); err != nil {
		return err
	}
	list, err := os.ReadFile(filepath.Join(pend, "remove"))
	if err != nil && !os.IsNotExist(err) {
		return wrapErr(KindError, err, "cannot read the removal list")
	}
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		rel := sc.Text()
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
	if err := os.Rename(filepath.Join(pend, "root"), filepath.Join(dir, filepath.FromSlash(rootFile))); err != nil {
		return wrapErr(KindError, err, "cannot move the signed root into place")
	}
	if err := syncDir(filepath.Join(dir, "state")); err != nil {
		return err
	}
	return os.RemoveAll(pend)
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
	c.Placement = cloneMap(r.Placement)
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

func cloneIndex(ix *Index) *Index {
	c := *ix
	c.Secrets = cloneMap(ix.Secrets)
	return &c
}
