// Command vectorgen writes the shared test vectors of testdata/vectors: test-only keys, vaults written by
// the Go code (some of them tampered with, one per attack class), and the expected files, the cases every
// reader (Go, Python, Node) must reproduce. See testdata/vectors/README.md.
//
// Usage, from the repository root:
//
//	go run ./vault/internal/vectorgen -out testdata/vectors -add      # what `make vectors` runs
//	go run ./vault/internal/vectorgen -out testdata/vectors -sets pq  # rewrite the post-quantum set
//
// The vectors come in sets (sets.go): classic (expected.json), pq (expected-pq.json) and admins
// (expected-admins.json). Every run of a
// set makes new keys and new ciphertexts (age encryption is randomised), so it rewrites every file of the
// set; the names of vaults, keys and cases are fixed. With -add, a set whose expected file exists is left
// alone and nothing that exists is ever rewritten: the run only adds the missing sets. Before it writes
// anything, the generator runs every case through the Go reader and checks the outcome (and, for attack
// cases, which rule fired).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault"
	"github.com/agent-vault/agent-vault/vault/internal/vectors"
)

func main() {
	out := flag.String("out", "testdata/vectors", "directory to write keys/, vaults/ and the expected files into")
	sets := flag.String("sets", "classic,pq,admins", "comma-separated sets to write: classic (expected.json), pq (expected-pq.json), admins (expected-admins.json)")
	addOnly := flag.Bool("add", false, "add-only: write only the sets whose expected file is missing, and never rewrite a file")
	flag.Parse()
	if err := run(*out, strings.Split(*sets, ","), *addOnly); err != nil {
		fmt.Fprintln(os.Stderr, "vectorgen:", err)
		os.Exit(1)
	}
}

// Case and Expected are the vectors package's, shared with the Go reader's vector test.
type (
	Case     = vectors.Case
	Expected = vectors.Expected
)

func value(b []byte) *string { s := base64.StdEncoding.EncodeToString(b); return &s }
func kind(k string) *string  { return &k }

func run(out string, names []string, addOnly bool) error {
	if fi, err := os.Stat(out); err != nil || !fi.IsDir() {
		return fmt.Errorf("output directory %s does not exist (run from the repository root)", out)
	}
	todo, err := chooseSets(out, names, addOnly)
	if err != nil || len(todo) == 0 {
		return err
	}
	work, err := os.MkdirTemp("", "vectorgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	stage := filepath.Join(work, "stage")
	for _, s := range todo {
		g, err := newGen(filepath.Join(work, s.name), stage)
		if err != nil {
			return err
		}
		cases, err := s.build(g)
		if err != nil {
			return err
		}
		if err := writeExpected(filepath.Join(stage, s.file), cases); err != nil {
			return err
		}
		// A set's cases may use the other set's keys and vaults: those of this run first, then the
		// committed ones.
		if err := selfCheck([]string{stage, out}, cases); err != nil {
			return fmt.Errorf("self-check of the %s set failed, %s left untouched: %w", s.name, out, err)
		}
		fmt.Printf("vectorgen: %s set: %d cases, %d vaults and %d keys\n", s.name, len(cases), len(g.vaults), len(g.keys))
	}
	if err := replaceSets(stage, out, todo, addOnly); err != nil {
		return err
	}
	fmt.Printf("vectorgen: wrote the %s set(s) to %s\n", setNames(todo), out)
	return nil
}

// writeExpected writes an expected file: the format and the cases, indented, without HTML escaping.
func writeExpected(path string, cases []*Case) error {
	exp := &Expected{Format: vectors.Format, Cases: cases}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(exp); err != nil {
		return err
	}
	return os.WriteFile(path, js.Bytes(), 0o644)
}

// copyTree copies the files, directories and symbolic links below src into dst, leaving out what is
// local to one working tree (.lock, .pending/) and any .git directory.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch d.Name() {
		case ".lock", ".pending", ".git":
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if strings.HasSuffix(p, ".key") && filepath.Base(filepath.Dir(p)) == "keys" {
				mode = 0o600
			}
			return os.WriteFile(target, data, mode)
		}
	})
}

