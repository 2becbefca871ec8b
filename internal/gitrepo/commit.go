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
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Fallback identity used by Commit when git has no user.name or user.email.
const (
	FallbackName  = "agent-vault"
	FallbackEmail = "agent-vault@localhost"
)

// ErrPrivateKey is wrapped by the *PrivateKeyError that Commit returns when a
// file to commit holds private key material.
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
// commit on the current branch (or on a detached HEAD).
//
// paths are files or directories, absolute or relative to r.Top, taken
// literally; at least one is required. A directory stands for the files
// under it that git tracks or would add (ignored files are left out); a file
// is recorded as named, added when it exists and removed when it does not.
// A path that exists neither in the work tree nor in the index is ignored.
//
// Commit builds the commit with Git's plumbing, so that its cost follows the
// paths, not the repository, and a change of any size adds one pack and a
// handful of loose objects:
//
//  1. it reads each file once from the work tree and refuses, with a
//     *PrivateKeyError (wrapping ErrPrivateKey) naming the first such file
//     and the kind of key, if any holds private key material (see
//     ScanPrivateKey); the bytes it scanned are the bytes it commits;
//  2. one `git fast-import` writes every blob into a single pack; the new
//     tree is HEAD's with the trees of the changed directories spliced (one
//     `git cat-file --batch` reads them; the changed ones are written as
//     loose objects: see spliceTree and writeTrees), or, in the rare cases
//     the splice leaves to Git, made in a private index (HEAD's tree, the new
//     entries, `git write-tree`);
//  3. it returns Committed=false, without committing, when the tree equals
//     HEAD's;
//  4. `git commit-tree` writes the commit with the user's identity, signed
//     with -S when commit.gpgSign is set, and `git update-ref` moves HEAD to
//     it only if HEAD has not moved meanwhile (if it has, Commit starts
//     over, at most a few times);
//  5. the entries of paths in the index are updated to match the commit
//     (see writeIndex); nothing the user staged elsewhere is touched.
//
// Commit runs no commit hooks (pre-commit, commit-msg, post-commit): the
// commit holds only the named paths, which the caller wrote and Commit
// scanned itself. Hooks that Git runs on reference updates
// (reference-transaction) still run.
//
// On any failure before step 4 the repository's refs and index are as they
// were (the pack may remain, unreferenced, for `git gc` to remove).
//
// Identity: when neither git configuration nor the environment supplies a
// user name (user.name, or GIT_AUTHOR_NAME and GIT_COMMITTER_NAME) or an email
// (user.email, $EMAIL, or GIT_AUTHOR_EMAIL and GIT_COMMITTER_EMAIL), the
// missing part is supplied with `-c user.name=agent-vault` /
// `-c user.email=agent-vault@localhost` and FallbackIdentity is reported.
//
// Commit must not run concurrently with other writers of the same paths (the
// caller holds the vault lock).
func (r *Repo) Commit(ctx context.Context, message string, paths ...string) (CommitResult, error) {
	if strings.TrimSpace(message) == "" {
		return CommitResult{}, errors.New("gitrepo: empty commit message")
	}
	if len(paths) == 0 {
		return CommitResult{}, errors.New("gitrepo: Commit needs at least one path")
	}
	for _, p := range paths {
		if p == "" {
			return CommitResult{}, errors.New("gitrepo: empty path")
		}
	}
	for attempt := 1; ; attempt++ {
		res, err := r.commitOnce(ctx, message, paths)
		var moved *headMovedError
		if errors.As(err, &moved) && attempt < maxCommitAttempts {
			continue
		}
		return res, err
	}
}

// maxCommitAttempts bounds how often Commit starts over when HEAD moves
// under it (for example when the Git child of a killed agent-vault process
// finishes that process's commit).
const maxCommitAttempts = 3

type headMovedError struct{ err error }

func (e *headMovedError) Error() string { return "HEAD moved during the commit: " + e.err.Error() }
func (e *headMovedError) Unwrap() error { return e.err }

