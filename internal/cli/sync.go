package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/gitrepo"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type syncOptions struct {
	*global
	key    string
	prefer string
}

// newSyncCmd brings another machine's changes in and this machine's out (docs/format.md section 9.4).
// Contract: nothing local changes unless the merged state was pushed first; a conflict, an offline
// remote, a missing upstream or an upstream that does not verify changes nothing.
func newSyncCmd(g *global) *cobra.Command {
	opts := &syncOptions{global: g}
	cmd := &cobra.Command{
		Use:   "sync [--prefer local|remote]",
		Short: "Bring in the upstream's vault changes and push this machine's",
		Long: `Fetch the upstream and reconcile this working tree's vault with it, as the owner:

  up to date   nothing to do;
  ahead        push this machine's changes;
  behind       verify the upstream's vault with the owner key, then fast-forward to it;
  diverged     verify the upstream's vault and the common one, re-apply this machine's changes since
               the common state on top of the upstream's (secrets set or removed, agents added,
               re-keyed or removed, group members added or removed, admins added or removed:
               operations, never a textual merge of ciphertext or signed files), sign the result with
               a version above both sides', push it as a merge commit, and only then make it this
               working tree's.

Two changes to the same secret (or agent, or admin) on both sides are a conflict, and so is an admin
removed here whose key signed the upstream's changes: sync stops and changes nothing, unless --prefer
local (this machine's) or --prefer remote (the upstream's) says which one to keep. An upstream that
removed this machine's admin key stops sync (exit 5): this key can sign nothing there. An upstream whose
vault does not verify, or does not descend from the common signed state, is refused (exit 6). If someone
pushes meanwhile, sync starts over (three times at most). Ctrl-C stops sync at once until its merge is
pushed; a sync stopped during its push is finished by 'agent-vault repair' or the next sync.`,
		Example: `  agent-vault sync
  agent-vault sync --prefer remote`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	cmd.Flags().StringVar(&opts.prefer, "prefer", "", "on a conflict keep the `SIDE`'s change: local or remote")
	return cmd
}

// syncAttempts bounds how often sync starts over when the upstream moves under it.
const syncAttempts = 3

func (o *syncOptions) run() error {
	prefer := vault.PreferNone
	switch o.prefer {
	case "":
	case "local":
		prefer = vault.PreferLocal
	case "remote":
		prefer = vault.PreferRemote
	default:
		return usage.Errorf("--prefer takes local or remote, not %q", o.prefer)
	}
	v, key, err := o.vaultAndKey(o.key)
	if err != nil {
		return err
	}
	repo, err := gitrepo.Find(v.Top)
	if err != nil {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("%s is not in a Git repository: there is nothing to sync with", v.Top)}
	}
	ow, err := v.OpenOwnerForSync(key)
	if err != nil {
		return err
	}
	defer ow.Close()
	for attempt := 1; ; attempt++ {
		err := o.once(repo, v, ow, key, prefer)
		if errors.Is(err, gitrepo.ErrRejected) && attempt < syncAttempts {
			fmt.Fprintln(o.io.Err, "agent-vault: the upstream moved meanwhile; starting over")
			continue
		}
		return err
	}
}

// once is one attempt of sync; an error wrapping gitrepo.ErrRejected means that nothing changed and the
// upstream moved. A signal (Ctrl-C) stops it at once until the merge is pushed; once pushed, the merge is
// applied here whatever signal comes (interrupt.go).
func (o *syncOptions) once(repo *gitrepo.Repo, v *vault.Vault, ow *vault.Owner, key *vault.Key, prefer vault.Prefer) error {
	ctx := o.context()
	st, err := repo.Stand(ctx, ownerFetchTimeout, true)
	if err := interrupted(ctx); err != nil {
		return err
	}
	switch {
	case errors.Is(err, gitrepo.ErrNoUpstream):
		return &vault.Error{Kind: vault.KindError, Msg: "the current branch has no upstream to sync with; set one with: git push -u REMOTE BRANCH (or git branch --set-upstream-to REMOTE/BRANCH)"}
	case errors.Is(err, gitrepo.ErrOffline):
		return &vault.Error{Kind: vault.KindError, Msg: "cannot reach the remote; nothing was changed", Err: err}
	case err != nil:
		return err
	}
	switch st.State() {
	case "up to date":
		fmt.Fprintf(o.io.Out, "Up to date with %s (vault version %d).\n", st.Upstream, ow.Root.Version)
		return nil
	case "ahead":
		if err := repo.Push(ctx, st, st.Head, pushTimeout); err != nil {
			if err := interrupted(ctx); err != nil {
				return err // nothing changed here; the push may or may not have landed
			}
			return pushErr(err, st)
		}
		fmt.Fprintf(o.io.Out, "Pushed %d commit(s) to %s: agents see vault version %d.\n", st.Ahead, st.Upstream, ow.Root.Version)
		return nil
	case "behind":
		if err := o.fastForward(repo, v, key, st, "sync again"); err != nil {
			return err
		}
		fmt.Fprintf(o.io.Out, "Fast-forwarded to %s (%d commit(s)).\n", st.Upstream, st.Behind)
		return nil
	}
	return o.merge(ctx, repo, v, ow, key, prefer, st)
}

