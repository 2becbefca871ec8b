// Command agent-vault is the zero-trust credential manager for AI agents. See README.md.
//
// It does not link the MCP server: `agent-vault mcp` runs the agent-vault-mcp program installed beside
// it, so that every other command, `get` above all, starts without initialising the MCP SDK and
// net/http (see internal/cli/mcp.go).
package main

import (
	"os"

	"github.com/agent-vault/agent-vault/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], cli.System())) }
