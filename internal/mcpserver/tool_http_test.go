package mcpserver

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/vault"
)

// echo is a test HTTP server on 127.0.0.1 that counts the connections it accepts and answers with what
// it received: the request as JSON in the body and the Authorization header in X-Echo-Auth.
type echo struct {
	*httptest.Server
	conns atomic.Int64
	mu    sync.Mutex
	last  *received
}

type received struct {
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Headers http.Header `json:"headers"`
	Body    string      `json:"body"`
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// newEcho starts an echo server; tls makes it an https server. Extra routes:
// /redirect?to=URL (302 to URL), /loop (redirects to itself forever), /big?n=N&tail=S (N bytes of 'a'
// then S), /slow (answers after 5 s), /gzip and /deflate (the Authorization header, so encoded),
// /binary (it among non-UTF-8 bytes).
func newEcho(t *testing.T, tls bool) *echo {
	t.Helper()
	e := &echo{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := &received{Method: r.Method, Path: r.URL.Path, Headers: r.Header.Clone(), Body: string(body)}
		e.mu.Lock()
		e.last = rec
		e.mu.Unlock()
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rec)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(bytes.Repeat([]byte("a"), n))
		io.WriteString(w, r.URL.Query().Get("tail")+r.Header.Get("X-Tail"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, "echo: "+r.Header.Get("Authorization"))
		zw.Close()
	})
	mux.HandleFunc("/deflate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "deflate")
		fw, _ := flate.NewWriter(w, flate.BestSpeed)
		io.WriteString(fw, "echo: "+r.Header.Get("Authorization"))
		fw.Close()
	})
	mux.HandleFunc("/escaped", func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("Authorization")
		j, _ := json.Marshal(map[string]string{"got": v})
		// ASCII-only JSON, as Python's json.dumps writes it: UTF-16 \u escapes.
		var ascii strings.Builder
		for _, u := range utf16.Encode([]rune(v)) {
			switch {
			case u == '"' || u == '\\':
				ascii.WriteString(`\` + string(rune(u)))
			case u < 0x80:
				ascii.WriteByte(byte(u))
			default:
				fmt.Fprintf(&ascii, `\u%04x`, u)
			}
		}
		fmt.Fprintf(w, "%s\nascii=\"%s\"\nquery=%s\npath=%s\n", j, ascii.String(), url.QueryEscape(v), url.PathEscape(v))
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(append([]byte{0xff, 0xfe, 0x00}, r.Header.Get("Authorization")...))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = countingListener{srv.Listener, &e.conns}
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	e.Server = srv
	return e
}

func (e *echo) lastReceived() *received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// port is the server's port.
func (e *echo) port() string {
	_, p, _ := net.SplitHostPort(e.Listener.Addr().String())
	return p
}

// at is the server's URL for path with host in place of 127.0.0.1.
func (e *echo) at(host, path string) string {
	scheme := "http"
	if e.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, e.port()) + path
}

// httpFixture is the unit fixture with stripe/api-key allowed to 127.0.0.1 only, stripe/webhook allowed
// nowhere.
func httpFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.set("stripe/api-key", canary, vault.SetOptions{AllowHosts: []string{"127.0.0.1"}})
	return f
}

// resultJSON is everything a client receives for a result, as JSON.
func resultJSON(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func httpOut(t *testing.T, res *mcp.CallToolResult) HTTPOutput {
	t.Helper()
	if res.IsError {
		t.Fatalf("agent_vault_http failed: %v", text(res))
	}
	var out HTTPOutput
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantToolError(t *testing.T, res *mcp.CallToolResult, kind string, contains ...string) string {
	t.Helper()
	txt := strings.Join(text(res), "\n")
	if !res.IsError || !strings.HasPrefix(txt, kind+": ") || !strings.Contains(txt, "What to do: ") {
		t.Fatalf("result = isError %v %q, want a %s tool error", res.IsError, txt, kind)
	}
	for _, c := range contains {
		if !strings.Contains(txt, c) {
			t.Errorf("error %q does not contain %q", txt, c)
		}
	}
	if strings.Contains(txt, canary) {
		t.Fatalf("error holds the value: %q", txt)
	}
	return txt
}

func TestHTTPSubstitutesAndRedacts(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	srv, cs := f.connect(f.options())
	body := `{"key":"{{secret:stripe/api-key}}","literal":"{{not a placeholder}}"}`
	res := callTool(t, cs, ToolHTTP, map[string]any{
		"method": "post", "url": e.at("127.0.0.1", "/charge?x=1"),
		"headers": map[string]any{"Authorization": "Bearer {{secret:stripe/api-key}}", "X-Plain": "hello"},
		"body":    body,
	})
	out := httpOut(t, res)
	got := e.lastReceived()
	if got.Method != "POST" || got.Headers.Get("Authorization") != "Bearer "+canary || got.Headers.Get("X-Plain") != "hello" {
		t.Errorf("the server received %+v", got)
	}
	if want := `{"key":"` + canary + `","literal":"{{not a placeholder}}"}`; got.Body != want {
		t.Errorf("the server received body %q, want %q", got.Body, want)
	}
	if !strings.HasPrefix(got.Headers.Get("User-Agent"), "agent-vault/") {
		t.Errorf("User-Agent = %q", got.Headers.Get("User-Agent"))
	}
	if all := resultJSON(t, res); strings.Contains(all, canary) {
		t.Fatalf("the result holds the value: %s", all)
	}
	label := "<redacted:stripe/api-key>"
	if out.Status != 200 || out.Headers["X-Echo-Auth"][0] != "Bearer "+label || !strings.Contains(out.Body, `"key\":\"`+label) && !strings.Contains(out.Body, label) {
		t.Errorf("output = %+v, want the echo with the value redacted", out)
	}
	if strings.Count(strings.Join(text(res), ""), label) < 3 {
		t.Errorf("text %q: want the label in the header and twice in the body", text(res))
	}
	if len(out.Secrets) != 1 || out.Secrets[0] != "stripe/api-key" || out.Truncated {
		t.Errorf("output = %+v", out)
	}
	recs := auditLines(t, srv.AuditPath())
	if len(recs) != 2 || recs[0].Outcome != OutcomeSending {
		t.Fatalf("audit = %+v", recs)
	}
	if r := recs[1]; r.Tool != ToolHTTP || r.Method != "POST" || r.Host != "127.0.0.1" || len(r.Secrets) != 1 || r.Secrets[0] != "stripe/api-key" || r.Status != 200 || r.Outcome != "ok" {
		t.Errorf("audit record = %+v", r)
	}
	assertNoCanary(t, f, srv)
}

// TestHTTPValueForms: a value stored with a trailing newline goes into a header trimmed and into the
// body exactly; both forms are redacted. A value with a line break inside cannot go into a header.
func TestHTTPValueForms(t *testing.T) {
	f := newFixture(t)
	f.set("stripe/api-key", canary+"\n", vault.SetOptions{AllowHosts: []string{"127.0.0.1"}})
	f.set("stripe/pem", "-----BEGIN-----\nAAAAline\n-----END-----\n", vault.SetOptions{AllowHosts: []string{"127.0.0.1"}})
	e := newEcho(t, false)
	_, cs := f.connect(f.options())
	res := callTool(t, cs, ToolHTTP, map[string]any{
		"method": "PUT", "url": e.at("127.0.0.1", "/"),
		"headers": map[string]any{"X-Key": "{{secret:stripe/api-key}}"}, "body": "<{{secret:stripe/api-key}}>{{secret:stripe/pem}}",
	})
	out := httpOut(t, res)
	got := e.lastReceived()
	if got.Headers.Get("X-Key") != canary || got.Body != "<"+canary+"\n>-----BEGIN-----\nAAAAline\n-----END-----\n" {
		t.Errorf("received %+v", got)
	}
	all := resultJSON(t, res)
	for _, leak := range []string{canary, "AAAAline", "-----BEGIN-----"} {
		if strings.Contains(all, leak) {
			t.Errorf("the result holds %q: %s", leak, out.Body)
		}
	}
	res = callTool(t, cs, ToolHTTP, map[string]any{
		"method": "GET", "url": e.at("127.0.0.1", "/"), "headers": map[string]any{"X-Key": "{{secret:stripe/pem}}"},
	})
	wantToolError(t, res, "error", "stripe/pem", "cannot be sent in a header")
}

// TestHTTPEscapedEchoes: a server that echoes a value JSON-escaped or percent-encoded gets it redacted
// too.
func TestHTTPEscapedEchoes(t *testing.T) {
	f := newFixture(t)
	value := `tok"en/<&>+ wörd😀` + canary
	f.set("stripe/api-key", value, vault.SetOptions{AllowHosts: []string{"127.0.0.1"}})
	e := newEcho(t, false)
	_, cs := f.connect(f.options())
	res := callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/escaped"), "headers": map[string]any{"Authorization": "{{secret:stripe/api-key}}"}})
	out := httpOut(t, res)
	if strings.Contains(resultJSON(t, res), canary) || strings.Count(out.Body, "<redacted:stripe/api-key>") != 4 || !strings.Contains(out.Body, "query=<redacted") {
		t.Errorf("body = %q, want four redactions and no value", out.Body)
	}
}

func TestHTTPRefusesHostNotAllowed(t *testing.T) {
	f := httpFixture(t)
	f.set("stripe/webhook", "whsec_second", vault.SetOptions{AllowHosts: []string{"localhost", "127.0.0.1"}})
	f.set("stripe/nowhere", "value-nowhere", vault.SetOptions{})
	e := newEcho(t, false)
	srv, cs := f.connect(f.options())
	cases := []struct {
		name, url string
		headers   map[string]any
		refused   []string
		says      string
	}{
		{"other host", e.at("localhost", "/"), map[string]any{"A": "{{secret:stripe/api-key}}"}, []string{"stripe/api-key"}, "may be sent only to 127.0.0.1"},
		{"one of two secrets", e.at("localhost", "/"), map[string]any{"A": "{{secret:stripe/api-key}}", "B": "{{secret:stripe/webhook}}"}, []string{"stripe/api-key"}, "host localhost is not allowed for stripe/api-key"},
		{"empty allowlist", e.at("127.0.0.1", "/"), map[string]any{"A": "{{secret:stripe/nowhere}}"}, []string{"stripe/nowhere"}, "may be sent to no host"},
		{"external host", "https://attacker.example/collect", map[string]any{"A": "{{secret:stripe/api-key}}"}, []string{"stripe/api-key"}, "attacker.example"},
		{"upper-case host", strings.Replace(e.at("localhost", "/"), "localhost", "LOCALHOST", 1), map[string]any{"A": "{{secret:stripe/api-key}}"}, []string{"stripe/api-key"}, "host localhost"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": c.url, "headers": c.headers})
			wantToolError(t, res, OutcomeRefusedExfiltration, c.says, "agent-vault set PATH --keep-value --allow-host HOST")
			if n := e.conns.Load(); n != 0 {
				t.Fatalf("the server accepted %d connections for a refused request", n)
			}
			r := auditLines(t, srv.AuditPath())[i]
			if r.Outcome != OutcomeRefusedExfiltration || r.Host == "" || len(r.Secrets) != len(c.headers) || !strings.Contains(r.Error, c.refused[0]) || r.Status != 0 {
				t.Errorf("audit record = %+v", r)
			}
		})
	}
	if !strings.Contains(f.log.String(), "refused: a request to localhost would have sent stripe/api-key") {
		t.Errorf("log = %q", f.log.String())
	}
	// The allowed host works, and is the first connection.
	res := callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/"), "headers": map[string]any{"A": "{{secret:stripe/api-key}}"}})
	httpOut(t, res)
	if e.conns.Load() != 1 {
		t.Errorf("connections = %d, want 1", e.conns.Load())
	}
	assertNoCanary(t, f, srv)
}

// TestHTTPArgumentsRefused: every malformed or misplaced placeholder and every refused part of a request
// is a usage error before any file is read and before any connection.
func TestHTTPArgumentsRefused(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	srv, cs := f.connect(f.options())
	if err := os.Rename(filepath.Join(f.v.Dir, "state"), filepath.Join(f.v.Dir, "state.moved")); err != nil {
		t.Fatal(err)
	}
	ok := "Bearer {{secret:stripe/api-key}}"
	u := e.at("127.0.0.1", "/")
	cases := []struct {
		name string
		args map[string]any
		says string
	}{
		{"placeholder in URL", map[string]any{"method": "GET", "url": u + "?key={{secret:stripe/api-key}}"}, "not allowed in the URL"},
		{"placeholder in URL with a header too", map[string]any{"method": "GET", "url": u + "{{secret:stripe/api-key}}", "headers": map[string]any{"A": ok}}, "not allowed in the URL"},
		{"near miss in URL", map[string]any{"method": "GET", "url": u + "?k={{ Secret :stripe/api-key}}", "headers": map[string]any{"A": ok}}, "not allowed in the URL"},
		{"placeholder in method", map[string]any{"method": "{{secret:stripe/api-key}}", "url": u, "headers": map[string]any{"A": ok}}, "not allowed in the method"},
		{"placeholder in header name", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"X-{{secret:stripe/api-key}}": "v", "A": ok}}, "not allowed in a header name"},
		{"spaces", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"A": "{{ secret:stripe/api-key }}"}}, `malformed placeholder "{{ secret:stripe/api-key }}" in header A`},
		{"upper case", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"A": "{{SECRET:stripe/api-key}}"}}, `malformed placeholder "{{SECRET:stripe/api-key}}"`},
		{"unclosed", map[string]any{"method": "GET", "url": u, "body": "x {{secret:stripe/api-key"}, `malformed placeholder "{{secret:stripe/api-key" in the body`},
		{"bad path", map[string]any{"method": "GET", "url": u, "body": "{{secret:../owner.key}}"}, `malformed placeholder "{{secret:../owner.key}}" in the body`},
		{"empty path", map[string]any{"method": "GET", "url": u, "body": "{{secret:}}"}, `malformed placeholder "{{secret:}}"`},
		{"no placeholder", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"A": "b"}, "body": "{{x}}"}, "uses no secret"},
		{"Host header", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"host": "evil.example", "A": ok}}, "header host may not be set"},
		{"Accept-Encoding", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"Accept-Encoding": "gzip", "A": ok}}, "may not be set"},
		{"Transfer-Encoding", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"Transfer-Encoding": "chunked", "A": ok}}, "may not be set"},
		{"duplicate header", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"a": "x", "A": ok}}, "are the same header"},
		{"bad header name", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"A B": ok}}, "invalid header name"},
		{"line break in header", map[string]any{"method": "GET", "url": u, "headers": map[string]any{"A": ok + "\r\nX-Injected: 1"}}, "line break"},
		{"plain http", map[string]any{"method": "GET", "url": "http://api.example.com/", "headers": map[string]any{"A": ok}}, "http:// is allowed only to localhost"},
		{"ftp", map[string]any{"method": "GET", "url": "ftp://127.0.0.1/", "headers": map[string]any{"A": ok}}, "not supported"},
		{"relative", map[string]any{"method": "GET", "url": "/x", "headers": map[string]any{"A": ok}}, "absolute"},
		{"user info", map[string]any{"method": "GET", "url": "https://u:p@127.0.0.1/", "headers": map[string]any{"A": ok}}, "user information"},
		{"TRACE", map[string]any{"method": "TRACE", "url": u, "headers": map[string]any{"A": ok}}, "not supported"},
		{"CONNECT", map[string]any{"method": "CONNECT", "url": u, "headers": map[string]any{"A": ok}}, "not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := callTool(t, cs, ToolHTTP, c.args)
			wantToolError(t, res, "usage", c.says)
		})
	}
	if n := e.conns.Load(); n != 0 {
		t.Fatalf("%d connections for refused requests", n)
	}
	recs := auditLines(t, srv.AuditPath())
	if len(recs) != len(cases) {
		t.Fatalf("audit has %d lines, want %d", len(recs), len(cases))
	}
	for _, r := range recs {
		if r.Outcome != "usage" || r.Tool != ToolHTTP {
			t.Errorf("audit record = %+v", r)
		}
	}
}

