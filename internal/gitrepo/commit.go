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
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
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
// literally; at least one is required. A directory stands for the files
// under it that git tracks or would add (ignored files are left out); a file
// is recorded as named, added when it exists and removed when it does not.
// A path that exists neither in the work tree nor in the index is ignored.
// Commit:
//
//  1. builds the commit in a private index: HEAD's tree with every named
//     path updated from the work tree (one `git update-index`, whatever the
//     number of paths), so the cost follows the paths, not the repository,
//     and nothing the user staged elsewhere is touched or committed;
//  2. reads every blob that the commit would add or change and refuses,
//     with a *PrivateKeyError (wrapping ErrPrivateKey) naming the first such
//     file and the kind of key, if any holds private key material (see
//     ScanPrivateKey);
//  3. returns Committed=false, without committing, when nothing differs from
//     HEAD;
//  4. runs `git commit -q -m message` on the private index: the user's hooks
//     and commit signing apply, and hooks see exactly the commit's content;
//  5. updates the entries of paths in the real index to match the commit.
//
// On any failure the real index is as it was before the call. On success,
// and on a no-op, the real index entries of paths match the work tree.
//
// Identity: when neither git configuration nor the environment supplies a
// user name (user.name, or GIT_AUTHOR_NAME and GIT_COMMITTER_NAME) or an email
// (user.email, $EMAIL, or GIT_AUTHOR_EMAIL and GIT_COMMITTER_EMAIL), the
// missing part is supplied with `-c user.name=agent-vault` /
// `-c user.email=agent-vault@localhost` and FallbackIdentity is reported.
//
// Commit must not run concurrently with other writers of the same paths (the
// caller holds the vault lock): the work tree is read once, in step 1, and
// that content is what is scanned and committed.
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
	base := emptyTree
	if _, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		base = "HEAD"
	}
	files, err := r.expandPaths(ctx, paths, base)
	if err != nil || len(files) == 0 {
		return res, err
	}
	gitPaths, err := r.git(ctx, runOpts{}, "rev-parse", "--git-path", "index", "--git-path", "agent-vault-index")
	if err != nil {
		return res, err
	}
	realIndex, tmpIndex, _ := strings.Cut(strings.TrimSpace(string(gitPaths)), "\n")
	if !filepath.IsAbs(realIndex) {
		realIndex = filepath.Join(r.Top, realIndex)
	}
	if !filepath.IsAbs(tmpIndex) {
		tmpIndex = filepath.Join(r.Top, tmpIndex)
	}
	settleOrphans(ctx, tmpIndex)
	tmpIndex += "." + strconv.Itoa(os.Getpid())
	defer os.Remove(tmpIndex)
	private := runOpts{env: []string{"GIT_INDEX_FILE=" + tmpIndex}}
	if err := r.privateIndex(ctx, private, realIndex, tmpIndex, base, files); err != nil {
		return res, err
	}
	if err := r.updateIndex(ctx, private, files); err != nil {
		return res, err
	}
	changes, err := r.stagedChanges(ctx, private, base)
	if err != nil {
		return res, err
	}
	if len(changes) > 0 {
		if err := r.scanBlobs(ctx, changes); err != nil {
			return res, err
		}
		global, fallback, err := r.identityFlags(ctx)
		if err != nil {
			return res, err
		}
		commitOpts := private
		commitOpts.global = global
		// The commit's process id is left beside the private index, so that if this process is killed
		// while its Git child goes on, the next Commit waits for that child instead of racing it.
		commitOpts.started = func(pid int) { os.WriteFile(tmpIndex+".git-pid", []byte(strconv.Itoa(pid)), 0o644) }
		defer os.Remove(tmpIndex + ".git-pid")
		if _, err := r.git(ctx, commitOpts, "commit", "-q", "-m", message); err != nil {
			return res, err
		}
		out, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "HEAD")
		if err != nil {
			return res, err
		}
		res = CommitResult{Committed: true, Hash: strings.TrimSpace(string(out)), FallbackIdentity: fallback}
	}
	return res, r.updateIndex(ctx, runOpts{}, files)
}

// privateIndex makes tmpIndex hold base's tree. It starts from a copy of the
// real index, whose stat data spares git from reading every file of the work
// tree again, and puts back to base every entry the user staged, except
// those of files, which the caller updates next.
func (r *Repo) privateIndex(ctx context.Context, private runOpts, realIndex, tmpIndex, base string, files []string) error {
	data, err := os.ReadFile(realIndex)
	if errors.Is(err, fs.ErrNotExist) {
		if base == emptyTree {
			return nil
		}
		_, err = r.git(ctx, private, "read-tree", base)
		return err
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmpIndex, data, 0o644); err != nil {
		return err
	}
	staged, err := r.stagedChanges(ctx, private, base)
	if err != nil {
		return err
	}
	ours := make(map[string]bool, len(files))
	for _, f := range files {
		ours[f] = true
	}
	var others []string
	for _, c := range staged {
		if !ours[c.path] {
			others = append(others, c.path)
		}
	}
	if len(others) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, p := range others {
		fmt.Fprintf(&in, "0 %s\t%s\x00", strings.Repeat("0", 40), p)
	}
	if base != emptyTree {
		out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}}, append([]string{"ls-tree", "-z", "--full-tree", base, "--"}, others...)...)
		if err != nil {
			return err
		}
		for _, rec := range bytes.Split(out, []byte{0}) {
			meta, path, ok := strings.Cut(string(rec), "\t")
			if f := strings.Fields(meta); ok && len(f) == 3 {
				fmt.Fprintf(&in, "%s %s\t%s\x00", f[0], f[2], path)
			}
		}
	}
	private.stdin = &in
	_, err = r.git(ctx, private, "update-index", "-z", "--index-info")
	return err
}

