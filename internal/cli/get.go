package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type getOptions struct {
	*global
	key    string
	noPull bool
}

func newGetCmd(g *global) *cobra.Command {
	opts := &getOptions{global: g}
	cmd := &cobra.Command{
		Use:   "get <path>",
		Short: "Print a secret's value",
		Long: `Print the exact bytes of a secret's value on standard output, after verifying the owner's signature,
the hashes and the freshness of the vault. When the repository has an upstream, get first pulls
(fast-forward only, 5 s at most); offline, it warns once and uses the local copy. On any failure
standard output stays empty.

Key: --key PATH, else AGENT_VAULT_KEY (a path, the key file's content, or an AGE-SECRET-KEY-1 line),
else ~/.agent-vault/owner.key.`,
		Example: `  agent-vault get stripe/api-key
  agent-vault get stripe/api-key --key ~/.agent-vault/agents/ci.key
  STRIPE_KEY="$(agent-vault get stripe/api-key --no-pull)"`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "key `PATH`")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

func (o *getOptions) run(path string) error {
	if err := vault.CheckUserPath(path); err != nil {
		return err
	}
	s, err := o.openReader(o.key, o.noPull)
	if err != nil {
		return err
	}
	value, err := s.Get(path)
	if err != nil {
		return err
	}
	if info, err := s.Info(path); err != nil {
		return err
	} else if info.Expires != nil && info.Expires.Before(time.Now()) {
		fmt.Fprintf(o.io.Err, "agent-vault: warning: %s expired on %s\n", path, info.Expires.Format(time.RFC3339))
	}
	_, err = o.io.Out.Write(value)
	return err
}
