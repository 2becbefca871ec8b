//go:build unix && !linux

package harden

import (
	"golang.org/x/sys/unix"
)

// Process sets the core-file size limit to zero, so that a crash does not write the key to disk. Other
// systems have no portable equivalent of Linux's PR_SET_DUMPABLE; macOS already forbids debugging of
// processes by unprivileged users without an entitlement, and has no /proc.
func Process() error {
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
}

// HideEnv does nothing: there is no /proc/PID/environ to clear. The caller unsets the variable.
func HideEnv(string) error { return nil }
