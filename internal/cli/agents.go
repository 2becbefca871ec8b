package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type addAgentOptions struct {
	*global
	key, out string
	// recipient adds an agent that made its own key (agent-vault keygen): no key file, no escrow.
	recipient string
}

func newAddAgentCmd(g *global) *cobra.Command {
	opts := &addAgentOptions{global: g}
	cmd := &cobra.Command{
		Use:   "add-agent <name>",
		Short: "Create an agent with its own key",
		Long: `Create a key pair for an agent. The key file (0600) carries the vault id and the owner's verify key as
comment lines, so the agent verifies everything it reads against them. The public key and an escrow
copy of the key, encrypted to the owner, go into the vault. The agent starts with no groups.

The key file is ~/.agent-vault/agents/NAME.key, unless that file holds the key of another vault's agent
of the same name: then it is ~/.agent-vault/agents/VAULT_ID/NAME.key, so that vaults never share a key
path. The command prints the path; --out writes the key elsewhere.

With --recipient the agent made its own key (agent-vault keygen on its machine) and the owner never
sees it: only the recipient goes into the vault, with no escrow (recovery is a new key from the agent:
recover-agent NAME --recipient). Hand the agent its pins ('agent-vault pins NAME'), which it adds with
'agent-vault pin KEYFILE --pins FILE'.`,
		Example: `  agent-vault add-agent ci
  agent-vault add-agent ci --recipient age1…     # the agent ran agent-vault keygen
  agent-vault grant ci stripe
  AGENT_VAULT_KEY="$(cat ~/.agent-vault/agents/ci.key)" agent-vault get stripe/api-key`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH` (default: AGENT_VAULT_KEY, then ~/.agent-vault/owner.key)")
	cmd.Flags().StringVar(&opts.out, "out", "", "write the agent's key to `PATH` (default: ~/.agent-vault/agents/NAME.key, or agents/VAULT_ID/NAME.key when another vault's agent has that file)")
	cmd.Flags().StringVar(&opts.recipient, "recipient", "", "the agent's own public key `age1…` (from agent-vault keygen): no key file, no escrow")
	return cmd
}

func (o *addAgentOptions) run(name string) error {
	if err := vault.CheckSegment(name); err != nil {
		return usage.Errorf("invalid agent name: %w", err)
	}
	if o.recipient != "" {
		return o.runRecipient(name)
	}
	path := o.path(o.out)
	if path != "" && exists(path) {
		return fmt.Errorf("%s already exists; pass --out PATH to write the new agent's key elsewhere", path)
	}
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		if path == "" {
			var err error
			if path, err = agentKeyPath(ow.Root.VaultID, name, o.keyOptions()); err != nil {
				return err
			}
			if exists(path) {
				return fmt.Errorf("%s already exists; pass --out PATH to write the new agent's key elsewhere", path)
			}
		}
		return ow.AddAgent(name, path)
	})
	if err != nil {
		if path != "" {
			return withKeyNote(err, name, path)
		}
		return err
	}
	// The first two lines are agent-vault 0.1's, which scripts grep (the key path ends its line).
	fmt.Fprintf(o.io.Out, "Agent '%s' created.\n", name)
	fmt.Fprintf(o.io.Out, "Private key saved to: %s\n", path)
	fmt.Fprintln(o.io.Out, pinnedKeyNote)
	fmt.Fprintf(o.io.Out, "The agent has no group access yet: agent-vault grant %s GROUP\n\n", name)
	fmt.Fprintf(o.io.Out, "Hand the key to the agent as a file:\n  agent-vault get GROUP/NAME --key %s\nor through the environment:\n  export AGENT_VAULT_KEY=\"$(cat %s)\"\n", path, path)
	return nil
}

// pinnedKeyNote follows the path of an agent key file that add-agent or recover-agent wrote.
const pinnedKeyNote = "The key file is 0600 and pinned to this vault and its owner."

// runRecipient adds an agent that brought its own key.
func (o *addAgentOptions) runRecipient(name string) error {
	if o.out != "" {
		return usage.Errorf("--out and --recipient exclude each other: with --recipient the agent holds its key")
	}
	if err := o.mutate(o.key, func(ow *vault.Owner) error { return ow.AddAgentRecipient(name, o.recipient) }); err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Added agent %s with its own key (no groups yet: agent-vault grant %s GROUP). The owner holds no copy of it (no escrow).\n\n", name, name)
	fmt.Fprintf(o.io.Out, "Hand the agent its pins, which hold no secret:\n  agent-vault pins %s > %s.pins\nThe agent adds them to its key file, which checks them against the vault:\n  agent-vault pin KEYFILE --pins %s.pins\n", name, name, name)
	return nil
}

// withKeyNote adds where the agent's key is to an error that came after the change was written (the
// key is installed before the change is recorded in Git).
func withKeyNote(err error, name, path string) error {
	var rec *vault.RecordError
	if errors.As(err, &rec) {
		return fmt.Errorf("%w (the key of agent %s is in %s)", err, name, path)
	}
	return err
}

type removeAgentOptions struct {
	*global
	key string
}

func newRemoveAgentCmd(g *global) *cobra.Command {
	opts := &removeAgentOptions{global: g}
	cmd := &cobra.Command{
		Use:   "remove-agent <name>",
		Short: "Remove an agent and re-encrypt every secret it could read without it",
		Long: `Remove an agent: every secret it could read is re-wrapped without it (its file key stays, the
agent's stanza goes: see docs/format.md section 9.2), and its public key, escrow and policy entries are
deleted. The agent may have copied the values it could read, so the command prints
them: rotate each at its source.`,
		Example: `  agent-vault remove-agent ci`,
		Args:    args(1, 1),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	return cmd
}

func (o *removeAgentOptions) run(name string) error {
	var rotate, groups []string
	var vaultID string
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		vaultID = ow.Root.VaultID
		groups = ow.Root.AgentGroups(name)
		var err error
		rotate, err = ow.RemoveAgent(name)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Agent '%s' removed.\n", name)
	printRotate(o.io, name, rotate, groups)
	if len(rotate) > 0 {
		fmt.Fprintf(o.io.Out, "Those secrets have been re-encrypted without '%s' (its stanza dropped from each age header).\n", name)
	}
	if path, err := agentKeyPath(vaultID, name, o.keyOptions()); err == nil && exists(path) {
		fmt.Fprintf(o.io.Out, "Its key file %s no longer opens anything; delete it.\n", path)
	}
	return nil
}

// rotateShown is how many secrets to rotate are listed by name; the rest are counted, with the commands
// that list them.
const rotateShown = 20

// printRotate lists the secrets an agent could read, which it may have kept, in agent-vault 0.1's words
// ("WARNING: 'ci' previously had access to these secrets", "You should rotate them at the source:", one
// "  - PATH" line each). groups are the groups it could read them through, for the commands that list
// the secrets beyond the first rotateShown.
func printRotate(io *IO, agent string, rotate, groups []string) {
	if len(rotate) == 0 {
		fmt.Fprintf(io.Out, "'%s' could read no secret; nothing to rotate.\n", agent)
		return
	}
	fmt.Fprintf(io.Out, "\nWARNING: '%s' previously had access to these secrets and may have kept them.\n", agent)
	fmt.Fprintln(io.Out, "You should rotate them at the source:")
	for _, p := range rotate[:min(len(rotate), rotateShown)] {
		fmt.Fprintf(io.Out, "  - %s\n", p)
	}
	if more := len(rotate) - rotateShown; more > 0 {
		var lists []string
		for _, g := range groups {
			lists = append(lists, "agent-vault list --group "+g)
		}
		fmt.Fprintf(io.Out, "  ... and %d more; list them all with: %s\n", more, strings.Join(lists, "; "))
	}
}

type listAgentsOptions struct {
	*global
	key    string
	json   bool
	noPull bool
}

func newListAgentsCmd(g *global) *cobra.Command {
	opts := &listAgentsOptions{global: g}
	cmd := &cobra.Command{
		Use:     "list-agents",
		Short:   "List agents and their groups",
		Example: "  agent-vault list-agents\n  agent-vault list-agents --json",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "key `PATH`")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

type agentJSON struct {
	Name      string   `json:"name"`
	Groups    []string `json:"groups"`
	Recipient string   `json:"recipient"`
}

func (o *listAgentsOptions) run() error {
	s, err := o.openReader(o.key, o.noPull)
	if err != nil {
		return err
	}
	agents := []agentJSON{}
	for _, name := range s.Root.AgentNames() {
		agents = append(agents, agentJSON{Name: name, Groups: s.Root.AgentGroups(name), Recipient: s.Root.Agents[name].Recipient})
	}
	if o.json {
		return writeJSON(o.io, agents)
	}
	if len(agents) == 0 {
		fmt.Fprintln(o.io.Out, "No agents configured. Add one with: agent-vault add-agent NAME")
		return nil
	}
	// agent-vault 0.1's lines, which scripts parse: "ci  [stripe, db]", "idle  (no groups)".
	for _, a := range agents {
		groups := "(no groups)"
		if len(a.Groups) > 0 {
			groups = "[" + strings.Join(a.Groups, ", ") + "]"
		}
		fmt.Fprintf(o.io.Out, "%s  %s\n", a.Name, groups)
	}
	return nil
}

func writeJSON(io *IO, v any) error {
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type recoverAgentOptions struct {
	*global
	key, out string
	// recipient is a new key the agent made itself (agent-vault keygen): the escrow is dropped.
	recipient string
}

func newRecoverAgentCmd(g *global) *cobra.Command {
	opts := &recoverAgentOptions{global: g}
	cmd := &cobra.Command{
		Use:   "recover-agent <name>",
		Short: "Give an agent a new key (the old one is lost or leaked)",
		Long: `Generate a new key pair for an agent, re-encrypt every secret it can read for the new key only, and
write a new escrow. The old key stops working. The new key file replaces this vault's key file in
~/.agent-vault/agents/ (NAME.key, or VAULT_ID/NAME.key when NAME.key belongs to another vault), or
goes to --out, which must not exist.

An agent that brought its own key (add-agent --recipient) has no escrow: the agent makes a new key
(agent-vault keygen) and the owner passes its recipient with --recipient. --recipient also turns an
escrowed agent into one that holds its own key.`,
		Example: `  agent-vault recover-agent ci
  agent-vault recover-agent ci --recipient age1…   # a new key the agent made`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	cmd.Flags().StringVar(&opts.out, "out", "", "write the new key to `PATH` (must not exist)")
	cmd.Flags().StringVar(&opts.recipient, "recipient", "", "the agent's new public key `age1…` (from agent-vault keygen): no key file, no escrow")
	return cmd
}

func (o *recoverAgentOptions) run(name string) error {
	if o.recipient != "" {
		if o.out != "" {
			return usage.Errorf("--out and --recipient exclude each other: with --recipient the agent holds its key")
		}
		if err := o.mutate(o.key, func(ow *vault.Owner) error { return ow.RecoverAgentRecipient(name, o.recipient) }); err != nil {
			return err
		}
		fmt.Fprintf(o.io.Out, "Agent %s has a new key of its own (%s); the owner holds no copy. The old key no longer decrypts anything new.\n", name, o.recipient)
		return nil
	}
	o.out = o.path(o.out)
	if o.out != "" && exists(o.out) {
		return fmt.Errorf("%s already exists; refusing to overwrite it", o.out)
	}
	path := o.out
	err := o.mutate(o.key, func(ow *vault.Owner) error {
		if path == "" {
			var err error
			if path, err = agentKeyPath(ow.Root.VaultID, name, o.keyOptions()); err != nil {
				return err
			}
		}
		return ow.RecoverAgent(name, path)
	})
	if err != nil {
		return withKeyNote(err, name, path)
	}
	fmt.Fprintf(o.io.Out, "Agent '%s' recovered with new keypair.\n", name)
	fmt.Fprintf(o.io.Out, "New private key saved to: %s\n", path)
	fmt.Fprintln(o.io.Out, "All its secrets have been re-encrypted for the new key; the old key no longer decrypts anything new.")
	fmt.Fprintln(o.io.Out, pinnedKeyNote)
	return nil
}

type restoreAgentOptions struct {
	*global
	key, to string
}

func newRestoreAgentCmd(g *global) *cobra.Command {
	opts := &restoreAgentOptions{global: g}
	cmd := &cobra.Command{
		Use:   "restore-agent <name> --to <path>",
		Short: "Write an agent's key from its escrow",
		Long: `Decrypt the agent's escrowed key with the owner key, check that it is the agent's signed key, and write
it to PATH (0600). Refuses to overwrite an existing file.`,
		Example: `  agent-vault restore-agent ci --to ./ci.key`,
		Args:    args(1, 1),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	cmd.Flags().StringVar(&opts.to, "to", "", "write the key to `PATH` (required)")
	return cmd
}

func (o *restoreAgentOptions) run(name string) error {
	o.to = o.path(o.to)
	if o.to == "" {
		return usage.Errorf("restore-agent needs --to PATH")
	}
	if exists(o.to) {
		return fmt.Errorf("%s already exists; refusing to overwrite it", o.to)
	}
	ow, err := o.openOwner(o.key)
	if err != nil {
		return err
	}
	defer ow.Close()
	keyFile, err := ow.Escrow(name)
	if err != nil {
		return err
	}
	if err := fsutil.WriteNewPrivateFile(o.to, keyFile); err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Agent '%s' private key restored to: %s\n", name, o.to)
	fmt.Fprintln(o.io.Out, "The key file is 0600; it holds the key the signed state names for the agent.")
	return nil
}