func TestHTTPRedirects(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)     // 127.0.0.1: allowed
	other := newEcho(t, false) // reached as localhost: not allowed
	tlsEcho := newEcho(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(tlsEcho.Certificate())
	opts := f.options()
	opts.tlsRoots = roots
	srv, cs := f.connect(opts)
	auth := map[string]any{"Authorization": "Bearer {{secret:stripe/api-key}}"}
	call := func(u string) *mcp.CallToolResult {
		return callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": u, "headers": auth})
	}

	// To an allowed host: followed, and the value still redacted.
	out := httpOut(t, call(e.at("127.0.0.1", "/redirect?to=/final")))
	if out.Status != 200 || !strings.HasSuffix(out.URL, "/final") || strings.Contains(out.Body, canary) || e.lastReceived().Path != "/final" {
		t.Errorf("followed redirect = %+v", out)
	}

	// To a host outside the allowlist: not followed; nothing reaches it.
	res := call(e.at("127.0.0.1", "/redirect?to="+other.at("localhost", "/steal")))
	wantToolError(t, res, OutcomeRefusedExfiltration, "redirected to localhost", "not followed")
	if other.conns.Load() != 0 {
		t.Fatalf("the redirect target accepted %d connections", other.conns.Load())
	}
	recs := auditLines(t, srv.AuditPath())
	if r := recs[len(recs)-1]; r.Outcome != OutcomeRefusedExfiltration || r.Host != "127.0.0.1" || r.RedirectHost != "localhost" || r.Status != 302 {
		t.Errorf("audit record = %+v", r)
	}

	// Too many redirects.
	wantToolError(t, call(e.at("127.0.0.1", "/loop")), "error", "stopped after 5 redirects")

	// https to http, even to an allowed loopback host.
	before := e.conns.Load()
	res = call(tlsEcho.at("127.0.0.1", "/redirect?to="+e.at("127.0.0.1", "/plain")))
	wantToolError(t, res, OutcomeRefusedExfiltration, "from https to http")
	if e.conns.Load() != before {
		t.Errorf("the http target was contacted after an https redirect")
	}
	// https itself works (with the test's root).
	out = httpOut(t, call(tlsEcho.at("127.0.0.1", "/")))
	if out.Status != 200 || out.Headers["X-Echo-Auth"][0] != "Bearer <redacted:stripe/api-key>" {
		t.Errorf("https = %+v", out)
	}
	assertNoCanary(t, f, srv)
}

