package lockfile

import (
	"os"
	"path/filepath"
	"testing"
)

// A waiter that got the flock of a lock file its holder removed must not count it as the lock: a third
// command would lock the new file at the path, and two would change the vault at once.
func TestTryLockRefusesAFileNoLongerAtThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".lock")
	stale, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if held, err := TryLock(stale, path); held || err != nil {
		t.Fatalf("TryLock of a removed lock file = %v, %v; want false, nil", held, err)
	}
	current, created, err := Open(path)
	if err != nil || !created {
		t.Fatalf("Open after the removal: created %v, %v", created, err)
	}
	defer current.Close()
	if held, err := TryLock(current, path); !held || err != nil {
		t.Fatalf("TryLock of the file at the path = %v, %v; want true, nil", held, err)
	}
	// The stale descriptor's flock was let go: it does not block anyone.
	again, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if held, _ := TryLock(again, path); held {
		t.Fatal("two descriptors hold the lock of the same file")
	}
}
