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

func TestPullFFOnly(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)

	// Up to date: nothing to do.
	before := git(t, s.b.Top, "rev-parse", "HEAD")
	if err := s.b.PullFFOnly(bg, 10*time.Second); err != nil {
		t.Fatalf("PullFFOnly (up to date) = %v", err)
	}
	if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != before {
		t.Fatalf("HEAD moved: %s", got)
	}

	// A fast-forward.
	want := commitFile(t, s.a, "secret.enc", "v2\n")
	git(t, s.a.Top, "push", "-q")
	if err := s.b.PullFFOnly(bg, 10*time.Second); err != nil {
		t.Fatalf("PullFFOnly = %v", err)
	}
	if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != want {
		t.Fatalf("HEAD = %s, want %s", got, want)
	}
	if data, err := os.ReadFile(filepath.Join(s.b.Top, "secret.enc")); err != nil || string(data) != "v2\n" {
		t.Fatalf("work tree not updated: %q, %v", data, err)
	}

	// Only ahead of the upstream: nothing to do, like git pull.
	ahead := commitFile(t, s.b, "local.txt", "local\n")
	if err := s.b.PullFFOnly(bg, 10*time.Second); err != nil {
		t.Fatalf("PullFFOnly (ahead) = %v", err)
	}
	if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != ahead {
		t.Fatalf("HEAD = %s, want %s", got, ahead)
	}
}

func TestPullFFOnlyNotFastForward(t *testing.T) {
	t.Parallel()
	s := newRemoteSetup(t)
	commitFile(t, s.a, "remote.txt", "remote\n")
	git(t, s.a.Top, "push", "-q")
	local := commitFile(t, s.b, "local.txt", "local\n")

	err := s.b.PullFFOnly(bg, 10*time.Second)
	if !errors.Is(err, ErrNotFastForward) {
		t.Fatalf("PullFFOnly = %v, want ErrNotFastForward", err)
	}
	t.Logf("non-fast-forward error: %v", err)
	if errors.Is(err, ErrOffline) {
		t.Fatalf("PullFFOnly = %v, also ErrOffline", err)
	}
	if got := git(t, s.b.Top, "rev-parse", "HEAD"); got != local {
		t.Fatalf("HEAD moved to %s", got)
	}
}

func TestPullFFOnlyOffline(t *testing.T) {
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
			err := s.b.PullFFOnly(bg, 10*time.Second)
			if !errors.Is(err, ErrOffline) {
				t.Fatalf("PullFFOnly = %v, want ErrOffline", err)
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

func TestPullFFOnlyNoUpstream(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	commitFile(t, r, "f", "x\n")
	if err := r.PullFFOnly(bg, time.Second); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("PullFFOnly = %v, want ErrNoUpstream", err)
	}
	git(t, r.Top, "checkout", "-q", "--detach")
	if err := r.PullFFOnly(bg, time.Second); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("PullFFOnly (detached) = %v, want ErrNoUpstream", err)
	}
}

// TestPullFFOnlyTimeout uses a remote helper that hangs, and checks that the
// timeout returns ErrOffline promptly and kills the helper's whole process
// group.
func TestPullFFOnlyTimeout(t *testing.T) {
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
	err := s.b.PullFFOnly(bg, 500*time.Millisecond)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrOffline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PullFFOnly = %v, want ErrOffline and DeadlineExceeded", err)
	}
	t.Logf("timeout error after %v: %v", elapsed, err)
	if elapsed > 30*time.Second {
		t.Fatalf("PullFFOnly took %v", elapsed)
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
	if err := s.b.PullFFOnly(ctx, time.Second); !errors.Is(err, context.Canceled) || errors.Is(err, ErrOffline) {
		t.Fatalf("PullFFOnly(cancelled) = %v", err)
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
