// Package vectors describes the shared test vectors of testdata/vectors: expected.json (classic vaults) and
// expected-pq.json (post-quantum vaults), which the Go generator writes and every reader's tests run
// (testdata/vectors/README.md).
package vectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"
)

// Format is the on-disk format the vectors hold (expected.json "format").
const Format = 2

// The expected files, one per set of vectors. A set owns its expected file and the keys/ and vaults/
// entries its cases bring; the post-quantum set's names start with PQPrefix, the admins set's with
// AdminsPrefix, and the classic set owns the rest. A set's cases may also use another set's keys and vaults.
const (
	ClassicFile  = "expected.json"
	PQFile       = "expected-pq.json"
	PQPrefix     = "pq-"
	AdminsFile   = "expected-admins.json"
	AdminsPrefix = "admins-"
)

// Operations a case runs.
const (
	OpGet  = ""     // absent "op": read the value of Secret
	OpList = "list" // list the secrets the key can read, in ListGroup when it is not null
)

// Case is one entry of expected.json.
type Case struct {
	Name     string  `json:"name"`
	Op       string  `json:"op,omitempty"`
	Vault    string  `json:"vault"`
	Key      string  `json:"key"`
	OwnerKey bool    `json:"owner_key"`
	Secret   *string `json:"secret"`
	// ListGroup is the group a list case lists, nil for every group. Written as null in list cases and
	// left out of get cases.
	ListGroup   *string           `json:"list_group"`
	Home        map[string]string `json:"home"`
	ValueBase64 *string           `json:"value_base64"`
	List        []Item            `json:"list"`
	Error       *string           `json:"error"`
	Description string            `json:"description"`
	// WithoutPQ is, in the post-quantum set, the error kind a reader that does not implement post-quantum
	// vaults gives instead of the case's outcome (docs/format.md 3.8: vault_not_found, naming the CLI and
	// the MCP server). Left out of the classic set.
	WithoutPQ *string `json:"error_without_pq,omitempty"`
	// HomeAfter, when set, names files of the agent-vault home the read must leave holding given top-level
	// JSON fields (path → field → value; other fields are not checked): the high-water marks a reader
	// records, such as the last admin change it verified (docs/format.md 6.3). Left out when empty.
	HomeAfter map[string]map[string]any `json:"home_after,omitempty"`

	// GoMessage, when set, must appear in the Go reader's error message: it shows that the rule the case
	// is about is the one that fired (and not some other check further up). The generator checks it; it
	// is not written to expected.json.
	GoMessage string `json:"-"`
}

// Item is one secret of a list case's expected listing.
type Item struct {
	Name             string   `json:"name"`
	Group            string   `json:"group"`
	Created          string   `json:"created"`
	Rotated          string   `json:"rotated"`
	Expires          string   `json:"expires"` // "" when the secret does not expire
	AuthorizedAgents []string `json:"authorized_agents"`
	AllowHosts       []string `json:"allow_hosts"`
}

// NewItem builds an Item from a reader's listing, writing times as the format does (RFC 3339, UTC,
// seconds) and nil lists as empty ones.
func NewItem(name, group string, created, rotated time.Time, expires *time.Time, agents, hosts []string) Item {
	it := Item{Name: name, Group: group, Created: fmtTime(created), Rotated: fmtTime(rotated),
		AuthorizedAgents: orEmpty(agents), AllowHosts: orEmpty(hosts)}
	if expires != nil {
		it.Expires = fmtTime(*expires)
	}
	return it
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return slices.Clone(xs)
}

// SameList reports whether two listings are equal, item by item and in order.
func SameList(a, b []Item) bool {
	return slices.EqualFunc(a, b, func(x, y Item) bool {
		return x.Name == y.Name && x.Group == y.Group && x.Created == y.Created && x.Rotated == y.Rotated &&
			x.Expires == y.Expires && slices.Equal(x.AuthorizedAgents, y.AuthorizedAgents) && slices.Equal(x.AllowHosts, y.AllowHosts)
	})
}

