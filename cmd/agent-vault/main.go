// Command agent-vault is the zero-trust credential manager for AI agents. See README.md.
//
// It does not link the MCP server: `agent-vault mcp` runs the agent-vault-mcp program installed beside
// it, so that every other command, `get` above all, starts without initialising the MCP SDK and
// net/http (see internal/cli/mcp.go).
package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/agent-vault/agent-vault/internal/cli"
)

func main() {
	// Nothing reads a heap profile of a CLI run, and sampling one unwinds stacks, which pages in the
	// binary's symbol tables: a measurable part of a short command such as get.
	runtime.MemProfileRate = 0
	// One command is a short-lived process: with Go's default the collector runs a dozen times while
	// list parses the index of 10,000 secrets, a fifth of its time. Owner changes, which hold more,
	// set a soft memory limit of their own. A user's GOGC wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(cli.Main(os.Args[1:], cli.System()))
}