func TestHTTPResponseBound(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	opts := f.options()
	opts.HTTPMaxBody = 1000
	_, cs := f.connect(opts)
	// The value straddles the bound: it is redacted whole, and its first bytes do not come back.
	res := callTool(t, cs, ToolHTTP, map[string]any{
		"method": "GET", "url": e.at("127.0.0.1", "/big?n=990"), "headers": map[string]any{"X-Tail": "{{secret:stripe/api-key}}"},
	})
	out := httpOut(t, res)
	if !out.Truncated || out.Body != strings.Repeat("a", 990)+"<redacted:stripe/api-key>" || out.BodyBytes != 1000 || len(out.Notes) == 0 || !strings.Contains(out.Notes[0], "longer than 1000 bytes") {
		t.Errorf("truncated output = truncated %v, body %d bytes %q..., notes %v", out.Truncated, len(out.Body), out.Body[max(0, len(out.Body)-20):], out.Notes)
	}
	if strings.Contains(resultJSON(t, res), canary[:10]) {
		t.Errorf("the result holds the start of the value")
	}
	// Under the bound: whole, redacted.
	out = httpOut(t, callTool(t, cs, ToolHTTP, map[string]any{
		"method": "GET", "url": e.at("127.0.0.1", "/big?n=10"), "headers": map[string]any{"X-Tail": "{{secret:stripe/api-key}}"},
	}))
	if out.Truncated || out.Body != "aaaaaaaaaa<redacted:stripe/api-key>" {
		t.Errorf("output = %+v", out)
	}
	// The default bound is 1 MiB.
	f2 := httpFixture(t)
	_, cs2 := f2.connect(f2.options())
	out = httpOut(t, callTool(t, cs2, ToolHTTP, map[string]any{
		"method": "GET", "url": e.at("127.0.0.1", "/big?n=3000000"), "headers": map[string]any{"A": "{{secret:stripe/api-key}}"},
	}))
	if !out.Truncated || len(out.Body) != DefaultHTTPMaxBody {
		t.Errorf("default bound: truncated %v, %d bytes", out.Truncated, len(out.Body))
	}
}

