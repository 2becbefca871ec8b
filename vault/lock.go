package vault

import (
	"os"
	"path/filepath"
	"time"

	"github.com/agent-vault/agent-vault/vault/internal/lockfile"
)

// lockTimeout bounds how long a mutating command waits for another one to finish.
var lockTimeout = 30 * time.Second

// lock takes the vault's exclusive lock (flock on .agent-vault/.lock) and returns its release function.
//
// The release function removes the lock file again when this call created it and the directory is
// still an unconverted vault of the original agent-vault 0.1 (docs/format.md section 11.2), whose
// .gitignore does not hide it: an owner command refused there, or a migrate that stopped, leaves the
// checkout as it found it. Because a lock file can disappear that way, a waiter that then gets the lock
// of a file no longer at the path lets it go and locks the file now there (see lockfile.TryLock).
func (v *Vault) lock() (func(), error) {
	path := filepath.Join(v.Dir, ".lock")
	deadline := time.Now().Add(lockTimeout)
	for {
		f, created, err := lockfile.Open(path)
		if err != nil {
			return nil, wrapErr(KindError, err, "cannot open the vault lock")
		}
		for {
			held, err := lockfile.TryLock(f, path)
			if err != nil {
				f.Close()
				return nil, wrapErr(KindError, err, "cannot lock the vault")
			}
			if held {
				return func() { v.releaseLock(f, created) }, nil
			}
			if !lockfile.SameFile(f, path) {
				break // removed (and perhaps created again) by its holder: open the file now at path
			}
			if time.Now().After(deadline) {
				f.Close()
				return nil, newErr(KindError, "another agent-vault command is changing this vault (lock held on %s)", path)
			}
			time.Sleep(50 * time.Millisecond)
		}
		f.Close()
	}
}

// releaseLock lets the lock f go. When this command created the lock file and the vault is an
// unconverted original one (nothing was written), the file is removed first, while still locked.
func (v *Vault) releaseLock(f *os.File, created bool) {
	if created && v.IsOriginal() {
		os.Remove(f.Name())
	}
	lockfile.Unlock(f)
	f.Close()
}
