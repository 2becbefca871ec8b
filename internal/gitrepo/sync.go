package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The Git side of owner sync (docs/format.md section 9.4): where the branch stands against its upstream,
// materialising a commit's vault directory for verification, building the merge commit of a sync, pushing
// it, and adopting it in the working tree. Nothing here decides anything about the vault's contents.

// ErrRejected is wrapped by Push's error when the remote refused the push because its branch moved (it is
// no longer an ancestor of what was pushed): someone pushed meanwhile.
var ErrRejected = errors.New("the upstream moved meanwhile (push rejected)")

// Standing is where HEAD stands against its upstream's commit.
type Standing struct {
	Upstream string // the upstream in git's short form, e.g. "origin/main"
	Remote   string // the upstream's remote ("." for a local branch)
	Branch   string // the upstream's branch ref on the remote, e.g. "refs/heads/main"
	Head     string // HEAD's commit ("" on an unborn branch)
	Commit   string // the upstream's commit
	Base     string // their merge base ("" when they share no history)
	Ahead    int    // commits in HEAD that the upstream lacks
	Behind   int    // commits in the upstream that HEAD lacks
}

// State is "up to date", "ahead", "behind" or "diverged".
func (s Standing) State() string {
	switch {
	case s.Ahead == 0 && s.Behind == 0:
		return "up to date"
	case s.Behind == 0:
		return "ahead"
	case s.Ahead == 0:
		return "behind"
	}
	return "diverged"
}

// Stand fetches the upstream (as FetchUpstream: bounded by timeout, never prompting, errors wrapping
// ErrOffline or ErrNoUpstream) and returns where HEAD stands against it. fetch false skips the network
// and compares with the remote-tracking ref as it is.
func (r *Repo) Stand(ctx context.Context, timeout time.Duration, fetch bool) (Standing, error) {
	var st Standing
	if fetch {
		commit, err := r.FetchUpstream(ctx, timeout)
		if err != nil {
			return st, err
		}
		st.Commit = commit
	} else {
		out, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "@{u}^{commit}")
		if err != nil {
			return st, fmt.Errorf("the current branch has no upstream: %w", ErrNoUpstream)
		}
		st.Commit = strings.TrimSpace(string(out))
	}
	st.Upstream, _ = r.Upstream(ctx)
	var err error
	if _, st.Remote, st.Branch, err = r.branchUpstream(ctx); err != nil {
		return st, err
	}
	st.Head, _, err = r.head(ctx)
	if err != nil || st.Head == "" {
		return st, err
	}
	out, err := r.git(ctx, runOpts{}, "rev-list", "--left-right", "--count", st.Head+"..."+st.Commit)
	if err != nil {
		return st, err
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return st, fmt.Errorf("git rev-list --count: unexpected output %q", out)
	}
	st.Ahead, _ = strconv.Atoi(f[0])
	st.Behind, _ = strconv.Atoi(f[1])
	if base, err := r.git(ctx, runOpts{}, "merge-base", st.Head, st.Commit); err == nil {
		st.Base = strings.TrimSpace(string(base))
	}
	return st, nil
}

// CheckoutVault writes the tree <commit>:<prefix>.agent-vault into dest/<prefix>.agent-vault (dest must
// not exist) through a private index, without touching the working tree, the index or any ref; it
// returns false when the commit holds no vault there.
func (r *Repo) CheckoutVault(ctx context.Context, commit, prefix, dest string) (bool, error) {
	tree := commit + ":" + prefix + ".agent-vault"
	if out, err := r.git(ctx, runOpts{}, "cat-file", "-t", tree); err != nil || strings.TrimSpace(string(out)) != "tree" {
		return false, nil
	}
	index := dest + ".index"
	defer os.Remove(index)
	env := []string{"GIT_INDEX_FILE=" + index}
	if _, err := r.git(ctx, runOpts{env: env}, "read-tree", "--prefix="+prefix+".agent-vault/", tree); err != nil {
		return false, fmt.Errorf("cannot read the vault of commit %s: %w", commit, err)
	}
	if _, err := r.git(ctx, runOpts{env: env}, "checkout-index", "-a", "-f", "--prefix="+dest+string(filepath.Separator)); err != nil {
		return false, fmt.Errorf("cannot write the vault of commit %s: %w", commit, err)
	}
	return true, nil
}