func (r *Repo) commitOnce(ctx context.Context, message string, paths []string) (CommitResult, error) {
	var res CommitResult
	head, headTree, err := r.head(ctx)
	if err != nil {
		return res, err
	}
	base := emptyTree
	if head != "" {
		base = head
	}
	files, err := r.expandPaths(ctx, paths, base)
	if err != nil || len(files) == 0 {
		return res, err
	}
	if head == "" && !r.anyExists(files) {
		return res, nil // nothing to record on an unborn branch
	}
	blobs, err := r.writeBlobs(ctx, files)
	if err != nil {
		return res, err
	}
	tree, err := r.writeTree(ctx, head, blobs.entries())
	if err != nil {
		return res, err
	}
	if tree != headTree {
		identity, fallback, sign, err := r.commitSettings(ctx)
		if err != nil {
			return res, err
		}
		commit, err := r.commitTree(ctx, identity, sign, tree, head, message)
		if err != nil {
			return res, err
		}
		if err := r.moveHead(ctx, commit, head, message); err != nil {
			return res, err
		}
		res = CommitResult{Committed: true, Hash: commit, FallbackIdentity: fallback}
	}
	if err := r.recordInIndex(ctx, blobs); err != nil {
		return res, err
	}
	if res.Committed {
		r.rollUpPacks(ctx)
	}
	return res, nil
}

// Each commit adds a pack (and the commit as a loose object). Past these counts, rollUpPacks merges the
// small packs and the loose objects.
const (
	maxPacks        = 24
	maxLooseObjects = 400
)

// rollUpPacks runs `git repack --geometric=2 -d` when the repository holds more than maxPacks packs or
// maxLooseObjects loose objects: it merges the small packs and the loose objects into one pack and
// leaves the large ones alone, so its cost follows what recent changes added, not the repository. It is
// housekeeping: a failure is not the commit's, and is ignored.
func (r *Repo) rollUpPacks(ctx context.Context) {
	packs, loose, ok := r.objectCounts()
	if !ok {
		out, err := r.git(ctx, runOpts{}, "count-objects", "-v")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "count: "); ok {
				loose, _ = strconv.Atoi(v)
			}
			if v, ok := strings.CutPrefix(line, "packs: "); ok {
				packs, _ = strconv.Atoi(v)
			}
		}
	}
	if packs > maxPacks || loose > maxLooseObjects {
		r.git(ctx, runOpts{}, "repack", "--geometric=2", "-d", "-q")
	}
}

// objectCounts counts the packs of a repository whose .git is a directory, and estimates its loose
// objects as `git gc --auto` does, from one of the 256 fan-out directories: a few directory reads
// instead of a `git count-objects` on every commit. ok is false for any other layout.
func (r *Repo) objectCounts() (packs, loose int, ok bool) {
	objects := filepath.Join(r.Top, ".git", "objects")
	entries, err := os.ReadDir(filepath.Join(objects, "pack"))
	if err != nil {
		return 0, 0, false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pack") {
			packs++
		}
	}
	fanout, err := os.ReadDir(filepath.Join(objects, "17"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false
	}
	return packs, len(fanout) * 256, true
}

// emptyTree is the hash of the empty tree (SHA-1 repositories).
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
// line with the work tree: changed and new files are added (replacing a file
// that stood where the new one has a directory, or the reverse), missing ones
// removed.
func (r *Repo) updateIndex(ctx context.Context, opts runOpts, files []string) error {
	var in bytes.Buffer
	for _, f := range files {
		in.WriteString(f)
		in.WriteByte(0)
	}
	opts.stdin = &in
	_, err := r.git(ctx, opts, "update-index", "--add", "--remove", "--replace", "-z", "--stdin")
	return err
}

// recordInIndex brings the index entries of files in line with the blobs just committed: written here
// when the index has Git's default form (see writeIndex), else by `git update-index`, which reads the
// files again.
func (r *Repo) recordInIndex(ctx context.Context, b blobs) error {
	if gitDir, ok := r.plainGitDir(); ok {
		if idx, ok := indexFiles(b); ok {
			if err := writeIndex(gitDir, idx); !errors.Is(err, errIndexUnsupported) {
				return err
			}
		}
	}
	return r.updateIndex(ctx, runOpts{}, b.files)
}

