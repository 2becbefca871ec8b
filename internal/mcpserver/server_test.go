package mcpserver

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/vault"
)

func TestToolsListed(t *testing.T) {
	f := newFixture(t)
	_, cs := f.connect(f.options())
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*mcp.Tool{}
	for _, tl := range res.Tools {
		byName[tl.Name] = tl
	}
	if len(byName) != 3 || byName[ToolGet] == nil || byName[ToolList] == nil || byName[ToolHTTP] == nil {
		t.Fatalf("tools = %v, want exactly %s, %s and %s", byName, ToolGet, ToolList, ToolHTTP)
	}
	if h := byName[ToolHTTP]; h.Annotations.ReadOnlyHint || h.Annotations.OpenWorldHint == nil || !*h.Annotations.OpenWorldHint {
		t.Errorf("%s annotations = %+v, want an open-world tool that is not read-only", ToolHTTP, h.Annotations)
	}
	get := byName[ToolGet]
	for _, want := range []string{"Never repeat", "never write it into files"} {
		if !strings.Contains(get.Description, want) {
			t.Errorf("%s description lacks %q", ToolGet, want)
		}
	}
	schema, _ := json.Marshal(get.InputSchema)
	if !strings.Contains(string(schema), `"required":["secret"]`) {
		t.Errorf("%s input schema %s does not require secret", ToolGet, schema)
	}
	if byName[ToolList].OutputSchema == nil {
		t.Errorf("%s has no output schema", ToolList)
	}
	if !get.Annotations.ReadOnlyHint || !byName[ToolList].Annotations.ReadOnlyHint {
		t.Errorf("tools are not marked read-only")
	}
	if ir := cs.InitializeResult(); ir == nil || !strings.Contains(ir.Instructions, "never repeat") {
		t.Errorf("server instructions do not say values must not be repeated")
	}
}

func TestGet(t *testing.T) {
	f := newFixture(t)
	srv, cs := f.connect(f.options())
	res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	if res.IsError || len(res.Content) != 1 || text(res)[0] != canary {
		t.Fatalf("get = %+v %v, want the exact value as the only content", res, text(res))
	}
	recs := auditLines(t, srv.AuditPath())
	if len(recs) != 1 {
		t.Fatalf("audit has %d lines, want 1", len(recs))
	}
	r := recs[0]
	if r.Tool != ToolGet || r.Secret != "stripe/api-key" || r.Outcome != "ok" || r.Agent != "ci" || r.VaultID != srv.VaultID() || r.Client != "unit-test-client" || r.DurationMS <= 0 {
		t.Errorf("audit record = %+v", r)
	}
	if _, err := time.Parse(time.RFC3339, r.Time); err != nil {
		t.Errorf("audit time %q: %v", r.Time, err)
	}
	assertNoCanary(t, f, srv)
}

// TestGetFailures covers each failure kind: a tool error (isError) whose text starts with the kind and
// says what to do, an audit line with the same outcome, and never a value.
func TestGetFailures(t *testing.T) {
	f := newFixture(t)
	srv, cs := f.connect(f.options())
	enc := filepath.Join(f.v.Dir, "secrets", "stripe", "webhook.enc")
	cases := []struct {
		name, secret, kind string
		before             func()
	}{
		{"not found", "stripe/missing", "not_found", nil},
		{"not authorized", "github/token", "not_authorized", nil},
		{"dot-dot", "../owner.key", "usage", nil},
		{"absolute", "/etc/passwd", "usage", nil},
		{"bad character", "stripe/api key", "usage", nil},
		{"integrity", "stripe/webhook", "integrity", func() {
			if err := os.WriteFile(enc, []byte("tampered"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			res := callTool(t, cs, ToolGet, map[string]any{"secret": c.secret})
			txt := strings.Join(text(res), "\n")
			if !res.IsError || !strings.HasPrefix(txt, c.kind+": ") || !strings.Contains(txt, "What to do: ") {
				t.Fatalf("get %s = isError %v %q, want a %s tool error with advice", c.secret, res.IsError, txt, c.kind)
			}
			for _, v := range []string{canary, "whsec_second", "ghp_not_for_ci"} {
				if strings.Contains(txt, v) {
					t.Fatalf("error text holds a value: %q", txt)
				}
			}
			recs := auditLines(t, srv.AuditPath())
			if len(recs) != i+1 {
				t.Fatalf("audit has %d lines, want %d", len(recs), i+1)
			}
			if r := recs[i]; r.Outcome != c.kind || r.Secret != c.secret || r.Error == "" {
				t.Errorf("audit record = %+v, want outcome %s", r, c.kind)
			}
		})
	}
	assertNoCanary(t, f, srv)
}

// TestBadNameTouchesNoFile checks that a refused name never reaches the vault: with the vault made
// unreadable in between, a bad name still gets a usage error, not an error about the vault.
func TestBadNameTouchesNoFile(t *testing.T) {
	f := newFixture(t)
	srv, cs := f.connect(f.options())
	if err := os.Rename(filepath.Join(f.v.Dir, "state"), filepath.Join(f.v.Dir, "state.moved")); err != nil {
		t.Fatal(err)
	}
	res := callTool(t, cs, ToolGet, map[string]any{"secret": "a//b"})
	if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "usage: ") {
		t.Fatalf("bad name = %q, want a usage error before the vault is read", txt)
	}
	res = callTool(t, cs, ToolList, map[string]any{"group": "../x"})
	if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "usage: ") {
		t.Fatalf("bad group = %q, want a usage error before the vault is read", txt)
	}
	res = callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "integrity: ") {
		t.Fatalf("get without state/root = %q, want an integrity error", txt)
	}
	_ = srv
}