// Push pushes commit to the upstream branch of st (`git push REMOTE COMMIT:BRANCH`), bounded by timeout
// and never prompting. A push the remote rejects because its branch moved wraps ErrRejected; one that
// cannot reach the remote wraps ErrOffline.
func (r *Repo) Push(ctx context.Context, st Standing, commit string, timeout time.Duration) error {
	if st.Remote == "" || st.Branch == "" {
		return fmt.Errorf("nothing to push to: %w", ErrNoUpstream)
	}
	pctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	env := append([]string(nil), noPromptEnv...)
	if os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		if c, _ := r.configGet(ctx, "core.sshCommand"); c == "" {
			env = append(env, "GIT_SSH_COMMAND="+batchSSHCommand)
		}
	}
	_, err := r.git(pctx, runOpts{env: env, detach: true, cLocale: true}, "push", "--quiet", "--porcelain", st.Remote, commit+":"+st.Branch)
	if err == nil {
		if st.Remote != "." {
			// Keep the remote-tracking ref in line, as a push of the branch would.
			r.git(ctx, runOpts{}, "fetch", "--quiet", st.Remote)
		}
		return nil
	}
	var ge *GitError
	if errors.As(err, &ge) && (strings.Contains(ge.Stderr, "rejected") || strings.Contains(ge.Stderr, "non-fast-forward") || strings.Contains(ge.Stderr, "fetch first")) {
		return fmt.Errorf("%w: %s", ErrRejected, ge.Stderr)
	}
	if pctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: pushing to %s: timed out after %v", ErrOffline, st.Remote, timeout)
	}
	return fmt.Errorf("%w: pushing to %s: %w", ErrOffline, st.Remote, err)
}

