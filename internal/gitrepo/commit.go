package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Fallback identity used by Commit when git has no user.name or user.email.
const (
	FallbackName  = "agent-vault"
	FallbackEmail = "agent-vault@localhost"
)

// ErrPrivateKey is wrapped by the *PrivateKeyError that Commit returns when a
// staged file holds private key material.
var ErrPrivateKey = errors.New("private key material staged for commit")

// PrivateKeyError is Commit's refusal to commit private key material. It
// names the file and the kind of key, never the key.
type PrivateKeyError struct {
	// Path is the file, relative to the top of the working tree (git's
	// spelling, slash-separated).
	Path string
	// Kind is the kind of key, as ScanPrivateKey reports it.
	Kind string
}

func (e *PrivateKeyError) Error() string {
	return fmt.Sprintf("refusing to commit %s: it contains private key material (%s); "+
		"private keys belong under ~/.agent-vault, never in the repository", e.Path, e.Kind)
}

// Unwrap returns ErrPrivateKey.
func (e *PrivateKeyError) Unwrap() error { return ErrPrivateKey }

// CommitResult is what Commit did.
type CommitResult struct {
	// Committed is false when nothing under the paths differed from HEAD,
	// in which case no commit was made.
	Committed bool
	// Hash is the full hash of the new commit ("" when !Committed).
	Hash string
	// FallbackIdentity is true when git had no user.name and/or user.email
	// and the missing part(s) were supplied from FallbackName and
	// FallbackEmail. The caller should tell the user in one line.
	FallbackIdentity bool
}

// Commit records the current state of paths, and only of paths, in a new
// commit on the current branch.
//
// paths are files or directories, absolute or relative to r.Top, taken
// literally (no glob magic); at least one is required. A path that exists
// neither in the work tree nor in the index nor in HEAD is ignored. Commit:
//
//  1. stages every change under paths, including new and deleted files
//     (git add -A -- paths);
//  2. reads every blob that the commit would add or change under paths and
//     refuses, with a *PrivateKeyError (wrapping ErrPrivateKey) naming the
//     first such file and the kind of key, if any holds private key material
//     (see ScanPrivateKey);
//  3. returns Committed=false, without committing, when nothing under paths
//     differs from HEAD;
//  4. runs `git commit -q -m message -- paths`, which commits those paths
//     only: changes the user staged elsewhere stay staged and uncommitted.
//     The user's hooks and commit signing apply.
//
// Files that .gitignore excludes are not staged, as with git add; naming an
// ignored file explicitly is an error from git.
//
// On any failure after step 1 (a refusal, a hook that rejects the commit, a
// cancelled ctx) the index entries under paths are put back as they were
// before the call (same modes, blobs and stages), so a failed Commit leaves
// the index as it found it. On success, and on a no-op, the index entries
// under paths match the work tree.
//
// Identity: when neither git configuration nor the environment supplies a
// user name (user.name, or GIT_AUTHOR_NAME and GIT_COMMITTER_NAME) or an email
// (user.email, $EMAIL, or GIT_AUTHOR_EMAIL and GIT_COMMITTER_EMAIL), the
// missing part is supplied with `-c user.name=agent-vault` /
// `-c user.email=agent-vault@localhost` and FallbackIdentity is reported.
//
// Commit must not run concurrently with other writers of the same paths (the
// caller holds the vault lock): git commit -- paths records the work tree as
// it is when git runs, which is then the content that was scanned.
func (r *Repo) Commit(ctx context.Context, message string, paths ...string) (CommitResult, error) {
	var res CommitResult
	if strings.TrimSpace(message) == "" {
		return res, errors.New("gitrepo: empty commit message")
	}
	if len(paths) == 0 {
		return res, errors.New("gitrepo: Commit needs at least one path")
	}
	for _, p := range paths {
		if p == "" {
			return res, errors.New("gitrepo: empty path")
		}
	}
	lit := runOpts{global: []string{"--literal-pathspecs"}}
	toAdd, paths, err := r.existingPaths(ctx, paths)
	if err != nil {
		return res, err
	}
	if len(paths) == 0 {
		return res, nil
	}

	before, err := r.indexEntries(ctx, paths)
	if err != nil {
		return res, err
	}
	restore := func(cause error) error {
		if rerr := r.restoreIndex(context.WithoutCancel(ctx), paths, before); rerr != nil {
			return fmt.Errorf("%w (and restoring the index failed: %v)", cause, rerr)
		}
		return cause
	}

	if len(toAdd) > 0 {
		if _, err := r.git(ctx, lit, append([]string{"add", "-A", "--"}, toAdd...)...); err != nil {
			return res, restore(err)
		}
	}

	changes, err := r.stagedChanges(ctx, paths)
	if err != nil {
		return res, restore(err)
	}
	if len(changes) == 0 {
		return res, nil
	}
	if err := r.scanBlobs(ctx, changes); err != nil {
		return res, restore(err)
	}

	global, fallback, err := r.identityFlags(ctx)
	if err != nil {
		return res, restore(err)
	}
	commitOpts := runOpts{global: append([]string{"--literal-pathspecs"}, global...)}
	args := append([]string{"commit", "-q", "-m", message, "--"}, paths...)
	if _, err := r.git(ctx, commitOpts, args...); err != nil {
		return res, restore(err)
	}
	out, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "HEAD")
	if err != nil {
		return res, err
	}
	return CommitResult{Committed: true, Hash: strings.TrimSpace(string(out)), FallbackIdentity: fallback}, nil
}

