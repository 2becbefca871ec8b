package cli

import (
	"fmt"
	"sort"

	"github.com/agent-vault/agent-vault/vault"
)

// migratePQ converts the vault to post-quantum keys (vault.Owner.MigratePQ): each agent's new key file
// replaces its old one where add-agent and recover-agent keep it, as recover-agent does.
func (o *migrateOptions) migratePQ() error {
	return o.mutate(o.key, func(ow *vault.Owner) error {
		oldID := ow.Root.VaultID
		var pathErr error
		rep, err := ow.MigratePQ(func(name string) string {
			p, err := agentKeyPath(oldID, name, o.keyOptions())
			if err != nil && pathErr == nil {
				pathErr = err
			}
			return p
		})
		if pathErr != nil {
			return pathErr
		}
		if err != nil {
			return err
		}
		w := o.io.Out
		fmt.Fprintf(w, "Converted vault %s to post-quantum keys (ML-KEM-768 + X25519): it is now vault %s (version %d), %d secrets re-encrypted.\n",
			rep.OldVaultID, rep.VaultID, rep.Version, rep.Secrets)
		how := "Using the existing"
		if rep.OwnerKeyCreated {
			how = "Created the"
		}
		fmt.Fprintf(w, "%s post-quantum owner key %s (0600); back it up. The classic owner key is kept for your other vaults.\n", how, rep.OwnerKeyFile)
		fmt.Fprintf(w, "Owner verify key: %s\n", rep.VerifyKey)
		if len(rep.Agents) > 0 {
			fmt.Fprintln(w, "New agent keys (the old ones no longer work; hand each file to its agent):")
			names := make([]string, 0, len(rep.Agents))
			for n := range rep.Agents {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(w, "  %s  %s\n", n, rep.Agents[n])
			}
		}
		fmt.Fprintln(w, "Push the commit (git push). The old values stay in Git's history encrypted to the old classic keys:")
		fmt.Fprintln(w, "rotate the secrets at their source to protect them from a future quantum computer.")
		return nil
	})
}
