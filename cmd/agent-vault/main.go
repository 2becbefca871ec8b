// Command agent-vault is the zero-trust credential manager for AI agents. See README.md.
package main

import (
	"os"

	"github.com/agent-vault/agent-vault/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], cli.System())) }
