package mcpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/vault"
)

// HTTPInput is the arguments of agent_vault_http.
type HTTPInput struct {
	Method  string            `json:"method" jsonschema:"the HTTP method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"`
	URL     string            `json:"url" jsonschema:"the absolute URL: https://host[:port]/path?query (http:// only to localhost or a loopback address); no placeholder here"`
	Headers map[string]string `json:"headers,omitempty" jsonschema:"request headers, name to value; a value may contain {{secret:PATH}} placeholders, e.g. {\"Authorization\": \"Bearer {{secret:stripe/api-key}}\"}"`
	Body    *string           `json:"body,omitempty" jsonschema:"the request body (text); it may contain {{secret:PATH}} placeholders"`
}

// HTTPOutput is the structured result of agent_vault_http: the response, with every value the request
// used replaced by <redacted:PATH>. It never holds the request as sent.
type HTTPOutput struct {
	Status     int                 `json:"status" jsonschema:"the response status code"`
	StatusText string              `json:"status_text" jsonschema:"the status line's text, e.g. OK"`
	URL        string              `json:"url" jsonschema:"the URL that answered (after redirects)"`
	Headers    map[string][]string `json:"headers" jsonschema:"the response headers"`
	Body       string              `json:"body" jsonschema:"the response body as text, redacted; empty when omitted (see notes)"`
	BodyBytes  int                 `json:"body_bytes" jsonschema:"how many bytes of body were read (at most the bound)"`
	Truncated  bool                `json:"truncated" jsonschema:"true when the body was longer than the bound and was cut"`
	Secrets    []string            `json:"secrets" jsonschema:"the secrets the request used"`
	Notes      []string            `json:"notes,omitempty" jsonschema:"what the server changed or withheld, e.g. a cut or binary body, an expired secret"`
}

const httpDescription = `Make an HTTP request that uses secrets without seeing them. Write {{secret:PATH}} in a header value or in the body where a secret's value belongs (PATH as agent_vault_list shows it); the server reads and verifies each secret, substitutes its value, sends the request itself, and returns the response with every substituted value replaced by <redacted:PATH>.

Example: method "GET", url "https://api.stripe.com/v1/balance", headers {"Authorization": "Bearer {{secret:stripe/api-key}}"}.

Rules:
- Each secret may be sent only to the hosts its owner allowed (agent_vault_list shows them as allow_hosts). A request to any other host is refused before any connection and recorded as a refused exfiltration attempt. Do not retry it against another host or look for another way to send the secret.
- Placeholders are allowed only in header values and the body, never in the URL, the method or header names. A request with no placeholder is refused: this is not a general HTTP client.
- https:// only (http:// to localhost or a loopback address). Redirects are followed up to 5 times, only to hosts every secret of the request allows, never from https to http.
- The response body is cut at the size bound; a binary or compressed body is not returned. The request has a time limit.
- Host, Content-Length, Transfer-Encoding, Connection, Upgrade, Proxy-* and Accept-Encoding headers may not be set.

Errors start with their kind: refused_exfiltration, usage, not_found, not_authorized, integrity, error.`

func (s *Server) addHTTP(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolHTTP,
		Title:       "HTTP request with secrets (values never shown)",
		Description: httpDescription,
		Annotations: &mcp.ToolAnnotations{Title: "HTTP request with secrets", DestructiveHint: ptr(true), OpenWorldHint: ptr(true)},
	}, s.httpCall)
}

// httpCall is what the audit line of an agent_vault_http call records beyond the common fields.
type httpCall struct {
	method, host string
	secrets      []string
	status       int
	redirectHost string // a redirect target that was refused
	outcome      string // overrides the kind in the audit line (refused_exfiltration)
}

// audit adds the call's fields to rec.
func (h *httpCall) audit(rec *AuditRecord) {
	rec.Method, rec.Host, rec.Secrets, rec.Status, rec.RedirectHost = h.method, h.host, h.secrets, h.status, h.redirectHost
	if h.outcome != "" && rec.Outcome != "ok" {
		rec.Outcome = h.outcome
	}
}

