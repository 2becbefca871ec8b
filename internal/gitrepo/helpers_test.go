package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain isolates git from the machine's configuration: a private HOME and
// global config, no system config, and none of the identity or repository
// variables of the environment the tests were started from.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "gitrepo-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := filepath.Join(home, ".gitconfig")
	if err := os.WriteFile(cfg, []byte("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	os.Setenv("GIT_CONFIG_GLOBAL", cfg)
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{
		"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
		"GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "EMAIL",
		"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_SSH", "GIT_SSH_COMMAND",
		"GIT_ASKPASS", "SSH_ASKPASS",
	} {
		os.Unsetenv(k)
	}
	for _, k := range repoLocationEnv {
		os.Unsetenv(k)
	}
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// runGit runs git -C dir args and returns stdout, stderr and the error.
func runGit(t testing.TB, dir string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// git runs git -C dir args, fails the test on error, and returns stdout
// trimmed.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := runGit(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return strings.TrimSpace(out)
}

// newRepo initialises a repository in a fresh directory; identity sets a
// repo-local user.name and user.email.
func newRepo(t *testing.T, identity bool) *Repo {
	t.Helper()
	r, err := Init(filepath.Join(t.TempDir(), "work"))
	if err != nil {
		t.Fatal(err)
	}
	if identity {
		git(t, r.Top, "config", "user.name", "Test User")
		git(t, r.Top, "config", "user.email", "test@example.com")
	}
	return r
}

func writeFile(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// seedVault writes a small plausible vault and returns nothing; its files
// hold no private key material.
func seedVault(t *testing.T, top string) {
	t.Helper()
	s := samples(t)
	writeFile(t, top, ".agent-vault/config.yaml", s.negative("config.yaml"))
	writeFile(t, top, ".agent-vault/owner.pub", s.negative("owner.pub"))
	writeFile(t, top, ".agent-vault/.gitignore", s.negative(".gitignore"))
	writeFile(t, top, ".agent-vault/secrets/prod/db.enc", s.negative("age ciphertext"))
	writeFile(t, top, ".agent-vault/secrets/prod/db.meta", s.negative("meta yaml"))
	writeFile(t, top, ".agent-vault/agents/bot/private.key.escrow", s.negative("escrow"))
}

var bg = context.Background()
