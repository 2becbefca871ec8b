package vault

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// The pull view (docs/format.md section 6.8). A read that pulls never changes the agent's working tree:
// it writes the vault directory of the fetched upstream commit, and nothing else, into a private view
// under the repository's Git directory, and readers read that view while it holds a newer signed state
// than the working tree. This file is the one home of the view's layout and of the rule that chooses
// between the view and the working tree; internal/gitrepo writes views, the SDKs follow the same text.

// ViewLayout says where the pull view of one vault lives.
type ViewLayout struct {
	// Pointer is the file that names the commit of the current view: one line, its hex object name.
	Pointer string
	// Views holds one directory per commit; see Dir.
	Views string
	// Prefix is the vault's Top relative to the top of its working tree, slash-separated, "" or ending
	// in "/": the vault directory of a commit is the tree Prefix + ".agent-vault".
	Prefix string
}

// viewHome is the directory under the Git directory that holds agent-vault's pull views.
const viewHome = "agent-vault"

// ViewLayoutOf returns the layout of the pull view of the vault whose Top is top, found as readers find
// the Git directory (a .git directory in top or a parent, or the directory a .git file names). It
// returns false when top is not in a Git working tree.
func ViewLayoutOf(top string) (ViewLayout, bool) {
	wt, gitDir := findGitTop(top)
	if gitDir == "" {
		return ViewLayout{}, false
	}
	rel, err := filepath.Rel(wt, top)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ViewLayout{}, false
	}
	prefix := ""
	if rel != "." {
		prefix = filepath.ToSlash(rel) + "/"
	}
	home := filepath.Join(gitDir, viewHome)
	return ViewLayout{Pointer: filepath.Join(home, "view"), Views: filepath.Join(home, "views"), Prefix: prefix}, true
}

// Dir is the vault directory of commit's view: Views/<commit>/<Prefix>.agent-vault.
func (l ViewLayout) Dir(commit string) string {
	return filepath.Join(l.Views, commit, filepath.FromSlash(l.Prefix), DirName)
}

// Commit returns the commit the pointer names, or "" when there is no pointer or it is not one line of
// 40 or 64 lowercase hex characters.
func (l ViewLayout) Commit() string {
	data, err := readLimited(l.Pointer, 128)
	if err != nil {
		return ""
	}
	c := strings.TrimSuffix(string(data), "\n")
	if (len(c) != 40 && len(c) != 64) || strings.Trim(c, "0123456789abcdef") != "" {
		return ""
	}
	return c
}

// readLimited reads at most limit bytes of a regular file (not following a final symbolic link).
func readLimited(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, os.ErrInvalid
	}
	return os.ReadFile(path)
}

// reading returns the vault a reader reads for v (docs/format.md section 6.8), and the other candidate
// (nil when there is none): v's pull view when the pointer names a view whose state/root is not older
// than v's, as a Vault whose Origin is v.Dir; else v itself. The versions compared are read without
// verifying anything — the choice only decides which directory is then verified in full, with the same
// anchor and high-water marks:
//
//   - no view: v, and no other candidate;
//   - v's root missing, unreadable or not parsed (its writer, or Git, may be replacing it): the view,
//     which is written whole and never changes;
//   - the view's root parsed with a version lower than v's: v;
//   - otherwise (not lower, or a view whose root does not parse, which then fails verification loudly):
//     the view.
func (v *Vault) reading() (chosen, other *Vault) {
	if v.Origin != "" {
		return v, nil
	}
	l, ok := ViewLayoutOf(v.Top)
	if !ok {
		return v, nil
	}
	commit := l.Commit()
	if commit == "" {
		return v, nil
	}
	dir := l.Dir(commit)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return v, nil
	}
	view := &Vault{Top: filepath.Dir(dir), Dir: dir, Origin: v.Dir}
	own, ok := rootVersion(v.Dir)
	if !ok {
		return view, v
	}
	if seen, ok := rootVersion(dir); ok && seen < own {
		return v, view
	}
	return view, v
}

// openReading opens what reading chooses. When that state is verified but below this machine's
// high-water mark, the other candidate is opened instead: the working tree can be older than the view
// for a while (the agent's own git pull is replacing its files, and another reader may have read a
// newer view meanwhile), or the view older than the tree; either verified state that is not below the
// mark is as good. The choice is made again, from fresh versions, a few times; only when every
// candidate stays below the mark is the rollback reported, and when the other candidate failed for a
// reason of its own, that reason is.
func (v *Vault) openReading(key *Key) (*Snapshot, error) {
	var err error
	for range 3 {
		chosen, other := v.reading()
		var s *Snapshot
		if s, err = chosen.open(key, key.IsOwner); err == nil || !isBelowMark(err) {
			if s != nil {
				s.base = v
			}
			return s, err
		}
		if other != nil {
			s2, err2 := other.open(key, key.IsOwner)
			if err2 == nil {
				s2.base = v
				return s2, nil
			}
			if !isBelowMark(err2) {
				// The other candidate failed for a reason of its own, which says more than a state
				// this machine has already moved past.
				err = err2
			}
		}
	}
	return nil, err
}

// reloadAny loads the snapshot's root again (a retry of section 6.6). When the state it finds is below
// this machine's mark and the snapshot came from a vault with a pull view, the candidates are chosen
// again from fresh versions and the first that loads is taken: another reader may have moved the mark
// past this directory's state by reading the other one.
func (s *Snapshot) reloadAny() error {
	err := s.load()
	if !isBelowMark(err) || s.base == nil {
		return err
	}
	current := s.Vault
	chosen, other := s.base.reading()
	for _, c := range []*Vault{chosen, other} {
		if c == nil || c.Dir == current.Dir {
			continue
		}
		s.Vault = c
		if cerr := s.load(); cerr == nil {
			return nil
		}
	}
	s.Vault = current
	return err
}

// rootVersion returns the version state/root in dir declares, unverified.
func rootVersion(dir string) (int64, bool) {
	raw, err := readRepoFile(dir, rootFile, LimitRoot)
	if err != nil {
		return 0, false
	}
	body, _, err := splitSigned(raw)
	if err != nil {
		return 0, false
	}
	var h struct {
		Version *int64 `json:"version"`
	}
	if json.Unmarshal(body, &h) != nil || h.Version == nil {
		return 0, false
	}
	return *h.Version, true
}

// BehindView returns an error of kind error when reads on this machine already use a pull view of v
// with a higher version than v's working tree, or one whose root does not parse (section 6.8): an owner change made on the older state would fork the
// vault, and its high-water mark would call it a rollback. The owner brings the working tree up to date
// first. nil otherwise.
func (v *Vault) BehindView() error {
	r, _ := v.reading()
	if r == v {
		return nil
	}
	own, _ := rootVersion(v.Dir)
	if seen, ok := rootVersion(r.Dir); ok && seen <= own {
		return nil
	}
	msg := "the vault in this working tree (version %d) is older than the one reads on this machine fetched from the upstream (%s); bring the working tree up to date first (git pull --ff-only in %s), then run the command again"
	return newErr(KindError, msg, own, r.Dir, v.Top)
}

// workTop is the directory in which v's Git working tree is found: v.Top, or for a view the Top of the
// working tree it was pulled for.
func (v *Vault) workTop() string {
	if v.Origin != "" {
		return filepath.Dir(v.Origin)
	}
	return v.Top
}

// recordDir is the vault directory owner records (vault_paths) name for v: Origin for a view.
func (v *Vault) recordDir() string {
	if v.Origin != "" {
		return v.Origin
	}
	return v.Dir
}
