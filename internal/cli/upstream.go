package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/agent-vault/agent-vault/internal/gitrepo"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// Owner changes and the upstream (docs/format.md section 9.4). Before a change, an owner command fetches
// the upstream and fast-forwards to it after verifying it; after the change it says that agents will not
// see it until it is pushed, or pushes it (--push, or auto_push in the local settings).

// Network bounds of owner commands: a fetch before a change, a push after it.
const (
	ownerFetchTimeout = 10 * time.Second
	pushTimeout       = 30 * time.Second
)

// settingsFile is the vault's local settings, relative to the Git directory: never committed, one per
// clone (docs/format.md section 9.4).
const settingsFile = "agent-vault/settings.yaml"

// localSettings are the keys of settingsFile.
type localSettings struct {
	AutoPush bool `yaml:"auto_push"`
}

// loadSettings reads the local settings of repo; a missing file is the defaults, a malformed one an error
// that names it.
func loadSettings(repo *gitrepo.Repo) (localSettings, string, error) {
	var s localSettings
	gitDir, err := repo.GitDir(context.Background())
	if err != nil {
		return s, "", err
	}
	path := filepath.Join(gitDir, filepath.FromSlash(settingsFile))
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, path, nil
	}
	if err != nil {
		return s, path, fmt.Errorf("cannot read the local settings %s: %w", path, err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return s, path, usage.Errorf("local settings %s: %v (the only key is auto_push: true or false)", path, err)
	}
	return s, path, nil
}

// vaultTreeDir is the vault directory's path in the repository's tree, slash-separated.
func vaultTreeDir(v *vault.Vault) string {
	l, _ := vault.ViewLayoutOf(v.Top)
	return l.Prefix + vault.DirName
}

// catchUp brings the working tree of v up to date with its upstream before an owner change, under the
// vault's lock: a fetch (offline: one warning, the change is made on this machine's copy and sync
// reconciles it later; nothing is lost), then, when the upstream is ahead, a fast-forward to it after its
// vault verifies with the owner key and descends from this machine's signed state. A diverged branch is
// refused: sync re-applies this machine's changes first.
func (g *global) catchUp(v *vault.Vault, key *vault.Key) error {
	repo, err := gitrepo.Find(v.Top)
	if err != nil {
		return nil
	}
	// A signal ends the fetch: nothing has been written yet (the fast-forward below runs on its own).
	st, err := repo.Stand(g.context(), ownerFetchTimeout, true)
	switch {
	case errors.Is(err, gitrepo.ErrNoUpstream):
		return nil
	case errors.Is(err, gitrepo.ErrOffline):
		reason, detail := gitrepo.PullFailure(err)
		fmt.Fprintf(g.io.Err, "agent-vault: warning: %s (%s); the change is made on this machine's copy: run 'agent-vault sync' when the remote is reachable\n", reason, detail)
		return nil
	case err != nil:
		return fmt.Errorf("cannot compare with the upstream: %w", err)
	}
	switch st.State() {
	case "behind":
		if err := g.fastForward(repo, v, key, st, "run the command again"); err != nil {
			return err
		}
		fmt.Fprintf(g.io.Err, "agent-vault: fast-forwarded to %s (%d new commit(s)) before the change\n", st.Upstream, st.Behind)
	case "diverged":
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("this branch and %s have diverged (%d local and %d upstream commits); nothing was changed: run 'agent-vault sync' first, which re-applies this machine's changes on the upstream's, then run the command again", st.Upstream, st.Ahead, st.Behind)}
	}
	return nil
}

