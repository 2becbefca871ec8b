package vault

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// originalDir is a directory holding what makes an unconverted vault of the original agent-vault 0.1:
// its config.yaml and no state/.
func originalDir(t *testing.T) *Vault {
	t.Helper()
	v := New(t.TempDir())
	if err := os.MkdirAll(v.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Dir, configFile), []byte("version: 1\nencryption:\n  format: age\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !v.IsOriginal() {
		t.Fatal("the test directory is not recognised as an original vault")
	}
	return v
}

func mustLock(t *testing.T, v *Vault) func() {
	t.Helper()
	release, err := v.lock()
	if err != nil {
		t.Fatal(err)
	}
	return release
}

func TestLockOnAnOriginalVaultLeavesNoFile(t *testing.T) {
	v := originalDir(t)
	lockPath := filepath.Join(v.Dir, ".lock")
	release := mustLock(t, v)
	if _, err := os.Lstat(lockPath); err != nil {
		t.Fatalf("no lock file while locked: %v", err)
	}
	release()
	if _, err := os.Lstat(lockPath); !os.IsNotExist(err) {
		t.Fatalf("the lock file of a refused command on an original vault stays behind: %v", err)
	}

	// A lock file this command did not create is left as it was.
	if err := os.WriteFile(lockPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)()
	if _, err := os.Lstat(lockPath); err != nil {
		t.Fatalf("a lock file that was there before was removed: %v", err)
	}
}

func TestLockOnAConvertedVaultKeepsItsFile(t *testing.T) {
	tv := newTestVault(t)
	lockPath := filepath.Join(tv.v.Dir, ".lock")
	os.Remove(lockPath)
	mustLock(t, tv.v)()
	if _, err := os.Lstat(lockPath); err != nil {
		t.Fatalf("the lock file of a format 2 vault (ignored by its .gitignore) was removed: %v", err)
	}
}

// The holder of an original vault's lock removes the file as it releases it; a command waiting for it
// meanwhile ends up holding the lock of the file at the path, and a third command waits for that one.
func TestLockWaiterAfterTheFileIsRemovedExcludesOthers(t *testing.T) {
	v := originalDir(t)
	release := mustLock(t, v)
	got := make(chan func())
	go func() {
		r, err := v.lock()
		if err != nil {
			t.Error(err)
			r = func() {}
		}
		got <- r
	}()
	time.Sleep(150 * time.Millisecond) // the waiter has opened the file to be removed
	release()
	second := <-got
	defer second()
	old := lockTimeout
	lockTimeout = 200 * time.Millisecond
	defer func() { lockTimeout = old }()
	if r, err := v.lock(); err == nil {
		r()
		t.Fatal("a third command took the lock while the waiter held it")
	}
}
