package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type pinsOptions struct {
	*global
	key string
}

// newPinsCmd prints the pin lines of an agent's key file, so that an owner can hand a pinned key to an
// agent whose key the owner did not create (add-agent --recipient, or a bare AGENT_VAULT_KEY in CI).
func newPinsCmd(g *global) *cobra.Command {
	opts := &pinsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "pins <agent>",
		Short: "Print the pin lines that make an agent's key file trust this vault only",
		Long: `Print the three comment lines that pin an agent's key file to this vault (docs/format.md section
3.2): the agent's name, the vault id and the owner's verify key. They hold no secret. Added to the
agent's key file, or put before the AGE-SECRET-KEY-1 line in AGENT_VAULT_KEY, they make every reader
verify the vault against this owner key instead of trusting it on first use. The owner's key verifies
the vault first; the agent must be an agent of its signed state.`,
		Example: `  agent-vault pins ci >> ~/.agent-vault/agents/ci.key          # on the agent's machine
  AGENT_VAULT_KEY="$(agent-vault pins ci; cat ci-bare.key)"      # a pinned key for a CI secret`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "the owner's key `PATH`")
	return cmd
}

func (o *pinsOptions) run(agent string) error {
	if err := vault.CheckSegment(agent); err != nil {
		return usage.Errorf("invalid agent name: %w", err)
	}
	s, err := o.openReader(o.key, true)
	if err != nil {
		return err
	}
	if !s.Role.Owner {
		return &vault.Error{Kind: vault.KindNotAuthorized, Msg: "only the vault's owner key prints pins: they say which owner key the agent trusts"}
	}
	if _, ok := s.Root.Agents[agent]; !ok {
		return vault.NotFoundf(vault.NameAgent, agent, "agent '%s' not found in vault %s", agent, s.Root.VaultID)
	}
	_, err = fmt.Fprint(o.io.Out, pinLines(agent, s.Root.VaultID, s.Root.Owner.VerifyKey))
	return err
}
