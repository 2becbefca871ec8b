// Command agent-vault-mcp is the agent-vault MCP server under the command name that existing MCP client
// configurations use. It is the same server, with the same flags, as `agent-vault mcp`; see docs/mcp.md.
package main

import (
	"os"

	"github.com/agent-vault/agent-vault/internal/cli"
)

func main() { os.Exit(cli.MCPMain(os.Args[1:], cli.System())) }
