package mcpserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/agent-vault/agent-vault/internal/redact"
	"github.com/agent-vault/agent-vault/vault"
)

// This file holds the rules of agent_vault_http that do not depend on MCP: the placeholder syntax, which
// requests may carry secrets where, the host allowlist, the HTTP transport and the redaction of what
// comes back. docs/mcp.md ("agent_vault_http") and docs/use-without-seeing.md state the same rules.

// Bounds of a brokered request.
const (
	// DefaultHTTPTimeout bounds one agent_vault_http call: connection, request, redirects and reading the
	// response.
	DefaultHTTPTimeout = 30 * time.Second
	// DefaultHTTPMaxBody is how much of a response body is read; the rest is cut off with a note.
	DefaultHTTPMaxBody = 1 << 20
	// maxRedirects is how many redirects are followed (to allowed hosts only).
	maxRedirects = 5
	// maxPlaceholderSecrets bounds the distinct secrets one request may use.
	maxPlaceholderSecrets = 16
	// maxHeaders bounds the request headers.
	maxHeaders = 64
	// maxRequestBody bounds the body argument (before substitution), as a secret value is bounded.
	maxRequestBody = vault.MaxValueSize
	// maxURL bounds the URL argument.
	maxURL = 8 << 10
	// maxResponseHeaderBytes bounds the response headers.
	maxResponseHeaderBytes = 64 << 10
)

// OutcomeRefusedExfiltration is the audit outcome (and the tool error's prefix) of a request refused
// because a secret would have gone to a host its owner did not allow.
const OutcomeRefusedExfiltration = "refused_exfiltration"

// placeholderAttempt finds what looks like the start of a placeholder, strict or not: "{{", optional
// white space, "secret" in any case, optional white space, ":". Every match must be a well-formed
// placeholder where placeholders are allowed, and is refused everywhere else, so that a near miss
// ("{{ secret:x }}", "{{SECRET:x}}") is never sent as literal text to the server.
var placeholderAttempt = regexp.MustCompile(`\{\{\s*(?i:secret)\s*:`)

const (
	placeholderOpen  = "{{secret:"
	placeholderClose = "}}"
)

// segment is a piece of a template: literal text, or (when path is not "") a placeholder.
type segment struct {
	text string
	path string
}

// template is a header value or body split into literal text and placeholders.
type template []segment

// parseTemplate splits s into literal text and {{secret:PATH}} placeholders. where names s in errors
// ("the body", "header Authorization"). A placeholder attempt that is not exactly
// "{{secret:" PATH "}}" with a valid PATH is a usage error naming it; the check reads no file.
func parseTemplate(s, where string) (template, error) {
	var t template
	for {
		loc := placeholderAttempt.FindStringIndex(s)
		if loc == nil {
			if s != "" {
				t = append(t, segment{text: s})
			}
			return t, nil
		}
		if loc[0] > 0 {
			t = append(t, segment{text: s[:loc[0]]})
		}
		rest := s[loc[0]:]
		end := strings.Index(rest, placeholderClose)
		if !strings.HasPrefix(rest, placeholderOpen) || end < 0 {
			return nil, vault.Usagef("malformed placeholder %s in %s: write exactly {{secret:PATH}} (no spaces, lower-case 'secret', closed by '}}')", quoteClip(rest, end), where)
		}
		path := rest[len(placeholderOpen):end]
		if err := vault.CheckPath(path); err != nil {
			return nil, vault.Usagef("malformed placeholder %s in %s: %v", quoteClip(rest, end), where, err)
		}
		t = append(t, segment{path: path})
		s = rest[end+len(placeholderClose):]
	}
}