// existingPaths sorts out the paths: toAdd exist in the work tree or the
// index (git add refuses a pathspec that matches nothing there); toCommit
// also has those that exist only in HEAD (a deletion already staged).
// Paths that exist nowhere are dropped.
func (r *Repo) existingPaths(ctx context.Context, paths []string) (toAdd, toCommit []string, err error) {
	lit := runOpts{global: []string{"--literal-pathspecs"}}
	haveHead := false
	if _, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		haveHead = true
	}
	for _, p := range paths {
		abs := p
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(r.Top, p)
		}
		if _, err := os.Lstat(abs); err == nil {
			toAdd, toCommit = append(toAdd, p), append(toCommit, p)
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		out, err := r.git(ctx, lit, "ls-files", "-z", "--", p)
		if err != nil {
			return nil, nil, err
		}
		if len(out) > 0 {
			toAdd, toCommit = append(toAdd, p), append(toCommit, p)
			continue
		}
		if !haveHead {
			continue
		}
		out, err = r.git(ctx, lit, "ls-tree", "-z", "--name-only", "HEAD", "--", p)
		if err != nil {
			return nil, nil, err
		}
		if len(out) > 0 {
			toCommit = append(toCommit, p)
		}
	}
	return toAdd, toCommit, nil
}

// identityFlags returns the -c options that supply a missing identity.
func (r *Repo) identityFlags(ctx context.Context) ([]string, bool, error) {
	name, err := r.configGet(ctx, "user.name")
	if err != nil {
		return nil, false, err
	}
	email, err := r.configGet(ctx, "user.email")
	if err != nil {
		return nil, false, err
	}
	bothEnv := func(a, b string) bool { return os.Getenv(a) != "" && os.Getenv(b) != "" }
	var flags []string
	if name == "" && !bothEnv("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME") {
		flags = append(flags, "-c", "user.name="+FallbackName)
	}
	if email == "" && os.Getenv("EMAIL") == "" && !bothEnv("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL") {
		flags = append(flags, "-c", "user.email="+FallbackEmail)
	}
	return flags, len(flags) > 0, nil
}

// configGet returns a configuration value, "" when it is not set.
func (r *Repo) configGet(ctx context.Context, key string) (string, error) {
	out, err := r.git(ctx, runOpts{}, "config", "--get", key)
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// indexEntry is one line of `git ls-files -s`.
type indexEntry struct {
	mode, oid, stage, path string
}

// indexEntries returns the index entries under paths, keyed by stage and
// path.
func (r *Repo) indexEntries(ctx context.Context, paths []string) (map[string]indexEntry, error) {
	out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}},
		append([]string{"ls-files", "-s", "-z", "--"}, paths...)...)
	if err != nil {
		return nil, err
	}
	entries := make(map[string]indexEntry)
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, path, ok := strings.Cut(string(rec), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("gitrepo: unexpected ls-files output %q", meta)
		}
		e := indexEntry{mode: f[0], oid: f[1], stage: f[2], path: path}
		entries[e.stage+"\t"+e.path] = e
	}
	return entries, nil
}