// MergeTree returns the tree of a merge of a and b (`git merge-tree --write-tree`) and the files Git
// could not merge. Nothing but objects is written.
func (r *Repo) MergeTree(ctx context.Context, a, b string) (tree string, conflicts []string, err error) {
	out, err := r.git(ctx, runOpts{}, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", a, b)
	if err != nil && exitCode(err) != 1 {
		return "", nil, err
	}
	parts := bytes.Split(out, []byte{0})
	if len(parts) == 0 || len(parts[0]) == 0 {
		return "", nil, fmt.Errorf("git merge-tree: no tree in its output")
	}
	for _, p := range parts[1:] {
		if len(p) > 0 {
			conflicts = append(conflicts, string(p))
		}
	}
	return strings.TrimSpace(string(parts[0])), conflicts, nil
}

// CommitOf resolves rev to a commit hash.
func (r *Repo) CommitOf(ctx context.Context, rev string) (string, error) {
	out, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", rev+"^{commit}")
	return strings.TrimSpace(string(out)), err
}

// VaultMerge is the commit a sync makes: parents Head (the local branch) and Other (the upstream), and
// the tree Base (Git's merge of the two) with its vault directory Dir (the tree path prefix+".agent-vault")
// replaced by the files of Files, a directory that holds the new vault exactly.
type VaultMerge struct {
	Head, Other, Base string
	Dir               string // slash-separated path of the vault directory in the tree
	Files             string // directory on disk holding the vault's files
	Message           string
}

// CommitVaultMerge writes the commit of m and returns it (Hash; FallbackIdentity as Commit reports it,
// for the caller to tell the user). No ref, index or working tree changes.
func (r *Repo) CommitVaultMerge(ctx context.Context, m VaultMerge) (CommitResult, error) {
	hash, fallback, err := r.commitVaultMerge(ctx, m)
	if err != nil {
		return CommitResult{}, err
	}
	return CommitResult{Committed: true, Hash: hash, FallbackIdentity: fallback}, nil
}

func (r *Repo) commitVaultMerge(ctx context.Context, m VaultMerge) (string, bool, error) {
	// The private index lives beside Files (in the caller's scratch directory), so that a kill leaves
	// nothing elsewhere.
	index := m.Files + ".index"
	os.Remove(index)
	defer os.Remove(index)
	private := runOpts{env: []string{"GIT_INDEX_FILE=" + index}}
	if _, err := r.git(ctx, private, "read-tree", m.Base); err != nil {
		return "", false, err
	}
	if _, err := r.git(ctx, private, "rm", "-r", "-q", "-f", "--cached", "--ignore-unmatch", "--", m.Dir); err != nil {
		return "", false, err
	}
	// The vault's files, added under Dir: the blobs come from Files, through a second private index whose
	// working tree is Files' parent.
	var files []string
	err := filepath.WalkDir(m.Files, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(m.Files, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return "", false, err
	}
	var in bytes.Buffer
	for _, f := range files {
		in.WriteString(filepath.Join(m.Files, filepath.FromSlash(f)) + "\n")
	}
	out, err := r.git(ctx, runOpts{stdin: &in}, "hash-object", "-w", "--stdin-paths", "--no-filters")
	if err != nil {
		return "", false, err
	}
	oids := strings.Fields(string(out))
	if len(oids) != len(files) {
		return "", false, fmt.Errorf("git hash-object: %d objects for %d files", len(oids), len(files))
	}
	var info bytes.Buffer
	for i, f := range files {
		fmt.Fprintf(&info, "100644 %s\t%s/%s\x00", oids[i], m.Dir, f)
	}
	opts := private
	opts.stdin = &info
	if _, err := r.git(ctx, opts, "update-index", "-z", "--index-info"); err != nil {
		return "", false, err
	}
	out, err = r.git(ctx, private, "write-tree")
	if err != nil {
		return "", false, err
	}
	tree := strings.TrimSpace(string(out))
	identity, fallback, sign, err := r.commitSettings(ctx)
	if err != nil {
		return "", false, err
	}
	args := []string{"commit-tree", tree, "-p", m.Head, "-p", m.Other}
	if sign {
		args = append(args, "-S")
	}
	out, err = r.git(ctx, runOpts{global: identity, stdin: strings.NewReader(m.Message + "\n")}, args...)
	return strings.TrimSpace(string(out)), fallback, err
}

// ChangedPaths lists the files that differ between commits a and b, slash-separated from the top of the
// working tree.
func (r *Repo) ChangedPaths(ctx context.Context, a, b string) ([]string, error) {
	out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}}, "diff-tree", "-r", "-z", "--name-only", "--no-renames", a, b)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range bytes.Split(out, []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	return paths, nil
}

// Dirty returns those of paths that have uncommitted changes or are untracked in the working tree: a
// sync that brings them in would overwrite them. It takes no lock: `git status` would otherwise refresh
// the index under index.lock, which a kill of the command (before anything changed) would leave behind
// for the next command's commit to fail on.
func (r *Repo) Dirty(ctx context.Context, paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	args := append([]string{"status", "--porcelain=v1", "-z", "--untracked-files=all", "--"}, paths...)
	out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}, env: []string{"GIT_OPTIONAL_LOCKS=0"}}, args...)
	if err != nil {
		return nil, err
	}
	var dirty []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) > 3 {
			dirty = append(dirty, string(rec[3:]))
		}
	}
	return dirty, nil
}

