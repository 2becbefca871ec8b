package main

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/agent-vault/agent-vault/vault"
	"github.com/agent-vault/agent-vault/vault/internal/vectors"
)

// Format 1 (docs/format.md section 11; the format 1 document is in the project's history, before the
// commit that introduced format 2) is written here by hand, from the format 1 description: the Go package
// reads format 1 only to ask for a migration and to convert it, and no longer writes it.

const rootSigDomainV1 = "agent-vault/v1 root\n"

const gitignoreV1 = "*.key\n!agents/*/public.key\n*.pem\n**/private.*\n!agents/*/private.key.escrow\n.lock\n.pending/\n"

type rootV1 struct {
	Type       string                     `json:"type"`
	Format     int                        `json:"format"`
	VaultID    string                     `json:"vault_id"`
	Version    uint64                     `json:"version"`
	PrevSHA256 string                     `json:"prev_sha256"`
	Time       string                     `json:"time"`
	Owner      vault.RootOwner            `json:"owner"`
	Files      map[string]string          `json:"files"`
	Agents     map[string]vault.RootAgent `json:"agents"`
	Groups     map[string]groupV1         `json:"groups"`
	Placement  map[string]string          `json:"placement"`
}

type groupV1 struct {
	Members     []string `json:"members"`
	IndexSHA256 string   `json:"index_sha256"`
	Secrets     int      `json:"secrets"`
}

type indexV1 struct {
	Type    string                  `json:"type"`
	Format  int                     `json:"format"`
	VaultID string                  `json:"vault_id"`
	Group   string                  `json:"group"`
	Secrets map[string]indexEntryV1 `json:"secrets"`
}

type indexEntryV1 struct {
	Version     uint64   `json:"version"`
	EncSHA256   string   `json:"enc_sha256"`
	MetaSHA256  string   `json:"meta_sha256"`
	ExtraAgents []string `json:"extra_agents"`
	AllowHosts  []string `json:"allow_hosts"`
}

// signV1 signs a format 1 root body with the format 1 domain.
func signV1(priv ed25519.PrivateKey, body []byte) []byte {
	sig := ed25519.Sign(priv, append([]byte(rootSigDomainV1), body...))
	return append(append(append([]byte{}, body...), "signature: ed25519 "+b64(sig)...), '\n')
}

// makeFormat1 writes vaults/<name>: the basic vault as format 1 held it, with the same vault id, owner,
// agents, escrows, ciphertexts and .meta files (format 1 wrote .meta exactly as format 2 does), one
// group index per group and a root signed with the format 1 domain by the real owner key. Its version is
// the basic vault's, so a migration would make it version+1. It returns the format 1 root's version and
// file hash.
func (g *gen) makeFormat1(name string) (uint64, string) {
	if g.vaults[name] {
		panic("vault " + name + " made twice")
	}
	g.vaults[name] = true
	dir := filepath.Join(g.stage, "vaults", name, vault.DirName)
	for _, d := range []string{"agents", "secrets"} {
		must(os.MkdirAll(rel(dir, d), 0o755))
		must(copyTree(rel(g.basic, d), rel(dir, d)))
	}
	must(os.MkdirAll(rel(dir, "state/groups"), 0o755))
	write := func(p string, data []byte) string {
		must(os.WriteFile(rel(dir, p), data, 0o644))
		return vault.Hash(data)
	}

	created := "2026-01-01T00:00:00Z"
	for _, line := range strings.Split(string(fileBytes(rel(g.basic, "config.yaml"))), "\n") {
		if v, ok := strings.CutPrefix(line, "created: "); ok {
			created = strings.Trim(v, `"`)
		}
	}
	r := &rootV1{
		Type:       "agent-vault-root",
		Format:     1,
		VaultID:    g.vaultID,
		Version:    g.root.Version,
		PrevSHA256: vault.Hash([]byte("agent-vault test vectors: the format 1 root before this one")),
		Time:       g.root.Time,
		Owner:      g.root.Owner,
		Files:      map[string]string{},
		Agents:     g.root.Agents,
		Groups:     map[string]groupV1{},
		Placement:  map[string]string{},
	}
	r.Files[".gitignore"] = write(".gitignore", []byte(gitignoreV1))
	r.Files["config.yaml"] = write("config.yaml", []byte(fmt.Sprintf("format: 1\nvault_id: %q\nowner_verify_key: %q\ncreated: %q\n",
		g.vaultID, g.root.Owner.VerifyKey, created)))
	r.Files["owner.pub"] = write("owner.pub", fileBytes(rel(g.basic, "owner.pub")))

	indexes := map[string]*indexV1{}
	for grp := range g.root.Groups {
		indexes[grp] = &indexV1{Type: "agent-vault-group-index", Format: 1, VaultID: g.vaultID, Group: grp, Secrets: map[string]indexEntryV1{}}
	}
	for id := range g.root.Index {
		for p, e := range readShard(g.basic, id).Secrets {
			indexes[e.Group].Secrets[p] = indexEntryV1{Version: e.Version, EncSHA256: e.EncSHA256, MetaSHA256: e.MetaSHA256,
				ExtraAgents: orEmpty(e.ExtraAgents), AllowHosts: orEmpty(e.AllowHosts)}
			if e.Group != vault.DefaultGroup(p) {
				r.Placement[p] = e.Group
			}
		}
	}
	for grp, ix := range indexes {
		r.Groups[grp] = groupV1{Members: orEmpty(g.root.Groups[grp].Members), Secrets: len(ix.Secrets),
			IndexSHA256: write("state/groups/"+grp+".json", jsonIndent(ix))}
	}
	r.Files["manifest.yaml"] = write("manifest.yaml", manifestV1(r, indexes))
	raw := signV1(g.signer, jsonIndent(r))
	write("state/root", raw)
	return r.Version, vault.Hash(raw)
}

