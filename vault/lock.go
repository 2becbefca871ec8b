package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockTimeout bounds how long a mutating command waits for another one to finish.
var lockTimeout = 30 * time.Second

// lock takes the vault's exclusive lock (flock on .agent-vault/.lock) and returns its release function.
//
// The release function removes the lock file again when this call created it and the directory is
// still an unconverted vault of the original agent-vault 0.1 (docs/format.md section 11.2), whose
// .gitignore does not hide it: an owner command refused there, or a migrate that stopped, leaves the
// checkout as it found it. Because a lock file can disappear that way, a waiter that then gets the lock
// of a file no longer at the path lets it go and locks the file now there (see tryLock).
func (v *Vault) lock() (func(), error) {
	path := filepath.Join(v.Dir, ".lock")
	deadline := time.Now().Add(lockTimeout)
	for {
		f, created, err := openLockFile(path)
		if err != nil {
			return nil, wrapErr(KindError, err, "cannot open the vault lock")
		}
		for {
			held, err := tryLock(f, path)
			if err != nil {
				f.Close()
				return nil, wrapErr(KindError, err, "cannot lock the vault")
			}
			if held {
				return func() { v.releaseLock(f, created) }, nil
			}
			if !sameFile(f, path) {
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

// openLockFile opens the lock file at path, creating it (0600) when it is missing; created says whether
// this call created it. A symbolic link at path is refused.
func openLockFile(path string) (f *os.File, created bool, err error) {
	for {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			return f, err == nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, false, err // opened, or an error; removed in between: try again
		}
	}
}

// tryLock takes the exclusive flock of f without waiting. It reports true only when the lock is held
// and f is still the file at path; a lock taken on a file that its previous holder removed is released
// again (false), since the next command locks the new file at path and two would hold "the" lock.
func tryLock(f *os.File, path string) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if sameFile(f, path) {
		return true, nil
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}

// sameFile reports whether the open file f is the file at path (not a symbolic link to it).
func sameFile(f *os.File, path string) bool {
	open, err1 := f.Stat()
	atPath, err2 := os.Lstat(path)
	return err1 == nil && err2 == nil && os.SameFile(open, atPath)
}

// releaseLock lets the lock f go. When this command created the lock file and the vault is an
// unconverted original one (nothing was written), the file is removed first, while still locked.
func (v *Vault) releaseLock(f *os.File, created bool) {
	if created && v.IsOriginal() {
		os.Remove(f.Name())
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}