// merge re-applies this machine's changes on the diverged upstream's state, pushes the merge commit,
// then applies it to the working tree as an owner change (crash-safe; repair finishes it).
func (o *syncOptions) merge(ctx context.Context, repo *gitrepo.Repo, v *vault.Vault, ow *vault.Owner, key *vault.Key, prefer vault.Prefer, st gitrepo.Standing) error {
	if st.Base == "" {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("this branch and %s share no history; nothing was changed", st.Upstream)}
	}
	dir := vaultTreeDir(v)
	tree, conflicts, err := repo.MergeTree(ctx, st.Head, st.Commit)
	if err != nil {
		return err
	}
	var outside []string
	for _, c := range conflicts {
		if c != dir && !strings.HasPrefix(c, dir+"/") {
			outside = append(outside, c)
		}
	}
	if len(outside) > 0 {
		files := strings.Join(outside, " ")
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("this branch and %s both changed files outside the vault that Git cannot merge (%s); nothing was changed. Take the upstream's version of them (git checkout %s -- %s, then git commit), run agent-vault sync again, then redo your edits to them. Never merge %s with git merge: sync re-applies the vault's changes itself", st.Upstream, strings.Join(outside, ", "), st.Upstream, files, dir)}
	}
	scratch, err := newScratch(repo)
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	base, err := openCommitVault(ctx, repo, v, key, st.Base, filepath.Join(scratch, "base"), ow.Root.VaultID, "the common commit")
	if err != nil {
		return err
	}
	remote, err := openCommitVault(ctx, repo, v, key, st.Commit, filepath.Join(scratch, "upstream"), ow.Root.VaultID, st.Upstream)
	if err != nil {
		return err
	}
	roots, err := checkDescends(ctx, repo, v, key, remote, st.Base, st.Commit, base.RootSHA, st.Upstream)
	if err != nil {
		return err
	}
	signers, err := vault.HistorySigners(remote, base.RootSHA, roots)
	if err != nil {
		return err
	}
	res, err := ow.MergeSync(base, remote, prefer, signers)
	if err != nil {
		return err
	}
	merged := remote.Vault.Dir
	mc, err := repo.CommitVaultMerge(ctx, gitrepo.VaultMerge{Head: st.Head, Other: st.Commit, Base: tree, Dir: dir, Files: merged,
		Message: fmt.Sprintf("agent-vault: sync with %s: vault version %d", st.Upstream, res.Version)})
	if err != nil {
		return err
	}
	commit := mc.Hash
	changed, err := repo.ChangedPaths(ctx, st.Head, commit)
	if err != nil {
		return err
	}
	var inVault, others []string
	for _, p := range changed {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			inVault = append(inVault, rel)
		} else {
			others = append(others, p)
		}
	}
	if dirty, err := repo.Dirty(ctx, others); err != nil || len(dirty) > 0 {
		if err != nil {
			return err
		}
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("the upstream changes files that have uncommitted changes here (%s); nothing was changed: commit or stash them, then sync again", strings.Join(dirty, ", "))}
	}
	if err := interrupted(ctx); err != nil {
		return err
	}
	// Readers here may hold a mark on an admin change of this machine's that the merge re-applies in a
	// link of its own (format.md 9.4): the mark moves off it before the merge can be read anywhere.
	if err := ow.YieldChainMark(res); err != nil {
		return err
	}
	// Pushed first: if someone pushed meanwhile, nothing changed here and sync starts over; once pushed,
	// the state is applied here (a kill from now on is finished by repair or the next command). The
	// marker lets repair finish a sync killed between its push and its commit point.
	if err := writePushedMarker(repo, commit); err != nil {
		return err
	}
	if err := repo.Push(ctx, st, commit, pushTimeout); err != nil {
		if err := interrupted(ctx); err != nil {
			// The push may have landed before the signal ended it: the marker stays, so that repair
			// (or the next sync, or owner command) finds out and fast-forwards to the merge if it did.
			return err
		}
		removePushedMarker(repo)
		return pushErr(err, st)
	}
	// The merge is the vault's new state: it is made this working tree's whatever signal comes now.
	release := o.guard.protect()
	err = ow.ApplySync(res, merged, inVault, commit)
	if err == nil {
		removePushedMarker(repo)
	}
	release()
	if err != nil {
		return err
	}
	if mc.FallbackIdentity {
		o.fallbackIdentityNotice()
	}
	fmt.Fprintf(o.io.Out, "Merged with %s: re-applied %d change(s) of this machine on its version %d; pushed vault version %d.\n", st.Upstream, len(res.Applied), remote.Root.Version, res.Version)
	for _, a := range res.Applied {
		fmt.Fprintf(o.io.Out, "  %s\n", a)
	}
	for _, k := range res.Kept {
		fmt.Fprintf(o.io.Out, "  conflict, kept %s\n", k)
	}
	return nil
}

