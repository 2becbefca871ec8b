package cli

import (
	"bufio"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type listOptions struct {
	*global
	key    string
	group  string
	json   bool
	noPull bool
}

func newListCmd(g *global) *cobra.Command {
	opts := &listOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the secrets this key can read (metadata only)",
		Long: `List the secrets the key can read, with their verified metadata: name, group, created, rotated,
expires, the agents that can read them, and the hosts an HTTP request of the MCP server
(agent_vault_http) may send them to. Nothing is decrypted.

HTTP HOSTS "none" means the secret cannot be used through agent_vault_http; the owner allows a host
with: agent-vault set PATH --keep-value --allow-host HOST.`,
		Example: "  agent-vault list\n  agent-vault list --group stripe --json",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "key `PATH`")
	cmd.Flags().StringVar(&opts.group, "group", "", "only secrets of `GROUP`")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

type secretJSON struct {
	Name             string     `json:"name"`
	Group            string     `json:"group"`
	Created          time.Time  `json:"created"`
	Rotated          time.Time  `json:"rotated"`
	Expires          *time.Time `json:"expires"`
	AuthorizedAgents []string   `json:"authorized_agents"`
	AllowHosts       []string   `json:"allow_hosts"`
}

func (o *listOptions) run() error {
	s, err := o.openReader(o.key, o.noPull)
	if err != nil {
		return err
	}
	secrets, err := s.List(o.group)
	if err != nil {
		return err
	}
	if o.json {
		out := make([]secretJSON, len(secrets))
		for i, m := range secrets {
			out[i] = secretJSON{m.Name, m.Group, m.Created, m.Rotated, m.Expires, m.AuthorizedAgents, m.AllowHosts}
		}
		return writeJSON(o.io, out)
	}
	if len(secrets) == 0 {
		fmt.Fprintln(o.io.Out, "No secrets found that this key can read.")
		return nil
	}
	// tabwriter writes cell by cell: buffered, a listing of 10,000 secrets is one write, not 100,000.
	buf := bufio.NewWriter(o.io.Out)
	tw := tabwriter.NewWriter(buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECRET\tGROUP\tROTATED\tEXPIRES\tAGENTS\tHTTP HOSTS")
	for _, m := range secrets {
		expires := "-"
		if m.Expires != nil {
			expires = m.Expires.Format("2006-01-02")
			if m.Expires.Before(time.Now()) {
				expires += " (expired)"
			}
		}
		agents := strings.Join(m.AuthorizedAgents, ",")
		if agents == "" {
			agents = "-"
		}
		hosts := strings.Join(m.AllowHosts, ",")
		if hosts == "" {
			hosts = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Group, m.Rotated.Format("2006-01-02"), expires, agents, hosts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return buf.Flush()
}

type rmOptions struct {
	*global
	key string
}

func newRmCmd(g *global) *cobra.Command {
	opts := &rmOptions{global: g}
	cmd := &cobra.Command{
		Use:     "rm <path>",
		Short:   "Delete a secret",
		Long:    "Delete a secret's files and its entry in the signed state. Git history still holds the old ciphertext:\nrotate the value at its source if it must be retired.",
		Example: "  agent-vault rm stripe/old-key",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := vault.CheckUserPath(a[0]); err != nil {
				return err
			}
			return opts.mutate(opts.key, func(ow *vault.Owner) error {
				if err := ow.Remove(a[0]); err != nil {
					return err
				}
				fmt.Fprintf(opts.io.Out, "Deleted %s.\n", a[0])
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	return cmd
}