// quoteClip quotes the placeholder attempt at the start of s (up to and including "}}" at end, or a
// bounded prefix when there is no end), for an error message.
func quoteClip(s string, end int) string {
	if end >= 0 {
		s = s[:end+len(placeholderClose)]
	}
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// paths returns the secret paths t refers to.
func (t template) paths() []string {
	var out []string
	for _, seg := range t {
		if seg.path != "" {
			out = append(out, seg.path)
		}
	}
	return out
}

// expand returns t with every placeholder replaced by value(path).
func (t template) expand(value func(path string) []byte) []byte {
	var b bytes.Buffer
	for _, seg := range t {
		if seg.path != "" {
			b.Write(value(seg.path))
		} else {
			b.WriteString(seg.text)
		}
	}
	return b.Bytes()
}

// noPlaceholder refuses a placeholder (or anything that looks like one) in s, which names a part of
// the request that must never carry a value.
func noPlaceholder(s, what, why string) error {
	if placeholderAttempt.MatchString(s) {
		return vault.Usagef("a {{secret:...}} placeholder is not allowed in %s (%s); put the secret in a header value or the body", what, why)
	}
	return nil
}

// allowedMethods are the methods agent_vault_http sends. CONNECT (a tunnel) and TRACE (which reflects the
// request, values included) are not among them.
var allowedMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// forbiddenHeaders are request header names the caller may not set, lower-case. Host would send the
// request, and its secrets, to another virtual host behind the same address than the allowlisted one
// (on a shared front end, any tenant); the framing and hop-by-hop headers belong to the HTTP client,
// and a caller-set one could smuggle a second request; Proxy-* headers go to a proxy, not to the allowed
// host; Accept-Encoding is the client's, so that it can decode the response before redaction (a
// compressed echo of a value would pass the redactor unseen).
var forbiddenHeaders = map[string]string{
	"host":                "the request goes to the URL's host, which is the one checked against the allowlist",
	"content-length":      "the client frames the request",
	"transfer-encoding":   "the client frames the request",
	"connection":          "a hop-by-hop header, set by the client",
	"keep-alive":          "a hop-by-hop header, set by the client",
	"te":                  "a hop-by-hop header, set by the client",
	"trailer":             "a hop-by-hop header, set by the client",
	"upgrade":             "a hop-by-hop header, set by the client",
	"proxy-authorization": "it is read by a proxy, not by the allowed host",
	"proxy-authenticate":  "it is read by a proxy, not by the allowed host",
	"proxy-connection":    "a hop-by-hop header, set by the client",
	"accept-encoding":     "the client negotiates compression so that it can decode, and redact, the response",
}

// checkHeaderName refuses a name that is not an HTTP token, holds a placeholder, or is forbidden.
func checkHeaderName(name string) error {
	if err := noPlaceholder(name, "a header name", "a header name is logged by servers and proxies"); err != nil {
		return err
	}
	if name == "" || !isToken(name) {
		return vault.Usagef("invalid header name %q: a name is letters, digits and !#$%%&'*+-.^_`|~", clipArg(name))
	}
	if why, ok := forbiddenHeaders[strings.ToLower(name)]; ok {
		return vault.Usagef("header %s may not be set: %s", name, why)
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v may be sent as a header value: no control character but tab
// (in particular no CR, LF or NUL, which would split or end the header).
func validHeaderValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func clipArg(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// target is the checked destination of a request.
type target struct {
	url  *url.URL
	host string // lower-case, without port or brackets
}

// parseTarget checks the URL argument: absolute, https (or http to a loopback host), a host, no user
// information, no placeholder.
func parseTarget(raw string) (*target, error) {
	if err := noPlaceholder(raw, "the URL", "URLs end up in server, proxy and client logs"); err != nil {
		return nil, err
	}
	if len(raw) > maxURL {
		return nil, vault.Usagef("the URL is longer than %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, vault.Usagef("invalid URL: %v", err)
	}
	if u.User != nil {
		return nil, vault.Usagef("the URL may not carry user information (user:password@); put credentials in a header with a placeholder")
	}
	u.Fragment, u.RawFragment = "", ""
	t := &target{url: u, host: strings.ToLower(u.Hostname())}
	if err := checkScheme(u.Scheme, t.host); err != nil {
		return nil, vault.Usagef("%v", err)
	}
	return t, nil
}

// checkScheme allows https to any host and http only to a loopback host (localhost or a loopback
// address), where the value does not cross a network.
func checkScheme(scheme, host string) error {
	switch strings.ToLower(scheme) {
	case "https":
	case "http":
		if !isLoopback(host) {
			return fmt.Errorf("http:// is allowed only to localhost or a loopback address (a value sent over plain HTTP can be read on the way); use https://")
		}
	case "":
		return fmt.Errorf("the URL must be absolute (https://host/path)")
	default:
		return fmt.Errorf("URL scheme %q is not supported: use https:// (or http:// to a loopback host)", scheme)
	}
	if host == "" {
		return fmt.Errorf("the URL has no host")
	}
	return nil
}

// isLoopback reports whether host (lower-case, no port, no brackets) is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed reports whether host (lower-case, no port, no brackets) is in the signed allowlist allow.
// Names compare exactly (no wildcard, no subdomain, no trailing dot); addresses compare as addresses, so
// that "::1" and "[::1]" are the same host.
func hostAllowed(host string, allow []string) bool {
	ip := net.ParseIP(host)
	for _, a := range allow {
		a = strings.ToLower(strings.Trim(a, "[]"))
		if a == host {
			return true
		}
		if ip != nil {
			if aip := net.ParseIP(a); aip != nil && aip.Equal(ip) {
				return true
			}
		}
	}
	return false
}

// secretUse is one secret a request refers to: its path, signed allowlist and (once read) value.
type secretUse struct {
	path  string
	allow []string
	value []byte
}

// refusedHosts returns the paths of the secrets whose allowlist does not hold host.
func refusedHosts(host string, uses []*secretUse) []string {
	var out []string
	for _, u := range uses {
		if !hostAllowed(host, u.allow) {
			out = append(out, u.path)
		}
	}
	return out
}

// refusal is the message of a refused_exfiltration error for host and the secrets that refuse it.
func refusal(host string, refused []string, uses []*secretUse) string {
	var parts []string
	for _, p := range refused {
		for _, u := range uses {
			if u.path == p {
				if len(u.allow) == 0 {
					parts = append(parts, p+" may be sent to no host")
				} else {
					parts = append(parts, p+" may be sent only to "+strings.Join(u.allow, ", "))
				}
			}
		}
	}
	return fmt.Sprintf("host %s is not allowed for %s (%s)", host, strings.Join(refused, ", "), strings.Join(parts, "; "))
}

// errRedirectRefused stops a redirect to a host (or scheme) a secret may not go to.
type errRedirectRefused struct {
	from, to string // hosts
	msg      string
}

func (e *errRedirectRefused) Error() string { return e.msg }

// checkRedirect is the redirect policy of one request: at most maxRedirects, never from https to http,
// and only to hosts that every secret of the request allows (and, for http, loopback hosts).
func checkRedirect(uses []*secretUse) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].URL
		host := strings.ToLower(req.URL.Hostname())
		from := strings.ToLower(prev.Hostname())
		if len(via) > maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if strings.EqualFold(prev.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
			return &errRedirectRefused{from: from, to: host, msg: fmt.Sprintf(
				"%s redirected from https to %s://%s; the redirect was not followed (it would send the request's secrets without TLS)", from, req.URL.Scheme, host)}
		}
		if err := checkScheme(req.URL.Scheme, host); err != nil {
			return &errRedirectRefused{from: from, to: host, msg: fmt.Sprintf("%s redirected to %s; the redirect was not followed: %v", from, host, err)}
		}
		if refused := refusedHosts(host, uses); len(refused) > 0 {
			return &errRedirectRefused{from: from, to: host, msg: fmt.Sprintf(
				"%s redirected to %s; the redirect was not followed and nothing was sent there: %s", from, host, refusal(host, refused, uses))}
		}
		return nil
	}
}

// newTransport is the HTTP transport of every brokered request. It honours the proxy environment
// variables (the proxy sees only a CONNECT to the allowed host for https; loopback requests never go
// through a proxy), checks that "localhost" resolves to loopback addresses only before dialling it,
// and bounds the response headers. roots replaces the system's certificate roots (tests only).
func newTransport(roots *x509.CertPool) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	loopbackOnly := &net.Dialer{Timeout: dialer.Timeout, KeepAlive: dialer.KeepAlive, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("localhost resolves to %s, which is not a loopback address", host)
		}
		return nil
	}}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(host, "localhost") {
				return loopbackOnly.DialContext(ctx, network, addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxIdleConns:           16,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}

// redactor replaces every form (redact.Forms) of every value of a request with <redacted:PATH>.
type redactor struct {
	needles []redact.Needle
}

// newRedactor builds the redactor of uses. A value too short to redact (redact.MinLen) or empty is an
// error: it could not be kept out of the response.
func newRedactor(uses []*secretUse) (*redactor, error) {
	r := &redactor{}
	for _, u := range uses {
		forms, err := redact.Forms(u.value)
		if err == nil && len(forms) == 0 {
			err = errors.New("empty")
		}
		if err != nil {
			return nil, &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf(
				"the value of %s is empty or shorter than %d bytes, too short to be redacted from the response reliably; agent_vault_http does not send it", u.path, redact.MinLen)}
		}
		label := "<redacted:" + u.path + ">"
		var all [][]byte
		for _, f := range forms {
			all = appendNew(all, f)
			for _, v := range escapedForms(f) {
				all = appendNew(all, v)
			}
		}
		for _, f := range all {
			r.needles = append(r.needles, redact.Needle{Value: f, Label: label})
		}
	}
	return r, nil
}

