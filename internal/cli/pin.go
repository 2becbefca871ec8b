package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type pinOptions struct {
	*global
	key string
}

// newPinCmd adds the pin lines to an agent's key file, after checking the key against the vault the
// owner verifies: the counterpart of 'pins' for key files the owner holds (those of the original
// agent-vault 0.1, which kept every agent's key under ~/.agent-vault/agents/).
func newPinCmd(g *global) *cobra.Command {
	opts := &pinOptions{global: g}
	cmd := &cobra.Command{
		Use:   "pin <keyfile>",
		Short: "Add the pin lines of this vault to an agent's key file",
		Long: `Add to an agent's key file the three comment lines that pin it to this vault (docs/format.md section
3.2): the agent's name, the vault id and the owner's verify key. The owner's key verifies the vault
first, and the key file must hold the key of one of its agents. The file keeps its key and mode; a file
already pinned to this vault is left as it is, and one pinned to another vault is refused. Age tools
ignore the lines, so the file keeps working everywhere.`,
		Example: `  agent-vault pin ~/.agent-vault/agents/ci.key`,
		Args:    args(1, 1),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "the owner's key `PATH`")
	return cmd
}

func (o *pinOptions) run(file string) error {
	file = o.path(file)
	agentKey, err := vault.LoadKeyFile(file)
	if err != nil {
		return err
	}
	s, err := o.openReader(o.key, true)
	if err != nil {
		return err
	}
	if !s.Role.Owner {
		return &vault.Error{Kind: vault.KindNotAuthorized, Msg: "only the vault's owner key pins a key file: the pins say which owner key the agent trusts"}
	}
	agent, ok := s.Root.AgentByRecipient(agentKey.Recipient)
	if !ok {
		return &vault.Error{Kind: vault.KindNotFound, Msg: fmt.Sprintf("key file %s holds the key of no agent of vault %s (%s)", file, s.Root.VaultID, agentKey.Recipient)}
	}
	id, vk := s.Root.VaultID, s.Root.Owner.VerifyKey
	if agentKey.Pinned() {
		if agentKey.PinVaultID != id || agentKey.PinVerifyKey != vk {
			return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("key file %s is pinned to vault %s, not to this vault %s; it was not changed", file, agentKey.PinVaultID, id)}
		}
		_, err = fmt.Fprintf(o.io.Out, "Key file %s of agent %s is already pinned to vault %s.\n", file, agent, id)
		return err
	}
	if agentKey.AgentName != "" && agentKey.AgentName != agent {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("key file %s says it is agent %s's, but the vault gives its key to agent %s; it was not changed", file, agentKey.AgentName, agent)}
	}
	if err := appendPins(file, agentKey, pinLines(agent, id, vk)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.io.Out, "Pinned key file %s of agent %s to vault %s (owner verify key %s).\n", file, agent, id, vk)
	return err
}

// pinLines are the comment lines that pin an agent's key file (docs/format.md section 3.2).
func pinLines(agent, vaultID, verifyKey string) string {
	return fmt.Sprintf("# agent-vault-agent: %s\n# agent-vault-vault-id: %s\n# agent-vault-owner-verify-key: %s\n", agent, vaultID, verifyKey)
}

// appendPins rewrites the key file at file, which parses as key, with pins appended, atomically and 0600.
// The new content must parse as the same key with those pins, or nothing is written.
func appendPins(file string, key *vault.Key, pins string) error {
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return fmt.Errorf("cannot resolve key file %s: %w", file, err)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return fmt.Errorf("cannot read key file %s: %w", file, err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n') // the original's key files end without a newline
	}
	data = append(data, pins...)
	again, err := vault.ParseKeyFile(data, file)
	if err != nil || again.Recipient != key.Recipient || !again.Pinned() {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("key file %s changed while it was pinned; it was not changed", file)}
	}
	if err := vault.WriteFileAtomic(real, data, 0o600); err != nil {
		return fmt.Errorf("cannot write key file %s: %w", file, err)
	}
	return nil
}
