package vault

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncTree flushes every file written so far below the vault directory to stable storage: one syncfs
// for the whole file system, far cheaper than an fsync per file when a grant rewrites thousands of
// secrets.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return wrapErr(KindError, err, "cannot flush the vault to disk")
	}
	return nil
}
