package vault

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockTimeout bounds how long a mutating command waits for another one to finish.
var lockTimeout = 30 * time.Second

// lock takes the vault's exclusive lock (flock on .agent-vault/.lock) and returns its release function.
func (v *Vault) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(v.Dir, ".lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, wrapErr(KindError, err, "cannot open the vault lock")
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, wrapErr(KindError, err, "cannot lock the vault")
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, newErr(KindError, "another agent-vault command is changing this vault (lock held on %s)", f.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
