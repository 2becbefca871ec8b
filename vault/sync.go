package vault

import (
	"io/fs"
	"os"
	"path/filepath"
)

// syncTreeByFile flushes every file written so far below the vault directory to stable storage where
// there is no syncfs: it fsyncs every staged file (they are all under .pending) and every directory, which
// makes the renames that follow staging durable too.
func syncTreeByFile(dir string) error {
	pend := filepath.Join(dir, pendingDir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		if !d.IsDir() {
			if rel, rerr := filepath.Rel(pend, p); rerr != nil || !filepath.IsLocal(rel) {
				return nil // only staged files are new; the others were flushed when they were staged
			}
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	if err != nil {
		return wrapErr(KindError, err, "cannot flush the vault to disk")
	}
	return nil
}
