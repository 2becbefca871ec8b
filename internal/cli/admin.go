package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// newAdminCmd is the admin command family (docs/format.md section 4.1): several admins, each with its own
// age key and signing key. `admin key` prints this machine's admin keys for another admin to add;
// `admin add`, `admin remove` change the admin set as one signed change that readers follow from their
// pins; `admin list` shows the verified set.
func newAdminCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage the vault's admins: add, remove, list; print this machine's admin key",
		Long: `A vault has one or more admins. Each holds its own age key and signing key (the owner key of its
machine, ~/.agent-vault/owner.key); every secret is readable by every admin, and any admin signs changes.
The vault's first admin is its founding owner, named 'owner'.

A new admin runs 'agent-vault admin key' on its own machine and sends both printed lines to an admin, who
runs 'agent-vault admin add NAME --recipient age1… --verify-key ed25519:…'. Readers follow the chain of
admin changes (state/admins/) from the keys they pinned: a change of the admin set is signed by an admin
of the set before it, and a removed admin's later signatures are refused.`,
		Example: `  agent-vault admin key                      # on the new admin's machine
  agent-vault admin add bob --recipient age1… --verify-key ed25519:…
  agent-vault admin list
  agent-vault admin remove bob`,
		Args: args(0, 0),
	}
	cmd.AddCommand(newAdminKeyCmd(g), newAdminTrustCmd(g), newAdminAddCmd(g), newAdminRemoveCmd(g), newAdminListCmd(g))
	return cmd
}

type adminKeyOptions struct{ *global }

// newAdminKeyCmd prints the recipient and verify key of this machine's owner key, creating the key
// (0600) when there is none. Contract: stdout is exactly two lines, "recipient: age1…" and
// "verify-key: ed25519:…"; neither is secret.
func newAdminKeyCmd(g *global) *cobra.Command {
	opts := &adminKeyOptions{global: g}
	return &cobra.Command{
		Use:     "key",
		Short:   "Print this machine's admin keys (recipient and verify key), creating the key if needed",
		Example: "  agent-vault admin key    # on the new admin's machine; send both lines to an admin",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error {
			key, path, created, err := (&initOptions{global: opts.global}).ownerKey()
			if err != nil {
				return err
			}
			vk, err := vault.OwnerVerifyKey(key)
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.io.Out, "recipient: %s\nverify-key: %s\n", key.Recipient, vk)
			if created {
				fmt.Fprintf(opts.io.Err, "agent-vault: made a new admin key %s (0600); back it up. An admin adds you with:\n  agent-vault admin add NAME --recipient %s --verify-key %s\n", path, key.Recipient, vk)
			}
			return nil
		},
	}
}

// newAdminTrustCmd records the vault's founding owner verify key in this machine's known_vaults, so that a
// new admin's first use of the vault trusts the key another admin handed it, not the repository's word.
// Contract: nothing is printed on success; a vault recorded with another key is an integrity error.
func newAdminTrustCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:     "trust VAULT_ID VERIFY_KEY",
		Short:   "Trust a vault's founding owner key before first use (what 'admin add' printed)",
		Example: "  agent-vault admin trust 3f0c… ed25519:…    # on the new admin's machine",
		Args:    args(2, 2),
		RunE:    func(cmd *cobra.Command, a []string) error { return vault.TrustVault(a[0], a[1]) },
	}
}

type adminAddOptions struct {
	*global
	key, recipient, verifyKey string
}

func newAdminAddCmd(g *global) *cobra.Command {
	opts := &adminAddOptions{global: g}
	cmd := &cobra.Command{
		Use:     "add NAME --recipient age1… --verify-key ed25519:…",
		Short:   "Add an admin: every secret is re-wrapped for it, and it may sign changes",
		Example: `  agent-vault admin add bob --recipient age1… --verify-key ed25519:…   # both from 'agent-vault admin key'`,
		Args:    args(1, 1),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "admin key `PATH`")
	cmd.Flags().StringVar(&opts.recipient, "recipient", "", "the new admin's age `RECIPIENT`")
	cmd.Flags().StringVar(&opts.verifyKey, "verify-key", "", "the new admin's `VERIFY_KEY` (ed25519:…)")
	cmd.Flags().BoolVar(&g.push, "push", false, "push the change to the upstream once it is made (default: the auto_push local setting)")
	return cmd
}

func (o *adminAddOptions) run(name string) error {
	if o.recipient == "" || o.verifyKey == "" {
		return usage.Errorf("admin add needs --recipient and --verify-key (the new admin prints both with 'agent-vault admin key')")
	}
	var vaultID, verifyKey string
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		if err := ow.AddAdmin(name, o.recipient, o.verifyKey); err != nil {
			return err
		}
		vaultID, verifyKey = ow.Root.VaultID, ow.Root.Owner.VerifyKey
		fmt.Fprintf(o.io.Out, "Admin '%s' added (version %d): every secret is re-wrapped for it.\n", name, ow.Root.Version)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "The new admin clones the repository and, before using it, trusts this vault with:\n  agent-vault admin trust %s %s\n", vaultID, verifyKey)
	return nil
}

type adminRemoveOptions struct {
	*global
	key string
}

func newAdminRemoveCmd(g *global) *cobra.Command {
	opts := &adminRemoveOptions{global: g}
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an admin: its later signatures are refused; lists the secrets it could read",
		Long: `Remove an admin. Every secret and escrow is re-wrapped without it, and readers that follow the admin
chain past this change refuse its signatures. It could read every secret, and may have kept them: the
command lists them all; rotate each at its source. The last admin cannot be removed, and an admin cannot
remove itself (readers would refuse the removal it signs): another admin removes it.`,
		Example: "  agent-vault admin remove bob",
		Args:    args(1, 1),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "admin key `PATH`")
	cmd.Flags().BoolVar(&g.push, "push", false, "push the change to the upstream once it is made (default: the auto_push local setting)")
	return cmd
}

func (o *adminRemoveOptions) run(name string) error {
	var rotate []string
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		var err error
		rotate, err = ow.RemoveAdmin(name)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Admin '%s' removed; its signatures are refused from this version on.\n", name)
	printRotate(o.io, name, rotate, nil)
	return nil
}

type adminListOptions struct {
	*global
	key    string
	json   bool
	noPull bool
}

func newAdminListCmd(g *global) *cobra.Command {
	opts := &adminListOptions{global: g}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the vault's admins (from the verified signed state)",
		Example: "  agent-vault admin list\n  agent-vault admin list --json",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "key `PATH`")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

func (o *adminListOptions) run() error {
	s, err := o.openReader(o.key, o.noPull)
	if err != nil {
		return err
	}
	admins := s.Root.AdminList()
	if o.json {
		return writeJSON(o.io, admins)
	}
	for _, a := range admins {
		note := ""
		if a.Founding {
			note = "  (founding owner)"
		}
		fmt.Fprintf(o.io.Out, "%s  %s  %s%s\n", a.Name, a.Recipient, a.VerifyKey, note)
	}
	return nil
}
