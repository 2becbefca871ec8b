package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type pinOptions struct {
	*global
	key string
	// pins is the file (or "-") holding the pin lines the owner handed over (agent-vault pins NAME): the
	// agent pins its own key, with no owner key, after checking the pins against the vault.
	pins string
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
ignore the lines, so the file keeps working everywhere.

An agent that made its own key (agent-vault keygen) pins it itself with --pins FILE, the lines its owner
printed with 'agent-vault pins NAME' (FILE "-" is standard input). No owner key is needed: the vault
(pulled first, as get does) must verify with exactly those pins, and its signed state must give the key
file's key to the agent the pins name; otherwise nothing is written.`,
		Example: `  agent-vault pin ~/.agent-vault/agents/ci.key
  agent-vault pin ~/.agent-vault/agent.key --pins ci.pins     # the agent, with the owner's pins`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "the owner's key `PATH`")
	cmd.Flags().StringVar(&opts.pins, "pins", "", "pin the key with the lines in `FILE` that the owner printed (agent-vault pins NAME; - for stdin), checked against the vault; no owner key needed")
	return cmd
}

func (o *pinOptions) run(file string) error {
	file = o.path(file)
	agentKey, err := vault.LoadKeyFile(file, o.keyOptions())
	if err != nil {
		return err
	}
	if o.pins != "" {
		return o.runPins(file, agentKey)
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
	if err := appendPins(file, agentKey, pinLines(agent, id, vk), o.keyOptions()); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.io.Out, "Pinned key file %s of agent %s to vault %s (owner verify key %s).\n", file, agent, id, vk)
	return err
}

// runPins pins the agent's own key file with the lines the owner handed over, after opening the vault
// with the key as it will be once pinned: the pins must verify the vault's signed state, and that state
// must give this key to the agent they name.
func (o *pinOptions) runPins(file string, agentKey *vault.Key) error {
	if o.key != "" {
		return usage.Errorf("--pins and --key exclude each other: with --pins the agent's own key file is checked")
	}
	pins, err := o.readPins()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read key file %s: %w", file, err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	pinned, err := vault.ParseKeyFile(append(data, pins...), file, o.keyOptions())
	if err != nil || !pinned.Pinned() || pinned.AgentName == "" {
		return usage.Errorf("the pins in %s do not pin key file %s (they must be the three lines agent-vault pins NAME prints, and agree with any pins the file has)", o.pins, file)
	}
	v, err := o.findVault()
	if err != nil {
		return err
	}
	s, err := o.readVault(v, pinned, false)
	if err != nil {
		return err
	}
	if s.Role.Owner || s.Role.Agent != pinned.AgentName {
		return &vault.Error{Kind: vault.KindNotFound, Msg: fmt.Sprintf("vault %s does not give the key in %s (%s) to agent %s; ask the owner to add it: agent-vault add-agent %s --recipient %s", s.Root.VaultID, file, agentKey.Recipient, pinned.AgentName, pinned.AgentName, agentKey.Recipient)}
	}
	if agentKey.Pinned() {
		_, err = fmt.Fprintf(o.io.Out, "Key file %s of agent %s is already pinned to vault %s.\n", file, pinned.AgentName, s.Root.VaultID)
		return err
	}
	if err := appendPins(file, agentKey, pins, o.keyOptions()); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.io.Out, "Pinned key file %s of agent %s to vault %s (owner verify key %s); the vault verifies with it.\n", file, pinned.AgentName, s.Root.VaultID, pinned.PinVerifyKey)
	return err
}

// readPins reads the pin lines of --pins: every line must be a pin line, a comment or blank, and only the
// pin lines are kept.
func (o *pinOptions) readPins() (string, error) {
	var data []byte
	var err error
	if o.pins == "-" {
		data, err = io.ReadAll(io.LimitReader(o.io.In, 64<<10))
	} else {
		data, err = os.ReadFile(o.path(o.pins))
	}
	if err != nil {
		return "", usage.Errorf("cannot read the pins: %w", err)
	}
	var out strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r \t")
		switch {
		case pinLineRE.MatchString(line):
			out.WriteString(line + "\n")
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			return "", usage.Errorf("%s holds a line that is not a pin line (give the output of agent-vault pins NAME; never a key)", o.pins)
		}
	}
	return out.String(), nil
}

// pinLineRE is a pin line of docs/format.md section 3.2.
var pinLineRE = regexp.MustCompile(`^# agent-vault-(agent|vault-id|owner-verify-key): \S+$`)

// pinLines are the comment lines that pin an agent's key file (docs/format.md section 3.2).
func pinLines(agent, vaultID, verifyKey string) string {
	return fmt.Sprintf("# agent-vault-agent: %s\n# agent-vault-vault-id: %s\n# agent-vault-owner-verify-key: %s\n", agent, vaultID, verifyKey)
}

// appendPins rewrites the key file at file, which parses as key, with pins appended, atomically and 0600.
// The new content must parse as the same key with those pins, or nothing is written.
func appendPins(file string, key *vault.Key, pins string, opts *vault.KeyOptions) error {
	if key.Protected {
		return usage.Errorf("key file %s is passphrase-protected, so no line can be added to it: run 'agent-vault key unprotect %s', pin it, then 'agent-vault key protect %s'", file, file, file)
	}
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
	again, err := vault.ParseKeyFile(data, file, opts)
	if err != nil || again.Recipient != key.Recipient || !again.Pinned() {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("key file %s changed while it was pinned; it was not changed", file)}
	}
	if err := fsutil.WriteFileAtomic(real, data, 0o600); err != nil {
		return fmt.Errorf("cannot write key file %s: %w", file, err)
	}
	return nil
}
