package crash_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-vault/agent-vault/vault"
)

// bulkPaths returns n secret paths of group bulk and their values.
func bulkPaths(n int) ([]string, []string) {
	paths, values := make([]string, n), make([]string, n)
	for i := range n {
		paths[i] = fmt.Sprintf("bulk/secret-%03d", i)
		values[i] = fmt.Sprintf("bulk-value-%03d-%s", i, strings.Repeat("v", i%29))
	}
	return paths, values
}

// setMany stores many secrets in the vault at top as u's owner in one change, through the Go package
// (the CLI sets one secret per change, which would make a large vault slow to prepare), and commits
// them.
func setMany(t *testing.T, u user, top string, paths, values []string) {
	t.Helper()
	t.Setenv("AGENT_VAULT_HOME", u.avHome())
	t.Setenv("AGENT_VAULT_KEY", "")
	v, err := vault.Find(top)
	if err != nil {
		t.Fatal(err)
	}
	key, err := vault.ResolveKey(u.ownerKey(), &vault.KeyOptions{Warn: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	key.IsOwner = true
	o, err := v.OpenOwner(key)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, len(values))
	for i, s := range values {
		vals[i] = []byte(s)
	}
	err = o.SetMany(paths, vals, vault.SetOptions{})
	o.Close()
	if err != nil {
		t.Fatal(err)
	}
	u.mustGit(t, top, "add", "-A", "--", ".agent-vault")
	u.mustGit(t, top, "commit", "-q", "-m", fmt.Sprintf("test: %d secrets", len(paths)))
}

// newVault makes, as u, a vault in top (created by `agent-vault init`) with the given agents.
func newVault(t *testing.T, u user, top string, agents ...string) {
	t.Helper()
	if err := os.MkdirAll(u.home, 0o700); err != nil {
		t.Fatal(err)
	}
	u.mustAV(t, filepath.Dir(top), "", "init", top)
	for _, a := range agents {
		u.mustAV(t, top, "", "add-agent", a)
	}
}
