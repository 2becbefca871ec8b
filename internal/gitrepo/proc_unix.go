//go:build unix

package gitrepo

import (
	"os/exec"
	"syscall"
)

// detachProcess starts cmd as the leader of a new session: it has no
// controlling terminal (so ssh, credential helpers and git itself cannot
// prompt on one) and its children share its process group, which kill and
// terminate signal as a whole.
func detachProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// terminate asks cmd (and, when detached, its whole process group) to exit.
func terminate(cmd *exec.Cmd, group bool) {
	signal(cmd, group, syscall.SIGTERM)
}

// kill forcibly ends cmd (and, when detached, its whole process group).
func kill(cmd *exec.Cmd, group bool) {
	signal(cmd, group, syscall.SIGKILL)
}

func signal(cmd *exec.Cmd, group bool, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	if group {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
		return
	}
	_ = cmd.Process.Signal(sig)
}
