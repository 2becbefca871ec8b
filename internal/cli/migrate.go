package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type migrateOptions struct {
	*global
	key string
}

func newMigrateCmd(g *global) *cobra.Command {
	opts := &migrateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Convert a vault of an earlier format to the current one",
		Long: `Convert the vault, as its owner, from format 1 to the current format 2 in one signed change and one Git
commit (docs/format.md section 11). Every file is verified before anything is written; the ciphertexts,
agents' keys and their pins stay as they are, and high-water marks carry over. Any other owner command
converts the vault the same way first. Push the commit so that agents read the new format: a reader of
this version refuses a format 1 vault with exit 3 and a message naming this command.`,
		Example: "  agent-vault migrate\n  agent-vault migrate --key ~/backup/owner.key",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	return cmd
}

func (o *migrateOptions) run() error {
	return o.mutate(o.key, func(ow *vault.Owner) error {
		if !ow.Migrated {
			fmt.Fprintf(o.io.Out, "Vault %s is already in format %d; nothing to convert.\n", ow.Root.VaultID, vault.FormatVersion)
			return nil
		}
		fmt.Fprintf(o.io.Out, "Converted vault %s to format %d (version %d); push the commit so that agents read it.\n", ow.Root.VaultID, vault.FormatVersion, ow.Root.Version)
		return nil
	})
}
