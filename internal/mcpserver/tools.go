package mcpserver

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/vault"
)

// Tool names.
const (
	ToolGet  = "agent_vault_get"
	ToolList = "agent_vault_list"
	ToolHTTP = "agent_vault_http"
)

// tool is one entry of the tool table: its name and how it adds itself to the MCP server.
type tool struct {
	name string
	add  func(s *Server, srv *mcp.Server)
}

// tools is every tool the server offers, in listing order. A new tool is one file with its add method
// and one line here; an option that withholds a tool filters this table in newMCPServer.
var tools = []tool{
	{ToolGet, (*Server).addGet},
	{ToolList, (*Server).addList},
	{ToolHTTP, (*Server).addHTTP},
}

// revealsValue names the tools whose result is a secret's raw value; Options.NoReveal withholds them.
var revealsValue = map[string]bool{ToolGet: true}

// call is what the audit middleware learns from a tool handler about one call.
type call struct {
	ran    bool   // the handler ran (the SDK accepted the arguments)
	secret string // the secret path argument, as given
	group  string // the group argument, as given
	kind   vault.Kind
	err    string // "" on success
	count  *int   // secrets listed
	http   *httpCall
	client string // the MCP client's name, as it introduced itself
}

type callKey struct{}

// callOf returns the call record the middleware put in ctx, or a throwaway one.
func callOf(ctx context.Context) *call {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return c
	}
	return &call{}
}

// run is the frame of every tool handler. It checks the arguments with validate before any file is
// touched, pulls (coalesced), opens a freshly verified snapshot with the key held since start, and runs
// work on it under the server's lock. A failure becomes a *ToolError, which the SDK returns as a result
// with isError set. The outcome is left in the call record for the audit middleware.
func run[Out any](ctx context.Context, s *Server, validate func() error, work func(*vault.Snapshot, *call) (*mcp.CallToolResult, Out, error)) (*mcp.CallToolResult, Out, error) {
	c := callOf(ctx)
	c.ran = true
	var zero Out
	fail := func(err error) (*mcp.CallToolResult, Out, error) {
		te := toolError(err)
		c.kind, c.err = te.Kind, te.Msg
		return nil, zero, te
	}
	if err := validate(); err != nil {
		return fail(err)
	}
	if s.puller != nil {
		s.puller.Sync(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.vault.Open(s.key)
	if err != nil {
		return fail(err)
	}
	res, out, err := work(snap, c)
	if err != nil {
		return fail(err)
	}
	return res, out, nil
}

// auditMiddleware writes one audit line for every tools/call request, whether the tool handler ran or
// the SDK refused the call first (unknown tool, arguments that do not fit the input schema). When the
// line cannot be written the result is withheld and replaced by an error: no read goes unaudited.
func (s *Server) auditMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method != "tools/call" {
			return next(ctx, method, req)
		}
		start := time.Now()
		c := &call{}
		if ctr, ok := req.(*mcp.CallToolRequest); ok && ctr.Params != nil {
			if info := ctr.ClientInfo(); info != nil {
				c.client = info.Name
			}
		}
		res, err := next(context.WithValue(ctx, callKey{}, c), method, req)
		rec := AuditRecord{Time: auditTime(start), VaultID: s.vaultID, Agent: s.agent, Outcome: "ok"}
		if ctr, ok := req.(*mcp.CallToolRequest); ok && ctr.Params != nil {
			rec.Tool = ctr.Params.Name
			if info := ctr.ClientInfo(); info != nil {
				rec.Client = info.Name
			}
			if !c.ran {
				c.secret, c.group = rawArgs(ctr.Params.Arguments)
			}
		}
		rec.Secret, rec.Group = c.secret, c.group
		switch {
		case c.ran && c.err != "":
			rec.Outcome, rec.Error = c.kind.String(), c.err
		case c.ran:
			rec.Count = c.count
		case err != nil:
			rec.Outcome, rec.Error = vault.KindUsage.String(), oneLine(err.Error())
		default:
			if r, ok := res.(*mcp.CallToolResult); ok && r.IsError {
				// The SDK refused the arguments (schema validation): a usage error, said as ours are.
				te := &ToolError{Kind: vault.KindUsage, Msg: oneLine(resultText(r))}
				rec.Outcome, rec.Error = te.Kind.String(), te.Msg
				res = &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: te.Error()}}, IsError: true}
			}
		}
		if c.http != nil {
			c.http.audit(&rec)
		}
		rec.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		if aerr := s.audit.Write(rec); aerr != nil {
			s.logf("error: cannot write the audit log %s (%v); withholding the result of %s", s.audit.Path, aerr, rec.Tool)
			te := &ToolError{Kind: vault.KindError, Msg: "the audit log could not be written, so the result is withheld"}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: te.Error()}}, IsError: true}, nil
		}
		return res, err
	}
}

// rawArgs picks the secret and group arguments out of arguments the SDK refused, for the audit line.
func rawArgs(raw json.RawMessage) (secret, group string) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return "", ""
	}
	secret, _ = m["secret"].(string)
	group, _ = m["group"].(string)
	return secret, group
}

// resultText joins the text content of a result.
func resultText(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func ptr[T any](v T) *T { return &v }
