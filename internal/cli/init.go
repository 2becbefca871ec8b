package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/gitrepo"
	"github.com/agent-vault/agent-vault/vault"
)

type initOptions struct {
	*global
	dir        string
	passphrase bool // --passphrase: a new owner key is protected with a passphrase
	pq         bool // --pq: a post-quantum vault, owned by <home>/owner-pq.key (init_pq.go)
}

func newInitCmd(g *global) *cobra.Command {
	opts := &initOptions{global: g}
	cmd := &cobra.Command{
		Use:   "init [dir]",
		Short: "Create a vault in a directory (default: the current one)",
		Long: `Create .agent-vault/ in DIR, running 'git init' when DIR is not in a Git repository. The owner key
~/.agent-vault/owner.key is created on first use and reused afterwards, so one owner key serves several
vaults. A pre-commit hook that blocks private keys is installed (an existing hook is kept and chained),
and the new vault is committed.`,
		Example: `  cd my-project && agent-vault init
  agent-vault init ~/secrets`,
		Args: args(0, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			opts.dir = "."
			if len(a) == 1 {
				opts.dir = a[0]
			}
			return opts.run()
		},
	}
	cmd.Flags().BoolVar(&opts.passphrase, "passphrase", false, "protect a new owner key with a passphrase (see 'agent-vault key')")
	cmd.Flags().BoolVar(&opts.pq, "pq", false, "post-quantum vault: owner and agents get hybrid ML-KEM-768 + X25519 keys (age1pq); owner key ~/.agent-vault/owner-pq.key")
	return cmd
}

func (o *initOptions) run() error {
	dir := o.dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(o.global.dir, dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	if err := vault.New(dir).ClearForInit(); err != nil {
		return err
	}
	key, keyPath, created, err := o.initOwnerKey()
	if err != nil {
		return err
	}
	repo, err := gitrepo.Init(dir)
	if err != nil {
		return fmt.Errorf("cannot set up Git in %s: %w", dir, err)
	}
	hook, err := repo.InstallPreCommitHook()
	if err != nil {
		return fmt.Errorf("cannot install the pre-commit hook: %w", err)
	}
	v := vault.New(dir)
	v.Recorder = o.recorder(v)
	if err := interrupted(o.context()); err != nil {
		return err
	}
	release := o.guard.protect()
	err = v.Init(key)
	release()
	if err != nil {
		return err
	}
	s, err := v.Open(key)
	if err != nil {
		return err
	}
	out := o.io.Out
	// The first line and the owner key's are agent-vault 0.1's, which scripts grep.
	fmt.Fprintf(out, "Vault initialized in %s\n", v.Top)
	fmt.Fprintf(out, "Vault id %s, files in %s\n", s.Root.VaultID, v.Dir)
	if created {
		fmt.Fprintf(out, "Your owner key has been saved to %s (0600, created now).\n", keyPath)
	} else {
		fmt.Fprintf(out, "Using the existing owner key %s.\n", keyPath)
	}
	fmt.Fprintf(out, "Installed the pre-commit hook %s.\n", hook)
	fmt.Fprintf(out, "\nBack up the owner key now (a password manager or offline copy). It decrypts every secret and\nsigns the vault: without it nobody can change the vault or recover an agent's key.\n")
	fmt.Fprintf(out, "\nNext: agent-vault add-agent NAME, then agent-vault set GROUP/NAME\n")
	return nil
}

// ownerKey loads <home>/owner.key, creating it (0600, in a 0700 directory) when it does not exist, and
// gives a plugin-held one its sealed signing key (docs/format.md section 3.7).
func (o *initOptions) ownerKey() (*vault.Key, string, bool, error) {
	home, err := homeDir()
	if err != nil {
		return nil, "", false, err
	}
	path := filepath.Join(home, "owner.key")
	created := false
	if err := o.checkPassphraseFlag(path); err != nil {
		return nil, "", false, err
	}
	if _, err := os.Lstat(path); os.IsNotExist(err) {
		data, err := o.newOwnerKeyFile(path)
		if err != nil {
			return nil, "", false, err
		}
		if err := fsutil.WriteNewPrivateFile(path, data); err != nil {
			return nil, "", false, fmt.Errorf("cannot write the owner key: %w", err)
		}
		created = true
	}
	if err := fsutil.MkdirPrivate(home); err != nil {
		return nil, "", false, err
	}
	key, err := vault.LoadKeyFile(path, o.keyOptions())
	if err != nil {
		return nil, "", false, err
	}
	if key.NeedsSigningKey() {
		if key, err = vault.AddSigningKey(path, o.keyOptions()); err != nil {
			return nil, "", false, err
		}
		fmt.Fprintf(o.io.Err, "agent-vault: sealed a new owner signing key to the %s plugin key in %s\n", key.Plugin.Name(), path)
	}
	key.IsOwner = true
	return key, path, created, nil
}