// fastForward brings the working tree of v, which is behind its upstream (st), to the upstream's commit,
// under the vault lock; owner changes and sync share it. The upstream's vault is written from Git into a
// scratch directory and must verify with the owner key, and its signed state must descend from the one
// the working tree holds: an older or unrelated signed state that someone pushed is refused (exit 6).
// Files that the upstream changes must have no uncommitted change here. Then the vault is replaced as an
// owner change whose commit point is the upstream's signed root (vault.Vault.AdoptUpstream), after which
// the branch, the index and the files outside the vault follow: a kill at any instant is undone, or
// finished by repair or the next owner command, and never leaves a torn vault (git merge --ff-only
// would). On an error nothing was changed; again says what to do once the blocking files are committed.
func (g *global) fastForward(repo *gitrepo.Repo, v *vault.Vault, key *vault.Key, st gitrepo.Standing, again string) error {
	// A signal stops the fast-forward until its commit point (nothing is written before it); from there
	// the change is written whole (interrupt.go).
	ctx := g.context()
	scratch, err := newScratch(repo)
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	remote, err := openCommitVault(ctx, repo, v, key, st.Commit, filepath.Join(scratch, "upstream"), "", st.Upstream)
	if err != nil {
		return err
	}
	local, err := os.ReadFile(filepath.Join(v.Dir, "state", "root"))
	if err != nil {
		return fmt.Errorf("cannot read this working tree's signed state: %w", err)
	}
	from := vault.Hash(local)
	roots, err := checkDescends(ctx, repo, v, key, remote, st.Head, st.Commit, from, st.Upstream)
	if err != nil {
		return err
	}
	changed, err := repo.ChangedPaths(ctx, st.Head, st.Commit)
	if err != nil {
		return err
	}
	dirty, err := repo.Dirty(ctx, changed)
	if err != nil {
		return err
	}
	if len(dirty) > 0 {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("cannot fast-forward to %s: it changes files that have uncommitted changes here (%s); nothing was changed: commit or stash them, then %s", st.Upstream, strings.Join(dirty, ", "), again)}
	}
	dir := vaultTreeDir(v)
	var inVault []string
	for _, p := range changed {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			inVault = append(inVault, rel)
		}
	}
	if err := interrupted(ctx); err != nil {
		return err
	}
	release := g.guard.protect()
	defer release()
	return v.AdoptUpstream(remote, inVault, st.Commit, st.Head, from, roots)
}

// checkDescends refuses remote, the vault of commit tip, unless its signed state descends from the state
// whose root hash is from, through the signed roots that the history base..tip holds, which it returns.
func checkDescends(ctx context.Context, repo *gitrepo.Repo, v *vault.Vault, key *vault.Key, remote *vault.Snapshot, base, tip, from, name string) ([][]byte, error) {
	roots, err := repo.Blobs(ctx, base, tip, vaultTreeDir(v)+"/state/root")
	if err != nil {
		return nil, err
	}
	ok, err := vault.DescendsFrom(key, remote, from, roots)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := interrupted(ctx); err != nil {
			return nil, err // a history cut short by the signal proves nothing
		}
		return nil, &vault.Error{Kind: vault.KindIntegrity, Msg: fmt.Sprintf("the vault of %s (version %d) is signed by the owner but does not descend from this machine's signed state: an older or unrelated state was pushed; nothing was changed", name, remote.Root.Version)}
	}
	return roots, nil
}

// openCommitVault writes the vault of commit into dir and verifies it as its owner, detached from this
// machine's marks (vault.Vault.OpenDetached); vaultID "" accepts the id it holds. name says whose it is in
// messages. A vault that verifies but does not list this key as an admin (another admin removed it) is a
// not-authorized error: this key can change nothing there.
func openCommitVault(ctx context.Context, repo *gitrepo.Repo, v *vault.Vault, key *vault.Key, commit, dir, vaultID, name string) (*vault.Snapshot, error) {
	prefix := strings.TrimSuffix(vaultTreeDir(v), vault.DirName)
	ok, err := repo.CheckoutVault(ctx, commit, prefix, dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := interrupted(ctx); err != nil {
			return nil, err
		}
		return nil, &vault.Error{Kind: vault.KindIntegrity, Msg: fmt.Sprintf("the commit of %s holds no vault at %s; nothing was changed", name, vaultTreeDir(v))}
	}
	s, err := v.OpenDetached(filepath.Join(dir, filepath.FromSlash(vaultTreeDir(v))), key, vaultID)
	if vault.KindOf(err) == vault.KindNotAuthorized {
		return nil, &vault.Error{Kind: vault.KindNotAuthorized, Msg: fmt.Sprintf("the vault of %s no longer lists this machine's key as an admin (another admin removed it): this key can sign no change there, so nothing was changed. Changes this machine has not pushed ('git log %s..HEAD') must be made again by an admin of the vault; 'git pull --ff-only' follows the upstream when there are none", name, name), Err: err}
	}
	if err != nil {
		return nil, &vault.Error{Kind: vault.KindOf(err), Msg: fmt.Sprintf("the vault of %s does not verify; nothing was changed", name), Err: err}
	}
	return s, nil
}

// newScratch makes a private directory under the Git directory for states written from Git. The caller
// holds the vault lock, so that scratch directories left by an owner command that was killed are no one's:
// they are removed first.
func newScratch(repo *gitrepo.Repo) (string, error) {
	gitDir, err := repo.GitDir(context.Background())
	if err != nil {
		return "", err
	}
	base := filepath.Join(gitDir, "agent-vault")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	removeScratch(repo)
	return os.MkdirTemp(base, "sync-")
}