// orphanWait bounds how long Commit waits for the Git child of a killed
// agent-vault process to finish its commit.
var orphanWait = 30 * time.Second

// settleOrphans deals with what agent-vault processes that died left beside
// the private index base: base.PID, its .lock, and base.PID.git-pid naming
// the Git commit the process had started. While that Git process still
// runs (it was not killed with its parent), it waits for it, at most
// orphanWait, so that the two commits do not race; then it removes the
// files. What live processes own is left alone.
func settleOrphans(ctx context.Context, base string) {
	matches, _ := filepath.Glob(base + ".*")
	deadline := time.Now().Add(orphanWait)
	var orphans []string
	for _, m := range matches {
		owner, _, _ := strings.Cut(strings.TrimPrefix(m, base+"."), ".")
		if pid, err := strconv.Atoi(owner); err == nil && pid != os.Getpid() && !processAlive(pid) {
			orphans = append(orphans, m)
		}
	}
	// First wait for every Git child still committing: it re-reads its index after the hooks run, so
	// nothing may be removed before it ends.
	for _, m := range orphans {
		if !strings.HasSuffix(m, ".git-pid") {
			continue
		}
		data, _ := os.ReadFile(m)
		if child, err := strconv.Atoi(string(data)); err == nil {
			for processAlive(child) && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	for _, m := range orphans {
		os.Remove(m)
	}
}

// emptyTree is the hash of the empty tree, the base of the first commit.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// expandPaths turns paths into the files, relative to r.Top and
// slash-separated, that Commit records: each named file, and for a
// directory the files under it that git tracks or would add. base is HEAD,
// or emptyTree on an unborn branch.
func (r *Repo) expandPaths(ctx context.Context, paths []string, base string) ([]string, error) {
	var files, missing []string
	for _, p := range paths {
		abs := p
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(r.Top, p)
		}
		rel, err := filepath.Rel(r.Top, abs)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("gitrepo: %s is outside the working tree %s", p, r.Top)
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(abs)
		switch {
		case err == nil && fi.IsDir():
			out, err := r.git(ctx, runOpts{global: []string{"--literal-pathspecs"}},
				"ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", rel)
			if err != nil {
				return nil, err
			}
			for _, f := range bytes.Split(out, []byte{0}) {
				if len(f) > 0 {
					files = append(files, string(f))
				}
			}
		case err == nil:
			files = append(files, rel)
		case errors.Is(err, fs.ErrNotExist):
			files, missing = append(files, rel), append(missing, rel)
		default:
			return nil, err
		}
	}
	// A missing path may have been a directory: its files in the index or in HEAD are removed too.
	if len(missing) > 0 {
		lit := runOpts{global: []string{"--literal-pathspecs"}}
		listings := [][]string{append([]string{"ls-files", "-z", "--cached", "--"}, missing...)}
		if base != emptyTree {
			listings = append(listings, append([]string{"ls-tree", "-r", "-z", "--name-only", base, "--"}, missing...))
		}
		for _, args := range listings {
			out, err := r.git(ctx, lit, args...)
			if err != nil {
				return nil, err
			}
			for _, f := range bytes.Split(out, []byte{0}) {
				if len(f) > 0 {
					files = append(files, string(f))
				}
			}
		}
	}
	sort.Strings(files)
	return slices.Compact(files), nil
}

// updateIndex brings the entries of files in the index that opts selects in
// line with the work tree: changed and new files are added, missing ones
// removed.
func (r *Repo) updateIndex(ctx context.Context, opts runOpts, files []string) error {
	var in bytes.Buffer
	for _, f := range files {
		in.WriteString(f)
		in.WriteByte(0)
	}
	opts.stdin = &in
	_, err := r.git(ctx, opts, "update-index", "--add", "--remove", "-z", "--stdin")
	return err
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

// stagedChange is one path whose staged content differs from HEAD.
type stagedChange struct {
	path   string
	oid    string // new blob; "" when the path is deleted or not a blob
	status byte
}

// stagedChanges lists the paths whose entry in the index that opts selects
// differs from base (HEAD, or the empty tree on an unborn branch).
func (r *Repo) stagedChanges(ctx context.Context, opts runOpts, base string) ([]stagedChange, error) {
	out, err := r.git(ctx, opts, "diff-index", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames", base)
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