// plainGitDir returns the repository's Git directory when it is the .git directory of the work tree (not
// the .git file of a linked worktree), the one layout whose index and objects this package writes itself.
func (r *Repo) plainGitDir() (string, bool) {
	gitDir := filepath.Join(r.Top, ".git")
	fi, err := os.Lstat(gitDir)
	return gitDir, err == nil && fi.IsDir()
}

// commitSettings is the configuration a commit needs: the -c options that
// supply a missing identity (fallback tells whether there are any), and
// whether commit.gpgSign asks for signed commits. One `git config` call reads
// it all.
func (r *Repo) commitSettings(ctx context.Context) (identity []string, fallback, sign bool, err error) {
	out, err := r.git(ctx, runOpts{}, "config", "-z", "--get-regexp", `^(user\.name|user\.email|commit\.gpgsign)$`)
	if err != nil && exitCode(err) != 1 { // 1: none of them is set
		return nil, false, false, err
	}
	values := map[string]string{}
	for _, rec := range strings.Split(string(out), "\x00") {
		key, value, hasValue := strings.Cut(rec, "\n")
		if key == "" {
			continue
		}
		if !hasValue {
			value = "true" // a bare key is a true boolean
		}
		values[key] = value // the last one wins, as in Git
	}
	bothEnv := func(a, b string) bool { return os.Getenv(a) != "" && os.Getenv(b) != "" }
	if values["user.name"] == "" && !bothEnv("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME") {
		identity = append(identity, "-c", "user.name="+FallbackName)
	}
	if values["user.email"] == "" && os.Getenv("EMAIL") == "" && !bothEnv("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL") {
		identity = append(identity, "-c", "user.email="+FallbackEmail)
	}
	switch strings.ToLower(values["commit.gpgsign"]) {
	case "true", "yes", "on", "1":
		sign = true
	}
	return identity, len(identity) > 0, sign, nil
}

// head returns HEAD's commit and tree, both "" on an unborn branch.
func (r *Repo) head(ctx context.Context) (commit, tree string, err error) {
	out, err := r.git(ctx, runOpts{stdin: strings.NewReader("HEAD^{commit}\nHEAD^{tree}\n")},
		"cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return "", "", err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || strings.HasSuffix(lines[0], " missing") {
		return "", "", nil // an unborn branch
	}
	commit, _, _ = strings.Cut(lines[0], " ")
	tree, kind, _ := strings.Cut(lines[1], " ")
	if kind != "tree" {
		return "", "", fmt.Errorf("gitrepo: HEAD^{tree} is %q", lines[1])
	}
	return commit, tree, nil
}

// writeTree returns the tree of HEAD with entries (see writeBlobs) applied.
//
// The tree is spliced (spliceTree); what the splice leaves to Git is made in
// a private index: `git read-tree` of HEAD, the new entries by
// `git update-index --index-info`, then `git write-tree`.
func (r *Repo) writeTree(ctx context.Context, head string, entries []string) (string, error) {
	if tree, err := r.spliceTree(ctx, head, entries); !errors.Is(err, errSpliceUnsupported) {
		return tree, err
	}
	index, err := os.CreateTemp("", "agent-vault-index-")
	if err != nil {
		return "", err
	}
	index.Close()
	os.Remove(index.Name()) // git creates it; an empty file is not an index
	defer os.Remove(index.Name())
	private := runOpts{env: []string{"GIT_INDEX_FILE=" + index.Name()}}
	if head != "" {
		if _, err := r.git(ctx, private, "read-tree", head); err != nil {
			return "", err
		}
	}
	var in bytes.Buffer
	for _, e := range entries {
		in.WriteString(e)
		in.WriteByte(0)
	}
	info := private
	info.stdin = &in
	if _, err := r.git(ctx, info, "update-index", "-z", "--index-info"); err != nil {
		return "", err
	}
	out, err := r.git(ctx, private, "write-tree")
	return strings.TrimSpace(string(out)), err
}

