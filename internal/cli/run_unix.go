//go:build unix

package cli

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are the signals 'run' passes on to its command.
var forwardedSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
}

// sentByTerminal reports whether sig has most likely reached the command already: a SIGINT or SIGQUIT
// typed at the terminal goes to the terminal's whole foreground process group, which holds the command
// whenever it holds agent-vault. Forwarding it too would deliver it twice. (The cost: a SIGINT sent
// with kill(1) to agent-vault alone, while it runs in the foreground of a terminal, is not passed on;
// SIGTERM always is.)
func sentByTerminal(sig os.Signal) bool {
	if sig != syscall.SIGINT && sig != syscall.SIGQUIT {
		return false
	}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// exitCode is the status a shell reports for a finished process: its exit status, or 128+N when
// signal N killed it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