// TestSchemaRefusal: arguments that do not fit the input schema are refused by the SDK before the
// handler; they are still audited and still said as usage errors.
func TestSchemaRefusal(t *testing.T) {
	f := newFixture(t)
	srv, cs := f.connect(f.options())
	for _, args := range []map[string]any{{}, {"secret": 42}, {"secret": "stripe/api-key", "extra": true}} {
		res := callTool(t, cs, ToolGet, args)
		if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "usage: ") {
			t.Errorf("get %v = %q, want a usage tool error", args, txt)
		}
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "agent_vault_nope"}); err == nil {
		t.Errorf("an unknown tool was not a protocol error")
	}
	recs := auditLines(t, srv.AuditPath())
	if len(recs) != 4 {
		t.Fatalf("audit has %d lines, want 4", len(recs))
	}
	for _, r := range recs {
		if r.Outcome != "usage" {
			t.Errorf("audit record %+v, want outcome usage", r)
		}
	}
	if recs[3].Tool != "agent_vault_nope" {
		t.Errorf("unknown tool audited as %q", recs[3].Tool)
	}
}

func TestList(t *testing.T) {
	f := newFixture(t)
	exp := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	f.set("stripe/webhook", "whsec_second", vault.SetOptions{Expires: &exp})
	srv, cs := f.connect(f.options())

	res := callTool(t, cs, ToolList, nil)
	if res.IsError {
		t.Fatalf("list: %v", text(res))
	}
	var out ListOutput
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if out.Agent != "ci" || out.VaultID != srv.VaultID() || len(out.Secrets) != 2 {
		t.Fatalf("list = %+v, want ci's two stripe secrets", out)
	}
	if s := out.Secrets[0]; s.Name != "stripe/api-key" || s.Group != "stripe" || s.Expired || s.Expires != "" || len(s.AuthorizedAgents) != 1 {
		t.Errorf("first = %+v", s)
	}
	if s := out.Secrets[1]; s.Name != "stripe/webhook" || !s.Expired || s.Expires != exp.Format(time.RFC3339) {
		t.Errorf("second = %+v, want expired at %s", s, exp)
	}
	txt := strings.Join(text(res), "\n")
	if !strings.Contains(txt, "stripe/api-key") || !strings.Contains(txt, "EXPIRED") || strings.Contains(txt, "github/token") {
		t.Errorf("list text = %q", txt)
	}

	res = callTool(t, cs, ToolList, map[string]any{"group": "github"})
	raw, _ = json.Marshal(res.StructuredContent)
	out = ListOutput{}
	json.Unmarshal(raw, &out)
	if res.IsError || len(out.Secrets) != 0 || out.Group != "github" {
		t.Errorf("list github = %+v %v, want an empty listing", out, text(res))
	}
	res = callTool(t, cs, ToolList, map[string]any{"group": "nosuch"})
	if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "not_found: ") {
		t.Errorf("list nosuch = %q, want not_found", txt)
	}

	recs := auditLines(t, srv.AuditPath())
	if len(recs) != 3 || recs[0].Count == nil || *recs[0].Count != 2 || recs[1].Group != "github" || recs[2].Outcome != "not_found" {
		t.Errorf("audit = %+v", recs)
	}
	// The expired secret's value comes with a warning in a second block; the first stays exact.
	res = callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/webhook"})
	if tx := text(res); res.IsError || len(tx) != 2 || tx[0] != "whsec_second" || !strings.Contains(tx[1], "expired") {
		t.Errorf("get expired = %q", tx)
	}
	assertNoCanary(t, f, srv)
}