// brokered is a checked request, before any secret is read.
type brokered struct {
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

// prepareHTTP checks the arguments without touching a file: method, URL, header names and values,
// placeholders. The method, host and secret paths are recorded in h as soon as they are known.
func prepareHTTP(in HTTPInput, h *httpCall) (*brokered, error) {
	b := &brokered{inHead: map[string]bool{}}
	if err := noPlaceholder(in.Method, "the method", "it is not a place for a value"); err != nil {
		return nil, err
	}
	b.method = strings.ToUpper(in.Method)
	h.method = clipArg(b.method)
	if !slices.Contains(allowedMethods, b.method) {
		return nil, vault.Usagef("method %q is not supported: use one of %s", clipArg(in.Method), strings.Join(allowedMethods, ", "))
	}
	t, err := parseTarget(in.URL)
	if t != nil {
		h.host = t.host
	} else if u, perr := url.Parse(in.URL); perr == nil {
		h.host = clipArg(strings.ToLower(u.Hostname()))
	}
	if err != nil {
		return nil, err
	}
	b.target = t
	if len(in.Headers) > maxHeaders {
		return nil, vault.Usagef("%d headers: at most %d", len(in.Headers), maxHeaders)
	}
	seen := map[string]string{}
	use := func(tpl template, inHeader bool) {
		for _, p := range tpl.paths() {
			if !slices.Contains(b.paths, p) {
				b.paths = append(b.paths, p)
				h.secrets = append(h.secrets, p)
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
		if other, dup := seen[canon]; dup {
			return nil, vault.Usagef("headers %s and %s are the same header; give it once (join several values with ', ')", other, name)
		}
		seen[canon] = name
		tpl, err := parseTemplate(in.Headers[name], "header "+name)
		if err != nil {
			return nil, err
		}
		for _, seg := range tpl {
			if seg.path == "" && !validHeaderValue([]byte(seg.text)) {
				return nil, vault.Usagef("header %s holds a line break or another control character", name)
			}
		}
		use(tpl, true)
		b.headers = append(b.headers, headerTemplate{name: name, value: tpl})
	}
	if in.Body != nil {
		if len(*in.Body) > maxRequestBody {
			return nil, vault.Usagef("the body is longer than %d bytes", maxRequestBody)
		}
		tpl, err := parseTemplate(*in.Body, "the body")
		if err != nil {
			return nil, err
		}
		use(tpl, false)
		b.body, b.hasBody = tpl, true
	}
	if len(b.paths) == 0 {
		return nil, vault.Usagef("the request uses no secret: put a {{secret:PATH}} placeholder in a header value or the body. agent_vault_http only makes requests that use secrets; it is not a general HTTP client")
	}
	if len(b.paths) > maxPlaceholderSecrets {
		return nil, vault.Usagef("the request uses %d secrets: at most %d", len(b.paths), maxPlaceholderSecrets)
	}
	return b, nil
}

// readSecrets verifies every secret of b in snap (as agent_vault_get does), refuses the request when
// the host is outside any secret's signed allowlist (before decrypting anything), then decrypts.
func (s *Server) readSecrets(snap *vault.Snapshot, b *brokered, h *httpCall) ([]*secretUse, []string, error) {
	var uses []*secretUse
	var notes []string
	for _, p := range b.paths {
		info, err := snap.Info(p)
		if err != nil {
			return nil, nil, err
		}
		uses = append(uses, &secretUse{path: p, allow: info.AllowHosts})
		if info.Expires != nil && info.Expires.Before(time.Now()) {
			when := info.Expires.UTC().Format(time.RFC3339)
			s.logf("warning: %s expired on %s", p, when)
			notes = append(notes, fmt.Sprintf("secret %s expired on %s; it may no longer work. Ask the user to rotate it (agent-vault set %s).", p, when, p))
		}
	}
	if refused := refusedHosts(b.target.host, uses); len(refused) > 0 {
		h.outcome = OutcomeRefusedExfiltration
		s.logf("refused: a request to %s would have sent %s", b.target.host, strings.Join(refused, ", "))
		return nil, nil, &ToolError{Kind: vault.KindNotAuthorized, Outcome: OutcomeRefusedExfiltration, Msg: refusal(b.target.host, refused, uses) + "; the request was not sent"}
	}
	for _, u := range uses {
		value, err := snap.Get(u.path)
		if err != nil {
			clearValues(uses)
			return nil, nil, err
		}
		u.value = value
		if b.inHead[u.path] && !validHeaderValue(bytes.TrimSpace(value)) {
			clearValues(uses)
			return nil, nil, &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf(
				"the value of %s holds a line break or another control character and cannot be sent in a header; send it in the body", u.path)}
		}
	}
	return uses, notes, nil
}

func clearValues(uses []*secretUse) {
	for _, u := range uses {
		clear(u.value)
	}
}

// httpCall checks the request, reads and verifies its secrets, checks the host against every secret's
// signed allowlist, sends it and returns the redacted response.
func (s *Server) httpCall(ctx context.Context, _ *mcp.CallToolRequest, in HTTPInput) (*mcp.CallToolResult, HTTPOutput, error) {
	c := callOf(ctx)
	h := &httpCall{}
	c.http = h
	var b *brokered
	var uses []*secretUse
	var notes []string
	_, _, err := run(ctx, s, func() error {
		var err error
		if b, err = prepareHTTP(in, h); err != nil {
			return err
		}
		return s.checkFirstUse()
	}, func(snap *vault.Snapshot, _ *call) (*mcp.CallToolResult, struct{}, error) {
		var err error
		uses, notes, err = s.readSecrets(snap, b, h)
		return nil, struct{}{}, err
	})
	if err != nil {
		return nil, HTTPOutput{}, err
	}
	defer clearValues(uses)
	fail := func(err error) (*mcp.CallToolResult, HTTPOutput, error) {
		te := toolError(err)
		c.kind, c.err = te.Kind, te.Msg
		return nil, HTTPOutput{}, te
	}
	red, err := newRedactor(uses)
	if err != nil {
		return fail(err)
	}
	// The request is audited before any connection is made; when that fails, nothing is sent. The
	// outcome is audited after, by the audit middleware.
	if err := s.audit.Write(s.sendingRecord(ctx, h)); err != nil {
		s.logf("error: cannot write the audit log %s (%v); the request to %s was not sent", s.audit.Path, err, b.target.host)
		return fail(&vault.Error{Kind: vault.KindError, Msg: "the audit log could not be written, so the request was not sent"})
	}
	out, err := s.send(ctx, b, uses, red, h)
	if err != nil {
		return fail(err)
	}
	out.Notes = append(notes, out.Notes...)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: httpText(out)}}}, out, nil
}

