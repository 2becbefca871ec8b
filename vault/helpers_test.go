package vault

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// quiet are the key options of the tests: no notice reaches the test's output.
var quiet = &KeyOptions{Warn: func(string) {}}

// testVault is a fresh vault with its own agent-vault home, owner key and one agent "ci".
type testVault struct {
	t     testing.TB
	home  string
	v     *Vault
	owner *Key
	ci    *Key
}

func newTestVault(t testing.TB) *testVault { t.Helper(); return newTestVaultOf(t, KeyX25519) }

// newTestVaultOf is newTestVault with owner and agent keys of the given kind.
func newTestVaultOf(t testing.TB, kind KeyKind) *testVault {
	t.Helper()
	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", home)
	t.Setenv("AGENT_VAULT_KEY", "")
	ownerFile, err := NewOwnerKeyFileOf(kind)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteNewPrivateFile(filepath.Join(home, "owner.key"), ownerFile); err != nil {
		t.Fatal(err)
	}
	owner, err := ResolveKey("", quiet)
	if err != nil {
		t.Fatal(err)
	}
	top := t.TempDir()
	v, err := Init(top, owner)
	if err != nil {
		t.Fatal(err)
	}
	tv := &testVault{t: t, home: home, v: v, owner: owner}
	keyFile := tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, "ci") })
	tv.ci, err = ParseKeyFile(keyFile, "ci.key", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return tv
}

// addAgent adds an agent whose key file goes to a fresh path in the agent-vault home, and returns the
// key file's content.
func addAgent(o *Owner, name string) ([]byte, error) {
	return agentKeyVia(name, func(path string) error { return o.AddAgent(name, path) })
}

// recoverAgent gives an agent a new key, written to a fresh path, and returns the key file's content.
func recoverAgent(o *Owner, name string) ([]byte, error) {
	return agentKeyVia(name, func(path string) error { return o.RecoverAgent(name, path) })
}

func agentKeyVia(name string, write func(path string) error) ([]byte, error) {
	home, err := homeDir()
	if err != nil {
		return nil, err
	}
	if err := fsutil.MkdirPrivate(filepath.Join(home, "agents")); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(home, "agents"), name+"-*.key")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	f.Close()
	os.Remove(path)
	if err := write(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// owned runs f on the vault opened by its owner and fails the test on error.
func (tv *testVault) owned(f func(o *Owner) ([]byte, error)) []byte {
	tv.t.Helper()
	o, err := tv.v.OpenOwner(tv.owner)
	if err != nil {
		tv.t.Fatal(err)
	}
	defer o.Close()
	out, err := f(o)
	if err != nil {
		tv.t.Fatal(err)
	}
	return out
}

func (tv *testVault) set(path, value string, opts SetOptions) {
	tv.t.Helper()
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.Set(path, []byte(value), opts) })
}

func (tv *testVault) grant(agent, group string) {
	tv.t.Helper()
	tv.owned(func(o *Owner) ([]byte, error) { _, _, err := o.Grant(agent, group); return nil, err })
}

// get reads path with key and returns the value or the error's kind.
func (tv *testVault) get(key *Key, path string) (string, Kind) {
	tv.t.Helper()
	s, err := tv.v.Open(key)
	if err != nil {
		return "", KindOf(err)
	}
	val, err := s.Get(path)
	if err != nil {
		return "", KindOf(err)
	}
	return string(val), -1
}

func (tv *testVault) mustGet(key *Key, path, want string) {
	tv.t.Helper()
	s, err := tv.v.Open(key)
	if err != nil {
		tv.t.Fatalf("open: %v", err)
	}
	val, err := s.Get(path)
	if err != nil {
		tv.t.Fatalf("get %s: %v", path, err)
	}
	if string(val) != want {
		tv.t.Fatalf("get %s = %q, want %q", path, val, want)
	}
}

func (tv *testVault) file(rel string) string { return filepath.Join(tv.v.Dir, filepath.FromSlash(rel)) }

func (tv *testVault) read(rel string) []byte {
	tv.t.Helper()
	b, err := os.ReadFile(tv.file(rel))
	if err != nil {
		tv.t.Fatal(err)
	}
	return b
}

func (tv *testVault) writeFile(rel string, data []byte) {
	tv.t.Helper()
	if err := os.MkdirAll(filepath.Dir(tv.file(rel)), 0o755); err != nil {
		tv.t.Fatal(err)
	}
	if err := os.WriteFile(tv.file(rel), data, 0o644); err != nil {
		tv.t.Fatal(err)
	}
}
