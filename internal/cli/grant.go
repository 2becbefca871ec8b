package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type grantOptions struct {
	*global
	key    string
	create bool
}

func newGrantCmd(g *global) *cobra.Command {
	opts := &grantOptions{global: g}
	cmd := &cobra.Command{
		Use:   "grant <agent> <group>",
		Short: "Let an agent read every secret of a group",
		Long: `Add the agent to the group and give it the file key of each of the group's secrets: the key is
unwrapped with the owner key and wrapped for the agent, on all cores, and the ciphertext stays as it
is (docs/format.md section 9.2). Secrets set in the group later are encrypted to the agent too. A group
that does not exist yet is created empty.`,
		Example: "  agent-vault grant ci stripe\n  agent-vault grant ci payments --create",
		Args:    args(2, 2),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0], a[1]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	cmd.Flags().BoolVar(&opts.create, "create", false, "grant a group that has no secrets yet (creating it if needed)")
	return cmd
}

func (o *grantOptions) run(agent, group string) error {
	return o.mutate(o.key, func(ow *vault.Owner) error {
		if g, ok := ow.Root.Groups[group]; !o.create && vault.CheckSegment(group) == nil && (!ok || g.Secrets == 0) && !slices.Contains(g.Members, agent) {
			if _, isAgent := ow.Root.Agents[agent]; isAgent {
				return vault.NotFoundf(vault.NameGroup, group, "group '%s' not found: no secret of this vault is in it (--create grants a group that has none yet)", group)
			}
		}
		n, changed, err := ow.Grant(agent, group)
		if err != nil {
			return err
		}
		// agent-vault 0.1's two lines, which scripts grep.
		if !changed {
			fmt.Fprintf(o.io.Out, "Granted '%s' access to group '%s' (already a member; nothing changed).\n", agent, group)
			return nil
		}
		fmt.Fprintf(o.io.Out, "Granted '%s' access to group '%s'.\n", agent, group)
		how := fmt.Sprintf("the file key wrapped for '%s' in each age header; the ciphertext is unchanged", agent)
		if n == 0 {
			how = "the group has none yet"
		}
		fmt.Fprintf(o.io.Out, "Re-encrypted %d secret(s) (%s).\n", n, how)
		return nil
	})
}

type revokeOptions struct {
	*global
	key       string
	reencrypt bool
}

func newRevokeCmd(g *global) *cobra.Command {
	opts := &revokeOptions{global: g}
	cmd := &cobra.Command{
		Use:   "revoke <agent> <group>",
		Short: "Take a group away from an agent",
		Long: `Remove the agent from the group and drop its stanza from each of the group's secrets; the file keys
and ciphertexts stay (docs/format.md section 9.2 says why that protects as much as re-encrypting).
The agent may have kept the values it could read, so the command prints them: rotate each at its
source. Git history still holds the old files, which the old key can decrypt. --reencrypt gives every
secret of the group a fresh file key anyway.`,
		Example: "  agent-vault revoke ci stripe\n  agent-vault revoke ci stripe --reencrypt",
		Args:    args(2, 2),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0], a[1]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	cmd.Flags().BoolVar(&opts.reencrypt, "reencrypt", false, "re-encrypt the group's secrets under fresh file keys")
	return cmd
}

func (o *revokeOptions) run(agent, group string) error {
	var rotate []string
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		var err error
		rotate, err = ow.Revoke(agent, group, vault.RevokeOptions{Reencrypt: o.reencrypt})
		return err
	})
	if err != nil {
		return err
	}
	// agent-vault 0.1's two lines, which scripts grep, then the secrets to rotate.
	fmt.Fprintf(o.io.Out, "Revoked '%s' access to group '%s'.\n", agent, group)
	how := "its stanza dropped from each age header; the ciphertext is unchanged"
	if o.reencrypt {
		how = "fresh file keys"
	}
	fmt.Fprintf(o.io.Out, "Re-encrypted %d secret(s) (%s).\n", len(rotate), how)
	printRotate(o.io, agent, rotate, []string{group})
	return nil
}
