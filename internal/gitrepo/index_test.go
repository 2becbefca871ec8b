package gitrepo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// indexFilesOf returns files as Commit would hand them to writeIndex: the blob of each existing file
// (written to the repository) with its status, or a removal.
func indexFilesOf(t *testing.T, top string, files []string) []indexFile {
	t.Helper()
	var out []indexFile
	for _, f := range files {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(top, f), &st); err != nil {
			out = append(out, indexFile{path: f})
			continue
		}
		oid, err := hex.DecodeString(git(t, top, "hash-object", "-w", "--", f))
		if err != nil {
			t.Fatal(err)
		}
		mode := uint32(0o100644)
		if st.Mode&0o111 != 0 {
			mode = 0o100755
		}
		out = append(out, indexFile{path: f, mode: mode, oid: oid, stat: statOf(&st)})
	}
	return out
}

// backdate sets the modification time of every file under top (outside .git) to old, so that no index
// entry is racily clean and Git's index and writeIndex's can be compared byte for byte. Each round takes
// another second: Git compares times to the second, and would take a file rewritten in place, with the
// same size, in the same second, for unchanged.
func backdate(t *testing.T, top string, old time.Time) {
	t.Helper()
	filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() && fi.Name() == ".git" {
			return filepath.SkipDir
		}
		if !fi.IsDir() {
			return os.Chtimes(p, old, old)
		}
		return nil
	})
}

// Random changes (files added, changed, made executable, removed, at every depth, in an index with a
// cache tree and in one without): writeIndex writes exactly the index `git update-index --add --remove`
// writes for the same files.
func TestIndexMatchesGit(t *testing.T) {
	t.Parallel()
	for _, withTree := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache tree %v", withTree), func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, true)
			dirs := []string{"a", "a/b", "a-b", "a.b", "c/d/e", ".agent-vault/secrets/prod", ""}
			rng := rand.New(rand.NewPCG(3, 5))
			var files []string
			for i := range 60 {
				f := strings.TrimPrefix(fmt.Sprintf("%s/f%02d", dirs[rng.IntN(len(dirs))], i), "/")
				writeFile(t, r.Top, f, []byte("first "+f))
				files = append(files, f)
			}
			git(t, r.Top, "add", "-A")
			git(t, r.Top, "commit", "-q", "-m", "first")
			indexPath := filepath.Join(r.Top, ".git", "index")
			for round := range 25 {
				var changed []string
				for range 1 + rng.IntN(5) {
					switch f := files[rng.IntN(len(files))]; rng.IntN(4) {
					case 0:
						os.Remove(filepath.Join(r.Top, f))
						changed = append(changed, f)
					case 1:
						os.Chmod(filepath.Join(r.Top, f), 0o755)
						changed = append(changed, f)
					default:
						writeFile(t, r.Top, f, []byte(fmt.Sprintf("round %d %s", round, f)))
						changed = append(changed, f)
					}
				}
				nf := fmt.Sprintf("%s/new%02d", dirs[rng.IntN(len(dirs)-1)], round)
				writeFile(t, r.Top, nf, []byte("new")) // in files from the end of the round (tracked)
				changed = uniqueSorted(append(changed, nf))
				backdate(t, r.Top, time.Now().Add(-time.Hour+time.Duration(round)*time.Second))
				if !withTree {
					dropCacheTree(t, r.Top)
				}
				runGit(t, r.Top, "update-index", "--refresh", "-q") // an index younger than every file; 1 when some changed
				before, err := os.ReadFile(indexPath)
				if err != nil {
					t.Fatal(err)
				}
				if withTree != bytes.Contains(before, []byte("TREE")) {
					t.Fatalf("round %d: the index has a cache tree: %v", round, !withTree)
				}
				beforeInfo, _ := os.Stat(indexPath)
				idx := indexFilesOf(t, r.Top, changed)
				git(t, r.Top, append([]string{"update-index", "--add", "--remove", "--"}, changed...)...)
				want, _ := os.ReadFile(indexPath)

				if err := os.WriteFile(indexPath, before, 0o644); err != nil {
					t.Fatal(err)
				}
				os.Chtimes(indexPath, beforeInfo.ModTime(), beforeInfo.ModTime())
				if err := writeIndex(filepath.Join(r.Top, ".git"), idx); err != nil {
					t.Fatalf("round %d: writeIndex: %v", round, err)
				}
				got, _ := os.ReadFile(indexPath)
				if !bytes.Equal(got, want) {
					t.Fatalf("round %d (%v): the index differs from git's (%d bytes, git's %d)", round, changed,
						len(got), len(want))
				}
				if _, err := os.Stat(indexPath + ".lock"); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("round %d: index.lock left behind", round)
				}
				git(t, r.Top, "add", "-A")
				git(t, r.Top, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("round %d", round))
				files = tracked(t, r.Top)
			}
		})
	}
}

