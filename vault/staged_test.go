package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestStagedRoundTrip(t *testing.T) {
	pend := t.TempDir()
	files := map[string][]byte{"secrets/g/a.enc": []byte("age\n\x00binary\n"), "state/root": []byte("{}"), "empty": {}}
	rels := sortedKeys(files)
	calls := 0
	if err := writeStaged(filepath.Join(pend, stagedData), rels, files, func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	got, err := readStaged(pend)
	if err != nil || calls != len(rels) || len(got) != len(files) {
		t.Fatalf("read %d files, %d calls, %v", len(got), calls, err)
	}
	for rel, want := range files {
		if !bytes.Equal(got[rel], want) {
			t.Errorf("%s = %q, want %q", rel, got[rel], want)
		}
	}
}

func TestReadStagedRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"truncated content": "10 a\nabc",
		"no header newline": "3 a",
		"bad size":          "x a\nabc\n",
		"negative size":     "-1 a\n\n",
		"missing separator": "3 a\nabcd",
		"escaping path":     "1 ../x\na\n",
		"absolute path":     "1 /etc/x\na\n",
		"unclean path":      "1 a/./b\na\n",
	} {
		pend := t.TempDir()
		if err := os.WriteFile(filepath.Join(pend, stagedData), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readStaged(pend); err == nil {
			t.Errorf("%s: read", name)
		}
	}
}

// writeInPlace keeps the inode of a plain file, leaves other hard links with their content, and refuses
// symbolic links and special files.
func TestWriteInPlace(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("old content, longer"), 0o644)
	before, _ := os.Stat(plain)
	if err := writeInPlace(plain, []byte("new")); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(plain)
	if data, _ := os.ReadFile(plain); string(data) != "new" || !os.SameFile(before, after) {
		t.Fatalf("content %q, same inode %v", data, os.SameFile(before, after))
	}

	linked, other := filepath.Join(dir, "linked"), filepath.Join(dir, "backup")
	os.WriteFile(linked, []byte("shared"), 0o644)
	if err := os.Link(linked, other); err != nil {
		t.Fatal(err)
	}
	if err := writeInPlace(linked, []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if a, b := read(t, linked), read(t, other); a != "mine" || b != "shared" {
		t.Fatalf("linked = %q, its other name = %q", a, b)
	}

	if err := writeInPlace(filepath.Join(dir, "new"), []byte("created")); err != nil || read(t, filepath.Join(dir, "new")) != "created" {
		t.Fatalf("new file: %v", err)
	}

	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("elsewhere"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	if err := writeInPlace(link, []byte("x")); KindOf(err) != KindIntegrity || read(t, target) != "elsewhere" {
		t.Fatalf("symbolic link: %v, target %q", err, read(t, target))
	}
	if err := writeInPlace(dir, []byte("x")); err == nil {
		t.Fatal("a directory was written")
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func FuzzReadStaged(f *testing.F) {
	f.Add([]byte("3 secrets/a.enc\nabc\n0 state/root\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pend := t.TempDir()
		if err := os.WriteFile(filepath.Join(pend, stagedData), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readStaged(pend)
		if err != nil {
			return
		}
		for rel := range got {
			if !filepath.IsLocal(rel) {
				t.Fatalf("accepted %q", rel)
			}
		}
	})
}
