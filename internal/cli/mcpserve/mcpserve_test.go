package mcpserve

import (
	"testing"

	"github.com/agent-vault/agent-vault/internal/cli"
	"github.com/agent-vault/agent-vault/internal/mcpserver"
)

// The mcp command's flag defaults are repeated in internal/cli so that agent-vault need not link the
// server; they must stay the server's own.
func TestFlagDefaultsAreTheServers(t *testing.T) {
	if cli.MCPDefaultPullInterval != mcpserver.DefaultPullInterval {
		t.Errorf("cli.MCPDefaultPullInterval = %v, mcpserver.DefaultPullInterval = %v", cli.MCPDefaultPullInterval, mcpserver.DefaultPullInterval)
	}
	if cli.MCPDefaultHTTPTimeout != mcpserver.DefaultHTTPTimeout {
		t.Errorf("cli.MCPDefaultHTTPTimeout = %v, mcpserver.DefaultHTTPTimeout = %v", cli.MCPDefaultHTTPTimeout, mcpserver.DefaultHTTPTimeout)
	}
}
