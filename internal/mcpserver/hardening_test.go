package mcpserver

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestHTTPTruncationCarriesNoValue is issue 10 item 4: when a response passes the bound, what comes back
// (body and byte count) must not depend on how much of a secret the response's last bytes match. Before
// the fix, a guessed prefix of the value at the cut was removed and the count shrank by its length, so a
// model that makes an allowed host echo its input recovered the value byte by byte.
func TestHTTPTruncationCarriesNoValue(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	opts := f.options()
	opts.HTTPMaxBody = 1000
	_, cs := f.connect(opts)
	call := func(n int, tail string) HTTPOutput {
		return httpOut(t, callTool(t, cs, ToolHTTP, map[string]any{
			"method": "GET", "url": e.at("127.0.0.1", "/big?n="+itoa(n)+"&tail="+url.QueryEscape(tail)),
			"headers": map[string]any{"Authorization": "{{secret:stripe/api-key}}"},
		}))
	}
	for k := 1; k < len(canary); k++ {
		right := canary[:k]
		wrong := canary[:k-1] + "#"
		a, b := call(1000-k, right+"|after the cut"), call(1000-k, wrong+"|after the cut")
		if a.BodyBytes != 1000 || b.BodyBytes != 1000 || !a.Truncated || !b.Truncated {
			t.Fatalf("k=%d: body_bytes %d and %d, want 1000 for both", k, a.BodyBytes, b.BodyBytes)
		}
		if a.Body != strings.Repeat("a", 1000-k)+right || b.Body != strings.Repeat("a", 1000-k)+wrong {
			t.Fatalf("k=%d: the cut depends on the value: %q / %q", k, a.Body[990-k:], b.Body[990-k:])
		}
	}
	// A whole value across the cut is redacted whole: nothing of it comes back.
	out := call(1000-5, canary)
	if out.Body != strings.Repeat("a", 995)+"<redacted:stripe/api-key>" || out.BodyBytes != 1000 {
		t.Fatalf("value across the cut: %q (%d bytes)", out.Body[980:], out.BodyBytes)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestHTTPAuditedBeforeSending is issue 10 item 5: the audit line of a brokered request is written
// before any connection, and when it cannot be written nothing is sent. Before the fix the request went
// out first and only its result was withheld.
func TestHTTPAuditedBeforeSending(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	srv, cs := f.connect(f.options())
	args := map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/"), "headers": map[string]any{"Authorization": "Bearer {{secret:stripe/api-key}}"}}
	httpOut(t, callTool(t, cs, ToolHTTP, args))
	recs := auditLines(t, srv.AuditPath())
	if len(recs) != 2 || recs[0].Outcome != OutcomeSending || recs[0].Host != "127.0.0.1" || recs[0].Method != "GET" ||
		len(recs[0].Secrets) != 1 || recs[1].Outcome != "ok" || recs[1].Status != 200 {
		t.Fatalf("audit lines = %+v", recs)
	}
	before := e.conns.Load()
	srv.audit.Close() // every later write fails
	wantToolError(t, callTool(t, cs, ToolHTTP, args), "error")
	if e.conns.Load() != before {
		t.Fatal("the request was sent although its audit line could not be written")
	}
}

// TestHTTPRefusesFirstUseTrust is issue 10 item 1 for the broker: a server whose key has no pins and
// that trusted the vault on first use when it started sends no value unless told so; once the trust is
// recorded (a later start) or with TrustFirstUse, it does.
func TestHTTPRefusesFirstUseTrust(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	// The agent's machine: its own home, a bare key in AGENT_VAULT_KEY.
	t.Setenv("AGENT_VAULT_HOME", t.TempDir())
	data, err := os.ReadFile(f.ciKey)
	if err != nil {
		t.Fatal(err)
	}
	var bare string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			bare = line
		}
	}
	t.Setenv("AGENT_VAULT_KEY", bare)
	opts := f.options()
	opts.Key = ""
	opts.NoReveal = true
	args := map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/"), "headers": map[string]any{"Authorization": "Bearer {{secret:stripe/api-key}}"}}
	_, cs := f.connect(opts)
	wantToolError(t, callTool(t, cs, ToolHTTP, args), "vault_not_found", "on first use")
	if e.conns.Load() != 0 {
		t.Fatal("a value was sent on first-use trust")
	}
	// The next start finds the trust recorded.
	_, cs = f.connect(opts)
	if out := httpOut(t, callTool(t, cs, ToolHTTP, args)); out.Status != 200 {
		t.Fatalf("second start: %+v", out)
	}
	// A first start told so explicitly.
	t.Setenv("AGENT_VAULT_HOME", t.TempDir())
	opts.TrustFirstUse = true
	_, cs = f.connect(opts)
	if out := httpOut(t, callTool(t, cs, ToolHTTP, args)); out.Status != 200 {
		t.Fatalf("--trust-first-use: %+v", out)
	}
}
