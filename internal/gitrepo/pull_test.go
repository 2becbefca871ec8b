//go:build unix

package gitrepo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agent-vault/agent-vault/vault"
)

// remoteSetup is a bare repository with one commit and two clones of it.
type remoteSetup struct {
	bare string
	a, b *Repo // clones with user identity and origin/main as upstream
}

func newRemoteSetup(t *testing.T) remoteSetup {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "remote.git")
	git(t, root, "init", "-q", "--bare", bare)
	clone := func(name string) *Repo {
		dir := filepath.Join(root, name)
		git(t, root, "clone", "-q", bare, dir)
		git(t, dir, "config", "user.name", "Test "+name)
		git(t, dir, "config", "user.email", name+"@example.com")
		r, err := Find(dir)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := clone("a")
	writeFile(t, a.Top, "README", []byte("hello\n"))
	git(t, a.Top, "add", "README")
	git(t, a.Top, "commit", "-q", "-m", "first")
	git(t, a.Top, "push", "-q", "-u", "origin", "main")
	b := clone("b")
	return remoteSetup{bare: bare, a: a, b: b}
}

func commitFile(t *testing.T, r *Repo, name, content string) string {
	t.Helper()
	writeFile(t, r.Top, name, []byte(content))
	git(t, r.Top, "add", name)
	git(t, r.Top, "commit", "-q", "-m", "change "+name)
	return git(t, r.Top, "rev-parse", "HEAD")
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)
	if up, ok := s.b.Upstream(bg); !ok || up != "origin/main" {
		t.Fatalf("Upstream = %q, %v; want origin/main", up, ok)
	}
	git(t, s.b.Top, "checkout", "-q", "-b", "topic")
	if up, ok := s.b.Upstream(bg); ok {
		t.Fatalf("Upstream of a branch without one = %q, true", up)
	}
	git(t, s.b.Top, "checkout", "-q", "--detach", "main")
	if up, ok := s.b.Upstream(bg); ok {
		t.Fatalf("Upstream with detached HEAD = %q, true", up)
	}
	if up, ok := newRepo(t, true).Upstream(bg); ok {
		t.Fatalf("Upstream of a repository without remote = %q, true", up)
	}
}

// viewFile reads rel below the vault directory of the current pull view of the vault at top.
func viewFile(t *testing.T, top, rel string) (string, bool) {
	t.Helper()
	l, ok := vault.ViewLayoutOf(top)
	if !ok {
		t.Fatalf("no view layout for %s", top)
	}
	c := l.Commit()
	if c == "" {
		return "", false
	}
	data, err := os.ReadFile(filepath.Join(l.Dir(c), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("view %s: %v", c, err)
	}
	return string(data), true
}

// TestPullView: a reader's pull writes the upstream's vault directory into the view and changes nothing
// in the working tree: not HEAD, not the index, not a file outside the vault, not a local edit.
func TestPullView(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)
	commitFile(t, s.a, ".agent-vault/state/root", "v1\n")
	git(t, s.a.Top, "push", "-q")
	git(t, s.b.Top, "pull", "-q", "--ff-only")

	// Up to date: no view.
	if err := s.b.PullView(bg, 10*time.Second, s.b.Top); err != nil {
		t.Fatalf("PullView (up to date) = %v", err)
	}
	if _, ok := viewFile(t, s.b.Top, "state/root"); ok {
		t.Fatal("a view was written although the upstream holds nothing new")
	}

	// The upstream changes the vault and CLAUDE.md; the agent has a local edit of README.
	before := git(t, s.b.Top, "rev-parse", "HEAD")
	writeFile(t, s.a.Top, "CLAUDE.md", []byte("pushed instructions\n"))
	git(t, s.a.Top, "add", "CLAUDE.md")
	want := commitFile(t, s.a, ".agent-vault/state/root", "v2\n")
	git(t, s.a.Top, "push", "-q")
	writeFile(t, s.b.Top, "README", []byte("local edit\n"))
	status := git(t, s.b.Top, "status", "--porcelain")
	if err := s.b.PullView(bg, 10*time.Second, s.b.Top); err != nil {
		t.Fatalf("PullView = %v", err)
	}
	if got, _ := viewFile(t, s.b.Top, "state/root"); got != "v2\n" {
		t.Fatalf("view root = %q, want v2", got)
	}
	l, _ := vault.ViewLayoutOf(s.b.Top)
	if c := l.Commit(); c != want {
		t.Fatalf("view commit = %s, want %s", c, want)
	}
	if _, err := os.Lstat(filepath.Join(l.Views, want, "CLAUDE.md")); err == nil {
		t.Fatal("the view holds a file outside the vault")
	}
	if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != before {
		t.Fatalf("HEAD moved to %s", got)
	}
	if got := git(t, s.b.Top, "status", "--porcelain"); got != status {
		t.Fatalf("git status changed:\n%s\nwas:\n%s", got, status)
	}
	if _, err := os.Lstat(filepath.Join(s.b.Top, "CLAUDE.md")); err == nil {
		t.Fatal("CLAUDE.md reached the working tree")
	}
	if data, _ := os.ReadFile(filepath.Join(s.b.Top, "README")); string(data) != "local edit\n" {
		t.Fatalf("local edit changed: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(s.b.Top, ".agent-vault/state/root")); string(data) != "v1\n" {
		t.Fatalf("working tree's vault changed: %q", data)
	}

	// Only ahead of the upstream (the agent pulled and committed): the view stays as it was.
	git(t, s.b.Top, "checkout", "-q", "README")
	git(t, s.b.Top, "pull", "-q", "--ff-only")
	commitFile(t, s.b, "local.txt", "local\n")
	if err := s.b.PullView(bg, 10*time.Second, s.b.Top); err != nil {
		t.Fatalf("PullView (ahead) = %v", err)
	}
	if c := l.Commit(); c != want {
		t.Fatalf("view commit = %s, want %s", c, want)
	}
}

// TestPullViewDiverged: a branch with local commits still gets the upstream's vault in its view.
func TestPullViewDiverged(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)
	commitFile(t, s.a, ".agent-vault/state/root", "remote\n")
	git(t, s.a.Top, "push", "-q")
	local := commitFile(t, s.b, "local.txt", "local\n")
	if err := s.b.PullView(bg, 10*time.Second, s.b.Top); err != nil {
		t.Fatalf("PullView = %v", err)
	}
	if got, _ := viewFile(t, s.b.Top, "state/root"); got != "remote\n" {
		t.Fatalf("view root = %q", got)
	}
	if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != local {
		t.Fatalf("HEAD moved to %s", got)
	}
}

