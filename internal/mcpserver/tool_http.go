package mcpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/internal/broker"
	"github.com/agent-vault/agent-vault/vault"
)

// Bounds of agent_vault_http (Options.HTTPTimeout and Options.HTTPMaxBody replace them).
const (
	DefaultHTTPTimeout = broker.DefaultTimeout
	DefaultHTTPMaxBody = broker.DefaultMaxBody
)

// OutcomeRefusedExfiltration is the audit outcome (and the tool error's prefix) of a request refused
// because a secret would have gone to a host its owner did not allow.
const OutcomeRefusedExfiltration = "refused_exfiltration"

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

// readSecrets verifies every secret of b in snap (as agent_vault_get does), refuses the request when
// the host is outside any secret's signed allowlist (before decrypting anything), then decrypts.
func (s *Server) readSecrets(snap *vault.Snapshot, b *broker.Request, h *httpCall) ([]*broker.Secret, []string, error) {
	var uses []*broker.Secret
	var notes []string
	for _, p := range b.Paths() {
		info, err := snap.Info(p)
		if err != nil {
			return nil, nil, err
		}
		uses = append(uses, &broker.Secret{Path: p, Allow: info.AllowHosts})
		if info.Expires != nil && info.Expires.Before(time.Now()) {
			when := info.Expires.UTC().Format(time.RFC3339)
			s.logf("warning: %s expired on %s", p, when)
			notes = append(notes, fmt.Sprintf("secret %s expired on %s; it may no longer work. Ask the user to rotate it (agent-vault set %s).", p, when, p))
		}
	}
	if refused := broker.RefusedHosts(b.Host(), uses); len(refused) > 0 {
		h.outcome = OutcomeRefusedExfiltration
		s.logf("refused: a request to %s would have sent %s", b.Host(), strings.Join(refused, ", "))
		return nil, nil, &ToolError{Kind: vault.KindNotAuthorized, Outcome: OutcomeRefusedExfiltration, Msg: broker.Refusal(b.Host(), refused, uses) + "; the request was not sent"}
	}
	for _, u := range uses {
		value, err := snap.Get(u.Path)
		if err != nil {
			clearValues(uses)
			return nil, nil, err
		}
		u.Value = value
		if b.InHeader(u.Path) && !broker.ValidHeaderValue(bytes.TrimSpace(value)) {
			clearValues(uses)
			return nil, nil, &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf(
				"the value of %s holds a line break or another control character and cannot be sent in a header; send it in the body", u.Path)}
		}
	}
	return uses, notes, nil
}

func clearValues(uses []*broker.Secret) {
	for _, u := range uses {
		clear(u.Value)
	}
}

// httpCall checks the request, reads and verifies its secrets, checks the host against every secret's
// signed allowlist, sends it and returns the redacted response.
func (s *Server) httpCall(ctx context.Context, _ *mcp.CallToolRequest, in HTTPInput) (*mcp.CallToolResult, HTTPOutput, error) {
	c := callOf(ctx)
	h := &httpCall{}
	c.http = h
	var b *broker.Request
	var uses []*broker.Secret
	var notes []string
	_, _, err := run(ctx, s, func() error {
		var err error
		var seen broker.Seen
		b, err = broker.Prepare(broker.Input{Method: in.Method, URL: in.URL, Headers: in.Headers, Body: in.Body}, &seen)
		h.method, h.host, h.secrets = seen.Method, seen.Host, seen.Secrets
		if err != nil {
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
	red, err := broker.NewRedactor(uses)
	if err != nil {
		return fail(err)
	}
	// The request is audited before any connection is made; when that fails, nothing is sent. The
	// outcome is audited after, by the audit middleware.
	if err := s.audit.Write(s.sendingRecord(ctx, h)); err != nil {
		s.logf("error: cannot write the audit log %s (%v); the request to %s was not sent", s.audit.Path, err, b.Host())
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
func (s *Server) send(ctx context.Context, b *broker.Request, uses []*broker.Secret, red *broker.Redactor, h *httpCall) (HTTPOutput, error) {
	values := map[string][]byte{}
	for _, u := range uses {
		values[u.Path] = u.Value
	}
	timeout := s.httpTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := b.HTTPRequest(ctx, func(p string) []byte { return values[p] }, "agent-vault/"+s.opts.Version, red)
	if err != nil {
		return HTTPOutput{}, err
	}
	var refused *broker.RedirectRefused
	policy := broker.CheckRedirect(uses)
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
		h.outcome, h.redirectHost = OutcomeRefusedExfiltration, refused.To
		s.logf("refused: %s redirected a request that uses %s to %s", refused.From, strings.Join(b.Paths(), ", "), refused.To)
		return HTTPOutput{}, &ToolError{Kind: vault.KindNotAuthorized, Outcome: OutcomeRefusedExfiltration, Msg: red.String(refused.Msg)}
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return HTTPOutput{}, requestError(err, ctx, b.Host(), timeout, red)
	}
	defer resp.Body.Close()
	h.status = resp.StatusCode
	limit := s.httpMaxBody()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+int64(red.Margin())+1))
	if err != nil {
		return HTTPOutput{}, requestError(fmt.Errorf("reading the response: %w", err), ctx, b.Host(), timeout, red)
	}
	out := HTTPOutput{
		Status:     resp.StatusCode,
		StatusText: red.String(strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))),
		URL:        red.String(resp.Request.URL.String()),
		Headers:    map[string][]string{},
		Secrets:    b.Paths(),
	}
	for name, vals := range resp.Header {
		rn := red.String(name)
		for _, v := range vals {
			out.Headers[rn] = append(out.Headers[rn], red.String(v))
		}
	}
	var body2 []byte
	if len(raw) > limit {
		out.Truncated = true
		body2 = broker.CutIncompleteRune(red.Truncated(raw, limit))
		raw = raw[:limit]
		out.Notes = append(out.Notes, fmt.Sprintf("the body was longer than %d bytes and was cut there", limit))
	} else {
		body2 = red.Bytes(raw)
	}
	out.BodyBytes = len(raw)
	ce := strings.TrimSpace(resp.Header.Get("Content-Encoding"))
	switch {
	case ce != "" && !strings.EqualFold(ce, "identity"):
		out.Notes = append(out.Notes, fmt.Sprintf("the body (%d bytes) is not shown: it is encoded (Content-Encoding %s), and a value inside an encoded body cannot be redacted", len(raw), red.String(ce)))
	case !utf8.Valid(body2):
		out.Notes = append(out.Notes, fmt.Sprintf("the body (%d bytes, Content-Type %s) is not shown: it is not UTF-8 text, and a value inside binary data cannot be redacted reliably", len(raw), red.String(resp.Header.Get("Content-Type"))))
	default:
		out.Body = string(body2)
	}
	return out, nil
}

// requestError describes a failed request (no value: the message is redacted too).
func requestError(err error, ctx context.Context, host string, timeout time.Duration, red *broker.Redactor) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("the request to %s timed out (the limit is %v for the whole call)", host, timeout)}
	}
	return &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf("the request to %s failed: %s", host, red.String(oneLine(err.Error())))}
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
	for _, name := range broker.SortedHeaderNames(hdr) {
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
