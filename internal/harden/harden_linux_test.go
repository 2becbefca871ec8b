//go:build linux

package harden

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcess runs Process in a child process (it cannot be undone) and checks there that the process is
// not dumpable and may write no core file.
func TestProcess(t *testing.T) {
	if os.Getenv("AGENT_VAULT_HARDEN_CHILD") == "1" {
		if err := Process(); err != nil {
			t.Fatal(err)
		}
		d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil || d != 0 {
			t.Fatalf("PR_GET_DUMPABLE = %d, %v; want 0", d, err)
		}
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 {
			t.Fatalf("RLIMIT_CORE = %+v, %v; want 0", lim, err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "AGENT_VAULT_HARDEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestHideEnv checks, in a child process started with the variable, that HideEnv erases the value
// from /proc/self/environ (what any process of the user, or root, can read) and from the environment.
func TestHideEnv(t *testing.T) {
	const value = "AGE-SECRET-KEY-1SCRUBTESTVALUE0123456789"
	if os.Getenv("AGENT_VAULT_HIDE_CHILD") == "1" {
		before, _ := os.ReadFile("/proc/self/environ")
		if !bytes.Contains(before, []byte(value)) {
			t.Fatal("the test variable is not in /proc/self/environ to begin with")
		}
		if err := HideEnv("AGENT_VAULT_SCRUB_TEST"); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile("/proc/self/environ")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(after, []byte(value)) || bytes.Contains(after, []byte(value[16:])) {
			t.Fatal("the value is still in /proc/self/environ")
		}
		if os.Getenv("AGENT_VAULT_SCRUB_TEST") != value {
			t.Fatal("the process's own copy of the variable was changed")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHideEnv$", "-test.v")
	cmd.Env = append(os.Environ(), "AGENT_VAULT_HIDE_CHILD=1", "AGENT_VAULT_SCRUB_TEST="+value)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