// Adopt makes commit the current commit in place of old: a sync's merge commit built on HEAD (old ""
// is its first parent), or the upstream's commit a fast-forward goes to (old is HEAD, an ancestor). The
// branch moves from old to commit (unless it is already there), the index entries of every path that
// differs between old and commit are set to commit's, and the files of those paths outside skipDir
// (which the caller has already written) are written into the working tree from the index, or removed.
// It is idempotent, so that repair can run it again after a kill.
func (r *Repo) Adopt(ctx context.Context, commit, old, skipDir string) error {
	if old == "" {
		out, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", commit+"^1")
		if err != nil {
			return fmt.Errorf("the sync's commit %s has no first parent: %w", commit, err)
		}
		old = strings.TrimSpace(string(out))
	}
	head, _, err := r.head(ctx)
	if err != nil {
		return err
	}
	switch head {
	case commit:
	case old:
		if err := r.moveHead(ctx, commit, old, "agent-vault sync"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("HEAD is at %s, neither the commit the sync started from (%s) nor its result (%s)", head, old, commit)
	}
	paths, err := r.ChangedPaths(ctx, old, commit)
	if err != nil || len(paths) == 0 {
		return err
	}
	args := append([]string{"ls-tree", "-r", "-z", "--full-tree", commit, "--"}, paths...)
	out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}}, args...)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	var info bytes.Buffer
	for _, rec := range bytes.Split(out, []byte{0}) {
		if meta, path, ok := strings.Cut(string(rec), "\t"); ok {
			f := strings.Fields(meta)
			present[path] = true
			fmt.Fprintf(&info, "%s %s\t%s\x00", f[0], f[2], path)
		}
	}
	zero := strings.Repeat("0", len(commit))
	var outside, gone []string
	for _, p := range paths {
		if !present[p] {
			fmt.Fprintf(&info, "0 %s\t%s\x00", zero, p)
		}
		if skipDir != "" && (p == skipDir || strings.HasPrefix(p, skipDir+"/")) {
			continue
		}
		if present[p] {
			outside = append(outside, p)
		} else {
			gone = append(gone, p)
		}
	}
	if _, err := r.git(ctx, runOpts{stdin: &info}, "update-index", "-z", "--index-info"); err != nil {
		return err
	}
	if len(outside) > 0 {
		args := append([]string{"checkout-index", "-f", "-q", "--"}, outside...)
		if _, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}}, args...); err != nil {
			return err
		}
	}
	for _, p := range gone {
		if err := os.Remove(filepath.Join(r.Top, filepath.FromSlash(p))); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// IsAncestor reports whether commit a is an ancestor of (or equal to) commit b.
func (r *Repo) IsAncestor(ctx context.Context, a, b string) (bool, error) {
	return r.isAncestor(ctx, a, b)
}

// HasRemote reports whether the repository has a remote.
func (r *Repo) HasRemote(ctx context.Context) bool {
	out, err := r.git(ctx, runOpts{}, "remote")
	return err == nil && strings.TrimSpace(string(out)) != ""
}

// GitDir returns the repository's Git directory (absolute).
func (r *Repo) GitDir(ctx context.Context) (string, error) {
	out, err := r.git(ctx, runOpts{}, "rev-parse", "--absolute-git-dir")
	return strings.TrimSpace(string(out)), err
}

// Blobs returns the distinct contents of path in the commits of base..tip that changed it (and in tip
// itself), for following a chain of signed states through history. A commit without the file adds
// nothing.
func (r *Repo) Blobs(ctx context.Context, base, tip, path string) ([][]byte, error) {
	rng := tip
	if base != "" {
		rng = base + ".." + tip
	}
	out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}}, "rev-list", "--full-history", rng, "--", path)
	if err != nil {
		return nil, err
	}
	var in bytes.Buffer
	for _, c := range strings.Fields(string(out)) {
		fmt.Fprintf(&in, "%s:%s\n", c, path)
	}
	if in.Len() == 0 {
		return nil, nil
	}
	out, err = r.git(ctx, runOpts{stdin: &in}, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var blobs [][]byte
	for len(out) > 0 {
		nl := bytes.IndexByte(out, '\n')
		if nl < 0 {
			break
		}
		header := strings.Fields(string(out[:nl]))
		out = out[nl+1:]
		if len(header) != 3 || header[1] != "blob" {
			continue // "missing"
		}
		size, err := strconv.Atoi(header[2])
		if err != nil || size+1 > len(out) {
			return nil, fmt.Errorf("git cat-file --batch: bad output")
		}
		if !seen[header[0]] {
			seen[header[0]] = true
			blobs = append(blobs, out[:size])
		}
		out = out[size+1:]
	}
	return blobs, nil
}
