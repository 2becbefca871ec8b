package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/agent-vault/agent-vault/internal/gitrepo"
	"github.com/agent-vault/agent-vault/internal/home"
	"github.com/agent-vault/agent-vault/vault"
)

// homeDir is the agent-vault home (home.Dir); a user without one has no key, as for the vault package
// (vault.KindVaultNotFound).
func homeDir() (string, error) {
	h, err := home.Dir()
	if errors.As(err, new(*home.NoHomeError)) {
		return "", &vault.Error{Kind: vault.KindVaultNotFound, Err: err}
	}
	return h, err
}

// pullTimeout bounds the pull that reads make before they verify.
const pullTimeout = 5 * time.Second

func (g *global) findVault() (*vault.Vault, error) {
	v, err := vault.Find(g.dir)
	if err == nil {
		v.Recorder = g.recorder(v)
		v.Adopter = g.adopter(v)
	}
	return v, err
}

// openOwner finds the vault and opens it for change with the resolved key (--key, AGENT_VAULT_KEY,
// <home>/owner.key). Owner changes work on the working tree, never on the pull view; a working tree
// older than the view reads already use is refused (vault.Vault.BehindView).
func (g *global) openOwner(keyFlag string) (*vault.Owner, error) {
	v, key, err := g.vaultAndKey(keyFlag)
	if err != nil {
		return nil, err
	}
	if err := v.BehindView(); err != nil {
		return nil, err
	}
	return v.OpenOwner(key)
}

// vaultAndKey finds the vault and resolves the key every command that decrypts uses.
func (g *global) vaultAndKey(keyFlag string) (*vault.Vault, *vault.Key, error) {
	v, err := g.findVault()
	if err != nil {
		return nil, nil, err
	}
	opts := g.keyOptions()
	key, err := vault.ResolveKeyFor(v, g.path(keyFlag), opts)
	if err != nil {
		return nil, nil, noKeyError(v, err, opts)
	}
	return v, key, nil
}

// openReader finds the vault, pulls first unless noPull, and verifies it for the resolved key.
func (g *global) openReader(keyFlag string, noPull bool) (*vault.Snapshot, error) {
	v, key, err := g.vaultAndKey(keyFlag)
	if err != nil {
		return nil, err
	}
	return g.readVault(v, key, noPull)
}

// readVault pulls first unless noPull, and verifies the vault for key.
func (g *global) readVault(v *vault.Vault, key *vault.Key, noPull bool) (*vault.Snapshot, error) {
	if !noPull {
		if err := g.pull(v); err != nil {
			return nil, err
		}
	}
	return v.Open(key)
}

// pull fetches the repository's upstream, if it has one, into the pull view (docs/format.md section
// 6.8; the working tree is never changed). Failing to reach the remote is not an error: what is on
// disk (the working tree, or the last view) is verified and used, after one warning. The only error
// is errInterrupted: a signal stopped the pull, and the command stops too.
func (g *global) pull(v *vault.Vault) error {
	repo, err := gitrepo.Find(v.Top)
	if err != nil {
		return nil
	}
	ctx := g.context()
	up, ok := repo.Upstream(ctx)
	if !ok {
		return interrupted(ctx)
	}
	if err := repo.PullView(ctx, pullTimeout, v.Top); err != nil {
		if err := interrupted(ctx); err != nil {
			return err
		}
		reason, detail := gitrepo.PullFailure(err)
		fmt.Fprintf(g.io.Err, "agent-vault: warning: %s from %s (%s); using the local copy\n", reason, up, detail)
	}
	return interrupted(ctx)
}

// recorder commits exactly the files an owner change wrote or removed, in one Git commit (docs/format.md
// section 9, step 5).
func (g *global) recorder(v *vault.Vault) func(paths []string, message string) error {
	return func(paths []string, message string) error {
		repo, err := gitrepo.Find(v.Top)
		if err != nil {
			if errors.Is(err, gitrepo.ErrNotRepo) {
				fmt.Fprintf(g.io.Err, "agent-vault: warning: %s is not in a Git repository; the change is not committed\n", v.Top)
				return nil
			}
			return fmt.Errorf("cannot find the Git repository: %w", err)
		}
		abs := make([]string, len(paths))
		for i, p := range paths {
			abs[i] = filepath.Join(v.Dir, filepath.FromSlash(p))
		}
		if show := g.progressFunc(); show != nil {
			repo.Progress = func(done, total int) { show("committing", done, total) }
		}
		// The change is written: a signal does not stop its commit (interrupt.go).
		res, err := repo.Commit(context.WithoutCancel(g.context()), "agent-vault: "+message, abs...)
		if err != nil {
			return err
		}
		if res.FallbackIdentity {
			g.fallbackIdentityNotice()
		}
		return nil
	}
}

// fallbackIdentityNotice says, once per commit that needed it, that Git had no identity and which one
// agent-vault committed as.
func (g *global) fallbackIdentityNotice() {
	fmt.Fprintf(g.io.Err, "agent-vault: no Git identity is configured; committed as %q (set one with: git config --global user.name/user.email)\n", gitrepo.FallbackName+" <"+gitrepo.FallbackEmail+">")
}

// mutate runs change on the vault opened by its owner; the change records itself in Git. What change
// prints on standard output is held back until it succeeded, so that stdout stays empty when the
// command fails.
func (g *global) mutate(keyFlag string, change func(o *vault.Owner) error) error {
	v, key, err := g.vaultAndKey(keyFlag)
	if err != nil {
		return err
	}
	// Under the lock, before the change: the upstream's changes come in first (upstream.go).
	v.BeforeChange = func() error {
		if err := g.catchUp(v, key); err != nil {
			return err
		}
		return v.BehindView()
	}
	// A signal stops the command before the change, never inside it: opening may finish an interrupted
	// change, and the change writes and records itself (interrupt.go).
	if err := interrupted(g.context()); err != nil {
		return err
	}
	release := g.guard.protect()
	o, err := v.OpenOwner(key)
	if err != nil {
		release()
		return err
	}
	defer o.Close()
	o.Progress = g.progressFunc()
	// A change of 10,000 secrets holds about 20 MiB of live data; without a limit the heap grows to
	// twice that before the collector runs. The soft limit keeps the peak near it at no measurable cost
	// (a user's own GOMEMLIMIT wins).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(ownerMemoryLimit)
	}
	out := g.io.Out
	var held bytes.Buffer
	g.io.Out = &held
	defer func() { g.io.Out = out }()
	err = change(o)
	// Written and recorded (or failed): from here a signal stops the command again (a push that hangs).
	release()
	if g.bar != nil {
		g.bar.finish()
	}
	g.io.Out = out
	if err != nil {
		return err
	}
	if _, err := held.WriteTo(out); err != nil {
		return err
	}
	return g.afterChange(v, o.Root.Version, g.push)
}

// ownerMemoryLimit is the Go heap's soft limit during an owner change.
const ownerMemoryLimit = 32 << 20

// progressFunc returns what draws the progress of a long change on stderr, or nil when stderr is not
// a terminal or --quiet is given.
func (g *global) progressFunc() func(phase string, done, total int) {
	if !g.io.ErrTerminal || g.quiet {
		return nil
	}
	if g.bar == nil {
		g.bar = newProgressLine(g.io.Err)
	}
	return g.bar.update
}
