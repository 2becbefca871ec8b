// Package gitrepo drives the git command-line tool for agent-vault.
//
// Git is only the sync layer of a vault and is untrusted; this package never
// decides anything about the vault's contents. It exists so that every git
// operation agent-vault performs goes through the user's own `git` binary, with
// the user's configuration, commit signing, credential helpers and SSH
// configuration applied (commits of vault files run no commit hooks: see
// [Repo.Commit]). It never uses a Go implementation of git. Two things it
// computes itself, each held by a test to what Git computes: the ids of the
// trees a commit splices (tree.go; Git writes them), and the index entries of
// the files a commit records, written under Git's index lock when the index
// has the form Git gives it by default (index.go; any other form is left to
// `git update-index`).
//
// Every function runs `git -C <top>` and removes from git's environment the
// variables that select a repository (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE,
// ...), so that a Repo always means the working tree it names, even when
// agent-vault itself runs inside a git hook. Error messages carry git's stderr,
// trimmed, with credentials embedded in URLs redacted; they never carry file
// contents.
//
// The package also owns the rule that keeps private key material out of the
// repository (see [ScanPrivateKey]): [Repo.Commit] enforces it in Go, and
// [Repo.InstallPreCommitHook] installs a shell hook generated from the same
// pattern list, so that plain `git commit` enforces it too.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Sentinel errors. Test with errors.Is; the returned errors wrap them with
// detail.
var (
	// ErrNotRepo: the directory is not inside a git working tree.
	ErrNotRepo = errors.New("not inside a git working tree")
	// ErrGitNotFound: no `git` executable on PATH.
	ErrGitNotFound = errors.New("git executable not found on PATH")
	// ErrOffline: the remote could not be reached or fetched from (network,
	// DNS, authentication, a missing repository, or the timeout expired).
	// The local repository is unchanged.
	ErrOffline = errors.New("remote unreachable")
	// ErrNoUpstream: the current branch has no upstream (or HEAD is detached).
	ErrNoUpstream = errors.New("no upstream branch")
)

// GitError is a git command that exited unsuccessfully.
type GitError struct {
	// Command is the git subcommand, e.g. "commit".
	Command string
	// ExitCode is git's exit status, or -1 when it did not exit normally.
	ExitCode int
	// Stderr is git's standard error, trimmed and with URL credentials
	// redacted.
	Stderr string
}

func (e *GitError) Error() string {
	msg := fmt.Sprintf("git %s: exit status %d", e.Command, e.ExitCode)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Repo is a git working tree.
type Repo struct {
	// Top is the absolute path of the top of the working tree, as reported by
	// `git rev-parse --show-toplevel` (symbolic links resolved).
	Top string
	// Progress, when set, is told how many of the files Commit records it
	// has read, scanned and handed to Git.
	Progress func(done, total int)
}

// Find returns the working tree that contains dir (git -C dir rev-parse
// --show-toplevel). It returns an error wrapping ErrNotRepo when dir is not
// inside a working tree (including inside a .git directory or a bare
// repository), an error wrapping fs.ErrNotExist when dir does not exist, and
// an error wrapping ErrGitNotFound when git is not installed.
//
// A command looks up its repository several times (before, during and after a change): the working tree
// found for dir is remembered for the life of the process, as long as its .git is still there.
func Find(dir string) (*Repo, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	if top, ok := foundTops.Load(dir); ok {
		if _, err := os.Lstat(filepath.Join(top.(string), ".git")); err == nil {
			return &Repo{Top: top.(string)}, nil
		}
		foundTops.Delete(dir)
	}
	r, err := find(dir)
	if err == nil {
		foundTops.Store(dir, r.Top)
	}
	return r, err
}

// foundTops maps a directory given to Find to the top of its working tree.
var foundTops sync.Map

func find(dir string) (*Repo, error) {
	res, err := run(context.Background(), runOpts{dir: dir, cLocale: true}, "rev-parse", "--show-toplevel")
	if err != nil {
		var ge *GitError
		if errors.As(err, &ge) && (strings.Contains(ge.Stderr, "not a git repository") ||
			strings.Contains(ge.Stderr, "work tree")) {
			return nil, fmt.Errorf("%s: %w", dir, ErrNotRepo)
		}
		return nil, err
	}
	top := strings.TrimRight(string(res), "\r\n")
	if top == "" {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotRepo)
	}
	top = filepath.FromSlash(top)
	if !filepath.IsAbs(top) {
		abs, err := filepath.Abs(filepath.Join(dir, top))
		if err != nil {
			return nil, err
		}
		top = abs
	}
	return &Repo{Top: filepath.Clean(top)}, nil
}

// Init returns the working tree that contains dir, first running
// `git init --quiet dir` when dir is not inside one (git creates dir if it
// does not exist). An existing repository is never re-initialised. The
// user's init configuration (init.defaultBranch, templates) applies.
func Init(dir string) (*Repo, error) {
	r, err := Find(dir)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, ErrNotRepo) && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	clearInterruptedInit(dir)
	_, err = run(context.Background(), runOpts{dir: "."}, "init", "--quiet", "--", dir)
	if err != nil {
		// The git init of a killed agent-vault may still be finishing, or may have just died holding the
		// configuration lock: wait for it to end or go stale, then try once more.
		if _, lerr := os.Lstat(filepath.Join(dir, ".git", "config.lock")); lerr != nil {
			time.Sleep(interruptedInitWait / 4)
		}
		clearInterruptedInit(dir)
		_, err = run(context.Background(), runOpts{dir: "."}, "init", "--quiet", "--", dir)
	}
	if err != nil {
		return nil, err
	}
	return Find(dir)
}