// TestSeesChanges: every call opens the vault afresh, so a change the owner makes (or a pull brings) is
// served on the next call, and a revocation takes effect at once.
func TestSeesChanges(t *testing.T) {
	f := newFixture(t)
	_, cs := f.connect(f.options())
	callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	f.set("stripe/api-key", "sk_rotated", vault.SetOptions{})
	if res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"}); text(res)[0] != "sk_rotated" {
		t.Fatalf("after rotation get = %q", text(res))
	}
	f.owned(func(o *vault.Owner) error { _, err := o.Revoke("ci", "stripe", vault.RevokeOptions{}); return err })
	res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "not_authorized: ") {
		t.Fatalf("after revoke get = %q, want not_authorized", txt)
	}
}

// TestRollbackRefused: the server applies the shared high-water marks; a state older than one already
// seen is an integrity error.
func TestRollbackRefused(t *testing.T) {
	f := newFixture(t)
	_, cs := f.connect(f.options())
	root := filepath.Join(f.v.Dir, "state", "root")
	old, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	f.set("stripe/api-key", "sk_newer", vault.SetOptions{})
	callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	if err := os.WriteFile(root, old, 0o644); err != nil {
		t.Fatal(err)
	}
	res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	if txt := strings.Join(text(res), ""); !res.IsError || !strings.HasPrefix(txt, "integrity: ") {
		t.Fatalf("rolled-back root = %q, want integrity", txt)
	}
}

func TestOwnerKeyRefused(t *testing.T) {
	f := newFixture(t)
	opts := f.options()
	opts.Key = ""
	_, err := New(opts) // falls back to <home>/owner.key
	if err == nil || vault.KindOf(err) != vault.KindVaultNotFound || !strings.Contains(err.Error(), "agent key only") {
		t.Fatalf("New with the owner key = %v, want a refusal", err)
	}
}

func TestKeyFromEnvironment(t *testing.T) {
	f := newFixture(t)
	data, err := os.ReadFile(f.ciKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_VAULT_KEY", string(data))
	opts := f.options()
	opts.Key = ""
	srv, cs := f.connect(opts)
	if res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"}); res.IsError {
		t.Fatalf("get with AGENT_VAULT_KEY: %v", text(res))
	}
	if srv.Agent() != "ci" {
		t.Errorf("agent = %q", srv.Agent())
	}
}

// TestKeyReadOnce: after start the key file is not needed any more.
func TestKeyReadOnce(t *testing.T) {
	f := newFixture(t)
	_, cs := f.connect(f.options())
	if err := os.Remove(f.ciKey); err != nil {
		t.Fatal(err)
	}
	if res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"}); res.IsError {
		t.Fatalf("get after the key file was removed: %v", text(res))
	}
}

func TestPullsCoalesced(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	pulls := 0
	opts := f.options()
	opts.NoPull = false
	opts.PullInterval = time.Hour
	opts.pull = func(context.Context) error {
		mu.Lock()
		pulls++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	srv, cs := f.connect(opts)
	if srv.puller.Pulls() != 1 {
		t.Fatalf("start-up pulls = %d, want 1", srv.puller.Pulls())
	}
	now := time.Now()
	srv.puller.now = func() time.Time { return now.Add(2 * time.Hour) } // the interval has passed
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"}); res.IsError {
				t.Errorf("get: %v", text(res))
			}
		}()
	}
	wg.Wait()
	if pulls != 2 {
		t.Fatalf("pulls for start-up and a burst of 100 calls = %d, want 2", pulls)
	}
	if n := len(auditLines(t, srv.AuditPath())); n != 100 {
		t.Fatalf("audit lines = %d, want 100", n)
	}
}

func TestNoPull(t *testing.T) {
	f := newFixture(t)
	opts := f.options()
	opts.pull = func(context.Context) error { t.Error("pulled with NoPull"); return nil }
	_, cs := f.connect(opts)
	callTool(t, cs, ToolList, nil)
}

// TestAuditFailureWithholds: a read that cannot be audited is not returned.
func TestAuditFailureWithholds(t *testing.T) {
	f := newFixture(t)
	srv, cs := f.connect(f.options())
	srv.audit.Close()
	res := callTool(t, cs, ToolGet, map[string]any{"secret": "stripe/api-key"})
	txt := strings.Join(text(res), "")
	if !res.IsError || strings.Contains(txt, canary) || !strings.Contains(txt, "audit log") {
		t.Fatalf("get with a broken audit log = %q, want the result withheld", txt)
	}
	if !strings.Contains(f.log.String(), "cannot write the audit log") {
		t.Errorf("log = %q", f.log.String())
	}
}

// assertNoCanary checks that the canary value is in neither the audit log nor the human log.
func assertNoCanary(t *testing.T, f *fixture, srv *Server) {
	t.Helper()
	data, err := os.ReadFile(srv.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), canary) {
		t.Errorf("the audit log holds the value")
	}
	if strings.Contains(f.log.String(), canary) {
		t.Errorf("the log holds the value")
	}
}
