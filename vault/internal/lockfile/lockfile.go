// Package lockfile takes exclusive locks on lock files (flock) that their holder may remove: a lock
// counts only while the locked file is still the one at its path.
package lockfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Open opens the lock file at path, creating it (0600) when it is missing; created says whether this
// call created it. A symbolic link at path is refused.
func Open(path string) (f *os.File, created bool, err error) {
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

// TryLock takes the exclusive flock of f without waiting. It reports true only when the lock is held
// and f is still the file at path; a lock taken on a file that its previous holder removed is released
// again (false), since the next command locks the new file at path and two would hold "the" lock.
func TryLock(f *os.File, path string) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if SameFile(f, path) {
		return true, nil
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}

// SameFile reports whether the open file f is the file at path (not a symbolic link to it).
func SameFile(f *os.File, path string) bool {
	open, err1 := f.Stat()
	atPath, err2 := os.Lstat(path)
	return err1 == nil && err2 == nil && os.SameFile(open, atPath)
}

// Unlock lets the flock of f go.
func Unlock(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
