//go:build unix

package fsutil

import (
	"os"
	"syscall"
)

// OpenNoBlock opens path for reading without blocking on a FIFO or a device that waits for a peer.
func OpenNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
