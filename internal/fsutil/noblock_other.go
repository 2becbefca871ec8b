//go:build !unix

package fsutil

import "os"

// OpenNoBlock opens path for reading.
func OpenNoBlock(path string) (*os.File, error) { return os.Open(path) }
