package gitrepo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// expectedTree is the tree of the work tree as `git add -A` in a throwaway index records it.
func expectedTree(t *testing.T, top string) string {
	t.Helper()
	index := filepath.Join(t.TempDir(), "index")
	cmd := func(args ...string) string {
		c := exec.Command("git", append([]string{"-C", top}, args...)...)
		c.Env = append(os.Environ(), "GIT_INDEX_FILE="+index)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	cmd("add", "-A", ".")
	return cmd("write-tree")
}

// Random sequences of changes, committed one by one: each commit's tree is the one git builds from the
// work tree, whether files are added, changed or removed, directories appear or empty out, at any depth;
// with the trees written as loose objects here, and by `git hash-object` in a shared repository.
func TestSpliceTreeMatchesGit(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared %v", shared), func(t *testing.T) {
			t.Parallel()
			spliceRounds(t, shared)
		})
	}
}

func spliceRounds(t *testing.T, shared bool) {
	r := newRepo(t, true)
	if shared {
		git(t, r.Top, "config", "core.sharedRepository", "group")
		if _, err := r.looseObjectDir(); !errors.Is(err, errLooseUnsupported) {
			t.Fatalf("looseObjectDir in a shared repository = %v, want errLooseUnsupported", err)
		}
	}
	seedVault(t, r.Top)
	if res, err := r.Commit(bg, "init", ".agent-vault"); err != nil || !res.Committed {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	dirs := []string{".agent-vault/secrets/prod", ".agent-vault/secrets/a", ".agent-vault/secrets/a-b",
		".agent-vault/secrets/a/b", ".agent-vault/state/index", ".agent-vault", "top", "top/x.y"}
	var files []string
	for round := range 40 {
		var changed []string
		for range 1 + rng.IntN(6) {
			if len(files) > 0 && rng.IntN(3) == 0 {
				i := rng.IntN(len(files))
				f := files[i]
				files = append(files[:i], files[i+1:]...)
				if err := os.Remove(filepath.Join(r.Top, f)); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				changed = append(changed, f)
				continue
			}
			f := fmt.Sprintf("%s/f%d%s", dirs[rng.IntN(len(dirs))], rng.IntN(8), []string{".enc", ".meta", "", "-"}[rng.IntN(4)])
			writeFile(t, r.Top, f, []byte(fmt.Sprintf("round %d %s\n", round, f)))
			files = append(files, f)
			changed = append(changed, f)
		}
		if _, err := r.Commit(bg, fmt.Sprintf("round %d", round), changed...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got, want := git(t, r.Top, "rev-parse", "HEAD^{tree}"), expectedTree(t, r.Top); got != want {
			t.Fatalf("round %d: HEAD's tree is %s, git builds %s\n%s\n--\n%s", round, got, want, git(t, r.Top, "ls-tree", "-r", "-t", "HEAD"), git(t, r.Top, "ls-tree", "-r", "-t", want))
		}
	}
	if st := git(t, r.Top, "status", "--porcelain"); st != "" {
		t.Errorf("work tree or index differs from HEAD:\n%s", st)
	}
	if out, stderr, err := runGit(t, r.Top, "fsck", "--strict", "--no-dangling"); err != nil {
		t.Errorf("git fsck: %v\n%s%s", err, out, stderr)
	}
}

// What the splice leaves to the index: a file where a directory was, and the reverse (which the index
// refuses in turn: a vault never asks for either).
func TestSpliceTreeLeavesConflictsToTheIndex(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	writeFile(t, r.Top, "a/b", []byte("file in a directory\n"))
	writeFile(t, r.Top, "c", []byte("plain file\n"))
	if _, err := r.Commit(bg, "init", "a", "c"); err != nil {
		t.Fatal(err)
	}
	head := git(t, r.Top, "rev-parse", "HEAD")
	blob := git(t, r.Top, "rev-parse", "HEAD:c")
	for _, entry := range []string{"100644 " + blob + "\ta", "100644 " + blob + "\tc/d"} {
		if _, err := r.spliceTree(bg, head, []string{entry}); !errors.Is(err, errSpliceUnsupported) {
			t.Errorf("spliceTree(%q) = %v, want errSpliceUnsupported", entry, err)
		}
	}
}
