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

// PullFFOnly brings the current branch up to date with its upstream when that
// is a fast-forward, like `git pull --ff-only --quiet`. It runs it as its two
// steps, so that failures can be told apart without parsing git's (localised)
// messages:
//
//  1. `git fetch --quiet <remote>` for the branch's remote (skipped when the
//     upstream is a local branch). This is the only network step and the only
//     one bound by timeout (timeout <= 0 means no bound beyond ctx). It never
//     prompts: it runs in its own session with no controlling terminal, with
//     GIT_TERMINAL_PROMPT=0, askpass disabled and, unless the user configured
//     their own ssh command (GIT_SSH_COMMAND, GIT_SSH or core.sshCommand, which
//     are respected), GIT_SSH_COMMAND="ssh -o BatchMode=yes". When the timeout
//     expires the whole process group (git, ssh, remote helpers) gets SIGTERM
//     and, 2s later, SIGKILL. Any failure of this step returns an error
//     wrapping ErrOffline (and context.DeadlineExceeded on timeout) that
//     carries git's stderr; the caller may carry on with the local copy.
//  2. Nothing more when the upstream is already contained in HEAD (up to date
//     or only ahead). An error wrapping ErrNotFastForward when the branch and
//     its upstream have diverged. Otherwise `git merge --ff-only --quiet @{u}`, which
//     is local and is not interrupted by the timeout or ctx once started (a
//     killed merge could leave the working tree half-updated); it can still
//     fail, e.g. when uncommitted local changes would be overwritten, with a
//     *GitError.
//
// It returns an error wrapping ErrNoUpstream when HEAD is detached or the
// branch has no upstream, and ctx's error when ctx is done (not ErrOffline).
func (r *Repo) PullFFOnly(ctx context.Context, timeout time.Duration) error {
	out, err := r.git(ctx, runOpts{}, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		if exitCode(err) == 1 {
			return fmt.Errorf("HEAD is detached: %w", ErrNoUpstream)
		}
		return err
	}
	branch := strings.TrimSpace(string(out))
	remote, err := r.configGet(ctx, "branch."+branch+".remote")
	if err != nil {
		return err
	}
	merge, err := r.configGet(ctx, "branch."+branch+".merge")
	if err != nil {
		return err
	}
	if remote == "" || merge == "" {
		return fmt.Errorf("branch %s: %w", branch, ErrNoUpstream)
	}

	if remote != "." {
		if err := r.fetch(ctx, remote, timeout); err != nil {
			return err
		}
	}

	upstream, ok := r.Upstream(ctx)
	if !ok {
		return fmt.Errorf("branch %s: upstream %s of remote %s not found after fetching: %w", branch, merge, remote, ErrNoUpstream)
	}
	if _, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		// Up to date, or only ahead: nothing to do, as with git pull.
		upToDate, err := r.isAncestor(ctx, "@{u}", "HEAD")
		if err != nil || upToDate {
			return err
		}
		ff, err := r.isAncestor(ctx, "HEAD", "@{u}")
		if err != nil {
			return err
		}
		if !ff {
			return fmt.Errorf("branch %s and %s have diverged: %w", branch, upstream, ErrNotFastForward)
		}
	} else if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err = r.git(context.WithoutCancel(ctx), runOpts{}, "merge", "--ff-only", "--quiet", "@{u}")
	return err
}

// fetch runs `git fetch --quiet remote` without prompts, bounded by timeout.
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
	_, err := r.git(fctx, runOpts{env: env, detach: true}, "fetch", "--quiet", remote)
	if err == nil {
		return nil
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