// selfCheck runs every case through the Go reader, each in a fresh home, as vault/vectors_test.go does;
// keys and vaults are taken from the first of roots that has them.
func selfCheck(roots []string, cases []*Case) error {
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.Name] {
			return fmt.Errorf("two cases named %q", c.Name)
		}
		seen[c.Name] = true
		if err := c.Check(); err != nil {
			return err
		}
		val, list, err := runCase(roots, c)
		switch {
		case c.Error == nil && err != nil:
			return fmt.Errorf("case %q: want success, got %v", c.Name, err)
		case c.ValueBase64 != nil && base64.StdEncoding.EncodeToString(val) != *c.ValueBase64:
			return fmt.Errorf("case %q: wrong value", c.Name)
		case c.List != nil && !vectors.SameList(list, c.List):
			got, _ := json.Marshal(list)
			want, _ := json.Marshal(c.List)
			return fmt.Errorf("case %q: wrong list:\n got %s\nwant %s", c.Name, got, want)
		case c.Error == nil:
		case err == nil:
			return fmt.Errorf("case %q: want error %s, got success", c.Name, *c.Error)
		case vault.KindOf(err).String() != *c.Error:
			return fmt.Errorf("case %q: want error %s, got %s: %v", c.Name, *c.Error, vault.KindOf(err), err)
		case c.GoMessage != "" && !strings.Contains(err.Error(), c.GoMessage):
			return fmt.Errorf("case %q: the error %q does not come from the rule under test (%q)", c.Name, err, c.GoMessage)
		}
	}
	return nil
}

// withHome runs fn with AGENT_VAULT_HOME set to a fresh directory, which it removes afterwards.
func withHome(fn func(home string) error) error {
	home, err := os.MkdirTemp("", "vectorgen-home-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	restore := setEnv(map[string]string{"AGENT_VAULT_HOME": home, "AGENT_VAULT_KEY": ""})
	defer restore()
	return fn(home)
}

// inRoots is dir/name in the first of roots where it exists (or in the first root when none has it).
func inRoots(roots []string, dir, name string) string {
	for _, r := range roots {
		if p := filepath.Join(r, dir, name); exists(p) {
			return p
		}
	}
	return filepath.Join(roots[0], dir, name)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// runCase runs one case in a fresh home and returns what the reader returned: a value for a get, a
// listing for a list.
func runCase(roots []string, c *Case) (val []byte, list []vectors.Item, err error) {
	herr := withHome(func(home string) error {
		for rel, content := range c.Home {
			p := filepath.Join(home, filepath.FromSlash(rel))
			if err := fsutil.MkdirPrivate(filepath.Dir(p)); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				return err
			}
		}
		keyData, rerr := os.ReadFile(inRoots(roots, "keys", c.Key))
		if rerr != nil {
			return rerr
		}
		if c.OwnerKey {
			if err := os.WriteFile(filepath.Join(home, "owner.key"), keyData, 0o600); err != nil {
				return err
			}
		}
		keyPath := filepath.Join(home, "case.key")
		if err := os.WriteFile(keyPath, keyData, 0o600); err != nil {
			return err
		}
		val, list, err = read(inRoots(roots, "vaults", c.Vault), keyPath, c)
		if herr := c.CheckHomeAfter(home); herr != nil {
			return fmt.Errorf("case %q: %w (read: %v)", c.Name, herr, err)
		}
		return nil
	})
	if herr != nil {
		return nil, nil, herr
	}
	return val, list, err
}

// read runs the case's operation with the Go reader.
func read(dir, keyPath string, c *Case) ([]byte, []vectors.Item, error) {
	key, err := vault.ResolveKey(keyPath, quiet)
	if err != nil {
		return nil, nil, err
	}
	if key.IsOwner != c.OwnerKey {
		return nil, nil, fmt.Errorf("owner_key is %v but the Go reader says IsOwner=%v", c.OwnerKey, key.IsOwner)
	}
	v, err := vault.Find(dir)
	if err != nil {
		return nil, nil, err
	}
	s, err := v.Open(key)
	if err != nil {
		return nil, nil, err
	}
	if c.Op == vectors.OpGet {
		val, err := s.Get(*c.Secret)
		return val, nil, err
	}
	group := ""
	if c.ListGroup != nil {
		group = *c.ListGroup
	}
	infos, err := s.List(group)
	if err != nil {
		return nil, nil, err
	}
	list := []vectors.Item{}
	for _, in := range infos {
		list = append(list, vectors.NewItem(in.Name, in.Group, in.Created, in.Rotated, in.Expires, in.AuthorizedAgents, in.AllowHosts))
	}
	return nil, list, nil
}

// setEnv sets environment variables and returns a function that restores them.
func setEnv(vars map[string]string) func() {
	old := map[string]*string{}
	for k, v := range vars {
		if cur, ok := os.LookupEnv(k); ok {
			old[k] = &cur
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// fileBytes reads a file, for the generator's own use on files it wrote.
func fileBytes(p string) []byte {
	b, err := os.ReadFile(p)
	must(err)
	return b
}

// jsonIndent encodes v as the vault package does (two-space indent, final newline).
func jsonIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	must(err)
	return append(b, '\n')
}

// jsonCompact encodes v as the vault package encodes index shards (no indentation, final newline).
func jsonCompact(v any) []byte {
	b, err := json.Marshal(v)
	must(err)
	return append(b, '\n')
}
