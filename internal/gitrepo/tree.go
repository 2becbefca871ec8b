package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// spliceTree returns the tree of base (a tree or commit, "" for none) with entries applied: each is an
// `update-index --index-info` line, "MODE OID\tPATH", where MODE 0 removes PATH. It reads only the trees
// of the directories that hold an entry (one `git cat-file --batch`) and writes only the trees that
// change (see writeTrees), so a change of a few files costs the same in a directory of ten
// files as in one of twenty thousand: no index of the whole repository is read or written.
//
// It computes every tree's object id itself (checked against the one Git returns when Git writes it). It returns
// errSpliceUnsupported, having written nothing, for what it leaves to the index: no base, a file
// where a directory is named or the reverse, a name with control characters or outer spaces.
func (r *Repo) spliceTree(ctx context.Context, base string, entries []string) (string, error) {
	if base == "" {
		return "", errSpliceUnsupported
	}
	changes, err := parseEntries(entries)
	if err != nil {
		return "", err
	}
	dirs := changedDirs(changes)
	trees, err := r.readTrees(ctx, base, dirs)
	if err != nil {
		return "", err
	}
	newHash := sha1.New
	if len(base) == 64 {
		newHash = sha256.New
	}
	for _, c := range changes {
		d := trees.dir(path.Dir(c.path))
		name := path.Base(c.path)
		if dir, err := d.isDir(name); err != nil {
			return "", err
		} else if dir {
			return "", errSpliceUnsupported // a directory where a file is named
		}
		if c.mode == "0" {
			d.remove(name)
		} else {
			d.set(treeEntry{mode: c.mode, name: name, oid: c.oid})
		}
	}
	// Deepest directories first, so that each parent takes its children's new ids.
	slices.SortFunc(dirs, func(a, b string) int { return depth(b) - depth(a) })
	var changed [][]byte
	var want []string
	var root string
	for _, dir := range dirs {
		d := trees.dir(dir)
		content, err := d.encode()
		if err != nil {
			return "", err
		}
		var oid string
		if len(content) > 0 || dir == "" {
			oid = objectID(newHash, "tree", content)
			if oid != d.oid {
				changed, want = append(changed, content), append(want, oid)
			}
		}
		if dir == "" {
			root = oid
			continue
		}
		parent := trees.dir(path.Dir(dir))
		if oid == "" {
			parent.remove(path.Base(dir))
		} else {
			parent.set(treeEntry{mode: "40000", name: path.Base(dir), oid: oid})
		}
	}
	if err := r.writeTrees(ctx, changed, want); err != nil {
		return "", err
	}
	return root, nil
}

// writeTrees writes tree objects, whose ids the caller computed: as loose objects written here (see
// writeLooseObjects; TestSpliceTreeMatchesGit and `git fsck` in the tests hold their format to Git's),
// or, in a repository that writeLooseObjects leaves to Git, with one `git hash-object`, which checks each
// tree's format (and, unlike `git mktree`, does not look up every entry's object).
func (r *Repo) writeTrees(ctx context.Context, trees [][]byte, want []string) error {
	if len(trees) == 0 {
		return nil
	}
	if objects, err := r.looseObjectDir(); err == nil {
		if err := writeLooseObjects(objects, "tree", trees, want); !errors.Is(err, errLooseUnsupported) {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "agent-vault-trees-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var list bytes.Buffer
	for i, content := range trees {
		f := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(f, content, 0o600); err != nil {
			return err
		}
		list.WriteString(f + "\n")
	}
	out, err := r.git(ctx, runOpts{stdin: &list, global: []string{"-c", "core.looseCompression=0"}},
		"hash-object", "-w", "-t", "tree", "--stdin-paths", "--no-filters")
	if err != nil {
		return err
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, want) {
		return fmt.Errorf("gitrepo: git hash-object wrote trees %v, expected %v", got, want)
	}
	return nil
}

// depth is the number of directories above dir's entries: 0 for the top.
func depth(dir string) int {
	if dir == "" {
		return 0
	}
	return 1 + strings.Count(dir, "/")
}

var errSpliceUnsupported = errors.New("gitrepo: change left to the index")

type change struct{ mode, oid, path string }

func parseEntries(entries []string) ([]change, error) {
	out := make([]change, 0, len(entries))
	for _, e := range entries {
		head, p, ok := strings.Cut(e, "\t")
		mode, oid, ok2 := strings.Cut(head, " ")
		if !ok || !ok2 || p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			return nil, fmt.Errorf("gitrepo: malformed entry %q", e)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.IndexFunc(seg, unicode.IsControl) >= 0 ||
				strings.TrimSpace(seg) != seg {
				return nil, errSpliceUnsupported
			}
		}
		out = append(out, change{mode: mode, oid: oid, path: p})
	}
	return out, nil
}

// changedDirs returns every directory that holds an entry, and all their parents; "" is the top.
func changedDirs(changes []change) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range changes {
		for d := path.Dir(c.path); ; d = path.Dir(d) {
			if d == "." {
				d = ""
			}
			if seen[d] {
				break
			}
			seen[d] = true
			out = append(out, d)
			if d == "" {
				break
			}
		}
	}
	return out
}

type treeEntry struct{ mode, name, oid string }

// gitTree is one directory: its content in base (raw, "" oid when base has no such directory) and
// the entries changed since, by name (nil: removed). The raw entries are never decoded one by one:
// a change of a few files in a directory of 20,000 copies the rest as bytes.
type gitTree struct {
	oid     string
	raw     []byte
	hashLen int
	changed map[string]*treeEntry
	dirs    map[string]bool // the directories of raw, by name (isDir)
}