func uniqueSorted(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func tracked(t *testing.T, top string) []string {
	return strings.Fields(git(t, top, "ls-files"))
}

// dropCacheTree rebuilds the index from the same entries without a cache tree.
func dropCacheTree(t *testing.T, top string) {
	t.Helper()
	files := tracked(t, top)
	os.Remove(filepath.Join(top, ".git", "index"))
	git(t, top, append([]string{"update-index", "--add", "--remove", "--"}, files...)...)
}

// indexEntryStat returns the modification time (seconds) and size the index records for path.
func indexEntryStat(t *testing.T, top, path string) (mtime, size string) {
	t.Helper()
	out := git(t, top, "ls-files", "--debug", "--", path)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "mtime: "); ok {
			mtime, _, _ = strings.Cut(v, ":")
		}
		if v, ok := strings.CutPrefix(line, "size: "); ok {
			size, _, _ = strings.Cut(v, "\t")
		}
	}
	return mtime, size
}

// An entry whose file was changed in the second its index was written (same size, same inode, and ctime
// not trusted) keeps stat data that match the file: Git compares such racily clean entries by content.
// Once writeIndex has written a younger index Git would no longer, so writeIndex smudges the entry (its
// size set to 0) when the content differs, as Git does, and leaves it when it does not.
func TestIndexSmudgesRacyEntries(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	git(t, r.Top, "config", "core.trustctime", "false")
	when := time.Now().Add(-time.Minute).Truncate(time.Second)
	for _, f := range []string{"changed", "unchanged"} {
		writeFile(t, r.Top, f, []byte("aaaa"))
		os.Chtimes(filepath.Join(r.Top, f), when, when)
	}
	git(t, r.Top, "add", "-A")
	git(t, r.Top, "commit", "-q", "-m", "first")
	writeFile(t, r.Top, "changed", []byte("bbbb"))
	os.Chtimes(filepath.Join(r.Top, "changed"), when, when)
	indexPath := filepath.Join(r.Top, ".git", "index")
	os.Chtimes(indexPath, when, when) // the index written in the files' second: both entries racy
	// GIT_OPTIONAL_LOCKS=0: this git status must not write the index (and smudge the entry itself).
	status := exec.Command("git", "-C", r.Top, "status", "--porcelain", "--untracked-files=no")
	status.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	if out, err := status.Output(); err != nil || strings.TrimSpace(string(out)) != "M changed" {
		t.Fatalf("before: git status = %q, %v; want the racy change seen", out, err)
	}
	if _, size := indexEntryStat(t, r.Top, "changed"); size != "4" {
		t.Fatalf("before: the changed racy entry has size %s, want 4 (not yet smudged)", size)
	}
	writeFile(t, r.Top, "other", []byte("new"))
	if err := writeIndex(filepath.Join(r.Top, ".git"), indexFilesOf(t, r.Top, []string{"other"})); err != nil {
		t.Fatal(err)
	}
	if _, size := indexEntryStat(t, r.Top, "changed"); size != "0" {
		t.Errorf("the changed racy entry has size %s, want 0 (smudged)", size)
	}
	if _, size := indexEntryStat(t, r.Top, "unchanged"); size != "4" {
		t.Errorf("the unchanged racy entry has size %s, want 4 (left as it was)", size)
	}
	if out := git(t, r.Top, "status", "--porcelain", "--untracked-files=no"); out != "M changed\nA  other" {
		t.Fatalf("after: git status = %q, want the racy change still seen and other staged", out)
	}
}