// restoreIndex puts the index entries under paths back to before.
func (r *Repo) restoreIndex(ctx context.Context, paths []string, before map[string]indexEntry) error {
	after, err := r.indexEntries(ctx, paths)
	if err != nil {
		return err
	}
	if sameEntries(before, after) {
		return nil
	}
	hexLen := 0
	affected := make(map[string]bool)
	for _, m := range []map[string]indexEntry{before, after} {
		for _, e := range m {
			affected[e.path] = true
			hexLen = len(e.oid)
		}
	}
	var in bytes.Buffer
	zero := strings.Repeat("0", hexLen)
	// Mode 0 removes every stage of a path; then the old entries go back.
	for _, p := range sortedKeys(affected) {
		fmt.Fprintf(&in, "0 %s\t%s\x00", zero, p)
	}
	for _, k := range sortedKeys(before) {
		e := before[k]
		fmt.Fprintf(&in, "%s %s %s\t%s\x00", e.mode, e.oid, e.stage, e.path)
	}
	_, err = r.git(ctx, runOpts{stdin: &in}, "update-index", "-z", "--index-info")
	return err
}

func sameEntries(a, b map[string]indexEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stagedChange is one path whose staged content differs from HEAD.
type stagedChange struct {
	path   string
	oid    string // new blob; "" when the path is deleted or not a blob
	status byte
}

// stagedChanges lists the paths under paths whose index entry differs from
// HEAD (from the empty tree on an unborn branch).
func (r *Repo) stagedChanges(ctx context.Context, paths []string) ([]stagedChange, error) {
	out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}},
		append([]string{"diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames", "--no-ext-diff", "--"}, paths...)...)
	if err != nil {
		return nil, err
	}
	var changes []stagedChange
	recs := bytes.Split(out, []byte{0})
	for i := 0; i+1 < len(recs); i += 2 {
		meta := string(recs[i])
		f := strings.Fields(strings.TrimPrefix(meta, ":"))
		if len(f) != 5 || f[4] == "" {
			return nil, fmt.Errorf("gitrepo: unexpected diff output %q", meta)
		}
		c := stagedChange{path: string(recs[i+1]), status: f[4][0]}
		newMode, newOID := f[1], f[3]
		isBlob := strings.HasPrefix(newMode, "100") || newMode == "120000"
		if c.status != 'D' && isBlob && strings.Trim(newOID, "0") != "" {
			c.oid = newOID
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// scanBlobs reads every changed blob with one `git cat-file --batch` and
// returns a *PrivateKeyError for the first that holds private key material.
func (r *Repo) scanBlobs(ctx context.Context, changes []stagedChange) error {
	var in bytes.Buffer
	var blobs []stagedChange
	for _, c := range changes {
		if c.oid != "" {
			blobs = append(blobs, c)
			in.WriteString(c.oid + "\n")
		}
	}
	if len(blobs) == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	runErr := make(chan error, 1)
	go func() {
		_, err := r.git(ctx, runOpts{stdin: &in, stdout: pw}, "cat-file", "--batch")
		pw.CloseWithError(err)
		runErr <- err
	}()
	scanErr := func() error {
		br := bufio.NewReader(pr)
		for _, c := range blobs {
			header, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("gitrepo: reading %s from git cat-file: %w", c.path, err)
			}
			f := strings.Fields(header)
			if len(f) != 3 || f[0] != c.oid || f[1] != "blob" {
				return fmt.Errorf("gitrepo: unexpected git cat-file output for %s: %q", c.path, strings.TrimSpace(header))
			}
			size, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil || size < 0 {
				return fmt.Errorf("gitrepo: bad blob size for %s", c.path)
			}
			data := make([]byte, size+1) // content and a trailing newline
			if _, err := io.ReadFull(br, data); err != nil {
				return fmt.Errorf("gitrepo: reading %s from git cat-file: %w", c.path, err)
			}
			if kind, found := ScanPrivateKey(data[:size]); found {
				return &PrivateKeyError{Path: c.path, Kind: kind}
			}
		}
		return nil
	}()
	_, _ = io.Copy(io.Discard, pr) // let git finish writing if we stopped early
	err := <-runErr
	var pk *PrivateKeyError
	if errors.As(scanErr, &pk) || err == nil {
		return scanErr
	}
	return err
}
