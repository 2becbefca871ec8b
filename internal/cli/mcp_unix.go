//go:build unix

package cli

import "syscall"

// execProgram replaces the running process with program; it returns only when that fails.
func execProgram(program string, argv, env []string) error { return syscall.Exec(program, argv, env) }
