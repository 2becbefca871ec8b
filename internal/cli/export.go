package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/dotenv"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type exportOptions struct {
	*global
	key    string
	group  string
	format string
	noPull bool
}

func newExportCmd(g *global) *cobra.Command {
	opts := &exportOptions{global: g}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print the secrets this key can read, as dotenv or JSON",
		Long: `Print every secret the key can read (or those of --group), verified exactly as get verifies them,
to standard output only. Each is named as 'run --group' names it: the path upper-cased, every other
character '_' (stripe/api-key becomes STRIPE_API_KEY). dotenv output reads back with
'agent-vault import', with 'set -a; . FILE' in a POSIX shell and with Docker Compose.

Prefer 'agent-vault run', which gives the values to one command without printing them.`,
		Example: `  agent-vault export --group stripe > stripe.env
  agent-vault export --format json --key ~/.agent-vault/agents/ci.key`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	f := cmd.Flags()
	f.StringVar(&opts.key, "key", "", "key `PATH`")
	f.StringVar(&opts.group, "group", "", "only secrets of `GROUP`")
	f.StringVar(&opts.format, "format", "dotenv", "`FORMAT`: dotenv or json")
	f.BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

func (o *exportOptions) run() error {
	if o.format != "dotenv" && o.format != "json" {
		return usage.Errorf("--format must be dotenv or json, not %q", o.format)
	}
	s, err := o.openReader(o.key, o.noPull)
	if err != nil {
		return err
	}
	infos, err := s.List(o.group)
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return &vault.Error{Kind: vault.KindNotAuthorized, Msg: fmt.Sprintf("this key (%s) can read no secret to export", s.Role)}
	}
	// Every value is read and checked before anything is printed: a failure prints nothing.
	names := make([]string, len(infos))
	values := make([][]byte, len(infos))
	byName := map[string]string{}
	for i := range infos {
		info := &infos[i]
		names[i] = groupEnvName(info.Name)
		if !validEnvName(names[i]) {
			return usage.Errorf("%s would be exported as %s, which is not a valid environment variable name", info.Name, names[i])
		}
		if why := deniedEnvReason(names[i]); why != "" {
			return usage.Errorf("%s would be exported as %s, which changes how programs start (%s); export never sets it", info.Name, names[i], why)
		}
		if other, dup := byName[names[i]]; dup {
			return usage.Errorf("%s and %s would both be exported as %s", other, info.Name, names[i])
		}
		byName[names[i]] = info.Name
		if values[i], err = s.Get(info.Name); err != nil {
			return err
		}
		o.warnExpired(info)
		if o.format == "json" && !utf8.Valid(values[i]) {
			return usage.Errorf("%s is not UTF-8 text, which a JSON string cannot hold exactly; export it as dotenv or read it with get", info.Name)
		}
		if bytes.IndexByte(values[i], 0) >= 0 {
			return usage.Errorf("%s holds a NUL byte, which no environment variable can; read it with get", info.Name)
		}
	}
	w := bufio.NewWriter(o.io.Out)
	if o.format == "json" {
		// An object in path order; encoding/json would sort the keys, which is also fine, but the order of
		// the listing is the one users see everywhere else.
		w.WriteString("{")
		for i, name := range names {
			k, _ := json.Marshal(name)
			v, _ := json.Marshal(string(values[i]))
			if i > 0 {
				w.WriteString(",")
			}
			fmt.Fprintf(w, "\n  %s: %s", k, v)
		}
		w.WriteString("\n}\n")
	} else {
		for i, name := range names {
			fmt.Fprintf(w, "%s=%s\n", name, dotenv.Quote(string(values[i])))
		}
	}
	return w.Flush()
}
