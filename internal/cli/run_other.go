//go:build !unix

package cli

import "os"

// forwardedSignals are the signals 'run' passes on to its command.
var forwardedSignals = []os.Signal{os.Interrupt}

// sentByTerminal: without process groups to consult, every signal is forwarded.
func sentByTerminal(os.Signal) bool { return false }

// exitCode is the command's exit status.
func exitCode(ps *os.ProcessState) int { return ps.ExitCode() }
