package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type grantOptions struct {
	*global
	key string
}

func newGrantCmd(g *global) *cobra.Command {
	opts := &grantOptions{global: g}
	cmd := &cobra.Command{
		Use:   "grant <agent> <group>",
		Short: "Let an agent read every secret of a group",
		Long: `Add the agent to the group and re-encrypt the group's secrets (on all cores) for the owner, the
group's members and each secret's extra agents. Secrets set in the group later are encrypted to the
agent too. A group that does not exist yet is created empty.`,
		Example: "  agent-vault grant ci stripe",
		Args:    args(2, 2),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0], a[1]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	return cmd
}

func (o *grantOptions) run(agent, group string) error {
	return o.mutate(o.key, func(ow *vault.Owner) error {
		o.progress(ow)
		n, changed, err := ow.Grant(agent, group)
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(o.io.Out, "Agent %s is already a member of group %s; nothing changed.\n", agent, group)
			return nil
		}
		fmt.Fprintf(o.io.Out, "Granted %s access to group %s (%s re-encrypted).\n", agent, group, count(n, "secret"))
		return nil
	})
}

type revokeOptions struct {
	*global
	key string
}

func newRevokeCmd(g *global) *cobra.Command {
	opts := &revokeOptions{global: g}
	cmd := &cobra.Command{
		Use:   "revoke <agent> <group>",
		Short: "Take a group away from an agent",
		Long: `Remove the agent from the group and re-encrypt the group's secrets without it. The agent may have kept
the values it could read, so the command prints them: rotate each at its source. Git history still
holds the old ciphertexts, which the old key can decrypt.`,
		Example: "  agent-vault revoke ci stripe",
		Args:    args(2, 2),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0], a[1]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	return cmd
}

func (o *revokeOptions) run(agent, group string) error {
	var rotate []string
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		o.progress(ow)
		var err error
		rotate, err = ow.Revoke(agent, group)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Revoked %s from group %s.\n", agent, group)
	printRotate(o.io, agent, rotate)
	return nil
}
