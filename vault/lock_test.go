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

// A waiter that got the flock of a lock file its holder removed must not count it as the lock: a third
// command would lock the new file at the path, and two would change the vault at once.
func TestTryLockRefusesAFileNoLongerAtThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".lock")
	stale, _, err := openLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if held, err := tryLock(stale, path); held || err != nil {
		t.Fatalf("tryLock of a removed lock file = %v, %v; want false, nil", held, err)
	}
	current, created, err := openLockFile(path)
	if err != nil || !created {
		t.Fatalf("openLockFile after the removal: created %v, %v", created, err)
	}
	defer current.Close()
	if held, err := tryLock(current, path); !held || err != nil {
		t.Fatalf("tryLock of the file at the path = %v, %v; want true, nil", held, err)
	}
	// The stale descriptor's flock was let go: it does not block anyone.
	again, _, err := openLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if held, _ := tryLock(again, path); held {
		t.Fatal("two descriptors hold the lock of the same file")
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
