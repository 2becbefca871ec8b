//go:build linux

package mcpserver

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHarden runs Harden in a child process (it cannot be undone) and checks there that the process is
// not dumpable and may write no core file.
func TestHarden(t *testing.T) {
	if os.Getenv("AGENT_VAULT_HARDEN_CHILD") == "1" {
		if err := Harden(); err != nil {
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestHarden$", "-test.v")
	cmd.Env = append(os.Environ(), "AGENT_VAULT_HARDEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