func TestHTTPTimeout(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	opts := f.options()
	opts.HTTPTimeout = 300 * time.Millisecond
	srv, cs := f.connect(opts)
	start := time.Now()
	res := callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/slow"), "headers": map[string]any{"A": "{{secret:stripe/api-key}}"}})
	wantToolError(t, res, "error", "timed out")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the call took %v with a 300ms limit", d)
	}
	if r := auditLines(t, srv.AuditPath())[1]; r.Outcome != "error" || !strings.Contains(r.Error, "timed out") {
		t.Errorf("audit record = %+v", r)
	}
}

// TestHTTPEncodedAndBinaryBodies: a gzip body (the client asked for it) is decoded, then redacted; a
// body the redactor cannot read (another encoding, or not UTF-8) is not returned.
func TestHTTPEncodedAndBinaryBodies(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	_, cs := f.connect(f.options())
	res := callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/gzip"), "headers": map[string]any{"Authorization": "{{secret:stripe/api-key}}"}})
	if out := httpOut(t, res); out.Body != "echo: <redacted:stripe/api-key>" || len(out.Notes) != 0 {
		t.Errorf("/gzip: output = %+v", out)
	}
	for path, note := range map[string]string{"/deflate": "Content-Encoding deflate", "/binary": "not UTF-8"} {
		res := callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", path), "headers": map[string]any{"Authorization": "{{secret:stripe/api-key}}"}})
		out := httpOut(t, res)
		if out.Body != "" || len(out.Notes) != 1 || !strings.Contains(out.Notes[0], note) || out.BodyBytes == 0 {
			t.Errorf("%s: output = %+v", path, out)
		}
	}
}

