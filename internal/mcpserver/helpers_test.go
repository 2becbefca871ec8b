package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault"
)

// canary is a value whose appearance anywhere but in a get result is a leak.
const canary = "sk_live_CANARY_5f3c9a"

// fixture is a vault with its own agent-vault home: the owner, agent "ci" granted group stripe, agent
// "other" granted nothing, and secrets stripe/api-key (the canary), stripe/webhook and github/token.
type fixture struct {
	t       *testing.T
	home    string
	v       *vault.Vault
	owner   *vault.Key
	ciKey   string // path of ci's key file
	otherKy string
	log     *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", home)
	t.Setenv("AGENT_VAULT_KEY", "")
	ownerFile, err := vault.NewOwnerKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteNewPrivateFile(filepath.Join(home, "owner.key"), ownerFile); err != nil {
		t.Fatal(err)
	}
	owner, err := vault.ResolveKey("", quiet)
	if err != nil {
		t.Fatal(err)
	}
	top := t.TempDir()
	v, err := vault.Init(top, owner)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, home: home, v: v, owner: owner, log: &syncBuffer{}}
	keys := t.TempDir()
	for name, dst := range map[string]*string{"ci": &f.ciKey, "other": &f.otherKy} {
		*dst = filepath.Join(keys, name+".key")
		f.owned(func(o *vault.Owner) error { return o.AddAgent(name, *dst) })
	}
	f.set("stripe/api-key", canary, vault.SetOptions{})
	f.set("stripe/webhook", "whsec_second", vault.SetOptions{})
	f.set("github/token", "ghp_not_for_ci", vault.SetOptions{})
	f.owned(func(o *vault.Owner) error { _, _, err := o.Grant("ci", "stripe"); return err })
	return f
}

func (f *fixture) owned(fn func(o *vault.Owner) error) {
	f.t.Helper()
	o, err := f.v.OpenOwner(f.owner)
	if err != nil {
		f.t.Fatal(err)
	}
	defer o.Close()
	if err := fn(o); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) set(path, value string, opts vault.SetOptions) {
	f.t.Helper()
	f.owned(func(o *vault.Owner) error { return o.Set(path, []byte(value), opts) })
}

// options are the server options for agent ci, with no Git pulls.
func (f *fixture) options() Options {
	return Options{Repo: f.v.Top, Key: f.ciKey, NoPull: true, Log: f.log, Version: "test", KeyOptions: quiet}
}

// quiet are the key options of the tests: no notice reaches the test's output.
var quiet = &vault.KeyOptions{Warn: func(string) {}}

// connect starts a server with opts and returns a connected client session.
func (f *fixture) connect(opts Options) (*Server, *mcp.ClientSession) {
	f.t.Helper()
	srv, err := New(opts)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	f.t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.MCP().Connect(ctx, st, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { ss.Close() })
	client := mcp.NewClient(&mcp.Implementation{Name: "unit-test-client", Version: "1"}, nil)
	cs, err := client.Connect(ctx, ct, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { cs.Close() })
	return srv, cs
}

// callTool calls a tool and fails the test on a protocol error.
func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	return res
}

// text returns the text of the result's content blocks.
func text(res *mcp.CallToolResult) []string {
	var out []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			out = append(out, tc.Text)
		}
	}
	return out
}

// auditLines reads the audit log.
func auditLines(t *testing.T, path string) []AuditRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r AuditRecord
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, standing in for standard error.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
