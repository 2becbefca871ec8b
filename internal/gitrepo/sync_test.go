package gitrepo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Dirty never writes the index: a sync or fast-forward killed while it runs (before its commit point)
// leaves no index.lock for the next command's commit to fail on. A plain `git status` would refresh the
// stat data of a file touched since it was staged, rewriting the index under index.lock.
func TestDirtyTakesNoIndexLock(t *testing.T) {
	r := newRepo(t, true)
	writeFile(t, r.Top, "a.txt", []byte("a\n"))
	git(t, r.Top, "add", "a.txt")
	git(t, r.Top, "commit", "-q", "-m", "a")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(r.Top, "a.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(r.Top, ".git", "index")
	before, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	dirty, err := r.Dirty(bg, []string{"a.txt"})
	if err != nil || len(dirty) != 0 {
		t.Fatalf("Dirty: %v %v, want no uncommitted change", dirty, err)
	}
	after, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("Dirty rewrote the index (it took index.lock)")
	}
	// The same status without the setting does rewrite it: the test sees what it checks.
	git(t, r.Top, "status", "--porcelain", "--", "a.txt")
	if again, _ := os.ReadFile(index); bytes.Equal(before, again) {
		t.Fatal("git status did not refresh the index; the test checks nothing")
	}
}
