package mcpserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// ListInput is the arguments of agent_vault_list.
type ListInput struct {
	Group string `json:"group,omitempty" jsonschema:"list only the secrets of this group, e.g. stripe (one segment of letters, digits, '.', '_' or '-'); omit it to list every group"`
}

// ListOutput is the structured result of agent_vault_list. It holds metadata only.
type ListOutput struct {
	VaultID string          `json:"vault_id" jsonschema:"the vault's id"`
	Agent   string          `json:"agent" jsonschema:"the agent whose key this server holds"`
	Group   string          `json:"group,omitempty" jsonschema:"the group asked for; absent when every group was listed"`
	Secrets []SecretListing `json:"secrets" jsonschema:"the secrets this agent can read, sorted by path"`
}

// SecretListing is one secret's verified metadata.
type SecretListing struct {
	Name             string   `json:"name" jsonschema:"the secret's path: the argument of agent_vault_get, or PATH in an agent_vault_http placeholder {{secret:PATH}}"`
	Group            string   `json:"group" jsonschema:"the group the secret belongs to"`
	Created          string   `json:"created" jsonschema:"when the secret was first stored (RFC 3339)"`
	Rotated          string   `json:"rotated" jsonschema:"when its value last changed (RFC 3339)"`
	Expires          string   `json:"expires,omitempty" jsonschema:"when the value expires (RFC 3339); absent when it does not"`
	Expired          bool     `json:"expired" jsonschema:"true when the expiry has passed"`
	AuthorizedAgents []string `json:"authorized_agents" jsonschema:"the agents that can read the secret"`
	AllowHosts       []string `json:"allow_hosts" jsonschema:"the hosts agent_vault_http may send the value to, as the owner signed them; empty means none"`
}

const listDescription = `List the secrets this agent may read, with their verified metadata: path, group, when created and rotated, expiry, the agents that can read each one and the hosts it may be sent to. No value is returned or decrypted.

Use it to find the exact path to pass to agent_vault_get or to write as {{secret:PATH}} in agent_vault_http (which sends a secret only to its allowed hosts). Pass group to list one group only.`

// noRevealListDescription replaces listDescription when agent_vault_get is not offered (NoReveal).
const noRevealListDescription = `List the secrets this agent may use, with their verified metadata: path, group, when created and rotated, expiry, the agents that can read each one and the hosts it may be sent to. No value is returned or decrypted.

Use it to find the exact path to write as {{secret:PATH}} in agent_vault_http, which sends a secret only to its allowed hosts. Pass group to list one group only.`

func (s *Server) addList(srv *mcp.Server) {
	desc := listDescription
	if s.opts.NoReveal {
		desc = noRevealListDescription
	}
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolList,
		Title:       "List readable secrets",
		Description: desc,
		Annotations: &mcp.ToolAnnotations{Title: "List readable secrets", ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)},
	}, s.list)
}

// list returns the metadata of the secrets the key can read, as structured content and as text.
func (s *Server) list(ctx context.Context, _ *mcp.CallToolRequest, in ListInput) (*mcp.CallToolResult, ListOutput, error) {
	return run(ctx, s, func() error {
		callOf(ctx).group = in.Group
		if in.Group != "" {
			if err := vault.CheckSegment(in.Group); err != nil {
				return usage.Errorf("invalid group name: %w", err)
			}
		}
		return nil
	}, func(snap *vault.Snapshot, c *call) (*mcp.CallToolResult, ListOutput, error) {
		secrets, err := snap.List(in.Group)
		if err != nil {
			return nil, ListOutput{}, err
		}
		out := ListOutput{VaultID: snap.Root.VaultID, Agent: snap.Role.Agent, Group: in.Group, Secrets: make([]SecretListing, len(secrets))}
		now := time.Now()
		for i, m := range secrets {
			l := SecretListing{
				Name: m.Name, Group: m.Group,
				Created: m.Created.UTC().Format(time.RFC3339), Rotated: m.Rotated.UTC().Format(time.RFC3339),
				AuthorizedAgents: orEmpty(m.AuthorizedAgents), AllowHosts: orEmpty(m.AllowHosts),
			}
			if m.Expires != nil {
				l.Expires, l.Expired = m.Expires.UTC().Format(time.RFC3339), m.Expires.Before(now)
			}
			out.Secrets[i] = l
		}
		c.count = ptr(len(out.Secrets))
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: listText(out)}}}, out, nil
	})
}

// listText is the readable form of a listing.
func listText(out ListOutput) string {
	var b strings.Builder
	where := "vault " + out.VaultID
	if out.Group != "" {
		where = "group " + out.Group + " of " + where
	}
	if len(out.Secrets) == 0 {
		fmt.Fprintf(&b, "Agent %s can read no secrets in %s.", out.Agent, where)
		return b.String()
	}
	noun := "secrets"
	if len(out.Secrets) == 1 {
		noun = "secret"
	}
	fmt.Fprintf(&b, "Agent %s can read %d %s in %s (use a path as {{secret:PATH}} in agent_vault_http, or with agent_vault_get where it is offered):\n", out.Agent, len(out.Secrets), noun, where)
	for _, l := range out.Secrets {
		fmt.Fprintf(&b, "- %s (group %s; rotated %s", l.Name, l.Group, l.Rotated[:10])
		switch {
		case l.Expired:
			fmt.Fprintf(&b, "; EXPIRED %s", l.Expires[:10])
		case l.Expires != "":
			fmt.Fprintf(&b, "; expires %s", l.Expires[:10])
		}
		if len(l.AllowHosts) > 0 {
			fmt.Fprintf(&b, "; may be sent to %s", strings.Join(l.AllowHosts, ", "))
		} else {
			b.WriteString("; may be sent to no host")
		}
		b.WriteString(")\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
