//go:build !unix

package mcpserver

// Harden does nothing on systems without core-file limits.
func Harden() error { return nil }
