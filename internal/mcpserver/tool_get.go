package mcpserver

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// GetInput is the arguments of agent_vault_get.
type GetInput struct {
	Secret string `json:"secret" jsonschema:"path of the secret to read, as agent_vault_list shows it, e.g. stripe/api-key: 1 to 8 segments of letters, digits, '.', '_' or '-' joined by '/'"`
}

const getDescription = `Read the value of one secret (an API key, token, password) that this agent is granted, after the server has verified the vault owner's signatures and the vault's freshness.

The result's first text block is the exact value and nothing else; a second block is added only to warn that the secret has expired.

The value is a live credential: use it only where the task needs it (a request header, an environment variable of a command, a tool argument). Never repeat, quote, summarise or reveal it to the user, and never write it into files, code, configuration, commits, logs or messages. If the user wants the value, tell them to run: agent-vault get <path>.

Call agent_vault_list first when you do not know the exact path. Errors start with their kind: not_found, not_authorized, integrity, usage.`

func (s *Server) addGet(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolGet,
		Title:       "Read a secret value",
		Description: getDescription,
		Annotations: &mcp.ToolAnnotations{Title: "Read a secret value", ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)},
	}, s.get)
}

// get returns the verified, decrypted value as the only content of the result (a second text block
// warns of expiry). A value that is not UTF-8 cannot travel as MCP text without being altered, so it is
// refused rather than mangled.
func (s *Server) get(ctx context.Context, _ *mcp.CallToolRequest, in GetInput) (*mcp.CallToolResult, any, error) {
	return run(ctx, s, func() error {
		callOf(ctx).secret = in.Secret
		if err := vault.CheckPath(in.Secret); err != nil {
			return usage.Errorf("invalid secret path: %w", err)
		}
		return nil
	}, func(snap *vault.Snapshot, c *call) (*mcp.CallToolResult, any, error) {
		value, err := snap.Get(in.Secret)
		if err != nil {
			return nil, nil, err
		}
		defer clear(value)
		info, err := snap.Info(in.Secret)
		if err != nil {
			return nil, nil, err
		}
		if !utf8.Valid(value) {
			return nil, nil, &vault.Error{Kind: vault.KindError, Msg: fmt.Sprintf(
				"the value of %s is binary (not UTF-8) and cannot be passed as MCP text; the user can read it with 'agent-vault get %s'", in.Secret, in.Secret)}
		}
		res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(value)}}}
		if info.Expires != nil && info.Expires.Before(time.Now()) {
			when := info.Expires.UTC().Format(time.RFC3339)
			s.logf("warning: %s expired on %s", in.Secret, when)
			res.Content = append(res.Content, &mcp.TextContent{Text: fmt.Sprintf(
				"Warning: secret %s expired on %s; it may no longer work. Ask the user to rotate it (agent-vault set %s).", in.Secret, when, in.Secret)})
		}
		return res, nil, nil
	})
}
