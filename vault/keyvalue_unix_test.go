//go:build unix

package vault

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeyPathFIFO: a key path that is a FIFO fails at once (it used to block forever in the read).
func TestKeyPathFIFO(t *testing.T) {
	newTestVault(t)
	fifo := filepath.Join(t.TempDir(), "key.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ResolveKey(fifo, quiet); done <- err }()
	select {
	case err := <-done:
		if KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("FIFO key: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO as a key file blocks")
	}
	if _, err := LoadKeyFile("/dev/null", quiet); KindOf(err) != KindVaultNotFound {
		t.Fatalf("device as key file: %v", err)
	}
}
