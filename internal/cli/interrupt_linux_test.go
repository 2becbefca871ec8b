package cli

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCtrlCAtThePrompt: a signal while a value is typed without echo ends the command at once (exit 130),
// with the terminal's settings (echo) restored although the read is still blocked.
func TestCtrlCAtThePrompt(t *testing.T) {
	ctl, tty := openPTY(t)
	fd := int(tty.Fd())
	before, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	in, sigs, exits := testInterrupter(t, time.Hour)
	read := make(chan struct{})
	go func() {
		defer close(read)
		done := in.atPrompt(fd)
		defer done()
		readSecret(fd) // blocked until the test types Enter at the end
	}()
	defer func() {
		ctl.Write([]byte("\n"))
		<-read
	}()
	waitFor(t, "echo off", func() bool {
		st, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
		return err == nil && st.Lflag&unix.ECHO == 0
	})
	sigs <- os.Interrupt
	waitFor(t, "the exit", func() bool { return len(exits()) == 1 })
	after, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || exits()[0] != ExitInterrupted {
		t.Errorf("exit %v; lflag %#x, want %#x restored", exits(), after.Lflag, before.Lflag)
	}
}
