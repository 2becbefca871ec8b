//go:build unix && !linux

package mcpserver

import "golang.org/x/sys/unix"

// Harden sets the core-file size limit to zero, so that a crash does not write the key to disk. Other
// systems have no portable equivalent of Linux's PR_SET_DUMPABLE; macOS already forbids debugging of
// processes by unprivileged users without an entitlement.
func Harden() error {
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
}
