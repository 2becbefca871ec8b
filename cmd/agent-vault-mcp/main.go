// Command agent-vault-mcp is the agent-vault MCP server under the command name that existing MCP client
// configurations use. It is the same server, with the same flags, as `agent-vault mcp`, which runs this
// program (installed beside agent-vault) so that the agent-vault binary itself does not carry the MCP
// SDK; see docs/mcp.md.
package main

import (
	"os"

	"github.com/agent-vault/agent-vault/internal/cli"
	"github.com/agent-vault/agent-vault/internal/cli/mcpserve"
)

func main() { os.Exit(mcpserve.Main(os.Args[1:], cli.System())) }