// removeScratch removes the scratch directories of repo; the caller holds the vault lock.
func removeScratch(repo *gitrepo.Repo) {
	gitDir, err := repo.GitDir(context.Background())
	if err != nil {
		return
	}
	left, _ := filepath.Glob(filepath.Join(gitDir, "agent-vault", "sync-*"))
	for _, d := range left {
		os.RemoveAll(d)
	}
}

// afterChange tells, after an owner change, whether agents will see it: with an upstream, it pushes the
// change when push or the local auto_push setting asks for it, and otherwise says that agents will not
// see it until it is pushed. A failed push is an error (the change stays made and committed locally).
func (g *global) afterChange(v *vault.Vault, version uint64, push bool) error {
	repo, err := gitrepo.Find(v.Top)
	if err != nil {
		return nil
	}
	// The change is recorded: a signal may end the push (the change stays made and committed).
	ctx := g.context()
	st, err := repo.Stand(ctx, 0, false)
	if err != nil {
		if push {
			return &vault.Error{Kind: vault.KindError, Msg: "the change is made and committed, but there is nowhere to push it: the branch has no upstream (set one with git push -u REMOTE BRANCH)"}
		}
		if repo.HasRemote(ctx) {
			fmt.Fprintf(g.io.Err, "agent-vault: note: the branch has no upstream; agents that read a clone will not see version %d until it is pushed (git push -u REMOTE BRANCH)\n", version)
		}
		return nil
	}
	settings, path, err := loadSettings(repo)
	if err != nil {
		return err
	}
	if !push && !settings.AutoPush {
		fmt.Fprintf(g.io.Err, "agent-vault: note: not pushed; agents reading %s will not see version %d until it is (agent-vault sync, git push, or --push; auto_push: true in %s pushes every change)\n", st.Upstream, version, path)
		return nil
	}
	if err := repo.Push(ctx, st, "HEAD", pushTimeout); err != nil {
		msg := "the change is made and committed on this machine (version %d), but pushing it to %s failed; agents will not see it until it is pushed: run 'agent-vault sync'"
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf(msg, version, st.Upstream), Err: err}
	}
	fmt.Fprintf(g.io.Err, "agent-vault: pushed version %d to %s\n", version, st.Upstream)
	return nil
}

// changingCommands are the owner commands that change the vault, which take --push.
var changingCommands = []string{"add-agent", "remove-agent", "recover-agent", "set", "import", "rm", "grant", "revoke", "migrate"}

// addPushFlags gives every changing command --push.
func (g *global) addPushFlags(root *cobra.Command) {
	for _, c := range root.Commands() {
		if slices.Contains(changingCommands, c.Name()) {
			c.Flags().BoolVar(&g.push, "push", false, "push the change to the upstream once it is made (default: the auto_push local setting)")
		}
	}
}

// adopter moves the working tree of v to a sync's merge commit or to the upstream's commit of a
// fast-forward (vault.Vault.Adopter).
func (g *global) adopter(v *vault.Vault) func(commit, from string) error {
	return func(commit, from string) error {
		repo, err := gitrepo.Find(v.Top)
		if err != nil {
			return err
		}
		return repo.Adopt(context.Background(), commit, from, vaultTreeDir(v))
	}
}

// upstreamFinding is check's report of where the working tree's branch stands against its upstream (as
// last fetched; check's own pull fetches first unless --no-pull): a warning when it is ahead (agents do
// not see the local changes), behind, or diverged; nil when it is up to date or has no upstream.
func (g *global) upstreamFinding(s *vault.Snapshot) *vault.Finding {
	top := s.Vault.Top
	if s.Vault.Origin != "" {
		top = filepath.Dir(s.Vault.Origin)
	}
	repo, err := gitrepo.Find(top)
	if err != nil {
		return nil
	}
	st, err := repo.Stand(context.Background(), 0, false)
	if err != nil {
		return nil
	}
	var msg string
	switch st.State() {
	case "ahead":
		msg = fmt.Sprintf("the vault is %d commit(s) ahead of %s: agents reading it do not see these changes until they are pushed (agent-vault sync)", st.Ahead, st.Upstream)
	case "behind":
		msg = fmt.Sprintf("the working tree is %d commit(s) behind %s: owner commands fast-forward first; agent-vault sync does it now", st.Behind, st.Upstream)
	case "diverged":
		msg = fmt.Sprintf("the vault has diverged from %s (%d local, %d upstream commits): agent-vault sync re-applies this machine's changes on the upstream's", st.Upstream, st.Ahead, st.Behind)
	default:
		return nil
	}
	return &vault.Finding{Level: "warning", Path: "", Message: msg, Summary: msg}
}
