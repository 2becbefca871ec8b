package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func evalSymlinks(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFindAndInit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "plain")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(dir); !errors.Is(err, ErrNotRepo) {
		t.Fatalf("Find(non-repo) = %v, want ErrNotRepo", err)
	}
	if _, err := Find(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Find(missing) = %v, want fs.ErrNotExist", err)
	}

	r, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := evalSymlinks(t, dir); r.Top != want {
		t.Fatalf("Init: Top = %q, want %q", r.Top, want)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r2, err := Find(sub)
	if err != nil || r2.Top != r.Top {
		t.Fatalf("Find(subdir) = %v, %v; want %q", r2, err, r.Top)
	}
	if _, err := Find(filepath.Join(dir, ".git")); !errors.Is(err, ErrNotRepo) {
		t.Fatalf("Find(.git) = %v, want ErrNotRepo", err)
	}

	// Init of an existing repository (from a subdirectory) does not
	// re-initialise it or create a nested one.
	writeFile(t, dir, "f.txt", []byte("x\n"))
	git(t, dir, "add", "f.txt")
	r3, err := Init(sub)
	if err != nil || r3.Top != r.Top {
		t.Fatalf("Init(existing subdir) = %v, %v", r3, err)
	}
	if _, err := os.Stat(filepath.Join(sub, ".git")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Init created a nested repository: %v", err)
	}
	if got := git(t, dir, "diff", "--cached", "--name-only"); got != "f.txt" {
		t.Fatalf("index changed by Init: %q", got)
	}

	// Init creates a missing directory.
	fresh := filepath.Join(t.TempDir(), "new", "vault")
	r4, err := Init(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if want := evalSymlinks(t, fresh); r4.Top != want {
		t.Fatalf("Init(missing dir): Top = %q, want %q", r4.Top, want)
	}
}

// A Repo means its own working tree even when git's repository variables
// point elsewhere (as when agent-vault runs inside a git hook).
func TestIgnoresRepositoryEnvironment(t *testing.T) {
	other := newRepo(t, false)
	r := newRepo(t, true)
	t.Setenv("GIT_DIR", filepath.Join(other.Top, ".git"))
	t.Setenv("GIT_INDEX_FILE", filepath.Join(other.Top, ".git", "index"))
	got, err := Find(r.Top)
	if err != nil || got.Top != r.Top {
		t.Fatalf("Find = %v, %v; want %s", got, err, r.Top)
	}
	writeFile(t, r.Top, ".agent-vault/config.yaml", []byte("format: 1\n"))
	res, err := r.Commit(bg, "init", ".agent-vault")
	if err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	os.Unsetenv("GIT_DIR")
	os.Unsetenv("GIT_INDEX_FILE")
	if got := git(t, r.Top, "rev-parse", "HEAD"); got != res.Hash {
		t.Fatalf("commit landed elsewhere: HEAD=%s, result=%s", got, res.Hash)
	}
}

func TestCommitWithIdentity(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	seedVault(t, r.Top)
	res, err := r.Commit(bg, "agent-vault: init", ".agent-vault")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || res.FallbackIdentity {
		t.Fatalf("result = %+v", res)
	}
	if head := git(t, r.Top, "rev-parse", "HEAD"); res.Hash != head {
		t.Fatalf("Hash = %s, HEAD = %s", res.Hash, head)
	}
	if got := git(t, r.Top, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s"); got != "Test User <test@example.com>|Test User <test@example.com>|agent-vault: init" {
		t.Fatalf("commit = %q", got)
	}
	files := git(t, r.Top, "ls-tree", "-r", "--name-only", "HEAD")
	for _, f := range []string{".agent-vault/config.yaml", ".agent-vault/secrets/prod/db.enc", ".agent-vault/agents/bot/private.key.escrow"} {
		if !strings.Contains(files, f) {
			t.Errorf("%s not committed; tree:\n%s", f, files)
		}
	}
	if st := git(t, r.Top, "status", "--porcelain"); st != "" {
		t.Errorf("work tree not clean after commit:\n%s", st)
	}
}

func TestCommitFallbackIdentity(t *testing.T) {
	t.Parallel()
	r := newRepo(t, false)
	seedVault(t, r.Top)
	res, err := r.Commit(bg, "init", ".agent-vault")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || !res.FallbackIdentity {
		t.Fatalf("result = %+v, want committed with fallback identity", res)
	}
	if got := git(t, r.Top, "log", "-1", "--format=%an <%ae>|%cn <%ce>"); got != "agent-vault <agent-vault@localhost>|agent-vault <agent-vault@localhost>" {
		t.Fatalf("identity = %q", got)
	}
	// The fallback is not written to the user's configuration.
	if _, _, err := runGit(t, r.Top, "config", "--get", "user.name"); err == nil {
		t.Fatal("user.name was configured by Commit")
	}

	// Only the missing part is supplied.
	git(t, r.Top, "config", "user.name", "Alice")
	writeFile(t, r.Top, ".agent-vault/config.yaml", []byte("format: 1\nvault_id: \"2\"\n"))
	res, err = r.Commit(bg, "update", ".agent-vault")
	if err != nil {
		t.Fatal(err)
	}
	if !res.FallbackIdentity {
		t.Fatalf("result = %+v, want FallbackIdentity", res)
	}
	if got := git(t, r.Top, "log", "-1", "--format=%an <%ae>"); got != "Alice <agent-vault@localhost>" {
		t.Fatalf("identity = %q", got)
	}
}

func TestCommitNoop(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	// Nothing at all on an unborn branch.
	res, err := r.Commit(bg, "nothing", ".agent-vault")
	if err != nil || res.Committed {
		t.Fatalf("Commit on empty = %+v, %v", res, err)
	}
	seedVault(t, r.Top)
	first, err := r.Commit(bg, "init", ".agent-vault")
	if err != nil || !first.Committed {
		t.Fatalf("first Commit = %+v, %v", first, err)
	}
	res, err = r.Commit(bg, "again", ".agent-vault")
	if err != nil {
		t.Fatal(err)
	}
	if res.Committed || res.Hash != "" {
		t.Fatalf("second Commit = %+v, want no-op", res)
	}
	if head := git(t, r.Top, "rev-parse", "HEAD"); head != first.Hash {
		t.Fatalf("HEAD moved: %s", head)
	}
}

func TestCommitOnlyGivenPaths(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	seedVault(t, r.Top)
	writeFile(t, r.Top, "app.txt", []byte("v1\n"))
	writeFile(t, r.Top, "notes.txt", []byte("v1\n"))
	git(t, r.Top, "add", "-A")
	git(t, r.Top, "commit", "-q", "-m", "base")

	// The user's own work: one staged change, one unstaged, one untracked.
	writeFile(t, r.Top, "app.txt", []byte("v2 staged\n"))
	git(t, r.Top, "add", "app.txt")
	writeFile(t, r.Top, "notes.txt", []byte("v2 unstaged\n"))
	writeFile(t, r.Top, "untracked.txt", []byte("new\n"))

	// Vault changes: a modification, an addition and a deletion.
	writeFile(t, r.Top, ".agent-vault/config.yaml", []byte("format: 1\nvault_id: \"changed\"\n"))
	writeFile(t, r.Top, ".agent-vault/secrets/prod/api.enc", samples(t).negative("age ciphertext"))
	if err := os.Remove(filepath.Join(r.Top, ".agent-vault/secrets/prod/db.meta")); err != nil {
		t.Fatal(err)
	}

	res, err := r.Commit(bg, "vault change", filepath.Join(r.Top, ".agent-vault"))
	if err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	changed := git(t, r.Top, "diff-tree", "--no-commit-id", "--name-status", "-r", "HEAD")
	want := "M\t.agent-vault/config.yaml\nA\t.agent-vault/secrets/prod/api.enc\nD\t.agent-vault/secrets/prod/db.meta"
	if changed != want {
		t.Fatalf("commit changed:\n%s\nwant:\n%s", changed, want)
	}
	if got := git(t, r.Top, "diff", "--cached", "--name-only"); got != "app.txt" {
		t.Fatalf("staged after Commit = %q, want app.txt still staged", got)
	}
	if got := git(t, r.Top, "show", ":app.txt"); got != "v2 staged" {
		t.Fatalf("staged app.txt = %q", got)
	}
	if got := git(t, r.Top, "status", "--porcelain"); got != "M  app.txt\n M notes.txt\n?? untracked.txt" {
		t.Fatalf("status after Commit:\n%s", got)
	}
}

func TestCommitRefusesPrivateKey(t *testing.T) {
	t.Parallel()
	s := samples(t)
	r := newRepo(t, true)
	seedVault(t, r.Top)
	git(t, r.Top, "add", "-A")
	git(t, r.Top, "commit", "-q", "-m", "base")
	head := git(t, r.Top, "rev-parse", "HEAD")

	// The user staged one version of a vault file and has another in the
	// work tree; a new ciphertext is untracked.
	writeFile(t, r.Top, ".agent-vault/config.yaml", []byte("format: 1\nvault_id: \"staged\"\n"))
	git(t, r.Top, "add", ".agent-vault/config.yaml")
	writeFile(t, r.Top, ".agent-vault/config.yaml", []byte("format: 1\nvault_id: \"worktree\"\n"))
	writeFile(t, r.Top, ".agent-vault/secrets/prod/new.enc", s.negative("age ciphertext"))

	for _, leak := range s.pos {
		t.Run(leak.name, func(t *testing.T) {
			lsBefore := git(t, r.Top, "ls-files", "-s")
			statusBefore := git(t, r.Top, "status", "--porcelain")
			writeFile(t, r.Top, ".agent-vault/agents/bot/notes.txt", leak.data)
			defer os.Remove(filepath.Join(r.Top, ".agent-vault/agents/bot/notes.txt"))

			res, err := r.Commit(bg, "leak", ".agent-vault")
			if err == nil || res.Committed {
				t.Fatalf("Commit = %+v, %v; want refusal", res, err)
			}
			var pk *PrivateKeyError
			if !errors.As(err, &pk) || !errors.Is(err, ErrPrivateKey) {
				t.Fatalf("error %v is not a *PrivateKeyError", err)
			}
			if pk.Path != ".agent-vault/agents/bot/notes.txt" || pk.Kind != leak.kind {
				t.Fatalf("refusal names %q (%s), want the notes file (%s)", pk.Path, pk.Kind, leak.kind)
			}
			msg := err.Error()
			if !strings.Contains(msg, pk.Path) || !strings.Contains(msg, leak.kind) {
				t.Errorf("message %q does not name the file and kind", msg)
			}
			for _, line := range strings.Split(string(leak.data), "\n") {
				if len(line) > 20 && strings.Contains(msg, line) {
					t.Errorf("message contains key material: %q", msg)
				}
			}
			if got := git(t, r.Top, "rev-parse", "HEAD"); got != head {
				t.Fatalf("HEAD moved to %s", got)
			}
			if got := git(t, r.Top, "ls-files", "-s"); got != lsBefore {
				t.Fatalf("index changed:\nbefore:\n%s\nafter:\n%s", lsBefore, got)
			}
			os.Remove(filepath.Join(r.Top, ".agent-vault/agents/bot/notes.txt"))
			if got := git(t, r.Top, "status", "--porcelain"); got != statusBefore {
				t.Fatalf("status changed:\nbefore:\n%s\nafter:\n%s", statusBefore, got)
			}
		})
	}
	if got := git(t, r.Top, "show", ":.agent-vault/config.yaml"); !strings.Contains(got, "staged") {
		t.Fatalf("the user's staged version was lost: %q", got)
	}
}

// Vault commits run no commit hooks: they hold only files that agent-vault
// wrote and scanned itself (see Commit).
func TestCommitRunsNoCommitHooks(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	seedVault(t, r.Top)
	hooks := filepath.Join(r.Top, ".git", "hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(t.TempDir(), "ran")
	for _, h := range []string{"pre-commit", "commit-msg", "post-commit"} {
		hook := "#!/bin/sh\necho " + h + " >>'" + ran + "'\nexit 1\n"
		if err := os.WriteFile(filepath.Join(hooks, h), []byte(hook), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Commit(bg, "init", ".agent-vault")
	if err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	if data, err := os.ReadFile(ran); err == nil {
		t.Fatalf("hooks ran: %s", data)
	}
	if st := git(t, r.Top, "status", "--porcelain"); st != "" {
		t.Errorf("work tree not clean after commit:\n%s", st)
	}
}

func TestCommitArguments(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	if _, err := r.Commit(bg, "msg"); err == nil {
		t.Error("Commit without paths succeeded")
	}
	if _, err := r.Commit(bg, "  ", ".agent-vault"); err == nil {
		t.Error("Commit with an empty message succeeded")
	}
}

// A vault directory removed from both the work tree and the index is still
// committed as a deletion.
func TestCommitRemovedDirectory(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	seedVault(t, r.Top)
	if res, err := r.Commit(bg, "init", ".agent-vault"); err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	git(t, r.Top, "rm", "-r", "-q", "--cached", ".agent-vault")
	if err := os.RemoveAll(filepath.Join(r.Top, ".agent-vault")); err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(bg, "remove", ".agent-vault")
	if err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	if files := git(t, r.Top, "ls-tree", "-r", "--name-only", "HEAD"); files != "" {
		t.Fatalf("files left in HEAD:\n%s", files)
	}
}

// A `git init` killed midway leaves .git/config.lock in a .git that is no
// repository yet; Init clears it and initialises.
func TestInitAfterInterruptedGitInit(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "config.lock"), []byte("[core]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Init(dir)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Top, ".git", "HEAD")); err != nil {
		t.Fatal(err)
	}
}

// With commit.gpgSign set, the commit is signed (here with an SSH key, which
// Git signs with through ssh-keygen).
func TestCommitSignsWhenConfigured(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is needed to test signed commits:", err)
	}
	r := newRepo(t, true)
	key := filepath.Join(t.TempDir(), "signing")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	git(t, r.Top, "config", "gpg.format", "ssh")
	git(t, r.Top, "config", "user.signingKey", key)
	git(t, r.Top, "config", "commit.gpgSign", "true")
	seedVault(t, r.Top)
	if res, err := r.Commit(bg, "init", ".agent-vault"); err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	if raw := git(t, r.Top, "cat-file", "commit", "HEAD"); !strings.Contains(raw, "-----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("commit is not signed:\n%s", raw)
	}
}

// A change of any size adds one pack and a few loose objects (the commit and
// the trees of the directories it changed), leaves no ref of its
// own, and records the exact content in HEAD, the index and the work tree.
func TestCommitWritesOnePack(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	seedVault(t, r.Top)
	if res, err := r.Commit(bg, "init", ".agent-vault"); err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	dir := filepath.Join(r.Top, ".agent-vault", "secrets", "bulk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("s%03d.enc", i)), []byte(fmt.Sprintf("ciphertext %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	looseBefore := countLoose(t, r.Top)
	res, err := r.Commit(bg, "bulk", dir)
	if err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	// The commit, and the trees of /, .agent-vault, .agent-vault/secrets and .agent-vault/secrets/bulk.
	if added := countLoose(t, r.Top) - looseBefore; added > 5 {
		t.Errorf("the commit added %d loose objects, want at most 5", added)
	}
	if refs := git(t, r.Top, "for-each-ref", "refs/agent-vault"); refs != "" {
		t.Errorf("refs left behind: %s", refs)
	}
	if got := git(t, r.Top, "show", "HEAD:.agent-vault/secrets/bulk/s123.enc"); got != "ciphertext 123" {
		t.Errorf("committed content = %q", got)
	}
	if n := len(strings.Fields(git(t, r.Top, "ls-tree", "-r", "--name-only", "HEAD", "--", ".agent-vault/secrets/bulk"))); n != 500 {
		t.Errorf("HEAD holds %d bulk files, want 500", n)
	}
	if st := git(t, r.Top, "status", "--porcelain"); st != "" {
		t.Errorf("work tree or index differs from HEAD:\n%s", st)
	}
	if out, stderr, err := runGit(t, r.Top, "fsck", "--strict", "--no-dangling"); err != nil {
		t.Errorf("git fsck: %v\n%s%s", err, out, stderr)
	}
	if log := git(t, r.Top, "log", "--format=%s"); log != "bulk\ninit" {
		t.Errorf("history = %q", log)
	}
}

// countLoose returns the number of loose objects in the repository.
func countLoose(t *testing.T, top string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(git(t, top, "count-objects", "-v"), "\n") {
		if v, ok := strings.CutPrefix(line, "count: "); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n
}

// A path that fast-import would misread (a leading quote, a newline) is
// committed under its own name.
func TestCommitQuotesPaths(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	names := []string{`"quoted`, "new\nline", `back\slash`, "tab\there", "space here"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(r.Top, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := r.Commit(bg, "odd names", names...); err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	out, _, err := runGit(t, r.Top, "ls-tree", "-z", "--name-only", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tree = %q, want %q", got, want)
	}
}

// Many small commits do not pile up packs: past maxPacks, the small ones are merged.
func TestCommitRollsUpPacks(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	f := filepath.Join(r.Top, "file")
	for i := range maxPacks + 6 {
		if err := os.WriteFile(f, []byte(fmt.Sprint("version ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := r.Commit(bg, fmt.Sprint("change ", i), f); err != nil || !res.Committed {
			t.Fatalf("Commit %d = %+v, %v", i, res, err)
		}
	}
	var packs int
	for _, line := range strings.Split(git(t, r.Top, "count-objects", "-v"), "\n") {
		if v, ok := strings.CutPrefix(line, "packs: "); ok {
			fmt.Sscan(v, &packs)
		}
	}
	if packs > maxPacks {
		t.Errorf("%d packs after %d commits", packs, maxPacks+6)
	}
	if out, stderr, err := runGit(t, r.Top, "fsck", "--strict"); err != nil {
		t.Errorf("git fsck: %v\n%s%s", err, out, stderr)
	}
	if n := strings.Count(git(t, r.Top, "log", "--format=%s"), "\n") + 1; n != maxPacks+6 {
		t.Errorf("history has %d commits", n)
	}
}
