package crash_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringSlowSigning kills an owner command while Git signs its commit, which takes a while (as
// a hardware key or a passphrase prompt does), then runs repair at once. Killing the process alone
// leaves its Git child running; killing the group ends both. Either way, repair must succeed the first
// time, and leave one commit of the change and a clean working tree.
func TestKillDuringSlowSigning(t *testing.T) {
	for _, group := range []bool{false, true} {
		name := "process"
		if group {
			name = "group"
		}
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			u := user{home: filepath.Join(base, "home")}
			top := filepath.Join(base, "vault")
			newVault(t, u, top, "ci")
			u.mustAV(t, top, "old value", "set", "g/a")
			head := strings.TrimSpace(u.mustGit(t, top, "rev-parse", "HEAD"))
			// Commits are signed with an SSH key, through a signing program that takes a second.
			key := filepath.Join(base, "signing")
			if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen: %v: %s", err, out)
			}
			signer := filepath.Join(base, "slow-ssh-keygen")
			if err := os.WriteFile(signer, []byte("#!/bin/sh\nsleep 1\nexec ssh-keygen \"$@\"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, kv := range [][2]string{{"gpg.format", "ssh"}, {"user.signingKey", key}, {"gpg.ssh.program", signer}, {"commit.gpgSign", "true"}} {
				u.mustGit(t, top, "config", kv[0], kv[1])
			}

			cmd := u.command(top, "new value", avBin, "set", "g/a")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pgid := cmd.Process.Pid
			if !waitForProcess(pgid, "sleep", 20*time.Second) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the signing program never ran: %s", errb.String())
			}
			if group {
				syscall.Kill(-pgid, syscall.SIGKILL)
			} else {
				cmd.Process.Signal(syscall.SIGKILL)
			}
			cmd.Wait()
			r := u.av(top, "", "repair")
			if !waitForGroup(pgid, 20*time.Second) {
				t.Fatal("the killed command's processes still run")
			}
			if r.code != 0 {
				r2 := u.av(top, "", "repair")
				t.Fatalf("repair right after the kill (the killed command's Git child still running: %v): %s\n(a second repair, once it ended: %s)", !group, r, r2)
			}
			if r := u.git(top, "status", "--porcelain"); r.code != 0 || r.stdout != "" {
				t.Errorf("git status after repair: %s", r)
			}
			if r := u.git(top, "rev-list", "--count", head+"..HEAD"); strings.TrimSpace(r.stdout) != "1" {
				t.Errorf("commits of the change: %s, want 1", r)
			}
			if locks := gitLocks(top); len(locks) > 0 {
				t.Errorf("Git lock files left: %v", locks)
			}
			if r := u.av(top, "", "check", "--no-pull"); r.code != 0 {
				t.Errorf("check after repair: %s", r)
			}
			if r := u.av(top, "", "get", "--no-pull", "g/a"); r.code != 0 || r.stdout != "new value" {
				t.Errorf("get after repair: %s", r)
			}
		})
	}
}

// waitForProcess waits until a live process named comm is in process group pgid.
func waitForProcess(pgid int, comm string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		procs, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range procs {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			s := string(data)
			open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || end < open {
				continue
			}
			f := strings.Fields(s[end+1:])
			if s[open+1:end] == comm && len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
				return true
			}
		}
	}
	return false
}