// MarshalJSON writes a get case without list fields and a list case without value_base64, with "secret"
// and "list_group" present (null where they do not apply).
func (c *Case) MarshalJSON() ([]byte, error) {
	if c.Op == OpGet {
		return json.Marshal(struct {
			Name        string                    `json:"name"`
			Vault       string                    `json:"vault"`
			Key         string                    `json:"key"`
			OwnerKey    bool                      `json:"owner_key"`
			Secret      *string                   `json:"secret"`
			Home        map[string]string         `json:"home"`
			ValueBase64 *string                   `json:"value_base64"`
			Error       *string                   `json:"error"`
			Description string                    `json:"description"`
			WithoutPQ   *string                   `json:"error_without_pq,omitempty"`
			HomeAfter   map[string]map[string]any `json:"home_after,omitempty"`
		}{c.Name, c.Vault, c.Key, c.OwnerKey, c.Secret, c.Home, c.ValueBase64, c.Error, c.Description, c.WithoutPQ, c.HomeAfter})
	}
	return json.Marshal(struct {
		Name        string                    `json:"name"`
		Op          string                    `json:"op"`
		Vault       string                    `json:"vault"`
		Key         string                    `json:"key"`
		OwnerKey    bool                      `json:"owner_key"`
		Secret      *string                   `json:"secret"`
		ListGroup   *string                   `json:"list_group"`
		Home        map[string]string         `json:"home"`
		List        []Item                    `json:"list"`
		Error       *string                   `json:"error"`
		Description string                    `json:"description"`
		WithoutPQ   *string                   `json:"error_without_pq,omitempty"`
		HomeAfter   map[string]map[string]any `json:"home_after,omitempty"`
	}{c.Name, c.Op, c.Vault, c.Key, c.OwnerKey, c.Secret, c.ListGroup, c.Home, c.List, c.Error, c.Description, c.WithoutPQ, c.HomeAfter})
}

// Check reports what is wrong with the shape of a case.
func (c *Case) Check() error {
	if c.Home == nil {
		return fmt.Errorf("case %q: home is missing", c.Name)
	}
	switch c.Op {
	case OpGet:
		if c.Secret == nil || c.ListGroup != nil || c.List != nil {
			return fmt.Errorf("case %q: a get case has a secret and no list_group or list", c.Name)
		}
		if (c.ValueBase64 == nil) == (c.Error == nil) {
			return fmt.Errorf("case %q: exactly one of value_base64 and error must be set", c.Name)
		}
	case OpList:
		if c.Secret != nil || c.ValueBase64 != nil {
			return fmt.Errorf("case %q: a list case has no secret and no value_base64", c.Name)
		}
		if (c.List == nil) == (c.Error == nil) {
			return fmt.Errorf("case %q: exactly one of list and error must be set", c.Name)
		}
		if !slices.IsSortedFunc(c.List, func(a, b Item) int { return cmpString(a.Name, b.Name) }) {
			return fmt.Errorf("case %q: the list is not sorted by name", c.Name)
		}
	default:
		return fmt.Errorf("case %q: unknown op %q", c.Name, c.Op)
	}
	return nil
}

// CheckHomeAfter checks the files of home that the case's home_after names: each must be a JSON object
// holding every field given, with the same value (compared as JSON). nil when they all do.
func (c *Case) CheckHomeAfter(home string) error {
	for _, rel := range slices.Sorted(maps.Keys(c.HomeAfter)) {
		data, err := os.ReadFile(filepath.Join(home, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("home_after: %w", err)
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			return fmt.Errorf("home_after: %s is not a JSON object: %w", rel, err)
		}
		for _, field := range slices.Sorted(maps.Keys(c.HomeAfter[rel])) {
			// Through JSON, so that numbers compare as the file's do.
			b, err := json.Marshal(c.HomeAfter[rel][field])
			if err != nil {
				return err
			}
			var want any
			if err := json.Unmarshal(b, &want); err != nil {
				return err
			}
			if g, ok := got[field]; !ok || !reflect.DeepEqual(g, want) {
				gb, _ := json.Marshal(got[field])
				return fmt.Errorf("home_after: %s has %s = %s, want %s", rel, field, gb, b)
			}
		}
	}
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Expected is expected.json.
type Expected struct {
	Format int     `json:"format"`
	Cases  []*Case `json:"cases"`
}

// Load reads dir/expected.json.
func Load(dir string) (*Expected, error) { return LoadFile(dir, ClassicFile) }

// LoadFile reads the expected file name (ClassicFile or PQFile) of dir.
func LoadFile(dir, name string) (*Expected, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	var e Expected
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &e, nil
}