// OutcomeSending is the outcome of the audit line written before a brokered request connects; the line
// of the call's outcome follows it.
const OutcomeSending = "sending"

// sendingRecord is the audit line of a brokered request about to be sent.
func (s *Server) sendingRecord(ctx context.Context, h *httpCall) AuditRecord {
	rec := AuditRecord{Time: auditTime(time.Now()), VaultID: s.vaultID, Agent: s.agent, Tool: ToolHTTP, Outcome: OutcomeSending}
	h.audit(&rec)
	rec.Outcome = OutcomeSending
	if info := callOf(ctx).client; info != "" {
		rec.Client = info
	}
	return rec
}

// checkFirstUse refuses a brokered request when the server trusted the vault's owner key on first use
// when it started (a key without pins on a machine that had not trusted the vault), unless
// Options.TrustFirstUse: the request would send real values on the word of the repository alone.
func (s *Server) checkFirstUse() error {
	if !s.firstUse || s.opts.TrustFirstUse {
		return nil
	}
	return &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
		"this server trusted the owner key of vault %s on first use when it started (its key has no pins), and agent_vault_http does not send values on that alone; "+
			"ask the user to give the server a key file with pins ('agent-vault pins'), to restart it (the trust is now recorded), or to start it with --trust-first-use", s.vaultID)}
}

