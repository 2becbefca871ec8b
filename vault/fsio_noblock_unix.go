//go:build unix

package vault

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading without blocking on a FIFO or a device that waits for a peer.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