// TestPullViewNeverMovesBack: an upstream reset to an older commit leaves the newer view current, and
// views older than the previous one are removed.
func TestPullViewNeverMovesBack(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)
	var commits []string
	for _, v := range []string{"v1\n", "v2\n", "v3\n"} {
		commits = append(commits, commitFile(t, s.a, ".agent-vault/state/root", v))
		git(t, s.a.Top, "push", "-q")
		if err := s.b.PullView(bg, 10*time.Second, s.b.Top); err != nil {
			t.Fatalf("PullView = %v", err)
		}
	}
	l, _ := vault.ViewLayoutOf(s.b.Top)
	if _, err := os.Lstat(filepath.Join(l.Views, commits[0])); err == nil {
		t.Fatal("the oldest view was not removed")
	}
	git(t, s.a.Top, "push", "-q", "-f", "origin", commits[1]+":main")
	if err := s.b.PullView(bg, 10*time.Second, s.b.Top); err != nil {
		t.Fatalf("PullView = %v", err)
	}
	if got, _ := viewFile(t, s.b.Top, "state/root"); got != "v3\n" {
		t.Fatalf("view root = %q, want v3", got)
	}
}

// TestPullViewPrefix: a vault below the top of the working tree gets its own directory in the view.
func TestPullViewPrefix(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)
	commitFile(t, s.a, "infra/.agent-vault/state/root", "sub\n")
	commitFile(t, s.a, ".agent-vault/state/root", "top\n")
	git(t, s.a.Top, "push", "-q")
	top := filepath.Join(s.b.Top, "infra")
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.b.PullView(bg, 10*time.Second, top); err != nil {
		t.Fatalf("PullView = %v", err)
	}
	if got, _ := viewFile(t, top, "state/root"); got != "sub\n" {
		t.Fatalf("view root = %q, want sub", got)
	}
}

func TestFetchUpstreamOffline(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]string{
		"missing path":     filepath.Join(t.TempDir(), "gone", "remote.git"),
		"missing file URL": "file:///nonexistent-agent-vault-test/remote.git",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newRemoteSetup(t)
			git(t, s.b.Top, "remote", "set-url", "origin", url)
			head := git(t, s.b.Top, "rev-parse", "HEAD")
			err := s.b.PullView(bg, 10*time.Second, s.b.Top)
			if !errors.Is(err, ErrOffline) {
				t.Fatalf("PullView = %v, want ErrOffline", err)
			}
			t.Logf("offline error: %v", err)
			if !strings.Contains(err.Error(), "fetch") {
				t.Errorf("error %q does not say what failed", err)
			}
			if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != head {
				t.Fatalf("HEAD moved to %s", got)
			}
		})
	}
}

func TestFetchUpstreamNoUpstream(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	commitFile(t, r, "f", "x\n")
	if err := r.PullView(bg, time.Second, r.Top); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("PullView = %v, want ErrNoUpstream", err)
	}
	git(t, r.Top, "checkout", "-q", "--detach")
	if err := r.PullView(bg, time.Second, r.Top); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("PullView (detached) = %v, want ErrNoUpstream", err)
	}
}

// TestFetchUpstreamTimeout uses a remote helper that hangs, and checks that the
// timeout returns ErrOffline promptly and kills the helper's whole process
// group.
func TestFetchUpstreamTimeout(t *testing.T) {
	s := newRemoteSetup(t)
	bin := t.TempDir()
	pidFile := filepath.Join(bin, "sleep.pid")
	helper := "#!/bin/sh\necho $$ > '" + pidFile + "'\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "git-remote-hang"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	git(t, s.b.Top, "remote", "set-url", "origin", "hang::somewhere")

	start := time.Now()
	err := s.b.PullView(bg, 500*time.Millisecond, s.b.Top)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrOffline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PullView = %v, want ErrOffline and DeadlineExceeded", err)
	}
	t.Logf("timeout error after %v: %v", elapsed, err)
	if elapsed > 30*time.Second {
		t.Fatalf("PullView took %v", elapsed)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the remote helper never ran: %v", err)
	}
	if runtime.GOOS == "linux" {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if alive(pid) {
			t.Fatalf("remote helper (pid %d) still running after the timeout", pid)
		}
	}

	// A cancelled context is reported as such, not as ErrOffline.
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := s.b.PullView(ctx, time.Second, s.b.Top); !errors.Is(err, context.Canceled) || errors.Is(err, ErrOffline) {
		t.Fatalf("PullView(cancelled) = %v", err)
	}
}

// alive reports whether pid is a live (not zombie) process, on Linux.
func alive(pid int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		// The state follows the parenthesised command name.
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X') {
			return false
		}
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
}
