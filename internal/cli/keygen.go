package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type keygenOptions struct {
	*global
	out string
	pq  bool
}

// newKeygenCmd makes an agent's key pair on the agent's own machine (docs/format.md section 3.5: agents
// that bring their own keys). Contract: the key file is created 0600 (its directory 0700) and never
// overwrites anything; stdout is exactly the recipient and a newline, so that it can be captured; what
// to do next goes to stderr. --pq makes a post-quantum key, the only kind a post-quantum vault accepts.
func newKeygenCmd(g *global) *cobra.Command {
	opts := &keygenOptions{global: g}
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE] [--pq]",
		Short: "Make an agent key on the agent's machine and print its public key",
		Long: `Make a new age key pair for an agent, on the agent's own machine, so that the owner never sees the
private key. The key file (0600) goes to --out, by default ~/.agent-vault/agent.key; an existing file
is never overwritten. Standard output is the recipient (age1…), which the owner adds with
'agent-vault add-agent NAME --recipient age1…'. The owner then hands the agent its pins
('agent-vault pins NAME'), which the agent adds with 'agent-vault pin FILE --pins PINS'.

Such an agent has no escrow: if it loses its key, it makes a new one with keygen and the owner runs
'agent-vault recover-agent NAME --recipient age1…'.

A post-quantum vault (init --pq, migrate --pq) accepts only post-quantum keys, and a classic vault only
classic ones: for a post-quantum vault pass --pq, which makes an ML-KEM-768 + X25519 key
(AGE-SECRET-KEY-PQ-1…) whose recipient is age1pq1… (about 2,000 characters).`,
		Example: `  agent-vault keygen                           # on the agent's machine
  agent-vault keygen --out ./ci.key
  agent-vault keygen --pq                      # for a post-quantum vault
  agent-vault add-agent ci --recipient age1…    # the owner, with the printed recipient`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.out, "out", "", "write the key to `FILE` (default ~/.agent-vault/agent.key; never overwritten)")
	cmd.Flags().BoolVar(&opts.pq, "pq", false, "make a post-quantum (ML-KEM-768 + X25519) key, for a post-quantum vault")
	return cmd
}

func (o *keygenOptions) run() error {
	path, err := o.keyPath()
	if err != nil {
		return err
	}
	kind := vault.KeyX25519
	if o.pq {
		kind = vault.KeyHybrid
	}
	content, recipient, err := vault.NewAgentKeyFileOf(kind)
	if err != nil {
		return err
	}
	if exists(path) {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("%s already exists; refusing to overwrite a key (pass --out FILE for a new one)", path)}
	}
	if err := fsutil.WriteNewPrivateFile(path, content); err != nil {
		return err
	}
	fmt.Fprintln(o.io.Out, recipient)
	shown := recipient
	if o.pq {
		// About 2,000 characters: not repeated, the line above is the one to send.
		shown = "RECIPIENT   (the post-quantum recipient printed above, one line)"
	}
	fmt.Fprintf(o.io.Err, "Wrote a new agent key to %s (0600). Give the owner only its public key, printed above:\n"+
		"  agent-vault add-agent NAME --recipient %s\n"+
		"then add the pins the owner sends back (agent-vault pins NAME):\n  agent-vault pin %s --pins PINS-FILE\n", path, shown, path)
	return nil
}

// keyPath is --out (relative to -C, ~/ expanded) or the default <home>/agent.key.
func (o *keygenOptions) keyPath() (string, error) {
	if o.out == "" {
		home, err := homeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, "agent.key"), nil
	}
	if rest, ok := strings.CutPrefix(o.out, "~/"); ok {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", usage.Errorf("--out %s: %w", o.out, err)
		}
		return filepath.Join(u, rest), nil
	}
	return o.path(o.out), nil
}
