package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type setOptions struct {
	*global
	key        string
	fromFile   string
	group      string
	agents     []string
	expires    string
	allowHosts []string
	keepValue  bool
}

func newSetCmd(g *global) *cobra.Command {
	opts := &setOptions{global: g}
	cmd := &cobra.Command{
		Use:   "set <path> [value]",
		Short: "Store a secret (encrypted to the owner and the agents granted its group)",
		Long: `Store a secret's value. The value comes from, in order: the argument (works, but warns that shell
history may keep it), --from-file, or standard input; on a terminal the value is prompted for without
echo. Values are stored byte for byte: binary and multi-line values round-trip exactly, and a trailing
newline piped in is part of the value (use printf '%s').

The secret's group is its first path segment unless --group says otherwise. Setting an existing secret
keeps its created time and updates its rotated time. --keep-value changes only the options.`,
		Example: `  agent-vault set stripe/api-key                       # prompts without echo
  printf %s "$KEY" | agent-vault set stripe/api-key
  agent-vault set tls/server-key --from-file server.pem --expires 90d
  agent-vault set stripe/api-key --keep-value --allow-host api.stripe.com
  agent-vault set shared/db-url --group backend --agents ci,deployer`,
		Args: args(1, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			var argValue *string
			if len(a) == 2 {
				argValue = &a[1]
			}
			return opts.run(a[0], argValue, cmd.Flags().Changed("allow-host"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.key, "key", "", "owner key `PATH`")
	f.StringVar(&opts.fromFile, "from-file", "", "read the value from `FILE` ('-' for standard input)")
	f.StringVar(&opts.group, "group", "", "put the secret in `GROUP` instead of its first path segment")
	f.StringSliceVar(&opts.agents, "agents", nil, "also encrypt to these `AGENTS` (comma-separated), beyond the group's members")
	f.StringVar(&opts.expires, "expires", "", "expiry: RFC 3339 time, or a duration such as 90d, 12h, 2w; 'never' clears it")
	f.StringArrayVar(&opts.allowHosts, "allow-host", nil, "`HOST` a brokered request may send this secret to (repeatable; replaces the list; '' clears it)")
	f.BoolVar(&opts.keepValue, "keep-value", false, "change only the options of an existing secret, keeping its value")
	return cmd
}

func (o *setOptions) run(path string, argValue *string, hostsChanged bool) error {
	if err := vault.CheckUserPath(path); err != nil {
		return err
	}
	opts := vault.SetOptions{Group: o.group, Agents: o.agents}
	// Refuse bad names before the value is read (or prompted for).
	if o.group != "" {
		if err := vault.CheckSegment(o.group); err != nil {
			return usage.Errorf("invalid group name: %w", err)
		}
	}
	for _, a := range o.agents {
		if err := vault.CheckSegment(a); err != nil {
			return usage.Errorf("invalid agent name in --agents: %w", err)
		}
	}
	for _, h := range o.allowHosts {
		if err := vault.CheckHost(h); h != "" && err != nil {
			return usage.Errorf("invalid --allow-host: %w", err)
		}
	}
	if o.expires != "" {
		if o.expires == "never" {
			opts.NoExpiry = true
		} else {
			t, err := parseExpiry(o.expires, time.Now())
			if err != nil {
				return usage.Errorf("--expires %w", err)
			}
			opts.Expires = &t
			if t.Before(time.Now()) {
				fmt.Fprintf(o.io.Err, "agent-vault: warning: --expires %s is in the past; the secret is stored as already expired\n", t.UTC().Format(time.RFC3339))
			}
		}
	}
	if hostsChanged {
		opts.AllowHosts = []string{}
		for _, h := range o.allowHosts {
			if h != "" {
				opts.AllowHosts = append(opts.AllowHosts, h)
			}
		}
	}
	value, err := o.value(path, argValue)
	if err != nil {
		return err
	}
	if value != nil && len(value) == 0 {
		// An empty input is nearly always a value that did not arrive (an unset variable, a closed
		// pipe); storing it would silently replace the secret.
		if argValue == nil && o.fromFile == "" && !o.io.InTerminal {
			return usage.Errorf("nothing was piped in: standard input was empty, so nothing is stored for %s (pipe the value: printf %%s \"$VALUE\" | agent-vault set %s; or run it at a terminal to be prompted)", path, path)
		}
		return usage.Errorf("empty value for %s; nothing stored", path)
	}
	return o.mutate(o.key, func(ow *vault.Owner) error {
		if err := ow.Set(path, value, opts); err != nil {
			return err
		}
		info, err := ow.Info(path)
		if err != nil {
			return err
		}
		printSet(o.io, path, info, value == nil, adminLabel(ow.Root))
		return nil
	})
}

// printSet reports a stored secret: first agent-vault 0.1's line, which scripts grep ("Secret 'P' set in
// group 'G'." and, with extra agents, " (also encrypted for: a, b)"), then who can read it and where
// agent_vault_http may send it. kept says that only the options changed (--keep-value); admins names the
// admins, who read every secret (adminLabel).
func printSet(io *IO, path string, info *vault.SecretInfo, kept bool, admins string) {
	what := "set"
	if kept {
		what = "updated (value kept)"
	}
	also := ""
	if len(info.ExtraAgents) > 0 {
		also = " (also encrypted for: " + strings.Join(info.ExtraAgents, ", ") + ")"
	}
	fmt.Fprintf(io.Out, "Secret '%s' %s in group '%s'%s.\n", path, what, info.Group, also)
	hosts := "HTTP hosts: " + strings.Join(info.AllowHosts, ", ")
	if len(info.AllowHosts) == 0 {
		hosts = "HTTP hosts: none, so agent_vault_http cannot send it (allow one with --keep-value --allow-host HOST)"
	}
	readers := append([]string{admins}, info.AuthorizedAgents...)
	fmt.Fprintf(io.Out, "Readable by %s; %s.\n", strings.Join(readers, ", "), hosts)
}

// value reads the secret's value from the argument, --from-file or standard input (non-nil, possibly
// empty); nil with --keep-value.
func (o *setOptions) value(path string, argValue *string) ([]byte, error) {
	sources := 0
	for _, given := range []bool{argValue != nil, o.fromFile != "", o.keepValue} {
		if given {
			sources++
		}
	}
	if sources > 1 {
		return nil, usage.Errorf("give the value once: as an argument, with --from-file, or keep it with --keep-value")
	}
	switch {
	case o.keepValue:
		return nil, nil
	case argValue != nil:
		fmt.Fprintln(o.io.Err, "agent-vault: warning: a value given as an argument may be kept in your shell history; prefer standard input or --from-file")
		return []byte(*argValue), nil
	case o.fromFile == "-":
		return readLimited(o.io.In, "standard input")
	case o.fromFile != "":
		f, err := os.Open(o.path(o.fromFile))
		if err != nil {
			return nil, fmt.Errorf("cannot read the value: %w", err)
		}
		defer f.Close()
		return readLimited(f, o.fromFile)
	case o.io.InTerminal:
		fmt.Fprintf(o.io.Err, "Value for %s (input hidden; Enter or Ctrl-D ends): ", path)
		done := o.guard.atPrompt(int(os.Stdin.Fd()))
		v, err := o.io.ReadSecret()
		done()
		fmt.Fprintln(o.io.Err)
		if err != nil {
			return nil, fmt.Errorf("cannot read the value: %w", err)
		}
		return append([]byte{}, v...), nil // never nil, which would mean --keep-value
	default:
		return readLimited(o.io.In, "standard input")
	}
}

func readLimited(r io.Reader, what string) ([]byte, error) {
	v, err := io.ReadAll(io.LimitReader(r, vault.MaxValueSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the value from %s: %w", what, err)
	}
	if len(v) > vault.MaxValueSize {
		return nil, usage.Errorf("the value from %s is over the %d-byte limit", what, vault.MaxValueSize)
	}
	return v, nil
}

// parseExpiry reads an RFC 3339 time or a duration from now: Go durations plus d (days) and w (weeks).
func parseExpiry(s string, from time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		count, err := strconv.Atoi(s[:n-1])
		if err == nil && count > 0 {
			days := count
			if s[n-1] == 'w' {
				days *= 7
			}
			return from.AddDate(0, 0, days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return from.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a positive duration (90d, 2w, 12h)", s)
}

// adminLabel names who reads every secret of root: "owner" in a vault without admin changes (agent-vault
// 0.1's word), else "admins (NAME, …)" (docs/format.md section 4.1).
func adminLabel(root *vault.Root) string {
	if root.Admins == nil {
		return "owner"
	}
	var names []string
	for _, a := range root.AdminList() {
		names = append(names, a.Name)
	}
	return "admins (" + strings.Join(names, ", ") + ")"
}