// manifestV1 is format 1's manifest view, which listed every group's secrets.
func manifestV1(r *rootV1, indexes map[string]*indexV1) []byte {
	var b strings.Builder
	b.WriteString("# Access policy of this vault, written by agent-vault from the signed state (state/root).\n")
	b.WriteString("# It is a view: editing it grants nothing, and 'agent-vault check' reports the change.\n")
	b.WriteString("agents:\n")
	for _, a := range sortedKeys(r.Agents) {
		var groups []string
		for _, grp := range sortedKeys(r.Groups) {
			if slices.Contains(r.Groups[grp].Members, a) {
				groups = append(groups, grp)
			}
		}
		fmt.Fprintf(&b, "  %q:\n    groups: %s\n", a, quoteList(groups))
	}
	b.WriteString("groups:\n")
	for _, grp := range sortedKeys(r.Groups) {
		fmt.Fprintf(&b, "  %q:\n    members: %s\n    secrets: %s\n", grp, quoteList(r.Groups[grp].Members), quoteList(sortedKeys(indexes[grp].Secrets)))
	}
	return []byte(b.String())
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// checkMigration converts a copy of the format 1 vault with the Go owner (in a fresh home) and reads
// every secret back: the format 1 vault is one the Go migration accepts, so it is a genuine format 1
// vault and not merely an unreadable one.
func (g *gen) checkMigration(name string, v1Version uint64) error {
	dst := filepath.Join(g.work, "migration-check")
	must(os.MkdirAll(filepath.Join(dst, vault.DirName), 0o755))
	must(copyTree(filepath.Join(g.stage, "vaults", name, vault.DirName), filepath.Join(dst, vault.DirName)))
	return withHome(func(home string) error {
		if err := os.WriteFile(filepath.Join(home, "owner.key"), fileBytes(filepath.Join(g.stage, "keys", "owner.key")), 0o600); err != nil {
			return err
		}
		key, err := vault.ResolveKey("", quiet)
		if err != nil {
			return err
		}
		o, err := vault.New(dst).OpenOwner(key)
		if err != nil {
			return fmt.Errorf("migrating vaults/%s: %w", name, err)
		}
		defer o.Close()
		if o.Root.Version != v1Version+1 {
			return fmt.Errorf("migrating vaults/%s made version %d, not %d", name, o.Root.Version, v1Version+1)
		}
		for _, s := range secrets {
			val, err := o.Get(s.path)
			if err != nil {
				return fmt.Errorf("after migrating vaults/%s: %s: %w", name, s.path, err)
			}
			if string(val) != string(s.value) {
				return fmt.Errorf("after migrating vaults/%s: %s has another value", name, s.path)
			}
		}
		got, err := o.List("")
		if err != nil {
			return err
		}
		want := g.listing("", "")
		if len(got) != len(want) {
			return fmt.Errorf("after migrating vaults/%s: %d secrets, want %d", name, len(got), len(want))
		}
		for i, in := range got {
			it := vectors.NewItem(in.Name, in.Group, in.Created, in.Rotated, in.Expires, in.AuthorizedAgents, in.AllowHosts)
			if !vectors.SameList([]vectors.Item{it}, want[i:i+1]) {
				return fmt.Errorf("after migrating vaults/%s: %s is listed as %+v, want %+v", name, in.Name, it, want[i])
			}
		}
		return nil
	})
}
