//go:build !unix

package gitrepo

import "os/exec"

// detachProcess is a no-op where process groups are not available; prompts
// are still suppressed through the environment.
func detachProcess(cmd *exec.Cmd) {}

// terminate ends cmd; without process groups there is no gentler signal.
func terminate(cmd *exec.Cmd, group bool) { kill(cmd, group) }

// kill forcibly ends cmd.
func kill(cmd *exec.Cmd, group bool) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
