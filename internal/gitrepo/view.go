package gitrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agent-vault/agent-vault/vault"
)

// PullView is the pull of a reader (docs/format.md section 6.8): it fetches the upstream
// (FetchUpstream, with its errors) and, when the upstream's commit holds something HEAD lacks, writes
// that commit's vault directory — the tree <prefix>.agent-vault of the vault whose Top is vaultTop, and
// nothing else — into the pull view under the Git directory, then points the view at it. It never
// changes the working tree, the index, HEAD or any branch: files outside the vault that the upstream
// changed reach the working tree only when its user pulls or merges.
//
// When the upstream is contained in HEAD, or its commit has no vault directory at that place, nothing is
// written (readers read the working tree).
func (r *Repo) PullView(ctx context.Context, timeout time.Duration, vaultTop string) error {
	commit, err := r.FetchUpstream(ctx, timeout)
	if err != nil {
		return err
	}
	if _, err := r.git(ctx, runOpts{}, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		if contained, err := r.isAncestor(ctx, commit, "HEAD"); err != nil || contained {
			return err
		}
	}
	l, ok := vault.ViewLayoutOf(vaultTop)
	if !ok {
		return fmt.Errorf("%s is not in the working tree of %s", vaultTop, r.Top)
	}
	return r.writeView(ctx, l, commit)
}

// writeView makes commit's view complete and current. A view directory is written whole under a
// temporary name and renamed into place, so that a reader never meets half of one; the pointer is
// replaced atomically last. Views other than the new one and the one it replaces are removed.
func (r *Repo) writeView(ctx context.Context, l vault.ViewLayout, commit string) error {
	prev := l.Commit()
	if prev != "" {
		if fi, err := os.Lstat(l.Dir(prev)); err == nil && fi.IsDir() {
			// The pointer never moves back: a slower pull that fetched an older commit, or an upstream
			// reset to one, leaves the newer view in place.
			if newer, err := r.isAncestor(ctx, commit, prev); err == nil && newer {
				return nil
			}
		}
	}
	tree := commit + ":" + l.Prefix + vault.DirName
	if out, err := r.git(ctx, runOpts{}, "cat-file", "-t", tree); err != nil || strings.TrimSpace(string(out)) != "tree" {
		return nil // no vault there in the upstream's commit: nothing to read from it
	}
	if err := os.MkdirAll(l.Views, 0o700); err != nil {
		return fmt.Errorf("cannot create the pull view: %w", err)
	}
	dest := filepath.Join(l.Views, commit)
	if _, err := os.Lstat(dest); err != nil {
		if err := r.checkoutTree(ctx, l, tree, dest); err != nil {
			return err
		}
	}
	if err := writePointer(l.Pointer, commit); err != nil {
		return err
	}
	pruneViews(l.Views, commit, prev)
	return nil
}

// checkoutTree writes tree (a vault directory) to dest/<prefix>.agent-vault through a temporary index,
// leaving the repository's own index alone.
func (r *Repo) checkoutTree(ctx context.Context, l vault.ViewLayout, tree, dest string) error {
	tmp, err := os.MkdirTemp(l.Views, ".tmp-")
	if err != nil {
		return fmt.Errorf("cannot create the pull view: %w", err)
	}
	defer os.RemoveAll(tmp)
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	work := filepath.Join(tmp, "view")
	if _, err := r.git(ctx, runOpts{env: env}, "read-tree", "--prefix="+l.Prefix+vault.DirName+"/", tree); err != nil {
		return fmt.Errorf("cannot read the upstream's vault: %w", err)
	}
	if _, err := r.git(ctx, runOpts{env: env}, "checkout-index", "-a", "-f", "--prefix="+work+string(filepath.Separator)); err != nil {
		return fmt.Errorf("cannot write the pull view: %w", err)
	}
	if err := os.Rename(work, dest); err != nil {
		if _, serr := os.Lstat(dest); serr == nil {
			return nil // another reader wrote the same view meanwhile
		}
		return fmt.Errorf("cannot write the pull view: %w", err)
	}
	return nil
}

// writePointer replaces the view pointer with commit, atomically.
func writePointer(path, commit string) error {
	tmp := path + ".tmp" + fmt.Sprint(os.Getpid())
	if err := os.WriteFile(tmp, []byte(commit+"\n"), 0o600); err != nil {
		return fmt.Errorf("cannot write the pull view: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write the pull view: %w", err)
	}
	return nil
}

// pruneViews removes the views other than keep and prev (a reader that chose prev just before the
// pointer moved may still be reading it), and temporary directories left by interrupted pulls over an
// hour ago. Failures are ignored: a stale view is only disk space.
func pruneViews(views, keep, prev string) {
	entries, err := os.ReadDir(views)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if name == keep || name == prev {
			continue
		}
		if strings.HasPrefix(name, ".tmp-") {
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		}
		os.RemoveAll(filepath.Join(views, name))
	}
}
