//go:build unix

package gitrepo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tryCommit stages files and runs a real `git commit`, returning its stderr
// and whether it succeeded; on failure the files are unstaged and removed.
func tryCommit(t *testing.T, r *Repo, files map[string][]byte) (string, bool) {
	t.Helper()
	var names []string
	for name, data := range files {
		writeFile(t, r.Top, name, data)
		names = append(names, name)
	}
	git(t, r.Top, append([]string{"add", "--"}, names...)...)
	_, stderr, err := runGit(t, r.Top, "commit", "-q", "-m", "test")
	if err != nil {
		git(t, r.Top, append([]string{"rm", "-q", "--cached", "--"}, names...)...)
		for _, name := range names {
			os.Remove(filepath.Join(r.Top, name))
		}
	}
	return stderr, err == nil
}

func TestInstallPreCommitHookFresh(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	path, err := r.InstallPreCommitHook()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(r.Top, ".git", "hooks", "pre-commit"); path != want {
		t.Fatalf("hook path = %s, want %s", path, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("hook mode = %v, want 0755", fi.Mode().Perm())
	}
	content := readFile(t, path)
	if !bytes.HasPrefix(content, []byte("#!/bin/sh\n")) || !isOurHook(content) {
		t.Fatalf("hook content:\n%s", content)
	}
	if _, ok := tryCommit(t, r, map[string][]byte{"README": []byte("hello\n")}); !ok {
		t.Fatal("clean commit blocked")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ChainedHookName) || strings.HasPrefix(e.Name(), ".pre-commit") {
			t.Errorf("unexpected file %s in hooks dir", e.Name())
		}
	}
}

func TestInstallPreCommitHookIdempotent(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	p1, err := r.InstallPreCommitHook()
	if err != nil {
		t.Fatal(err)
	}
	first := readFile(t, p1)
	if err := os.Chmod(p1, 0o644); err != nil { // someone lost the x bit
		t.Fatal(err)
	}
	p2, err := r.InstallPreCommitHook()
	if err != nil || p2 != p1 {
		t.Fatalf("second install = %s, %v", p2, err)
	}
	if !bytes.Equal(readFile(t, p2), first) {
		t.Fatal("second install changed the hook")
	}
	if fi, _ := os.Stat(p2); fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode after reinstall = %v", fi.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(p1), ChainedHookName)); !os.IsNotExist(err) {
		t.Fatalf("reinstall chained our own hook: %v", err)
	}
}

func TestInstallPreCommitHookChains(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	hooks := filepath.Join(r.Top, ".git", "hooks")
	ran := filepath.Join(t.TempDir(), "ran")
	existing := "#!/bin/sh\necho run >> '" + ran + "'\nexit 0\n"
	writeFile(t, hooks, "pre-commit", []byte(existing))
	os.Chmod(filepath.Join(hooks, "pre-commit"), 0o755)

	path, err := r.InstallPreCommitHook()
	if err != nil {
		t.Fatal(err)
	}
	chained := filepath.Join(hooks, ChainedHookName)
	if got := string(readFile(t, chained)); got != existing {
		t.Fatalf("chained hook = %q, want the original", got)
	}
	if !isOurHook(readFile(t, path)) {
		t.Fatal("pre-commit is not ours")
	}

	// Both run on a clean commit.
	if stderr, ok := tryCommit(t, r, map[string][]byte{"a.txt": []byte("a\n")}); !ok {
		t.Fatalf("clean commit blocked: %s", stderr)
	}
	if got := string(readFile(t, ran)); got != "run\n" {
		t.Fatalf("chained hook ran %q times", got)
	}

	// Our check still blocks.
	leak := samples(t).pos[0]
	if stderr, ok := tryCommit(t, r, map[string][]byte{"leak.txt": leak.data}); ok || !strings.Contains(stderr, "leak.txt") {
		t.Fatalf("key commit not blocked (ok=%v): %s", ok, stderr)
	}

	// The chained hook's failure fails the commit, with its status passed
	// through.
	writeFile(t, hooks, ChainedHookName, []byte("#!/bin/sh\necho 'chained says no' >&2\nexit 3\n"))
	if stderr, ok := tryCommit(t, r, map[string][]byte{"b.txt": []byte("b\n")}); ok || !strings.Contains(stderr, "chained says no") {
		t.Fatalf("chained hook failure ignored (ok=%v): %s", ok, stderr)
	}

	// Reinstalling neither chains our own hook nor loses the chained one.
	if _, err := r.InstallPreCommitHook(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(chained + ".2"); !os.IsNotExist(err) {
		t.Fatalf("reinstall chained again: %v", err)
	}

	// A foreign hook written over ours later is chained under a new name,
	// and the first chained hook is kept.
	writeFile(t, hooks, "pre-commit", []byte("#!/bin/sh\nexit 0\n"))
	if _, err := r.InstallPreCommitHook(); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, chained+".2")); got != "#!/bin/sh\nexit 0\n" {
		t.Fatalf("second foreign hook = %q", got)
	}
	if !strings.Contains(string(readFile(t, path)), ChainedHookName+".2") {
		t.Fatal("hook does not run the newly chained hook")
	}
	if !strings.Contains(string(readFile(t, chained)), "chained says no") {
		t.Fatal("first chained hook lost")
	}
}

