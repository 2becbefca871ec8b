// Package broker holds the rules of a Request HTTP request that do not depend on MCP: the
// {{secret:PATH}} placeholder syntax, which parts of a request may carry secrets, the signed host
// allowlist, the HTTP transport and redirect policy, and the redaction of what comes back. The MCP
// server's agent_vault_http tool (internal/mcpserver) reads and verifies the secrets and calls it.
// docs/mcp.md ("agent_vault_http") and docs/use-without-seeing.md state the same rules.
package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/agent-vault/agent-vault/internal/redact"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// Bounds of a Request request.
const (
	// DefaultTimeout bounds one agent_vault_http call: connection, request, redirects and reading the
	// response.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBody is how much of a response body is read; the rest is cut off with a note.
	DefaultMaxBody = 1 << 20
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
			return nil, usage.Errorf("malformed placeholder %s in %s: write exactly {{secret:PATH}} (no spaces, lower-case 'secret', closed by '}}')", quoteClip(rest, end), where)
		}
		path := rest[len(placeholderOpen):end]
		if err := vault.CheckPath(path); err != nil {
			return nil, usage.Errorf("malformed placeholder %s in %s: %w", quoteClip(rest, end), where, err)
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
		return usage.Errorf("a {{secret:...}} placeholder is not allowed in %s (%s); put the secret in a header value or the body", what, why)
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
		return usage.Errorf("invalid header name %q: a name is letters, digits and !#$%%&'*+-.^_`|~", clipArg(name))
	}
	if why, ok := forbiddenHeaders[strings.ToLower(name)]; ok {
		return usage.Errorf("header %s may not be set: %s", name, why)
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

// ValidHeaderValue reports whether v may be sent as a header value: no control character but tab
// (in particular no CR, LF or NUL, which would split or end the header).
func ValidHeaderValue(v []byte) bool {
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
		return nil, usage.Errorf("the URL is longer than %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usage.Errorf("invalid URL: %w", err)
	}
	if u.User != nil {
		return nil, usage.Errorf("the URL may not carry user information (user:password@); put credentials in a header with a placeholder")
	}
	u.Fragment, u.RawFragment = "", ""
	t := &target{url: u, host: strings.ToLower(u.Hostname())}
	if err := checkScheme(u.Scheme, t.host); err != nil {
		return nil, usage.Errorf("%w", err)
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

// Secret is one secret a request refers to: its path, signed allowlist and (once read) value.
type Secret struct {
	Path  string
	Allow []string
	Value []byte
}

// RefusedHosts returns the paths of the secrets whose allowlist does not hold host.
func RefusedHosts(host string, uses []*Secret) []string {
	var out []string
	for _, u := range uses {
		if !hostAllowed(host, u.Allow) {
			out = append(out, u.Path)
		}
	}
	return out
}

// Refusal is the message of a refused_exfiltration error for host and the secrets that refuse it.
func Refusal(host string, refused []string, uses []*Secret) string {
	var parts []string
	for _, p := range refused {
		for _, u := range uses {
			if u.Path == p {
				if len(u.Allow) == 0 {
					parts = append(parts, p+" may be sent to no host")
				} else {
					parts = append(parts, p+" may be sent only to "+strings.Join(u.Allow, ", "))
				}
			}
		}
	}
	return fmt.Sprintf("host %s is not allowed for %s (%s)", host, strings.Join(refused, ", "), strings.Join(parts, "; "))
}

// RedirectRefused stops a redirect to a host (or scheme) a secret may not go to.
type RedirectRefused struct {
	From, To string // hosts
	Msg      string
}

func (e *RedirectRefused) Error() string { return e.Msg }

// CheckRedirect is the redirect policy of one request: at most maxRedirects, never from https to http,
// and only to hosts that every secret of the request allows (and, for http, loopback hosts).
func CheckRedirect(uses []*Secret) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].URL
		host := strings.ToLower(req.URL.Hostname())
		from := strings.ToLower(prev.Hostname())
		if len(via) > maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if strings.EqualFold(prev.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
			return &RedirectRefused{From: from, To: host, Msg: fmt.Sprintf(
				"%s redirected from https to %s://%s; the redirect was not followed (it would send the request's secrets without TLS)", from, req.URL.Scheme, host)}
		}
		if err := checkScheme(req.URL.Scheme, host); err != nil {
			return &RedirectRefused{From: from, To: host, Msg: fmt.Sprintf("%s redirected to %s; the redirect was not followed: %v", from, host, err)}
		}
		if refused := RefusedHosts(host, uses); len(refused) > 0 {
			return &RedirectRefused{From: from, To: host, Msg: fmt.Sprintf(
				"%s redirected to %s; the redirect was not followed and nothing was sent there: %s", from, host, Refusal(host, refused, uses))}
		}
		return nil
	}
}

