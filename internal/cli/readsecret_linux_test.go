package cli

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the controlling side (what a person types into) and the terminal.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("a pseudo-terminal is needed to test the hidden prompt: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ctl, tty
}

func TestReadSecretEndsOnEnterOrOneCtrlD(t *testing.T) {
	for _, tc := range []struct{ name, typed, want string }{
		{"enter", "s3cret\n", "s3cret"},
		{"ctrl-d after a value", "s3cret\x04", "s3cret"},
		{"ctrl-d on an empty line", "\x04", ""},
		{"backspace edits", "s3cx\x7fret\n", "s3cret"},
		{"carriage return", "s3cret\r", "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl, tty := openPTY(t)
			before, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				v   []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				v, err := readSecret(int(tty.Fd()))
				done <- result{v, err}
			}()
			time.Sleep(100 * time.Millisecond) // let the prompt switch echo off first
			if _, err := ctl.Write([]byte(tc.typed)); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if r.err != nil || string(r.v) != tc.want {
					t.Errorf("readSecret = %q, %v; want %q", r.v, r.err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("readSecret did not return after %q", tc.typed)
			}
			after, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
			if err != nil {
				t.Fatal(err)
			}
			if after.Lflag != before.Lflag || after.Iflag != before.Iflag {
				t.Errorf("terminal settings not restored: lflag %#x -> %#x", before.Lflag, after.Lflag)
			}
			// Nothing typed was echoed back to the terminal's screen.
			fds := []unix.PollFd{{Fd: int32(ctl.Fd()), Events: unix.POLLIN}}
			if n, _ := unix.Poll(fds, 200); n > 0 && fds[0].Revents&unix.POLLIN != 0 {
				echoed := make([]byte, 256)
				n, _ := unix.Read(int(ctl.Fd()), echoed)
				if n > 0 && containsAny(string(echoed[:n]), "s3cret", "ret") {
					t.Errorf("the value was echoed: %q", echoed[:n])
				}
			}
		})
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}
