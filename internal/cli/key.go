package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type keyOptions struct {
	*global
	protect bool
}

// newKeyCmd groups the commands that change how a key file is kept (docs/format.md section 3.6).
func newKeyCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Protect a key file with a passphrase, or remove the passphrase",
		Long: `Change how a key file is kept on disk. 'key protect' encrypts a key file with a passphrase, as
'age -p' does (scrypt, armored), so that the stock age CLI still reads it with -i; 'key unprotect'
decrypts it again. FILE defaults to the owner key ~/.agent-vault/owner.key.

The passphrase is typed at the terminal without echo (twice for protect), or read as one line from
a file descriptor: --passphrase-fd N, or AGENT_VAULT_PASSPHRASE_FD=N. It is never taken from an
argument or from the value of an environment variable. Every command that loads a protected key asks
for its passphrase the same way.`,
		Example: `  agent-vault key protect                       # the owner key; asks for a passphrase twice
  agent-vault key protect ~/.agent-vault/agents/ci.key
  agent-vault key unprotect --passphrase-fd 3 3<passphrase.txt`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, protect := range []bool{true, false} {
		opts := &keyOptions{global: g, protect: protect}
		use, short, example := "protect [FILE]", "Encrypt a key file with a passphrase (in place, atomically)", "  agent-vault key protect\n  agent-vault key protect ~/.agent-vault/agents/ci.key --passphrase-fd 3 3<pass.txt"
		if !protect {
			use, short, example = "unprotect [FILE]", "Remove the passphrase from a key file (in place, atomically)", "  agent-vault key unprotect\n  agent-vault key unprotect ~/.agent-vault/agents/ci.key --passphrase-fd 0 <pass.txt"
		}
		cmd.AddCommand(&cobra.Command{
			Use:     use,
			Short:   short,
			Example: example,
			Args:    args(0, 1),
			RunE: func(cmd *cobra.Command, a []string) error {
				file := ""
				if len(a) == 1 {
					file = a[0]
				}
				return opts.run(file)
			},
		})
	}
	return cmd
}

func (o *keyOptions) run(file string) error {
	if file == "" {
		home, err := homeDir()
		if err != nil {
			return err
		}
		file = filepath.Join(home, "owner.key")
	} else {
		file = o.path(file)
	}
	if o.protect {
		pass, err := o.newPassphrase(file)
		if err != nil {
			return err
		}
		defer clear(pass)
		if err := vault.ProtectKeyFile(file, pass); err != nil {
			return err
		}
		fmt.Fprintf(o.io.Out, "Protected %s with a passphrase (age scrypt). Every use of the key asks for it; age -d -i %s reads it too.\n", file, file)
		return nil
	}
	if data, err := os.ReadFile(file); err == nil && !vault.IsProtectedKeyFile(data) {
		clear(data)
		return usage.Errorf("key %s is not passphrase-protected", file)
	}
	pass, err := o.passphrase(file)
	if err != nil {
		return err
	}
	defer clear(pass)
	if err := vault.UnprotectKeyFile(file, pass); err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Removed the passphrase from %s: it is a plain key file again (mode 0600).\n", file)
	return nil
}
