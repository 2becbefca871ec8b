package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault/internal/vectors"
)

// vectorsDir holds the shared test vectors (testdata/vectors/README.md), written by
// vault/internal/vectorgen and read by every reader's tests.
var vectorsDir = filepath.Join("..", "testdata", "vectors")

func loadVectors(t *testing.T) *vectors.Expected { return loadVectorFile(t, vectors.ClassicFile) }

// loadVectorFile loads one set's expected file (vectors.ClassicFile or vectors.PQFile).
func loadVectorFile(t *testing.T, name string) *vectors.Expected {
	t.Helper()
	vf, err := vectors.LoadFile(vectorsDir, name)
	if err != nil {
		t.Fatalf("the test vectors are missing or malformed (make vectors): %v", err)
	}
	if vf.Format != vectors.Format || len(vf.Cases) == 0 {
		t.Fatalf("%s: format %d with %d cases", name, vf.Format, len(vf.Cases))
	}
	return vf
}

// copyPrivate copies a key file to a fresh 0600 file: Git does not keep modes, and a key file readable by
// others is refused.
func copyPrivate(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteNewPrivateFile(dst, data); err != nil {
		t.Fatal(err)
	}
}

// runVector runs the case's operation as a reader would, in the current (fresh) home: the value of a
// get, the listing of a list.
func runVector(t *testing.T, c *vectors.Case, keyPath string, opts *KeyOptions) ([]byte, []vectors.Item, error) {
	key, err := ResolveKey(keyPath, opts)
	if err != nil {
		return nil, nil, err
	}
	if c.OwnerKey != key.IsOwner {
		t.Errorf("owner_key is %v but ResolveKey says IsOwner=%v", c.OwnerKey, key.IsOwner)
	}
	v, err := Find(filepath.Join(vectorsDir, "vaults", c.Vault))
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

func TestVectors(t *testing.T) { runVectorFile(t, loadVectors(t)) }

// TestVectorsPQ runs the post-quantum set (expected-pq.json): this reader implements post-quantum vaults,
// so it must reach each case's outcome, not the error_without_pq every case also names.
func TestVectorsPQ(t *testing.T) {
	vf := loadVectorFile(t, vectors.PQFile)
	for _, c := range vf.Cases {
		if c.WithoutPQ == nil || *c.WithoutPQ != KindVaultNotFound.String() {
			t.Fatalf("case %q: error_without_pq must be vault_not_found (format.md 3.8)", c.Name)
		}
	}
	runVectorFile(t, vf)
}

// TestVectorsAdmins runs the admins set (expected-admins.json): vaults whose admin set changed, their
// chains altered, and marks that saw admin changes (docs/format.md 4.1).
func TestVectorsAdmins(t *testing.T) { runVectorFile(t, loadVectorFile(t, vectors.AdminsFile)) }

// runVectorFile runs every case of one set, each in a fresh home.
func runVectorFile(t *testing.T, vf *vectors.Expected) {
	// Every value any case returns must stay out of every error message.
	var values [][]byte
	names := map[string]bool{}
	for _, c := range vf.Cases {
		if names[c.Name] {
			t.Fatalf("two cases named %q", c.Name)
		}
		names[c.Name] = true
		if err := c.Check(); err != nil {
			t.Fatal(err)
		}
		if c.ValueBase64 != nil {
			v, err := base64.StdEncoding.DecodeString(*c.ValueBase64)
			if err != nil {
				t.Fatalf("case %q: value_base64: %v", c.Name, err)
			}
			if len(v) >= 8 {
				values = append(values, v)
			}
		}
	}
	for _, c := range vf.Cases {
		t.Run(c.Name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("AGENT_VAULT_HOME", home)
			t.Setenv("AGENT_VAULT_KEY", "")
			var warnings []string
			opts := &KeyOptions{Warn: func(msg string) { warnings = append(warnings, msg) }}
			for rel, content := range c.Home {
				if !filepath.IsLocal(rel) {
					t.Fatalf("home path %q is not local", rel)
				}
				p := filepath.Join(home, filepath.FromSlash(rel))
				if err := fsutil.MkdirPrivate(filepath.Dir(p)); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if c.OwnerKey {
				copyPrivate(t, filepath.Join(vectorsDir, "keys", c.Key), filepath.Join(home, "owner.key"))
			}
			keyPath := filepath.Join(t.TempDir(), "key")
			copyPrivate(t, filepath.Join(vectorsDir, "keys", c.Key), keyPath)
			keyFile, err := ParseKeyFile(readFileT(t, keyPath), c.Key, quiet)
			if err != nil {
				t.Fatal(err)
			}

			val, list, err := runVector(t, c, keyPath, opts)
			switch {
			case c.Error != nil:
				if err == nil {
					t.Fatalf("want a %s error, got success", *c.Error)
				}
				if got := KindOf(err).String(); got != *c.Error {
					t.Fatalf("want a %s error, got %s: %v", *c.Error, got, err)
				}
				for _, v := range values {
					if strings.Contains(err.Error(), string(v)) {
						t.Fatalf("the error message contains a secret value: %v", err)
					}
				}
			case err != nil:
				t.Fatalf("want success, got %s error: %v", KindOf(err), err)
			case c.ValueBase64 != nil:
				want, _ := base64.StdEncoding.DecodeString(*c.ValueBase64)
				if !bytes.Equal(val, want) {
					t.Fatalf("got %q, want %q", val, want)
				}
			default:
				if !vectors.SameList(list, c.List) {
					got, _ := json.MarshalIndent(list, "", "  ")
					want, _ := json.MarshalIndent(c.List, "", "  ")
					t.Fatalf("got the list\n%s\nwant\n%s", got, want)
				}
			}
			if err := c.CheckHomeAfter(home); err != nil {
				t.Fatal(err)
			}
			// Trust on first use is announced once, and only when it happens.
			for _, w := range warnings {
				if !strings.Contains(w, "first use") {
					t.Errorf("unexpected warning %q", w)
				}
			}
			_, hadKnown := c.Home["known_vaults"]
			firstUse := !keyFile.Pinned() && !c.OwnerKey && !hadKnown
			if len(warnings) > 1 || len(warnings) == 1 && !firstUse {
				t.Errorf("warnings %q", warnings)
			}
			if c.Error == nil && firstUse {
				if len(warnings) != 1 {
					t.Errorf("trust on first use was not announced (warnings %q)", warnings)
				}
				if _, err := os.Stat(filepath.Join(home, "known_vaults")); err != nil {
					t.Errorf("trust on first use was not recorded: %v", err)
				}
				warnings = nil
				if _, _, err := runVector(t, c, keyPath, opts); err != nil || len(warnings) != 0 {
					t.Errorf("second read: %v, warnings %q", err, warnings)
				}
			}
		})
	}
}

func readFileT(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestVectorsCoverage keeps the vectors honest about what they promise in their README.
func TestVectorsCoverage(t *testing.T) {
	vf := loadVectors(t)
	kinds := map[string]bool{}
	keys := map[string]bool{}
	vaults := map[string]bool{}
	for _, c := range vf.Cases {
		if c.Error != nil {
			kinds[c.Op+" "+*c.Error] = true
		} else {
			kinds[c.Op+" success"] = true
		}
		keys[c.Key] = true
		vaults[c.Vault] = true
	}
	pq := loadVectorFile(t, vectors.PQFile)
	adm := loadVectorFile(t, vectors.AdminsFile)
	for _, c := range append(slices.Clone(pq.Cases), adm.Cases...) {
		keys[c.Key] = true
		vaults[c.Vault] = true
	}
	for _, op := range []string{vectors.OpGet, vectors.OpList} {
		for _, k := range []string{"success", "not_found", "not_authorized", "integrity", "usage", "vault_not_found"} {
			if !kinds[op+" "+k] {
				t.Errorf("no %q case expects %s", op, k)
			}
		}
	}
	for _, k := range []string{"owner.key", "ci.key", "bare.key", "other.key", "outsider.key", "pq-owner.key", "pq-ci.key", "pq-bare.key",
		"admins-owner.key", "admins-ci.key", "admins-bare.key", "admins-bob.key", "admins-eve.key"} {
		if !keys[k] {
			t.Errorf("no case uses keys/%s", k)
		}
	}
	readme, err := os.ReadFile(filepath.Join(vectorsDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	gets := 0
	for _, c := range vf.Cases {
		if c.Op == vectors.OpGet {
			gets++
		}
	}
	if count := fmt.Sprintf("these %d cases (%d get, %d list)", len(vf.Cases), gets, len(vf.Cases)-gets); !bytes.Contains(readme, []byte(count)) {
		t.Errorf("README.md does not say it held %q at generation time", count)
	}
	for _, set := range []struct {
		file string
		n    int
	}{{vectors.PQFile, len(pq.Cases)}, {vectors.AdminsFile, len(adm.Cases)}} {
		if count := fmt.Sprintf("%s holds %d cases", set.file, set.n); !bytes.Contains(readme, []byte(count)) {
			t.Errorf("README.md does not say %q", count)
		}
	}
	entries, err := os.ReadDir(filepath.Join(vectorsDir, "vaults"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !bytes.Contains(readme, []byte("`"+e.Name()+"`")) {
			t.Errorf("README.md does not describe vaults/%s", e.Name())
		}
		if !vaults[e.Name()] {
			t.Errorf("vaults/%s is used by no case", e.Name())
		}
		if _, err := os.Lstat(filepath.Join(vectorsDir, "vaults", e.Name(), ".git")); err == nil {
			t.Errorf("vaults/%s has a .git", e.Name())
		}
		for _, local := range []string{".lock", ".pending"} {
			if _, err := os.Lstat(filepath.Join(vectorsDir, "vaults", e.Name(), DirName, local)); err == nil {
				t.Errorf("vaults/%s holds %s", e.Name(), local)
			}
		}
	}
	// The pinned keys really are pinned, the others really are not.
	for name, pinned := range map[string]bool{"ci.key": true, "other.key": true, "bare.key": false, "outsider.key": false, "owner.key": false,
		"pq-ci.key": true, "pq-bare.key": false, "pq-owner.key": false,
		"admins-ci.key": true, "admins-bare.key": false, "admins-owner.key": false, "admins-bob.key": false, "admins-eve.key": false} {
		data, err := os.ReadFile(filepath.Join(vectorsDir, "keys", name))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseKeyFile(data, name, quiet)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if k.Pinned() != pinned {
			t.Errorf("%s: pinned=%v, want %v", name, k.Pinned(), pinned)
		}
	}
}
