package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	jsonv2 "github.com/go-json-experiment/json"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FormatVersion is the on-disk format this package reads and writes.
const FormatVersion = 2

// formatV1 is the earlier format, which readers recognise only to say that it must be migrated.
const formatV1 = 1

const (
	rootType  = "agent-vault-root"
	shardType = "agent-vault-index-shard"
	// LimitRoot bounds the signed root, which grows with agents and groups, never with secrets. The writer
	// refuses to sign a larger one, so no root it wrote is ever refused by a reader.
	LimitRoot = 16 << 20
)

// Paths of files below .agent-vault/.
const (
	DirName      = ".agent-vault" // the vault directory of a working tree (docs/format.md section 1)
	rootFile     = "state/root"
	configFile   = "config.yaml"
	ownerPubFile = "owner.pub"
	manifestFile = "manifest.yaml"
	ignoreFile   = ".gitignore"
)

func shardFile(id string) string      { return "state/index/" + id + ".json" }
func encFile(path string) string      { return "secrets/" + path + ".enc" }
func metaFile(path string) string     { return "secrets/" + path + ".meta" }
func agentPubFile(name string) string { return "agents/" + name + "/public.key" }
func escrowFile(name string) string   { return "agents/" + name + "/private.key.escrow" }

// ShardOf is the id of the index shard that holds path: the first two hex characters of SHA-256 of the
// path in ASCII lower case, so paths that differ only in case meet in one shard.
func ShardOf(path string) string {
	h := sha256.Sum256([]byte(strings.ToLower(path)))
	return hex.EncodeToString(h[:1])
}

// FileRef vouches for a file by its hash (lowercase hex SHA-256) and size in bytes.
type FileRef struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

func refOf(data []byte) FileRef { return FileRef{SHA256: Hash(data), Size: int64(len(data))} }

// Root is the body of the signed root (docs/format.md section 4). Its fields, and those of RootOwner,
// RootAgent, RootGroup and ShardRef, are the JSON members of their tags, as section 4 defines them.
type Root struct {
	Type       string               `json:"type"`
	Format     int                  `json:"format"`
	VaultID    string               `json:"vault_id"`
	Version    uint64               `json:"version"`
	PrevSHA256 string               `json:"prev_sha256"`
	Time       string               `json:"time"`
	Owner      RootOwner            `json:"owner"`
	Files      map[string]FileRef   `json:"files"`
	Agents     map[string]RootAgent `json:"agents"`
	Groups     map[string]RootGroup `json:"groups"`
	Index      map[string]ShardRef  `json:"index"`
	// Merged is the hash of the other root a sync merged (docs/format.md section 9.4): prev_sha256 names
	// the local state it replaced, merged_sha256 the upstream's. Absent in every other root.
	Merged string `json:"merged_sha256,omitempty"`
	// Admins is the admin set (docs/format.md section 4.1), absent until the first admin change: a root
	// without it has the founding owner as its only admin.
	Admins *RootAdmins `json:"admins,omitempty"`
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
	Members []string `json:"members"`
	Secrets int      `json:"secrets"`
}

// ShardRef vouches for an index shard and counts its entries.
type ShardRef struct {
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Secrets int    `json:"secrets"`
}

// Shard is an index shard (docs/format.md section 5); its fields, and those of Entry, are the JSON
// members of their tags, as section 5 defines them.
type Shard struct {
	Type    string           `json:"type"`
	Format  int              `json:"format"`
	VaultID string           `json:"vault_id"`
	Shard   string           `json:"shard"`
	Secrets map[string]Entry `json:"secrets"`
}

// Entry is a secret's signed record: its group, files, metadata, extra recipients and allowed hosts.
type Entry struct {
	Group       string   `json:"group"`
	Version     uint64   `json:"version"`
	EncSHA256   string   `json:"enc_sha256"`
	EncSize     int64    `json:"enc_size"`
	MetaSHA256  string   `json:"meta_sha256"`
	MetaSize    int64    `json:"meta_size"`
	Created     string   `json:"created"`
	Rotated     string   `json:"rotated"`
	Expires     string   `json:"expires"`
	ExtraAgents []string `json:"extra_agents"`
	AllowHosts  []string `json:"allow_hosts"`
}

func (e *Entry) enc() FileRef  { return FileRef{SHA256: e.EncSHA256, Size: e.EncSize} }
func (e *Entry) meta() FileRef { return FileRef{SHA256: e.MetaSHA256, Size: e.MetaSize} }

