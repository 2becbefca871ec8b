package mcpserver

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestAuditLogPermissionsWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", filepath.Join(home, "avhome"))
	path, err := DefaultAuditPath("0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "avhome", "audit", "0123abcd.jsonl"); path != want {
		t.Fatalf("DefaultAuditPath = %s, want %s", path, want)
	}
	a, err := OpenAuditLog(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(AuditRecord{Tool: ToolGet, Secret: "a/b", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700, filepath.Dir(filepath.Dir(path)): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
}

func TestAuditLogAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "audit.jsonl")
	for i := 0; i < 2; i++ {
		a, err := OpenAuditLog(path, false)
		if err != nil {
			t.Fatal(err)
		}
		a.Write(AuditRecord{Tool: ToolList, Outcome: "ok"})
		a.Write(AuditRecord{Tool: ToolGet, Secret: strings.Repeat("x", 5000), Outcome: "usage"})
		a.Close()
	}
	recs := auditLines(t, path)
	if len(recs) != 4 {
		t.Fatalf("%d lines, want 4", len(recs))
	}
	if n := len(recs[1].Secret); n > maxAuditArg+len("…") {
		t.Errorf("a long argument was logged with %d bytes", n)
	}
}

func TestAuditLogNarrowsAndRefuses(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.jsonl")
	os.WriteFile(loose, nil, 0o644)
	os.Chmod(loose, 0o644)
	a, err := OpenAuditLog(loose, false)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o600 {
		t.Errorf("an existing log readable by others was left %04o", fi.Mode().Perm())
	}
	link := filepath.Join(dir, "link.jsonl")
	os.Symlink(loose, link)
	if _, err := OpenAuditLog(link, false); err == nil {
		t.Errorf("a symbolic link was accepted as the audit log")
	}
	if _, err := OpenAuditLog(dir, false); err == nil {
		t.Errorf("a directory was accepted as the audit log")
	}
}