// Every index form and change that writeIndex leaves to Git is refused before anything is written, and
// Commit then records the change through `git update-index`, with the same result.
func TestIndexLeftToGit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, top string)
		file  string
	}{
		{"version 4", func(t *testing.T, top string) { git(t, top, "update-index", "--index-version", "4") }, "a/x"},
		{"split index", func(t *testing.T, top string) { git(t, top, "update-index", "--split-index") }, "a/x"},
		{"untracked cache", func(t *testing.T, top string) {
			git(t, top, "config", "core.untrackedCache", "true")
			git(t, top, "update-index", "--untracked-cache")
			git(t, top, "status", "--porcelain")
		}, "a/x"},
		{"skip-worktree", func(t *testing.T, top string) { git(t, top, "update-index", "--skip-worktree", "a/x") }, "a/x"},
		{"assume-unchanged", func(t *testing.T, top string) { git(t, top, "update-index", "--assume-unchanged", "a/x") }, "a/x"},
		{"intent to add", func(t *testing.T, top string) {
			writeFile(t, top, "a/n", []byte("n"))
			git(t, top, "add", "-N", "a/n")
		}, "a/n"},
		{"file where a directory is", func(t *testing.T, top string) {}, "a/x/y"},
		{"directory where a file is", func(t *testing.T, top string) {}, "a"},
		{"locked", func(t *testing.T, top string) {
			os.WriteFile(filepath.Join(top, ".git", "index.lock"), nil, 0o644)
		}, "a/x"},
		{"torn", func(t *testing.T, top string) {
			p := filepath.Join(top, ".git", "index")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-21], 0o644)
		}, "a/x"},
		{"more entries than it holds", func(t *testing.T, top string) {
			p := filepath.Join(top, ".git", "index")
			data, _ := os.ReadFile(p)
			data[11]++
			os.WriteFile(p, data, 0o644)
		}, "a/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, true)
			writeFile(t, r.Top, "a/x", []byte("x"))
			writeFile(t, r.Top, "b", []byte("b"))
			git(t, r.Top, "add", "-A")
			git(t, r.Top, "commit", "-q", "-m", "first")
			c.setup(t, r.Top)
			switch c.file {
			case "a/x/y":
				os.Remove(filepath.Join(r.Top, "a/x"))
				writeFile(t, r.Top, c.file, []byte("y"))
			case "a":
				os.RemoveAll(filepath.Join(r.Top, "a"))
				writeFile(t, r.Top, c.file, []byte("a"))
			default:
				writeFile(t, r.Top, c.file, []byte("changed"))
			}
			indexPath := filepath.Join(r.Top, ".git", "index")
			before, _ := os.ReadFile(indexPath)
			err := writeIndex(filepath.Join(r.Top, ".git"), indexFilesOf(t, r.Top, []string{c.file}))
			if !errors.Is(err, errIndexUnsupported) {
				t.Fatalf("writeIndex = %v, want errIndexUnsupported", err)
			}
			if after, _ := os.ReadFile(indexPath); !bytes.Equal(after, before) {
				t.Fatal("the index changed")
			}
			if c.name == "locked" {
				if _, err := r.Commit(bg, "change", c.file); err == nil || !strings.Contains(err.Error(), "index.lock") {
					t.Fatalf("Commit with the index locked = %v, want Git's error naming index.lock", err)
				}
				return
			}
			if c.name == "torn" || c.name == "more entries than it holds" {
				return // Git itself refuses such an index
			}
			_, err = r.Commit(bg, "change", ".")
			if c.name == "file where a directory is" {
				// The file a/x became a directory: Commit does not take a tracked file for a directory.
				if err == nil || !strings.Contains(err.Error(), "a/x is a directory that Git does not list") {
					t.Fatalf("Commit = %v, want the directory named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "skip-worktree" || c.name == "assume-unchanged" {
				return // Git keeps the flag; the file's entry is Git's business
			}
			if out := git(t, r.Top, "status", "--porcelain"); out != "" {
				t.Fatalf("git status after Commit = %q", out)
			}
		})
	}
}

// Commit through writeIndex: a repository whose index has a cache tree (as `git commit` leaves it) gets
// each change recorded, with the index matching HEAD, `git status` clean and `git fsck` content, and no
// `git update-index` run.
func TestCommitWritesTheIndex(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace")
	t.Setenv("GIT_TRACE2_EVENT", trace)
	r := newRepo(t, true)
	seedVault(t, r.Top)
	git(t, r.Top, "add", "-A")
	git(t, r.Top, "commit", "-q", "-m", "first")
	for i := range 5 {
		f := fmt.Sprintf(".agent-vault/secrets/prod/s%d.enc", i)
		writeFile(t, r.Top, f, []byte(fmt.Sprintf("value %d", i)))
		os.Remove(filepath.Join(r.Top, ".agent-vault/secrets/prod/db.meta"))
		res, err := r.Commit(bg, fmt.Sprintf("change %d", i), f, ".agent-vault/secrets/prod/db.meta")
		if err != nil || !res.Committed {
			t.Fatalf("Commit = %+v, %v", res, err)
		}
		if out := git(t, r.Top, "status", "--porcelain"); out != "" {
			t.Fatalf("git status after change %d = %q", i, out)
		}
		if diff := git(t, r.Top, "diff-index", "--cached", "HEAD"); diff != "" {
			t.Fatalf("the index differs from HEAD: %s", diff)
		}
	}
	if log, err := os.ReadFile(trace); err != nil || !bytes.Contains(log, []byte(`"commit-tree"`)) {
		t.Fatalf("no trace of Git's commands: %v", err)
	} else if bytes.Contains(log, []byte(`"update-index"`)) {
		t.Fatal("Commit ran git update-index")
	}
	git(t, r.Top, "fsck", "--strict", "--no-dangling")
	if got, want := git(t, r.Top, "write-tree"), git(t, r.Top, "rev-parse", "HEAD^{tree}"); got != want {
		t.Fatalf("write-tree = %s, HEAD's tree %s", got, want)
	}
}