func TestHTTPShortValueRefused(t *testing.T) {
	f := httpFixture(t)
	f.set("stripe/pin", "123", vault.SetOptions{AllowHosts: []string{"127.0.0.1"}})
	e := newEcho(t, false)
	_, cs := f.connect(f.options())
	res := callTool(t, cs, ToolHTTP, map[string]any{"method": "POST", "url": e.at("127.0.0.1", "/"), "body": "pin={{secret:stripe/pin}}"})
	wantToolError(t, res, "error", "too short to be redacted")
	if e.conns.Load() != 0 {
		t.Errorf("a short value was sent")
	}
}

// TestHTTPVerifiesLikeGet: the secrets of a request go through the same checks as agent_vault_get.
func TestHTTPVerifiesLikeGet(t *testing.T) {
	f := httpFixture(t)
	f.set("github/token", "ghp_not_for_ci", vault.SetOptions{AllowHosts: []string{"127.0.0.1"}})
	e := newEcho(t, false)
	_, cs := f.connect(f.options())
	call := func(path string) *mcp.CallToolResult {
		return callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/"), "headers": map[string]any{"A": "{{secret:" + path + "}}"}})
	}
	wantToolError(t, call("github/token"), "not_authorized")
	wantToolError(t, call("stripe/missing"), "not_found")
	enc := filepath.Join(f.v.Dir, "secrets", "stripe", "api-key.enc")
	if err := os.WriteFile(enc, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantToolError(t, call("stripe/api-key"), "integrity")
	if e.conns.Load() != 0 {
		t.Errorf("a request was sent with an unverified secret")
	}
}

func TestNoReveal(t *testing.T) {
	f := httpFixture(t)
	e := newEcho(t, false)
	opts := f.options()
	opts.NoReveal = true
	srv, cs := f.connect(opts)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
		if strings.Contains(tl.Description, ToolGet) {
			t.Errorf("%s's description mentions %s", tl.Name, ToolGet)
		}
	}
	if strings.Join(names, ",") != ToolList+","+ToolHTTP && strings.Join(names, ",") != ToolHTTP+","+ToolList {
		t.Fatalf("tools = %v, want %s and %s only", names, ToolList, ToolHTTP)
	}
	if ins := cs.InitializeResult().Instructions; strings.Contains(ins, ToolGet) {
		t.Errorf("instructions mention %s: %q", ToolGet, ins)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolGet, Arguments: map[string]any{"secret": "stripe/api-key"}}); err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("get under NoReveal = %v, want an unknown-tool error", err)
	}
	lst := callTool(t, cs, ToolList, nil)
	if lst.IsError || !strings.Contains(strings.Join(text(lst), ""), "may be sent to 127.0.0.1") {
		t.Errorf("list = %v", text(lst))
	}
	out := httpOut(t, callTool(t, cs, ToolHTTP, map[string]any{"method": "GET", "url": e.at("127.0.0.1", "/"), "headers": map[string]any{"A": "{{secret:stripe/api-key}}"}}))
	if out.Status != 200 || e.lastReceived().Headers.Get("A") != canary {
		t.Errorf("http under NoReveal = %+v", out)
	}
	recs := auditLines(t, srv.AuditPath())
	if len(recs) != 4 || recs[0].Tool != ToolGet || recs[0].Outcome != "usage" || recs[2].Outcome != OutcomeSending {
		t.Errorf("audit = %+v", recs)
	}
	assertNoCanary(t, f, srv)
}
