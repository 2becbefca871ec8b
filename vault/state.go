package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FormatVersion is the on-disk format this package reads and writes.
const FormatVersion = 1

const (
	rootType  = "agent-vault-root"
	indexType = "agent-vault-group-index"
)

// Paths of files below .agent-vault/.
const (
	DirName      = ".agent-vault"
	rootFile     = "state/root"
	configFile   = "config.yaml"
	ownerPubFile = "owner.pub"
	manifestFile = "manifest.yaml"
	ignoreFile   = ".gitignore"
)

func indexFile(group string) string   { return "state/groups/" + group + ".json" }
func encFile(path string) string      { return "secrets/" + path + ".enc" }
func metaFile(path string) string     { return "secrets/" + path + ".meta" }
func agentPubFile(name string) string { return "agents/" + name + "/public.key" }
func escrowFile(name string) string   { return "agents/" + name + "/private.key.escrow" }

// Root is the body of the signed root (docs/format.md section 4).
type Root struct {
	Type       string               `json:"type"`
	Format     int                  `json:"format"`
	VaultID    string               `json:"vault_id"`
	Version    uint64               `json:"version"`
	PrevSHA256 string               `json:"prev_sha256"`
	Time       string               `json:"time"`
	Owner      RootOwner            `json:"owner"`
	Files      map[string]string    `json:"files"`
	Agents     map[string]RootAgent `json:"agents"`
	Groups     map[string]RootGroup `json:"groups"`
	Placement  map[string]string    `json:"placement"`
}

// RootOwner names the owner's keys.
type RootOwner struct {
	Recipient string `json:"recipient"`
	VerifyKey string `json:"verify_key"`
}

// RootAgent is an agent's entry in the root.
type RootAgent struct {
	Recipient       string `json:"recipient"`
	PublicKeySHA256 string `json:"public_key_sha256"`
	EscrowSHA256    string `json:"escrow_sha256"`
}

// RootGroup is a group's entry in the root.
type RootGroup struct {
	Members     []string `json:"members"`
	IndexSHA256 string   `json:"index_sha256"`
	Secrets     int      `json:"secrets"`
}

// Index is a group index (docs/format.md section 5).
type Index struct {
	Type    string                `json:"type"`
	Format  int                   `json:"format"`
	VaultID string                `json:"vault_id"`
	Group   string                `json:"group"`
	Secrets map[string]IndexEntry `json:"secrets"`
}

// IndexEntry vouches for one secret's files and lists its extra recipients and allowed hosts.
type IndexEntry struct {
	Version     uint64   `json:"version"`
	EncSHA256   string   `json:"enc_sha256"`
	MetaSHA256  string   `json:"meta_sha256"`
	ExtraAgents []string `json:"extra_agents"`
	AllowHosts  []string `json:"allow_hosts"`
}

// Meta is a secret's plaintext metadata (docs/format.md section 5.1).
type Meta struct {
	Name             string     `json:"name"`
	Group            string     `json:"group"`
	Created          time.Time  `json:"created"`
	Rotated          time.Time  `json:"rotated"`
	Expires          *time.Time `json:"expires,omitempty"`
	AuthorizedAgents []string   `json:"authorized_agents"`
}

// Config is config.yaml.
type Config struct {
	Format         int    `yaml:"format"`
	VaultID        string `yaml:"vault_id"`
	OwnerVerifyKey string `yaml:"owner_verify_key"`
	Created        string `yaml:"created"`
}

func encodeJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return append(b, '\n')
}

func decodeJSON(data []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return wrapErr(KindIntegrity, err, "%s is not valid", what)
	}
	return nil
}