// blobs is what writeBlobs wrote: for each of files, its mode ("" for a file
// to remove), its blob, and the status of the regular file that was read (nil
// for a file removed or a symbolic link).
type blobs struct {
	files, modes, oids []string
	stats              []*fileStat
}

// entries returns the `update-index --index-info` line of each file: its
// mode, blob and path, or mode 0 and a null id for a file to remove.
func (b blobs) entries() []string {
	zero := strings.Repeat("0", 40)
	for _, oid := range b.oids {
		if oid != "" {
			zero = strings.Repeat("0", len(oid))
			break
		}
	}
	entries := make([]string, len(b.files))
	for i, f := range b.files {
		if b.modes[i] == "" {
			entries[i] = "0 " + zero + "\t" + f
		} else {
			entries[i] = b.modes[i] + " " + b.oids[i] + "\t" + f
		}
	}
	return entries
}

// writeBlobs reads and scans each of files and writes the blobs of those that
// exist in one pack, through `git fast-import` (blobs only: its tree building
// is quadratic in the size of a directory), streamed as each file is read and
// scanned.
func (r *Repo) writeBlobs(ctx context.Context, files []string) (blobs, error) {
	marks, err := os.CreateTemp("", "agent-vault-marks-")
	if err != nil {
		return blobs{}, err
	}
	marks.Close()
	defer os.Remove(marks.Name())
	modes := make([]string, len(files))
	stats := make([]*fileStat, len(files))
	pr, pw := io.Pipe()
	feed := make(chan error, 1)
	go func() {
		err := r.blobStream(pw, files, modes, stats)
		pw.CloseWithError(err)
		feed <- err
	}()
	// Always a pack, even for a few objects. No compression: most blobs are
	// ciphertext, which does not compress. The malloc settings stop glibc from
	// mapping and zeroing a fresh zlib state for every object.
	opts := runOpts{stdin: pr, global: []string{"-c", "fastimport.unpackLimit=0", "-c", "core.compression=0"},
		env: []string{"MALLOC_MMAP_THRESHOLD_=4194304", "MALLOC_TRIM_THRESHOLD_=134217728"}}
	_, runErr := r.git(ctx, opts, "fast-import", "--quiet", "--export-marks="+marks.Name())
	pr.CloseWithError(errors.New("git fast-import ended"))
	if err := <-feed; err != nil {
		return blobs{}, err
	}
	if runErr != nil {
		return blobs{}, runErr
	}
	data, err := os.ReadFile(marks.Name())
	if err != nil {
		return blobs{}, err
	}
	oids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if mark, oid, ok := strings.Cut(line, " "); ok {
			oids[mark] = oid
		}
	}
	b := blobs{files: files, modes: modes, oids: make([]string, len(files)), stats: stats}
	for i, f := range files {
		if modes[i] == "" {
			continue
		}
		if b.oids[i] = oids[":"+strconv.Itoa(i+1)]; b.oids[i] == "" {
			return blobs{}, fmt.Errorf("gitrepo: git fast-import reported no blob for %s", f)
		}
	}
	return b, nil
}