func TestInstallPreCommitHookHonoursHooksPath(t *testing.T) {
	t.Parallel()
	t.Run("relative", func(t *testing.T) {
		t.Parallel()
		r := newRepo(t, true)
		git(t, r.Top, "config", "core.hooksPath", ".githooks")
		path, err := r.InstallPreCommitHook()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(r.Top, ".githooks", "pre-commit"); path != want {
			t.Fatalf("hook path = %s, want %s", path, want)
		}
		if _, err := os.Lstat(filepath.Join(r.Top, ".git", "hooks", "pre-commit")); !os.IsNotExist(err) {
			t.Fatalf("hook also written to .git/hooks: %v", err)
		}
		if _, ok := tryCommit(t, r, map[string][]byte{"k.pem": samples(t).pos[0].data}); ok {
			t.Fatal("hook in core.hooksPath did not block the key")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		t.Parallel()
		r := newRepo(t, true)
		dir := filepath.Join(t.TempDir(), "shared-hooks")
		git(t, r.Top, "config", "core.hooksPath", dir)
		path, err := r.InstallPreCommitHook()
		if err != nil {
			t.Fatal(err)
		}
		if path != filepath.Join(dir, "pre-commit") {
			t.Fatalf("hook path = %s, want it in %s", path, dir)
		}
		if _, ok := tryCommit(t, r, map[string][]byte{"k.pem": samples(t).pos[0].data}); ok {
			t.Fatal("hook in core.hooksPath did not block the key")
		}
	})
}

// TestPreCommitHookBlocksEveryKind runs real `git commit`s through the
// installed hook.
func TestPreCommitHookBlocksEveryKind(t *testing.T) {
	t.Parallel()
	s := samples(t)
	r := newRepo(t, true)
	if _, err := r.InstallPreCommitHook(); err != nil {
		t.Fatal(err)
	}
	// The first commits on an unborn branch go through the hook too.
	for _, x := range s.pos {
		t.Run(x.name, func(t *testing.T) {
			name := "keys/" + strings.NewReplacer(" ", "_", "#", "", "/", "_").Replace(x.name) + ".txt"
			stderr, ok := tryCommit(t, r, map[string][]byte{name: x.data})
			if ok {
				t.Fatal("commit was not blocked")
			}
			if !strings.Contains(stderr, name) || !strings.Contains(stderr, "("+x.kind+")") {
				t.Fatalf("message does not name %s and %s:\n%s", name, x.kind, stderr)
			}
		})
	}
	t.Run("awkward file names", func(t *testing.T) {
		for _, name := range []string{"with space.txt", "-dash.txt", "new\nline.txt", "0:colon.txt", "ünï.txt"} {
			stderr, ok := tryCommit(t, r, map[string][]byte{
				"fine.txt": []byte("fine\n"),
				name:       s.pos[0].data,
			})
			if ok {
				t.Fatalf("commit of %q was not blocked", name)
			}
			if !strings.Contains(stderr, "agent-vault: "+name+" contains private key material") || strings.Contains(stderr, "fine.txt") {
				t.Fatalf("unexpected message for %q:\n%s", name, stderr)
			}
		}
	})
	t.Run("allowed", func(t *testing.T) {
		files := map[string][]byte{
			".agent-vault/secrets/prod/db.enc":            s.negative("age ciphertext"),
			".agent-vault/secrets/prod/db.meta":           s.negative("meta yaml"),
			".agent-vault/agents/bot/private.key.escrow":  s.negative("escrow"),
			".agent-vault/owner.pub":                      s.negative("owner.pub"),
			".agent-vault/config.yaml":                    s.negative("config.yaml"),
			".agent-vault/state/groups/prod.json":         s.negative("group index json"),
			".agent-vault/secrets/prod/armored.enc":       s.negative("armored age ciphertext of a key file"),
			".agent-vault/secrets/prod/noise.bin":         s.negative("random binary"),
			"docs/keys.md":                                s.negative("docs mentioning key prefixes"),
			".agent-vault/.gitignore":                     s.negative(".gitignore"),
			"deploy/id_ed25519.pub":                       s.negative("ssh-ed25519 public key"),
			".agent-vault/secrets/prod/pq.enc":            s.negative("age ciphertext to a hybrid recipient"),
			".agent-vault/secrets/prod/pathological.blob": s.negative("repeated prefixes"),
		}
		if stderr, ok := tryCommit(t, r, files); !ok {
			t.Fatalf("commit of vault files blocked:\n%s", stderr)
		}
		// Deleting and renaming files is fine too.
		git(t, r.Top, "rm", "-q", "docs/keys.md")
		git(t, r.Top, "mv", ".agent-vault/secrets/prod/db.meta", ".agent-vault/secrets/prod/db2.meta")
		if _, stderr, err := runGit(t, r.Top, "commit", "-q", "-m", "mv"); err != nil {
			t.Fatalf("rename commit blocked: %s", stderr)
		}
	})
	t.Run("through Commit", func(t *testing.T) {
		writeFile(t, r.Top, ".agent-vault/secrets/prod/x.enc", s.negative("age ciphertext"))
		res, err := r.Commit(bg, "via Commit", ".agent-vault")
		if err != nil || !res.Committed {
			t.Fatalf("Commit with the hook installed = %+v, %v", res, err)
		}
	})
}

func TestCleanStderrRedactsURLCredentials(t *testing.T) {
	t.Parallel()
	in := "fatal: unable to access 'https://alice:s3cr3t-token@example.com/repo.git/': Could not resolve host\n" +
		"fatal: repository 'https://ghp_abcdef@github.com/x/y' not found\n"
	got := cleanStderr([]byte(in))
	for _, secret := range []string{"s3cr3t-token", "ghp_abcdef", "alice"} {
		if strings.Contains(got, secret) {
			t.Errorf("cleanStderr kept %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, "https://<redacted>@example.com/repo.git/") {
		t.Errorf("cleanStderr = %q", got)
	}
	long := strings.Repeat("x", 10*maxStderr) + "fatal: the end"
	if got := cleanStderr([]byte(long)); len(got) > maxStderr+10 || !strings.HasSuffix(got, "fatal: the end") {
		t.Errorf("long stderr not trimmed to its tail: %d bytes", len(got))
	}
}
