// Package usage builds the usage errors of the programs over package vault (the CLI, the MCP server,
// the HTTP broker): bad input from a person or a client. They are of kind vault.KindUsage, so that
// vault.KindOf classifies them as it classifies the vault's own errors (exit status 2).
package usage

import (
	"fmt"

	"github.com/agent-vault/agent-vault/vault"
)

// Errorf returns an error of kind vault.KindUsage whose message is that of fmt.Errorf(format, args...);
// a %w operand stays in its chain, for errors.Is and errors.As.
func Errorf(format string, args ...any) error {
	return &vault.Error{Kind: vault.KindUsage, Err: fmt.Errorf(format, args...)}
}
