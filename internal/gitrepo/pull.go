package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Upstream returns the current branch's upstream in git's short form (e.g.
// "origin/main"), from `git rev-parse --abbrev-ref --symbolic-full-name @{u}`.
// It returns false when HEAD is detached, the branch has no upstream, or the
// upstream's remote-tracking ref does not exist yet.
func (r *Repo) Upstream(ctx context.Context) (string, bool) {
	out, err := r.git(ctx, runOpts{}, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
	if err != nil {
		return "", false
	}
	up := strings.TrimSpace(string(out))
	return up, up != ""
}

// noPromptEnv makes git and what it runs fail rather than ask for anything:
// no terminal prompts, no askpass programs (an empty GIT_ASKPASS also
// overrides core.askPass and SSH_ASKPASS), no ssh askpass, and no Git
// Credential Manager dialogs. Credential helpers that answer without asking
// still work.
var noPromptEnv = []string{
	"GIT_TERMINAL_PROMPT=0",
	"GIT_ASKPASS=",
	"SSH_ASKPASS_REQUIRE=never",
	"GCM_INTERACTIVE=never",
}

// batchSSHCommand is used for GIT_SSH_COMMAND when the user has configured no
// ssh command of their own; ~/.ssh/config still applies.
const batchSSHCommand = "ssh -o BatchMode=yes"

// FetchUpstream brings the current branch's upstream up to date and returns the commit it names. It
// changes no working tree, index or branch of the repository (see PullView for what a reader does with
// the commit). Its network step:
//
//   - `git fetch --quiet <remote>` for the branch's remote (skipped when the upstream is a local branch).
//     This is the only network step and the only one bound by timeout (timeout <= 0 means no bound
//     beyond ctx). It never prompts: it runs in its own session with no controlling terminal, with
//     GIT_TERMINAL_PROMPT=0, askpass disabled and, unless the user configured their own ssh command
//     (GIT_SSH_COMMAND, GIT_SSH or core.sshCommand, which are respected),
//     GIT_SSH_COMMAND="ssh -o BatchMode=yes". When the timeout expires the whole process group (git,
//     ssh, remote helpers) gets SIGTERM and, 2s later, SIGKILL. Any failure of this step returns an
//     error wrapping ErrOffline (and context.DeadlineExceeded on timeout) that carries git's stderr; the
//     caller may carry on with what it has.
//
// It returns an error wrapping ErrNoUpstream when HEAD is detached or the branch has no upstream, and
// ctx's error when ctx is done (not ErrOffline).
func (r *Repo) FetchUpstream(ctx context.Context, timeout time.Duration) (string, error) {
	branch, remote, merge, err := r.branchUpstream(ctx)
	if err != nil {
		return "", err
	}
	if remote != "." {
		if err := r.fetch(ctx, remote, timeout); err != nil {
			return "", err
		}
	}
	out, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "@{u}^{commit}")
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("branch %s: upstream %s of remote %s not found after fetching: %w", branch, merge, remote, ErrNoUpstream)
	}
	return strings.TrimSpace(string(out)), nil
}

// branchUpstream returns the current branch and its configured upstream (branch.<name>.remote and
// .merge), with one `git for-each-ref`: every command that may change the vault asks first. The error
// wraps ErrNoUpstream when HEAD is detached or the branch has no upstream.
func (r *Repo) branchUpstream(ctx context.Context) (branch, remote, merge string, err error) {
	out, err := r.git(ctx, runOpts{}, "for-each-ref",
		"--format=%(HEAD)%00%(refname:short)%00%(upstream:remotename)%00%(upstream:remoteref)", "refs/heads/")
	if err != nil {
		return "", "", "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 4 || f[0] != "*" {
			continue
		}
		if f[2] == "" || f[3] == "" {
			return f[1], "", "", fmt.Errorf("branch %s: %w", f[1], ErrNoUpstream)
		}
		return f[1], f[2], f[3], nil
	}
	return "", "", "", fmt.Errorf("HEAD is detached or on an unborn branch: %w", ErrNoUpstream)
}

// A fetch that meets another fetch updating the same refs is retried this often, this far apart.
const (
	fetchLockAttempts = 30
	fetchLockWait     = 100 * time.Millisecond
)

// fetch runs `git fetch --quiet remote` without prompts, bounded by timeout. A fetch refused because
// another one holds the lock of a remote-tracking ref is tried again for up to 3 s.
func (r *Repo) fetch(ctx context.Context, remote string, timeout time.Duration) error {
	env := append([]string(nil), noPromptEnv...)
	if os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		sshCmd, err := r.configGet(ctx, "core.sshCommand")
		if err != nil {
			return err
		}
		if sshCmd == "" {
			env = append(env, "GIT_SSH_COMMAND="+batchSSHCommand)
		}
	}
	fctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var err error
	for attempt := 1; ; attempt++ {
		_, err = r.git(fctx, runOpts{env: env, detach: true}, "fetch", "--quiet", remote)
		if err == nil {
			return nil
		}
		// Another fetch updates the same remote-tracking refs (one that an interrupted command left
		// running in the background, say): Git refuses to lock them until it is done. Wait for it.
		var ge *GitError
		if attempt < fetchLockAttempts && fctx.Err() == nil && errors.As(err, &ge) && strings.Contains(ge.Stderr, "cannot lock ref") {
			time.Sleep(fetchLockWait)
			continue
		}
		break
	}
	if ctx.Err() != nil {
		return fmt.Errorf("git fetch %s: %w", remote, ctx.Err())
	}
	if errors.Is(fctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: fetching from %s: timed out after %v: %w", ErrOffline, remote, timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%w: fetching from %s: %w", ErrOffline, remote, err)
}

// isAncestor reports whether commit a is an ancestor of (or equal to) b.
func (r *Repo) isAncestor(ctx context.Context, a, b string) (bool, error) {
	_, err := r.git(ctx, runOpts{}, "merge-base", "--is-ancestor", a, b)
	if err == nil {
		return true, nil
	}
	if exitCode(err) == 1 {
		return false, nil
	}
	return false, err
}

// PullFailure says why a pull failed, for a one-line warning: reason is "offline" when the remote could
// not be reached and "could not pull" otherwise; detail is git's message on one line.
func PullFailure(err error) (reason, detail string) {
	reason = "could not pull"
	if errors.Is(err, ErrOffline) {
		reason = "offline"
	}
	return reason, strings.Join(strings.Fields(err.Error()), " ")
}