// escapedForms returns the common escapings of form f that a server may echo instead of its bytes: as
// a JSON string (Go's encoder with and without HTML escaping, and the ASCII-only escaping of Python's
// json.dumps and others) and percent-encoded (query and path). Each is added only when it differs from
// f. An encoding that changes the value as a whole (base64, hashing, compression, a partial echo) is
// not caught; docs/mcp.md says so.
func escapedForms(f []byte) [][]byte {
	if !utf8.Valid(f) {
		return nil
	}
	s := string(f)
	var out [][]byte
	add := func(v string) {
		if v != s {
			out = appendNew(out, []byte(v))
		}
	}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			j := strings.TrimSuffix(b.String(), "\n")
			add(j[1 : len(j)-1])
		}
	}
	add(asciiJSON(s))
	add(url.QueryEscape(s))
	add(url.PathEscape(s))
	return out
}

// asciiJSON is s escaped as the inside of a JSON string with every non-ASCII character as \uXXXX (UTF-16).
func asciiJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString("\\n")
		case r == '\r':
			b.WriteString("\\r")
		case r == '\t':
			b.WriteString("\\t")
		case r < 0x20 || r >= 0x7f && r < 0x10000:
			fmt.Fprintf(&b, "\\u%04x", r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, "\\u%04x\\u%04x", r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func appendNew(list [][]byte, v []byte) [][]byte {
	for _, x := range list {
		if bytes.Equal(x, v) {
			return list
		}
	}
	return append(list, v)
}

// bytes returns b redacted.
func (r *redactor) bytes(b []byte) []byte {
	var out bytes.Buffer
	w := redact.New(&out, r.needles)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// string returns s redacted.
func (r *redactor) string(s string) string { return string(r.bytes([]byte(s))) }

// margin is how far past the cut a truncated response is read: the length of the longest form of the
// request's values, so that a value that crosses the cut is seen whole.
func (r *redactor) margin() int {
	m := 0
	for _, n := range r.needles {
		m = max(m, len(n.Value))
	}
	return m
}

// truncated returns raw (the response body read up to limit + r.margin() bytes, more than limit of them)
// cut at exactly limit bytes and redacted. A value that crosses the cut is replaced whole by its label
// (the bytes after the cut show that the value was complete); a piece of a value at the cut that the
// response does not complete is left as the response wrote it. What comes back therefore depends on the
// response and the cut only, never on how much of a value the response's last bytes match.
func (r *redactor) truncated(raw []byte, limit int) []byte {
	cut, label := limit, ""
	for _, n := range r.needles {
		v := n.Value
		lo := max(0, limit-len(v)+1)
		hi := min(len(raw), limit+len(v)-1)
		for off := lo; off < hi; {
			k := bytes.Index(raw[off:hi], v)
			if k < 0 {
				break
			}
			if start := off + k; start < limit && start+len(v) > limit && start < cut {
				cut, label = start, n.Label
			}
			off += k + 1
		}
	}
	out := r.bytes(raw[:cut])
	return append(out, label...)
}

// cutIncompleteRune removes a UTF-8 sequence cut short at the end of b.
func cutIncompleteRune(b []byte) []byte {
	for k := 1; k <= utf8.UTFMax && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return b[:len(b)-k]
			}
			break
		}
	}
	return b
}

// sortedHeaderNames returns the names of h, sorted.
func sortedHeaderNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
