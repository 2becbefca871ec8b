package mcpserver

import "github.com/agent-vault/agent-vault/internal/harden"

// Harden keeps the key out of reach of other processes of the same user as far as the process itself
// can (see harden.Process). Call it before the key is read.
func Harden() error { return harden.Process() }