// interruptedInitWait is how long the configuration lock of a .git that is
// not yet a repository must stay unchanged before it is taken for the lock
// of a `git init` that was killed.
var interruptedInitWait = time.Second

// clearInterruptedInit removes the configuration lock that a killed
// `git init` left in dir/.git, which is then no repository yet, so that
// init can run again: it waits while the lock changes (a live git) until it
// goes away, or stays unchanged for interruptedInitWait.
func clearInterruptedInit(dir string) {
	lock := filepath.Join(dir, ".git", "config.lock")
	first, err := os.Stat(lock)
	if err != nil {
		return
	}
	since := time.Now()
	for giveUp := since.Add(5 * interruptedInitWait); time.Now().Before(giveUp); {
		time.Sleep(50 * time.Millisecond)
		fi, err := os.Stat(lock)
		if err != nil {
			return // the live git finished
		}
		if !fi.ModTime().Equal(first.ModTime()) || fi.Size() != first.Size() {
			first, since = fi, time.Now() // still being written
			continue
		}
		if time.Since(since) >= interruptedInitWait {
			os.Remove(lock)
			return
		}
	}
}

// runOpts configures one git invocation.
type runOpts struct {
	// started, when set, is told git's process id once it runs.
	started func(pid int)
	dir     string    // working directory passed as git -C
	stdin   io.Reader // nil means /dev/null
	stdout  io.Writer // nil means collect and return it
	env     []string  // extra environment, appended last (wins)
	// cLocale runs git with LC_ALL=C, for the few calls whose stderr is
	// inspected.
	cLocale bool
	// detach runs git in its own session (no controlling terminal, so
	// nothing can prompt on it) and kills the whole process group when ctx
	// is done: SIGTERM, then SIGKILL after killGrace. Used for network
	// operations. Without it, ctx cancellation sends SIGTERM to git alone
	// (git removes its lock files on SIGTERM) and SIGKILL after killGrace.
	detach bool
	// global are options placed before the subcommand (e.g. -c k=v).
	global []string
}

// killGrace is how long a git process gets to exit after SIGTERM.
const killGrace = 2 * time.Second

// repoLocationEnv are the variables with which git selects a repository; a
// Repo always means its own working tree, so they are not passed on.
var repoLocationEnv = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX",
	"GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE",
	"GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_INTERNAL_SUPER_PREFIX",
	"GIT_NAMESPACE",
}

func gitEnv(extra []string, cLocale bool) []string {
	env := make([]string, 0, len(os.Environ())+len(extra)+2)
next:
	for _, kv := range os.Environ() {
		for _, name := range repoLocationEnv {
			if strings.HasPrefix(kv, name+"=") {
				continue next
			}
		}
		env = append(env, kv)
	}
	if cLocale {
		env = append(env, "LC_ALL=C", "LANGUAGE=C")
	}
	return append(env, extra...)
}

// run runs git with args in opts.dir and returns its stdout. A non-zero exit
// is a *GitError.
func run(ctx context.Context, opts runOpts, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	argv := append([]string{"-C", opts.dir}, opts.global...)
	argv = append(argv, args...)
	cmd := exec.Command("git", argv...)
	cmd.Env = gitEnv(opts.env, opts.cLocale)
	cmd.Stdin = opts.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if opts.stdout != nil {
		cmd.Stdout = opts.stdout
	}
	cmd.Stderr = &stderr
	cmd.WaitDelay = killGrace
	if opts.detach {
		detachProcess(cmd)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, ErrGitNotFound
		}
		return nil, fmt.Errorf("running git %s: %w", args[0], err)
	}
	if opts.started != nil {
		opts.started(cmd.Process.Pid)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			terminate(cmd, opts.detach)
			select {
			case <-done:
			case <-time.After(killGrace):
			}
			kill(cmd, opts.detach)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return stdout.Bytes(), fmt.Errorf("git %s: %w", args[0], ctxErr)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stdout.Bytes(), &GitError{Command: args[0], ExitCode: ee.ExitCode(), Stderr: cleanStderr(stderr.Bytes())}
		}
		return stdout.Bytes(), fmt.Errorf("git %s: %w", args[0], err)
	}
	return stdout.Bytes(), nil
}

// maxStderr bounds the stderr carried in an error; the tail is kept, since
// git puts the decisive "fatal:" line last.
const maxStderr = 2000

var urlUserinfo = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@`) })

// cleanStderr trims git's stderr for an error message, redacting the
// userinfo of URLs (which may hold a password or token).
func cleanStderr(b []byte) string {
	s := strings.TrimSpace(string(b))
	s = urlUserinfo().ReplaceAllString(s, "${1}<redacted>@")
	if len(s) > maxStderr {
		s = "…" + s[len(s)-maxStderr:]
	}
	return s
}

// git runs a git subcommand in the working tree.
func (r *Repo) git(ctx context.Context, opts runOpts, args ...string) ([]byte, error) {
	opts.dir = r.Top
	return run(ctx, opts, args...)
}

// exitCode returns the exit code of a *GitError, or -2 for any other error.
func exitCode(err error) int {
	var ge *GitError
	if errors.As(err, &ge) {
		return ge.ExitCode
	}
	return -2
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