// parseRoot parses a verified root body and checks its structure and every name in it.
func parseRoot(body []byte) (*Root, error) {
	var r Root
	if err := decodeJSON(body, &r, "state/root"); err != nil {
		return nil, err
	}
	if r.Type != rootType {
		return nil, newErr(KindIntegrity, "state/root: type is %q, not %q", r.Type, rootType)
	}
	if r.Format != FormatVersion {
		return nil, newErr(KindIntegrity, "state/root: format %d is not supported (this build reads format %d)", r.Format, FormatVersion)
	}
	if !validVaultID(r.VaultID) || r.Version == 0 {
		return nil, newErr(KindIntegrity, "state/root: malformed vault id or version")
	}
	for name, a := range r.Agents {
		if err := CheckSegment(name); err != nil {
			return nil, wrapErr(KindIntegrity, err, "state/root: bad agent name")
		}
		if a.Recipient == "" {
			return nil, newErr(KindIntegrity, "state/root: agent %s has no recipient", name)
		}
	}
	for name, g := range r.Groups {
		if err := CheckSegment(name); err != nil {
			return nil, wrapErr(KindIntegrity, err, "state/root: bad group name")
		}
		for _, m := range g.Members {
			if _, ok := r.Agents[m]; !ok {
				return nil, newErr(KindIntegrity, "state/root: group %s names unknown agent %q", name, m)
			}
		}
	}
	for p, g := range r.Placement {
		if err := CheckPath(p); err != nil {
			return nil, wrapErr(KindIntegrity, err, "state/root: bad placement")
		}
		if err := CheckSegment(g); err != nil {
			return nil, wrapErr(KindIntegrity, err, "state/root: bad placement group")
		}
	}
	if r.Agents == nil {
		r.Agents = map[string]RootAgent{}
	}
	if r.Groups == nil {
		r.Groups = map[string]RootGroup{}
	}
	if r.Placement == nil {
		r.Placement = map[string]string{}
	}
	if r.Files == nil {
		r.Files = map[string]string{}
	}
	return &r, nil
}

// GroupOf is the group that holds path in this state.
func (r *Root) GroupOf(path string) string {
	if g, ok := r.Placement[path]; ok {
		return g
	}
	return DefaultGroup(path)
}

// AgentByRecipient returns the name of the agent whose recipient is rcpt.
func (r *Root) AgentByRecipient(rcpt string) (string, bool) {
	for name, a := range r.Agents {
		if a.Recipient == rcpt {
			return name, true
		}
	}
	return "", false
}

// parseIndex parses a group index whose hash was already checked, and checks it belongs where it was found.
func parseIndex(data []byte, root *Root, group string) (*Index, error) {
	var ix Index
	what := indexFile(group)
	if err := decodeJSON(data, &ix, what); err != nil {
		return nil, err
	}
	if ix.Type != indexType || ix.Format != FormatVersion {
		return nil, newErr(KindIntegrity, "%s: unsupported type or format", what)
	}
	if ix.VaultID != root.VaultID || ix.Group != group {
		return nil, newErr(KindIntegrity, "%s belongs to another vault or group", what)
	}
	for p, e := range ix.Secrets {
		if err := CheckPath(p); err != nil {
			return nil, wrapErr(KindIntegrity, err, "%s: bad secret name", what)
		}
		if root.GroupOf(p) != group {
			return nil, newErr(KindIntegrity, "%s lists %s, which belongs to group %s", what, p, root.GroupOf(p))
		}
		for _, a := range e.ExtraAgents {
			if _, ok := root.Agents[a]; !ok {
				return nil, newErr(KindIntegrity, "%s: %s names unknown agent %q", what, p, a)
			}
		}
	}
	if ix.Secrets == nil {
		ix.Secrets = map[string]IndexEntry{}
	}
	return &ix, nil
}

func validVaultID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// quote writes a YAML double-quoted scalar; JSON string syntax is a subset of it.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// encodeMeta writes a .meta file.
func encodeMeta(m *Meta) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ngroup: %s\ncreated: %s\nrotated: %s\n", quote(m.Name), quote(m.Group), quote(fmtTime(m.Created)), quote(fmtTime(m.Rotated)))
	if m.Expires != nil {
		fmt.Fprintf(&b, "expires: %s\n", quote(fmtTime(*m.Expires)))
	}
	fmt.Fprintf(&b, "authorized_agents: %s\n", quoteList(m.AuthorizedAgents))
	return []byte(b.String())
}

type metaYAML struct {
	Name             string   `yaml:"name"`
	Group            string   `yaml:"group"`
	Created          string   `yaml:"created"`
	Rotated          string   `yaml:"rotated"`
	Expires          string   `yaml:"expires"`
	AuthorizedAgents []string `yaml:"authorized_agents"`
}

