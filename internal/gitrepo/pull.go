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
	out, err := r.git(ctx, runOpts{}, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		if exitCode(err) == 1 {
			return "", fmt.Errorf("HEAD is detached: %w", ErrNoUpstream)
		}
		return "", err
	}
	branch := strings.TrimSpace(string(out))
	remote, err := r.configGet(ctx, "branch."+branch+".remote")
	if err != nil {
		return "", err
	}
	merge, err := r.configGet(ctx, "branch."+branch+".merge")
	if err != nil {
		return "", err
	}
	if remote == "" || merge == "" {
		return "", fmt.Errorf("branch %s: %w", branch, ErrNoUpstream)
	}
	if remote != "." {
		if err := r.fetch(ctx, remote, timeout); err != nil {
			return "", err
		}
	}
	out, err = r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "@{u}^{commit}")
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("branch %s: upstream %s of remote %s not found after fetching: %w", branch, merge, remote, ErrNoUpstream)
	}
	return strings.TrimSpace(string(out)), nil
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
