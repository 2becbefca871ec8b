//go:build !unix

package cli

// execProgram: this system cannot replace the running process, so the program runs as a child.
func execProgram(string, []string, []string) error { return errNoExec }