type treeSet map[string]*gitTree

func (ts treeSet) dir(d string) *gitTree {
	if d == "." {
		d = ""
	}
	t := ts[d]
	if t == nil {
		t = &gitTree{changed: map[string]*treeEntry{}}
		ts[d] = t
	}
	return t
}

// rawEntry is one entry of a tree object's content: its mode, name and binary id.
type rawEntry struct{ mode, name, id []byte }

// nextEntry splits the first entry off b.
func nextEntry(b []byte, hashLen int) (e rawEntry, rest []byte, err error) {
	sp := bytes.IndexByte(b, ' ')
	nul := bytes.IndexByte(b, 0)
	if sp <= 0 || nul < sp || len(b) < nul+1+hashLen {
		return e, nil, errors.New("gitrepo: malformed tree object")
	}
	return rawEntry{mode: b[:sp], name: b[sp+1 : nul], id: b[nul+1 : nul+1+hashLen]}, b[nul+1+hashLen:], nil
}

// isDir reports whether name is a directory in t. The directories of base are found in one pass, on
// first use: a change of 10,000 files in one directory asks once per file.
func (t *gitTree) isDir(name string) (bool, error) {
	if e, ok := t.changed[name]; ok {
		return e != nil && e.mode == "40000", nil
	}
	if t.dirs == nil {
		t.dirs = map[string]bool{}
		for b := t.raw; len(b) > 0; {
			e, rest, err := nextEntry(b, t.hashLen)
			if err != nil {
				return false, err
			}
			if string(e.mode) == "40000" {
				t.dirs[string(e.name)] = true
			}
			b = rest
		}
	}
	return t.dirs[name], nil
}

func (t *gitTree) set(e treeEntry) { t.changed[e.name] = &e }

func (t *gitTree) remove(name string) { t.changed[name] = nil }

// encode returns the tree object's content, nil for an empty tree: the entries of base in their
// order, changed ones replaced or dropped, new ones inserted in git's order.
func (t *gitTree) encode() ([]byte, error) {
	var added []*treeEntry
	for _, e := range t.changed {
		if e != nil {
			added = append(added, e)
		}
	}
	slices.SortFunc(added, func(a, b *treeEntry) int {
		return compareGitOrder([]byte(a.name), a.mode == "40000", []byte(b.name), b.mode == "40000")
	})
	out := make([]byte, 0, len(t.raw)+len(added)*64)
	write := func(e *treeEntry) {
		id, _ := hex.DecodeString(e.oid)
		out = append(append(append(append(append(out, e.mode...), ' '), e.name...), 0), id...)
	}
	for b := t.raw; len(b) > 0; {
		e, rest, err := nextEntry(b, t.hashLen)
		if err != nil {
			return nil, err
		}
		for len(added) > 0 && compareGitOrder([]byte(added[0].name), added[0].mode == "40000", e.name, string(e.mode) == "40000") < 0 {
			write(added[0])
			added = added[1:]
		}
		if _, ok := t.changed[string(e.name)]; !ok {
			out = append(out, b[:len(b)-len(rest)]...)
		}
		b = rest
	}
	for _, e := range added {
		write(e)
	}
	return out, nil
}

// compareGitOrder orders tree entries as git does: by name, a directory's name taken to end in "/".
func compareGitOrder(a []byte, aDir bool, b []byte, bDir bool) int {
	n := min(len(a), len(b))
	if c := bytes.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	ca, cb := terminal(a, n, aDir), terminal(b, n, bDir)
	return int(ca) - int(cb)
}

// terminal is the byte that follows name's first n bytes in git's ordering: 0 past its end, "/" past
// the end of a directory's name.
func terminal(name []byte, n int, dir bool) byte {
	switch {
	case n < len(name):
		return name[n]
	case dir:
		return '/'
	}
	return 0
}

func objectID(newHash func() hash.Hash, kind string, content []byte) string {
	h := newHash()
	fmt.Fprintf(h, "%s %d\x00", kind, len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// readTrees reads the trees of dirs in base with one `git cat-file --batch`. A directory base does
// not have starts empty.
func (r *Repo) readTrees(ctx context.Context, base string, dirs []string) (treeSet, error) {
	trees := treeSet{}
	if base == "" {
		return trees, nil
	}
	var in bytes.Buffer
	for _, d := range dirs {
		if d == "" {
			fmt.Fprintf(&in, "%s^{tree}\n", base)
		} else {
			fmt.Fprintf(&in, "%s:%s\n", base, d)
		}
	}
	out, err := r.git(ctx, runOpts{stdin: &in}, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(bytes.NewReader(out))
	for _, d := range dirs {
		header, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("gitrepo: short output from git cat-file: %w", err)
		}
		fields := strings.Fields(header)
		if len(fields) == 2 && fields[1] == "missing" {
			trees.dir(d)
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("gitrepo: unexpected output from git cat-file: %q", header)
		}
		if fields[1] != "tree" {
			return nil, errSpliceUnsupported // a file where a directory is wanted
		}
		size, err := strconv.Atoi(fields[2])
		if err != nil {
			return nil, fmt.Errorf("gitrepo: unexpected output from git cat-file: %q", header)
		}
		content := make([]byte, size+1)
		if _, err := io.ReadFull(br, content); err != nil {
			return nil, fmt.Errorf("gitrepo: short output from git cat-file: %w", err)
		}
		t := trees.dir(d)
		t.oid, t.raw, t.hashLen = fields[0], content[:size], len(fields[0])/2
	}
	return trees, nil
}
