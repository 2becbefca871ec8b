//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"bytes"
	"errors"

	"golang.org/x/sys/unix"
)

// readSecret reads a value typed at the terminal fd without echo. The line ends at Enter or at Ctrl-D
// (one press, as `cat` ends on it; Ctrl-D on an empty line gives an empty value). The terminal's own line
// editing (backspace, Ctrl-U) applies, Ctrl-C interrupts, and the terminal's settings are restored.
// term.ReadPassword, by contrast, needs Ctrl-D twice after a typed value.
func readSecret(fd int) ([]byte, error) {
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	st := *old
	st.Lflag &^= unix.ECHO
	st.Lflag |= unix.ICANON | unix.ISIG
	st.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &st); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old)
	// In canonical mode one read returns one line: up to and including its newline, or, after Ctrl-D,
	// what was typed without one (nothing at all for Ctrl-D on an empty line). The buffer is larger than
	// the terminal's line limit.
	buf := make([]byte, 16384)
	defer clear(buf)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return bytes.Clone(bytes.TrimSuffix(buf[:n], []byte("\n"))), nil
	}
}
