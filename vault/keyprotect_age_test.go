//go:build linux

package vault

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"
)

// runAgeOnTerminal runs the stock age CLI with a pseudo-terminal as its controlling terminal (age reads
// passphrases only from the terminal) and types pass at every passphrase prompt. It returns stdout.
func runAgeOnTerminal(t *testing.T, pass string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("age"); err != nil {
		t.Skip("the age CLI is not installed")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no pseudo-terminals:", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skip("cannot unlock the pseudo-terminal:", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skip("cannot name the pseudo-terminal:", err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skip("cannot open the pseudo-terminal:", err)
	}
	defer pts.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("age", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // type the passphrase at each prompt age writes to the terminal
		defer wg.Done()
		var seen strings.Builder
		buf := make([]byte, 256)
		answered := 0
		for {
			k, err := ptmx.Read(buf)
			if err != nil {
				return
			}
			seen.Write(buf[:k])
			for strings.Count(strings.ToLower(seen.String()), "passphrase") > answered {
				answered++
				ptmx.Write([]byte(pass + "\n"))
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("age did not finish")
	}
	pts.Close()
	ptmx.Close()
	wg.Wait()
	if err != nil {
		t.Fatalf("age %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// A key file protected by agent-vault is read by `age -d -i`, given the passphrase at the terminal.
func TestProtectedKeyReadByStockAge(t *testing.T) {
	withPassphrase(t, "")
	dir := t.TempDir()
	plain, _ := NewOwnerKeyFile()
	k := mustKey(t, plain)
	p := writeKey(t, dir, plain)
	if err := ProtectKeyFile(p, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	rc, _ := parseRecipient(k.Recipient, quiet)
	enc, err := encrypt([]byte("sk_live_interop"), []age.Recipient{rc})
	if err != nil {
		t.Fatal(err)
	}
	encPath := filepath.Join(dir, "value.age")
	os.WriteFile(encPath, enc, 0o600)
	if out := runAgeOnTerminal(t, "correct horse", "-d", "-i", p, encPath); string(out) != "sk_live_interop" {
		t.Fatalf("age decrypted %q", out)
	}
}

// A key file protected with `age -p` (armored and binary) is read by agent-vault.
func TestKeyProtectedByStockAge(t *testing.T) {
	if testing.Short() {
		t.Skip("age -p tunes scrypt to about a second per use")
	}
	for _, armor := range []bool{true, false} {
		withPassphrase(t, "")
		dir := t.TempDir()
		plain, _ := NewOwnerKeyFile()
		src := filepath.Join(dir, "plain.key")
		os.WriteFile(src, plain, 0o600)
		out := filepath.Join(dir, "protected.key")
		args := []string{"-p", "-o", out, src}
		if armor {
			args = append([]string{"-a"}, args...)
		}
		runAgeOnTerminal(t, "correct horse", args...)
		os.Chmod(out, 0o600)
		pw, _ := withPassphrase(t, "correct horse")
		k, err := LoadKeyFile(out, pw)
		if err != nil {
			t.Fatalf("armor %v: %v", armor, err)
		}
		if !k.Protected || k.Recipient != mustKey(t, plain).Recipient {
			t.Fatalf("armor %v: loaded %+v", armor, k)
		}
		if err := UnprotectKeyFile(out, []byte("correct horse")); err != nil {
			t.Fatal(err)
		}
		if back, _ := os.ReadFile(out); !bytes.Equal(back, plain) {
			t.Fatal("unprotect of an age -p file did not give the key file back")
		}
	}
}