// parseMeta parses a .meta file whose hash was already checked and checks it names path in group.
func parseMeta(data []byte, path, group string) (*Meta, error) {
	var y metaYAML
	if err := yaml.Unmarshal(data, &y); err != nil {
		return nil, wrapErr(KindIntegrity, err, "%s is not valid", metaFile(path))
	}
	if y.Name != path || y.Group != group {
		return nil, newErr(KindIntegrity, "%s names %s in group %s, not %s in group %s", metaFile(path), y.Name, y.Group, path, group)
	}
	m := &Meta{Name: y.Name, Group: y.Group, AuthorizedAgents: y.AuthorizedAgents}
	var err error
	if m.Created, err = time.Parse(time.RFC3339, y.Created); err != nil {
		return nil, newErr(KindIntegrity, "%s: bad created time", metaFile(path))
	}
	if m.Rotated, err = time.Parse(time.RFC3339, y.Rotated); err != nil {
		return nil, newErr(KindIntegrity, "%s: bad rotated time", metaFile(path))
	}
	if y.Expires != "" {
		t, err := time.Parse(time.RFC3339, y.Expires)
		if err != nil {
			return nil, newErr(KindIntegrity, "%s: bad expires time", metaFile(path))
		}
		m.Expires = &t
	}
	if m.AuthorizedAgents == nil {
		m.AuthorizedAgents = []string{}
	}
	return m, nil
}

func encodeConfig(c *Config) []byte {
	return []byte(fmt.Sprintf("format: %d\nvault_id: %s\nowner_verify_key: %s\ncreated: %s\n",
		c.Format, quote(c.VaultID), quote(c.OwnerVerifyKey), quote(c.Created)))
}

// parseConfig parses config.yaml, which is untrusted until the root vouches for its hash.
func parseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, wrapErr(KindIntegrity, err, "config.yaml is not valid")
	}
	if c.Format != FormatVersion {
		return nil, newErr(KindIntegrity, "config.yaml: format %d is not supported (this build reads format %d)", c.Format, FormatVersion)
	}
	if !validVaultID(c.VaultID) {
		return nil, newErr(KindIntegrity, "config.yaml: malformed vault id")
	}
	return &c, nil
}

const gitignoreContent = "*.key\n!agents/*/public.key\n*.pem\n**/private.*\n!agents/*/private.key.escrow\n.lock\n.pending/\n"

// encodeManifest renders the human-readable policy view from the root and the secret paths per group.
func encodeManifest(r *Root, secrets map[string][]string) []byte {
	var b strings.Builder
	b.WriteString("# Access policy of this vault, written by agent-vault from the signed state (state/root).\n")
	b.WriteString("# It is a view: editing it grants nothing, and 'agent-vault check' reports the change.\n")
	if len(r.Agents) == 0 {
		b.WriteString("agents: {}\n")
	} else {
		b.WriteString("agents:\n")
	}
	for _, a := range sortedKeys(r.Agents) {
		fmt.Fprintf(&b, "  %s:\n    groups: %s\n", quote(a), quoteList(r.AgentGroups(a)))
	}
	if len(r.Groups) == 0 {
		b.WriteString("groups: {}\n")
	} else {
		b.WriteString("groups:\n")
	}
	for _, g := range sortedKeys(r.Groups) {
		s := slices.Clone(secrets[g])
		sort.Strings(s)
		fmt.Fprintf(&b, "  %s:\n    members: %s\n    secrets: %s\n", quote(g), quoteList(r.Groups[g].Members), quoteList(s))
	}
	return []byte(b.String())
}

// AgentGroups returns the groups agent is a member of, sorted.
func (r *Root) AgentGroups(agent string) []string {
	var gs []string
	for _, g := range sortedKeys(r.Groups) {
		if slices.Contains(r.Groups[g].Members, agent) {
			gs = append(gs, g)
		}
	}
	if gs == nil {
		gs = []string{}
	}
	return gs
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// AgentNames returns the names of the vault's agents, sorted.
func (r *Root) AgentNames() []string { return sortedKeys(r.Agents) }

// GroupNames returns the names of the vault's groups, sorted.
func (r *Root) GroupNames() []string { return sortedKeys(r.Groups) }
