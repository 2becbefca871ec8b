package cli

import (
	"bytes"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

// Shell completion of secret, agent and group names. The names come from the vault's verified state (the
// signed root and the index shards), opened with the key the command line would use (--key,
// AGENT_VAULT_KEY, the owner key) and -C DIR, without pulling: nothing is decrypted, and only the secrets
// the key can read are offered. When the vault or key cannot be opened nothing is offered.

// nameKind is what a positional argument or flag value names.
type nameKind int

const (
	noName nameKind = iota
	secretName
	agentName
	groupName
)

// positional lists, per command, what each positional argument names.
var positional = map[string][]nameKind{
	"get":           {secretName},
	"rm":            {secretName},
	"set":           {secretName},
	"grant":         {agentName, groupName},
	"revoke":        {agentName, groupName},
	"remove-agent":  {agentName},
	"recover-agent": {agentName},
	"restore-agent": {agentName},
}

// flagNames lists, per command, the flags whose values are names.
var flagNames = map[string]map[string]nameKind{
	"list":   {"group": groupName},
	"set":    {"group": groupName, "agents": agentName},
	"run":    {"group": groupName, "env": secretName},
	"export": {"group": groupName},
}

// addNameCompletions installs the completion of names on the commands of root.
func (g *global) addNameCompletions(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		if kinds, ok := positional[cmd.Name()]; ok {
			cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) >= len(kinds) {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return g.completeNames(c, kinds[len(args)], "", toComplete)
			}
		}
		for flag, kind := range flagNames[cmd.Name()] {
			if cmd.Flags().Lookup(flag) == nil {
				continue
			}
			cmd.RegisterFlagCompletionFunc(flag, func(c *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				prefix := ""
				switch {
				case flag == "env":
					// NAME=PATH: complete the path after the "=".
					i := strings.IndexByte(toComplete, '=')
					if i < 0 {
						return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
					}
					prefix, toComplete = toComplete[:i+1], toComplete[i+1:]
				case flag == "agents":
					// a,b,c: complete the last name of the list.
					if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
						prefix, toComplete = toComplete[:i+1], toComplete[i+1:]
					}
				}
				return g.completeNames(c, kind, prefix, toComplete)
			})
		}
	}
}

// completeNames returns the names of kind that start with toComplete, each behind prefix.
func (g *global) completeNames(cmd *cobra.Command, kind nameKind, prefix, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	const directive = cobra.ShellCompDirectiveNoFileComp
	s := g.completionSnapshot(cmd)
	if s == nil {
		return nil, directive
	}
	var names []string
	switch kind {
	case secretName:
		names = readableSecrets(s)
	case agentName:
		names = s.Root.AgentNames()
	case groupName:
		names = visibleGroups(s)
	}
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, prefix+n)
		}
	}
	return out, directive
}

// completionSnapshot opens the vault for completion with the command line's key, keeping warnings away
// from the terminal the user is typing in. A key without pins that is not the owner key is not used:
// its first read would trust the vault's owner key on first use, which must be said, not done silently
// behind a TAB.
func (g *global) completionSnapshot(cmd *cobra.Command) *vault.Snapshot {
	warn := g.warn
	g.warn = func(string) {}
	defer func() { g.warn = warn }()
	keyFlag := ""
	if f := cmd.Flags().Lookup("key"); f != nil {
		keyFlag = f.Value.String()
	}
	v, key, err := g.vaultAndKey(keyFlag)
	if err != nil || (!key.Pinned() && !key.IsOwner) {
		return nil
	}
	s, err := v.Open(key)
	if err != nil {
		return nil
	}
	return s
}

// bashCompletion writes the bash completion script. cobra's script needs _get_comp_words_by_ref from the
// bash-completion package; where that package is not installed (macOS's bash, minimal images), the
// script uses a stand-in that splits the line at blanks up to the cursor, so that "--key=PATH" and
// "NAME=PATH" stay one word, as bash-completion's "-n =:" does.
func bashCompletion(root *cobra.Command, w io.Writer) error {
	var buf bytes.Buffer
	if err := root.GenBashCompletionV2(&buf, true); err != nil {
		return err
	}
	name := root.Name()
	call := `_get_comp_words_by_ref "$@" cur prev words cword`
	script := buf.String()
	if !strings.Contains(script, call) {
		_, err := w.Write(buf.Bytes())
		return err
	}
	script = strings.Replace(script, call, "__"+name+"_comp_words "+`"$@"`, 1)
	shim := `
# The words of the command line up to the cursor, as bash-completion's _get_comp_words_by_ref sets them
# (cur, prev, words, cword), with a stand-in when that package is not installed.
__` + name + `_comp_words()
{
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref "$@" cur prev words cword
        return
    fi
    local line=${COMP_LINE:0:COMP_POINT}
    read -r -a words <<< "$line"
    if [[ -z $line || $line == *[[:blank:]] ]]; then
        words+=("")
    fi
    cword=$(( ${#words[@]} - 1 ))
    cur=${words[cword]}
    prev=${words[cword-1]-}
}
`
	marker := "# Macs have bash3"
	if i := strings.Index(script, marker); i >= 0 {
		script = script[:i] + strings.TrimPrefix(shim, "\n") + "\n" + script[i:]
	} else {
		script += shim
	}
	_, err := io.WriteString(w, script)
	return err
}
