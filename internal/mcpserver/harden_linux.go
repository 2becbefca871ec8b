//go:build linux

package mcpserver

import "golang.org/x/sys/unix"

// Harden keeps the key out of reach of other processes of the same user, as far as the process itself
// can: it sets the core-file size limit to zero and clears the dumpable flag (PR_SET_DUMPABLE 0), which
// forbids core dumps and ptrace attachment (and reading /proc/PID/mem) by other unprivileged processes,
// whatever the system's Yama setting. Call it before the key is read. Child processes (git) are not
// affected: execve resets the flag.
func Harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