// send makes the request with the values substituted and returns the redacted response.
func (s *Server) send(ctx context.Context, b *brokered, uses []*secretUse, red *redactor, h *httpCall) (HTTPOutput, error) {
	values := map[string][]byte{}
	for _, u := range uses {
		values[u.path] = u.value
	}
	var body io.Reader
	if b.hasBody {
		body = bytes.NewReader(b.body.expand(func(p string) []byte { return values[p] }))
	}
	timeout := s.httpTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, b.method, b.target.url.String(), body)
	if err != nil {
		return HTTPOutput{}, vault.Usagef("cannot make the request: %v", red.string(err.Error()))
	}
	// A header value gets the value without white space around it: HTTP trims a field value anyway, and
	// a value stored with a trailing newline could not be sent otherwise.
	for _, ht := range b.headers {
		req.Header.Set(ht.name, string(ht.value.expand(func(p string) []byte { return bytes.TrimSpace(values[p]) })))
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "agent-vault/"+s.opts.Version)
	}
	var refused *errRedirectRefused
	policy := checkRedirect(uses)
	client := &http.Client{Transport: s.transport, Timeout: timeout, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		err := policy(r, via)
		errors.As(err, &refused)
		return err
	}}
	resp, err := client.Do(req)
	if refused != nil {
		if resp != nil {
			h.status = resp.StatusCode
			resp.Body.Close()
		}
		h.outcome, h.redirectHost = OutcomeRefusedExfiltration, refused.to
		s.logf("refused: %s redirected a request that uses %s to %s", refused.from, strings.Join(b.paths, ", "), refused.to)
		return HTTPOutput{}, &ToolError{Kind: vault.KindNotAuthorized, Outcome: OutcomeRefusedExfiltration, Msg: red.string(refused.msg)}
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return HTTPOutput{}, requestError(err, ctx, b.target.host, timeout, red)
	}
	defer resp.Body.Close()
	h.status = resp.StatusCode
	limit := s.httpMaxBody()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+int64(red.margin())+1))
	if err != nil {
		return HTTPOutput{}, requestError(fmt.Errorf("reading the response: %w", err), ctx, b.target.host, timeout, red)
	}
	out := HTTPOutput{
		Status:     resp.StatusCode,
		StatusText: red.string(strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))),
		URL:        red.string(resp.Request.URL.String()),
		Headers:    map[string][]string{},
		Secrets:    b.paths,
	}
	for name, vals := range resp.Header {
		rn := red.string(name)
		for _, v := range vals {
			out.Headers[rn] = append(out.Headers[rn], red.string(v))
		}
	}
	var body2 []byte
	if len(raw) > limit {
		out.Truncated = true
		body2 = cutIncompleteRune(red.truncated(raw, limit))
		raw = raw[:limit]
		out.Notes = append(out.Notes, fmt.Sprintf("the body was longer than %d bytes and was cut there", limit))
	} else {
		body2 = red.bytes(raw)
	}
	out.BodyBytes = len(raw)
	ce := strings.TrimSpace(resp.Header.Get("Content-Encoding"))
	switch {
	case ce != "" && !strings.EqualFold(ce, "identity"):
		out.Notes = append(out.Notes, fmt.Sprintf("the body (%d bytes) is not shown: it is encoded (Content-Encoding %s), and a value inside an encoded body cannot be redacted", len(raw), red.string(ce)))
	case !utf8.Valid(body2):
		out.Notes = append(out.Notes, fmt.Sprintf("the body (%d bytes, Content-Type %s) is not shown: it is not UTF-8 text, and a value inside binary data cannot be redacted reliably", len(raw), red.string(resp.Header.Get("Content-Type"))))
	default:
		out.Body = string(body2)
	}
	return out, nil
}

// requestError describes a failed request (no value: the message is redacted too).
func requestError(err error, ctx context.Context, host string, timeout time.Duration, red *redactor) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("the request to %s timed out (the limit is %v for the whole call)", host, timeout)}
	}
	return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("the request to %s failed: %s", host, red.string(oneLine(err.Error())))}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func (s *Server) httpTimeout() time.Duration {
	if s.opts.HTTPTimeout > 0 {
		return s.opts.HTTPTimeout
	}
	return DefaultHTTPTimeout
}

func (s *Server) httpMaxBody() int {
	if s.opts.HTTPMaxBody > 0 {
		return s.opts.HTTPMaxBody
	}
	return DefaultHTTPMaxBody
}

// httpText is the readable form of a response: status line, headers, a blank line, the body, notes.
func httpText(out HTTPOutput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d %s (%s)\n", out.Status, out.StatusText, out.URL)
	hdr := http.Header(out.Headers)
	for _, name := range sortedHeaderNames(hdr) {
		for _, v := range hdr[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	b.WriteString("\n")
	b.WriteString(out.Body)
	for _, n := range out.Notes {
		fmt.Fprintf(&b, "\n[agent-vault: %s]", n)
	}
	return b.String()
}