// Meta is a secret's metadata (docs/format.md sections 5 and 5.1): its path, its group, when it was
// created and last given a value, its expiry (nil: none) and the agents that can read it.
type Meta struct {
	Name             string     `json:"name"`
	Group            string     `json:"group"`
	Created          time.Time  `json:"created"`
	Rotated          time.Time  `json:"rotated"`
	Expires          *time.Time `json:"expires,omitempty"`
	AuthorizedAgents []string   `json:"authorized_agents"`
}

// vaultConfig is config.yaml.
type vaultConfig struct {
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

// encodeCompact writes JSON without indentation: the root and the shards are parsed on every get, and
// their size is most of its cost at 10,000 secrets.
func encodeCompact(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// decodeJSON parses a signed root or an index (format 1 or 2). It uses the v2 decoder of
// github.com/go-json-experiment/json: one pass instead of encoding/json's two (a validation scan, then
// the decoding), a large part of list's time at 10,000 secrets; and stricter, which suits data an
// attacker may have written: names match exactly, a name given twice and invalid UTF-8 are errors.
func decodeJSON(data []byte, v any, what string) error {
	if err := jsonv2.Unmarshal(data, v); err != nil {
		return wrapErr(KindIntegrity, err, "%s is not valid", what)
	}
	return nil
}

// rootHeader is what a reader looks at first, to tell format 1 from format 2.
type rootHeader struct {
	Type    string `json:"type"`
	Format  int    `json:"format"`
	VaultID string `json:"vault_id"`
	Version uint64 `json:"version"`
}

// parseRoot parses a verified root body and checks its structure, every name and every recipient in it.
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
	kind, ok := validRecipientOf(r.Owner.Recipient)
	if !ok {
		return nil, newErr(KindIntegrity, "state/root: malformed owner recipient")
	}
	seen := map[string]string{r.Owner.Recipient: "the owner"}
	for _, name := range sortedKeys(r.Agents) {
		if err := CheckSegment(name); err != nil {
			return nil, wrapErr(KindIntegrity, err, "state/root: bad agent name")
		}
		rc := r.Agents[name].Recipient
		if k, ok := validRecipientOf(rc); !ok {
			return nil, newErr(KindIntegrity, "state/root: agent %s has a malformed recipient", name)
		} else if k != kind {
			return nil, newErr(KindIntegrity, "state/root: agent %s has a %s recipient in a vault whose owner's is %s (kinds never mix)", name, k, kind)
		}
		if other, dup := seen[rc]; dup {
			return nil, newErr(KindIntegrity, "state/root: agent %s has the same recipient as %s", name, other)
		}
		seen[rc] = "agent " + name
	}
	if err := checkAdmins(&r, kind); err != nil {
		return nil, err
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
		if g.Secrets < 0 {
			return nil, newErr(KindIntegrity, "state/root: group %s has a negative count", name)
		}
	}
	for id, ref := range r.Index {
		if !validShardID(id) || ref.Size < 0 || ref.Secrets <= 0 || !validHash(ref.SHA256) {
			return nil, newErr(KindIntegrity, "state/root: malformed index entry %q", id)
		}
	}
	for name, ref := range r.Files {
		if ref.Size < 0 || !validHash(ref.SHA256) {
			return nil, newErr(KindIntegrity, "state/root: malformed file entry %q", name)
		}
	}
	if r.Agents == nil {
		r.Agents = map[string]RootAgent{}
	}
	if r.Groups == nil {
		r.Groups = map[string]RootGroup{}
	}
	if r.Index == nil {
		r.Index = map[string]ShardRef{}
	}
	if r.Files == nil {
		r.Files = map[string]FileRef{}
	}
	return &r, nil
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

// parseShard parses an index shard whose size and hash were already checked, and checks that it belongs
// where it was found.
func parseShard(data []byte, root *Root, id string) (*Shard, error) {
	var sh Shard
	what := shardFile(id)
	if err := decodeJSON(data, &sh, what); err != nil {
		return nil, err
	}
	if sh.Type != shardType || sh.Format != FormatVersion {
		return nil, newErr(KindIntegrity, "%s: unsupported type or format", what)
	}
	if sh.VaultID != root.VaultID || sh.Shard != id {
		return nil, newErr(KindIntegrity, "%s belongs to another vault or shard", what)
	}
	if len(sh.Secrets) != root.Index[id].Secrets {
		return nil, newErr(KindIntegrity, "%s holds %d secrets, the signed root says %d", what, len(sh.Secrets), root.Index[id].Secrets)
	}
	for p, e := range sh.Secrets {
		if err := CheckPath(p); err != nil {
			return nil, wrapErr(KindIntegrity, err, "%s: bad secret name", what)
		}
		if ShardOf(p) != id {
			return nil, newErr(KindIntegrity, "%s lists %s, which belongs to shard %s", what, p, ShardOf(p))
		}
		if _, ok := root.Groups[e.Group]; !ok {
			return nil, newErr(KindIntegrity, "%s: %s names group %q, which the signed root does not have", what, p, e.Group)
		}
		for _, a := range e.ExtraAgents {
			if _, ok := root.Agents[a]; !ok {
				return nil, newErr(KindIntegrity, "%s: %s names unknown agent %q", what, p, a)
			}
		}
		if e.Version == 0 || e.EncSize < 0 || e.MetaSize < 0 || !validHash(e.EncSHA256) || !validHash(e.MetaSHA256) {
			return nil, newErr(KindIntegrity, "%s: %s has a malformed entry", what, p)
		}
		if _, err := parseTime(e.Created); err != nil {
			return nil, newErr(KindIntegrity, "%s: %s has a bad created time", what, p)
		}
		if _, err := parseTime(e.Rotated); err != nil {
			return nil, newErr(KindIntegrity, "%s: %s has a bad rotated time", what, p)
		}
		if e.Expires != "" {
			if _, err := parseTime(e.Expires); err != nil {
				return nil, newErr(KindIntegrity, "%s: %s has a bad expires time", what, p)
			}
		}
	}
	if sh.Secrets == nil {
		sh.Secrets = map[string]Entry{}
	}
	return &sh, nil
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

// validHash reports whether s is a SHA-256 as the format writes it: 64 lower-case hex characters.
func validHash(s string) bool { return len(s) == 64 && isLowerHex(s) }

func validShardID(s string) bool {
	return len(s) == 2 && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validVaultID(s string) bool { return len(s) == 32 && isLowerHex(s) }

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

// metaOf is the metadata an entry records for path under root.
func metaOf(root *Root, path string, e *Entry) *Meta {
	m := &Meta{Name: path, Group: e.Group, AuthorizedAgents: authorizedAgents(root, e)}
	m.Created, _ = parseTime(e.Created)
	m.Rotated, _ = parseTime(e.Rotated)
	if e.Expires != "" {
		t, _ := parseTime(e.Expires)
		m.Expires = &t
	}
	return m
}

// authorizedAgents is the sorted union of the entry's group members and extra agents.
func authorizedAgents(root *Root, e *Entry) []string {
	names := map[string]bool{}
	for _, m := range root.Groups[e.Group].Members {
		names[m] = true
	}
	for _, a := range e.ExtraAgents {
		names[a] = true
	}
	return sortedKeys(names)
}

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

func encodeConfig(c *vaultConfig) []byte {
	return []byte(fmt.Sprintf("format: %d\nvault_id: %s\nowner_verify_key: %s\ncreated: %s\n",
		c.Format, quote(c.VaultID), quote(c.OwnerVerifyKey), quote(c.Created)))
}

// parseConfig parses config.yaml, which is untrusted until the root vouches for its hash.
func parseConfig(data []byte) (*vaultConfig, error) {
	var c vaultConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, wrapErr(KindIntegrity, err, "config.yaml is not valid")
	}
	if c.Format != FormatVersion && c.Format != formatV1 {
		return nil, newErr(KindIntegrity, "config.yaml: format %d is not supported (this build reads format %d)", c.Format, FormatVersion)
	}
	if !validVaultID(c.VaultID) {
		return nil, newErr(KindIntegrity, "config.yaml: malformed vault id")
	}
	return &c, nil
}

const gitignoreContent = "*.key\n!agents/*/public.key\n*.pem\n**/private.*\n!agents/*/private.key.escrow\n.lock\n.pending/\n.pending.done/\n"

// encodeManifest renders the human-readable policy view from the root: agents, and groups with their
// members and number of secrets. It lists no secret, so it does not grow with the vault.
func encodeManifest(r *Root) []byte {
	var b strings.Builder
	b.WriteString("# Access policy of this vault, written by agent-vault from the signed state (state/root).\n")
	b.WriteString("# It is a view: editing it grants nothing, and 'agent-vault check' reports the change.\n")
	b.WriteString("# 'agent-vault list' shows the secrets.\n")
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
		fmt.Fprintf(&b, "  %s:\n    members: %s\n    secrets: %d\n", quote(g), quoteList(r.Groups[g].Members), r.Groups[g].Secrets)
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