// pushedMarker is the file, relative to the Git directory, that names the merge commit a sync is pushing:
// written before the push, removed once the merge is this working tree's (or the push failed).
const pushedMarker = "agent-vault/pushed-merge"

func writePushedMarker(repo *gitrepo.Repo, commit string) error {
	gitDir, err := repo.GitDir(context.Background())
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(gitDir, filepath.FromSlash(pushedMarker)), []byte(commit+"\n"), 0o644)
}

func removePushedMarker(repo *gitrepo.Repo) {
	if gitDir, err := repo.GitDir(context.Background()); err == nil {
		os.Remove(filepath.Join(gitDir, filepath.FromSlash(pushedMarker)))
	}
}

// finishPushedSync is repair's part of sync, under the vault lock: a sync killed after it pushed its
// merge commit and before that commit became this working tree's left this machine behind the upstream.
// When the marker names such a commit, the upstream is fetched; if it holds the commit, the working tree
// fast-forwards to it as any owner change does (verified first). A push that never landed, or a merge
// already here, only clears the marker. Offline, the marker stays and repair says so; nothing fails.
func (g *global) finishPushedSync(v *vault.Vault, key *vault.Key) error {
	repo, err := gitrepo.Find(v.Top)
	if err != nil {
		return nil
	}
	gitDir, err := repo.GitDir(context.Background())
	if err != nil {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(gitDir, filepath.FromSlash(pushedMarker)))
	if err != nil {
		return nil
	}
	commit := strings.TrimSpace(string(data))
	ctx := context.Background()
	if here, err := repo.IsAncestor(ctx, commit, "HEAD"); err != nil || here {
		removePushedMarker(repo) // already here, or not a commit of this repository
		return nil
	}
	st, err := repo.Stand(ctx, ownerFetchTimeout, true)
	if err != nil {
		reason, detail := gitrepo.PullFailure(err)
		fmt.Fprintf(g.io.Err, "agent-vault: warning: a sync was interrupted after pushing %s, and the upstream cannot be compared (%s: %s); run repair or sync again when it can\n", commit, reason, detail)
		return nil
	}
	if landed, err := repo.IsAncestor(ctx, commit, st.Commit); err != nil || !landed || st.State() != "behind" {
		removePushedMarker(repo) // the push never landed (sync starts over next time), or the branch moved on
		return nil
	}
	if err := g.fastForward(repo, v, key, st, "run repair again"); err != nil {
		return err
	}
	removePushedMarker(repo)
	fmt.Fprintf(g.io.Err, "agent-vault: finished a sync interrupted after its push: fast-forwarded to %s (%d commit(s))\n", st.Upstream, st.Behind)
	return nil
}

// pushErr explains a failed push of sync; a rejected push is passed on for sync to start over.
func pushErr(err error, st gitrepo.Standing) error {
	if errors.Is(err, gitrepo.ErrRejected) {
		return err
	}
	return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("cannot push to %s; nothing was changed here", st.Upstream), Err: err}
}