// NewTransport is the HTTP transport of every Request request. It honours the proxy environment
// variables (the proxy sees only a CONNECT to the allowed host for https; loopback requests never go
// through a proxy), checks that "localhost" resolves to loopback addresses only before dialling it,
// and bounds the response headers. roots replaces the system's certificate roots (tests only).
func NewTransport(roots *x509.CertPool) *http.Transport {
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

// Redactor replaces every value of a request with <redacted:PATH>, in the forms the project's one
// redaction policy gives (redact.Secret).
type Redactor struct {
	needles []redact.Needle
}

// NewRedactor builds the redactor of secrets. A value too short to redact (redact.MinLen) or empty is
// an error: it could not be kept out of the response.
func NewRedactor(secrets []*Secret) (*Redactor, error) {
	r := &Redactor{}
	for _, u := range secrets {
		needles, err := redact.Secret(u.Path, u.Value)
		if err == nil && len(needles) == 0 {
			err = errors.New("empty")
		}
		if err != nil {
			return nil, &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf(
				"the value of %s is empty or shorter than %d bytes, too short to be redacted from the response reliably; agent_vault_http does not send it", u.Path, redact.MinLen)}
		}
		r.needles = append(r.needles, needles...)
	}
	return r, nil
}

// Bytes returns b redacted.
func (r *Redactor) Bytes(b []byte) []byte {
	var out bytes.Buffer
	w := redact.New(&out, r.needles)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// String returns s redacted.
func (r *Redactor) String(s string) string { return string(r.Bytes([]byte(s))) }

// Margin is how far past the cut a truncated response is read: the length of the longest form of the
// request's values, so that a value that crosses the cut is seen whole.
func (r *Redactor) Margin() int {
	m := 0
	for _, n := range r.needles {
		m = max(m, len(n.Value))
	}
	return m
}

// Truncated returns raw (the response body read up to limit + r.Margin() bytes, more than limit of them)
// cut at exactly limit bytes and redacted. A value that crosses the cut is replaced whole by its label
// (the bytes after the cut show that the value was complete); a piece of a value at the cut that the
// response does not complete is left as the response wrote it. What comes back therefore depends on the
// response and the cut only, never on how much of a value the response's last bytes match.
func (r *Redactor) Truncated(raw []byte, limit int) []byte {
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
	out := r.Bytes(raw[:cut])
	return append(out, label...)
}

// CutIncompleteRune removes a UTF-8 sequence cut short at the end of b.
func CutIncompleteRune(b []byte) []byte {
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

// SortedHeaderNames returns the names of h, sorted.
func SortedHeaderNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Input is a request as the caller asks for it: a value may appear only as {{secret:PATH}} in a header
// value or the body.
type Input struct {
	Method  string
	URL     string
	Headers map[string]string
	Body    *string // nil: no body
}

// Seen is what Prepare learnt of a request, as soon as it knew it, also when it refused the request:
// the audit records it. Method and Host are clipped for a log line.
type Seen struct {
	Method  string
	Host    string
	Secrets []string
}

// Request is a checked request, before any secret is read.
type Request struct {
	method  string
	target  *target
	headers []headerTemplate // sorted by name
	body    template         // nil: no body
	hasBody bool
	paths   []string // distinct, in order of first use
	inHead  map[string]bool
}

type headerTemplate struct {
	name  string
	value template
}

// Prepare checks the arguments without touching a file: method, URL, header names and values,
// placeholders. The method, host and secret paths are recorded in seen as soon as they are known.
func Prepare(in Input, seen *Seen) (*Request, error) {
	b := &Request{inHead: map[string]bool{}}
	if err := noPlaceholder(in.Method, "the method", "it is not a place for a value"); err != nil {
		return nil, err
	}
	b.method = strings.ToUpper(in.Method)
	seen.Method = clipArg(b.method)
	if !slices.Contains(allowedMethods, b.method) {
		return nil, usage.Errorf("method %q is not supported: use one of %s", clipArg(in.Method), strings.Join(allowedMethods, ", "))
	}
	t, err := parseTarget(in.URL)
	if t != nil {
		seen.Host = t.host
	} else if u, perr := url.Parse(in.URL); perr == nil {
		seen.Host = clipArg(strings.ToLower(u.Hostname()))
	}
	if err != nil {
		return nil, err
	}
	b.target = t
	if len(in.Headers) > maxHeaders {
		return nil, usage.Errorf("%d headers: at most %d", len(in.Headers), maxHeaders)
	}
	named := map[string]string{} // canonical header name -> the name given
	use := func(tpl template, inHeader bool) {
		for _, p := range tpl.paths() {
			if !slices.Contains(b.paths, p) {
				b.paths = append(b.paths, p)
				seen.Secrets = append(seen.Secrets, p)
			}
			if inHeader {
				b.inHead[p] = true
			}
		}
	}
	names := make([]string, 0, len(in.Headers))
	for name := range in.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := checkHeaderName(name); err != nil {
			return nil, err
		}
		canon := http.CanonicalHeaderKey(name)
		if other, dup := named[canon]; dup {
			return nil, usage.Errorf("headers %s and %s are the same header; give it once (join several values with ', ')", other, name)
		}
		named[canon] = name
		tpl, err := parseTemplate(in.Headers[name], "header "+name)
		if err != nil {
			return nil, err
		}
		for _, seg := range tpl {
			if seg.path == "" && !ValidHeaderValue([]byte(seg.text)) {
				return nil, usage.Errorf("header %s holds a line break or another control character", name)
			}
		}
		use(tpl, true)
		b.headers = append(b.headers, headerTemplate{name: name, value: tpl})
	}
	if in.Body != nil {
		if len(*in.Body) > maxRequestBody {
			return nil, usage.Errorf("the body is longer than %d bytes", maxRequestBody)
		}
		tpl, err := parseTemplate(*in.Body, "the body")
		if err != nil {
			return nil, err
		}
		use(tpl, false)
		b.body, b.hasBody = tpl, true
	}
	if len(b.paths) == 0 {
		return nil, usage.Errorf("the request uses no secret: put a {{secret:PATH}} placeholder in a header value or the body. agent_vault_http only makes requests that use secrets; it is not a general HTTP client")
	}
	if len(b.paths) > maxPlaceholderSecrets {
		return nil, usage.Errorf("the request uses %d secrets: at most %d", len(b.paths), maxPlaceholderSecrets)
	}
	return b, nil
}

// Paths returns the secrets the request uses, distinct, in order of first use.
func (b *Request) Paths() []string { return b.paths }

// Host returns the host the request goes to: lower-case, without port or brackets.
func (b *Request) Host() string { return b.target.host }

// InHeader reports whether the secret at path goes in a header value (where a line break cannot go).
func (b *Request) InHeader(path string) bool { return b.inHead[path] }

// HTTPRequest returns the request with value(path) substituted for each placeholder: in a header
// without the white space around it (HTTP trims a field value anyway, and a value stored with a
// trailing newline could not be sent otherwise), in the body byte for byte. userAgent is sent unless
// the caller set a User-Agent header. An error is a usage error whose message is redacted by red.
func (b *Request) HTTPRequest(ctx context.Context, value func(path string) []byte, userAgent string, red *Redactor) (*http.Request, error) {
	var body io.Reader
	if b.hasBody {
		body = bytes.NewReader(b.body.expand(value))
	}
	req, err := http.NewRequestWithContext(ctx, b.method, b.target.url.String(), body)
	if err != nil {
		return nil, usage.Errorf("cannot make the request: %v", red.String(err.Error()))
	}
	for _, ht := range b.headers {
		req.Header.Set(ht.name, string(ht.value.expand(func(p string) []byte { return bytes.TrimSpace(value(p)) })))
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	return req, nil
}
