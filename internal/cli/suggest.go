package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/agent-vault/agent-vault/vault"
)

// "Did you mean": when a command fails because a secret, agent or group does not exist, the error names
// the nearest names the key may see. The names come from the verified state (the signed root and index
// shards), read again with the command's key and without pulling; nothing is decrypted, and a secret the
// key cannot read is never suggested.

// withSuggestion returns err with "; did you mean X?" appended when err is a not-found error of package
// vault (a *vault.NotFoundError in its chain says what kind of name is missing, and which) and a name
// close to the missing one exists among the names the command's key may see; otherwise err itself.
func (g *global) withSuggestion(cmd *cobra.Command, err error) error {
	var nf *vault.NotFoundError
	if cmd == nil || vault.KindOf(err) != vault.KindNotFound || !errors.As(err, &nf) {
		return err
	}
	s := g.suggestionSnapshot(cmd)
	if s == nil {
		return err
	}
	var candidates []string
	switch {
	case nf.Agent != "": // "agent A is not a member of group G": the groups A is in
		candidates = s.Root.AgentGroups(nf.Agent)
	case nf.What == vault.NameSecret:
		candidates = readableSecrets(s)
	case nf.What == vault.NameAgent:
		candidates = s.Root.AgentNames()
	case nf.What == vault.NameGroup:
		candidates = visibleGroups(s)
	}
	if hint := didYouMean(nf.Name, candidates); hint != "" {
		return fmt.Errorf("%w; %s", err, hint)
	}
	return err
}

// suggestionSnapshot opens the vault with the key the failed command used (its --key flag, else
// AGENT_VAULT_KEY, else the owner key), without pulling; nil when that fails.
func (g *global) suggestionSnapshot(cmd *cobra.Command) *vault.Snapshot {
	keyFlag := ""
	if f := cmd.Flags().Lookup("key"); f != nil {
		keyFlag = f.Value.String()
	}
	v, key, err := g.vaultAndKey(keyFlag)
	if err != nil {
		return nil
	}
	s, err := v.Open(key)
	if err != nil {
		return nil
	}
	return s
}

func readableSecrets(s *vault.Snapshot) []string {
	infos, err := s.List("")
	if err != nil {
		return nil
	}
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	return names
}

// visibleGroups: every group for the owner; for an agent, the groups it belongs to or reads a secret of.
func visibleGroups(s *vault.Snapshot) []string {
	if s.Role.Owner {
		groups := make([]string, 0, len(s.Root.Groups))
		for name := range s.Root.Groups {
			groups = append(groups, name)
		}
		return groups
	}
	groups := s.Root.AgentGroups(s.Role.Agent)
	if infos, err := s.List(""); err == nil {
		for _, in := range infos {
			if !slices.Contains(groups, in.Group) {
				groups = append(groups, in.Group)
			}
		}
	}
	return groups
}

// didYouMean returns "did you mean X?" (or "X or Y", up to three names) for the candidates nearest to
// missing (only those at the smallest distance), "" when none is near: an edit distance (insertions, deletions, substitutions, transpositions)
// within about a third of the name's length, a different case, or the same last path segment
// ("api-key" for "stripe/api-key").
func didYouMean(missing string, candidates []string) string {
	type scored struct {
		name string
		d    int
	}
	limit := max(1, min(3, len(missing)/3))
	var near []scored
	for _, c := range candidates {
		if c == missing {
			continue
		}
		d := editDistance(missing, c)
		switch {
		case strings.EqualFold(c, missing):
			d = 0
		case d <= limit:
		case lastSegment(c) == lastSegment(missing) || lastSegment(c) == missing:
			d = limit + 1
		default:
			continue
		}
		near = append(near, scored{c, d})
	}
	if len(near) == 0 {
		return ""
	}
	sort.Slice(near, func(i, j int) bool {
		if near[i].d != near[j].d {
			return near[i].d < near[j].d
		}
		return near[i].name < near[j].name
	})
	names := []string{}
	for i := 0; i < len(near) && i < 3 && near[i].d == near[0].d; i++ {
		names = append(names, near[i].name)
	}
	switch len(names) {
	case 1:
		return "did you mean " + names[0] + "?"
	case 2:
		return "did you mean " + names[0] + " or " + names[1] + "?"
	}
	return "did you mean " + names[0] + ", " + names[1] + " or " + names[2] + "?"
}

func lastSegment(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// editDistance is the optimal string alignment distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b)) // names are bounded; never quadratic on something else
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// noKeyError replaces the "no key" error of a command run in vault v on a machine without an owner key
// (an agent's machine, usually) by advice that fits: which agent key files of this vault are here, and
// how to give a key; never "run init", which would fail in an existing vault.
func noKeyError(v *vault.Vault, err error, opts *vault.KeyOptions) error {
	var ve *vault.Error
	if !errors.As(err, &ve) || ve.Kind != vault.KindVaultNotFound || !strings.HasPrefix(ve.Msg, "no key:") {
		return err
	}
	home, herr := homeDir()
	if herr != nil {
		return err
	}
	ownerKey := filepath.Join(home, "owner.key")
	id := configVaultID(v)
	var here []string
	if id != "" {
		files := agentKeyFiles(id, opts)
		names := make([]string, 0, len(files))
		for name := range files {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			here = append(here, fmt.Sprintf("--key %s (agent %s)", files[name], name))
		}
	}
	if len(here) > 0 {
		return &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
			"no key given for vault %s, and this machine has no owner key (%s): pass %s, or set AGENT_VAULT_KEY",
			v.Top, ownerKey, strings.Join(here, " or "))}
	}
	return &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
		"no key given for vault %s, and this machine has no owner key (%s): an agent passes --key PATH or sets "+
			"AGENT_VAULT_KEY to the key file the vault's owner made for it with 'agent-vault add-agent NAME' "+
			"(the file or its content); the owner restores the owner key from a backup",
		v.Top, ownerKey)}
}

// configVaultID reads the vault id from config.yaml, unverified: it only picks which local key files to
// name in advice, and whichever key is then used verifies the vault in full. "" when unreadable.
func configVaultID(v *vault.Vault) string {
	data, err := os.ReadFile(filepath.Join(v.Dir, "config.yaml"))
	if err != nil {
		return ""
	}
	var c struct {
		VaultID string `yaml:"vault_id"`
	}
	if yaml.Unmarshal(data, &c) != nil || len(c.VaultID) != 32 || strings.Trim(c.VaultID, "0123456789abcdef") != "" {
		return ""
	}
	return c.VaultID
}