// blobStream writes a fast-import blob command, marked with its position from
// 1, for each of files that exists, after scanning it, and records its mode in
// modes ("" for a file that does not exist) and its status in stats. Files are
// read and scanned in batches on every core, and written in order.
func (r *Repo) blobStream(w io.Writer, files []string, modes []string, stats []*fileStat) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	const batch = 512
	type read struct {
		mode string
		data []byte
		stat *fileStat
		err  error
	}
	got := make([]read, batch)
	workers := runtime.GOMAXPROCS(0)
	for start := 0; start < len(files); start += batch {
		if r.Progress != nil {
			r.Progress(start, len(files))
		}
		part := files[start:min(start+batch, len(files))]
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, len(part)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := int(next.Add(1) - 1); j < len(part); j = int(next.Add(1) - 1) {
					mode, data, stat, err := r.readForCommit(part[j])
					if err == nil && mode != "" {
						if kind, found := ScanPrivateKey(data); found {
							err = &PrivateKeyError{Path: part[j], Kind: kind}
						}
					}
					got[j] = read{mode, data, stat, err}
				}
			}()
		}
		wg.Wait()
		for j, f := range got[:len(part)] {
			if f.err != nil {
				return f.err
			}
			if f.mode == "" {
				continue
			}
			i := start + j
			modes[i], stats[i] = f.mode, f.stat
			fmt.Fprintf(bw, "blob\nmark :%d\ndata %d\n", i+1, len(f.data))
			bw.Write(f.data)
			bw.WriteByte('\n')
		}
	}
	if r.Progress != nil {
		r.Progress(len(files), len(files))
	}
	// No "done" command: if this process dies mid-stream, fast-import ends
	// normally on blobs that nothing uses, instead of dying and leaving a crash
	// report in .git.
	return bw.Flush()
}

// readForCommit returns the mode and content that file (relative to r.Top,
// slash-separated) has in the work tree, and the status of a regular file taken
// before it is read; mode is "" when it does not exist.
// It reads with raw system calls: a change may read thousands of small files,
// and os.File's poller registration costs more than the read.
func (r *Repo) readForCommit(file string) (mode string, data []byte, stat *fileStat, err error) {
	abs := filepath.Join(r.Top, filepath.FromSlash(file))
	fd, err := syscall.Open(abs, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(abs, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	}
	switch {
	case err == syscall.ENOENT || err == syscall.ENOTDIR:
		return "", nil, nil, nil
	case err == syscall.ELOOP:
		target, err := os.Readlink(abs)
		return "120000", []byte(target), nil, err
	case err != nil:
		return "", nil, nil, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return "", nil, nil, &fs.PathError{Op: "stat", Path: abs, Err: err}
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFDIR:
		return "", nil, nil, fmt.Errorf("gitrepo: %s is a directory that Git does not list", file)
	default:
		return "", nil, nil, fmt.Errorf("gitrepo: %s is not a regular file or a symbolic link", file)
	}
	mode = "100644"
	if st.Mode&0o111 != 0 {
		mode = "100755"
	}
	data = make([]byte, 0, st.Size)
	buf := data[:st.Size]
	for len(data) < len(buf) {
		n, err := syscall.Read(fd, buf[len(data):])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", nil, nil, &fs.PathError{Op: "read", Path: abs, Err: err}
		}
		if n == 0 {
			break
		}
		data = buf[:len(data)+n]
	}
	return mode, data, statOf(&st), nil
}

// anyExists reports whether one of files (relative to r.Top) exists.
func (r *Repo) anyExists(files []string) bool {
	return slices.ContainsFunc(files, func(f string) bool {
		_, err := os.Lstat(filepath.Join(r.Top, filepath.FromSlash(f)))
		return err == nil
	})
}

// commitTree writes the commit of tree on parent (none when ""), signed when
// commit.gpgSign asks for it, and returns its hash.
func (r *Repo) commitTree(ctx context.Context, identity []string, sign bool, tree, parent, message string) (string, error) {
	args := []string{"commit-tree", tree}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	if sign {
		args = append(args, "-S")
	}
	out, err := r.git(ctx, runOpts{global: identity, stdin: strings.NewReader(message + "\n")}, args...)
	return strings.TrimSpace(string(out)), err
}

// moveHead points HEAD (its branch, or HEAD itself when detached) at commit,
// provided it still points at old ("" on an unborn branch).
func (r *Repo) moveHead(ctx context.Context, commit, old, message string) error {
	if old == "" {
		old = strings.Repeat("0", len(commit))
	}
	subject, _, _ := strings.Cut(message, "\n")
	_, err := r.git(ctx, runOpts{cLocale: true}, "update-ref", "-m", "commit: "+subject, "HEAD", commit, old)
	if err != nil {
		if now, _, headErr := r.head(ctx); headErr == nil && now != strings.Trim(old, "0") {
			return &headMovedError{err}
		}
	}
	return err
}
