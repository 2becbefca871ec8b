package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Reading while the vault changes (docs/format.md section 6.6): the owner's writer and Git replace files
// one at a time, so a read may meet a root and a file of two versions. A vouching failure is reported only
// when it persists on a stable state; every other failure is reported at once.

// writerWait bounds how long a reader waits for a writer; a variable so that tests can shorten it.
var writerWait = 10 * time.Second

const (
	readAttempts = 5
	writerPoll   = 10 * time.Millisecond
)

// consistently runs op (nil: load the root) and retries it on a fresh snapshot while a vouching failure
// may come from a change in progress.
func (s *Snapshot) consistently(op func() error) error {
	first := op
	if op == nil {
		first, op = s.load, func() error { return nil }
	}
	var err error
	deadline := time.Now().Add(writerWait)
	for attempt := 1; attempt <= readAttempts; attempt++ {
		if attempt == 1 {
			err = first()
		} else {
			time.Sleep(writerPoll << (attempt - 2))
			if err = s.reloadAny(); err == nil {
				err = op()
			}
		}
		if !isVouching(err) {
			return err
		}
		failedRoot := s.rootRaw
		busy, werr := s.Vault.waitForWriters(failedRoot, s.anchor, deadline)
		if werr != nil {
			return werr
		}
		now, _ := readRepoFile(s.Vault.Dir, rootFile, LimitRoot)
		if !busy && bytes.Equal(now, failedRoot) {
			return err
		}
	}
	return newErr(KindError, "the vault kept changing while it was read (%d attempts); try again", readAttempts)
}

// waitForWriters waits until neither an owner change that follows root nor a Git operation is under
// way, and reports whether it saw one. A writer still there at deadline (writerWait after the read began)
// is an error of kind error, never an integrity error.
func (v *Vault) waitForWriters(root []byte, a anchor, deadline time.Time) (bool, error) {
	busy := false
	for {
		pending := v.pendingSuccessor(root, a)
		gitLock := v.gitIndexLock()
		if !pending && gitLock == "" {
			return busy, nil
		}
		busy = true
		if time.Now().After(deadline) {
			if pending {
				return true, newErr(KindError, "an owner change to this vault has been under way for over %s (%s exists): if no owner command is running, the owner runs 'agent-vault repair'", writerWait, filepath.Join(v.Dir, pendingDir, "root"))
			}
			return true, newErr(KindError, "Git has held %s for over %s: wait for the Git command to finish, or remove the file if no Git command is running", gitLock, writerWait)
		}
		time.Sleep(writerPoll)
	}
}

// pendingSuccessor reports whether .pending/root holds a signed successor of root (of no root, for a
// vault being created): an owner change to it in progress, or interrupted. Anyone can push a file there;
// only an admin can sign one.
func (v *Vault) pendingSuccessor(root []byte, a anchor) bool {
	raw, err := readRepoFile(v.Dir, pendingDir+"/root", LimitRoot)
	if err != nil {
		return false
	}
	// Once state/root holds the pending root, the change is applied: reading again sees it, whether or not
	// it is recorded in Git yet.
	if cur, err := readRepoFile(v.Dir, rootFile, LimitRoot); err == nil && bytes.Equal(cur, raw) {
		return false
	}
	// Any admin of the chain may be the writer (docs/format.md section 4.1); the anchor's key without one.
	keys := []ed25519.PublicKey{a.pub}
	if c, err := readAdminChain(v.Dir, a); err == nil {
		keys = c.ever
	}
	body, _, err := verifyWithAny(raw, keys)
	if err != nil {
		return false
	}
	h, ok := rootHeaderOf(body)
	if !ok {
		return false
	}
	if root == nil {
		return h.PrevSHA256 == ""
	}
	if h.PrevSHA256 == Hash(root) {
		return true
	}
	// A fast-forward to the upstream's state, several versions on (section 9.4): .pending/from names root,
	// which is signed too, and the pending root is a later version of the same vault.
	from, err := readRepoFile(v.Dir, pendingDir+"/from", 256)
	if err != nil || strings.TrimSpace(string(from)) != Hash(root) {
		return false
	}
	rb, _, err := verifyWithAny(root, keys)
	if err != nil {
		return false
	}
	r, ok := rootHeaderOf(rb)
	return ok && r.VaultID == h.VaultID && h.Version > r.Version
}

// pendingHeader is what a reader looks at in a pending root and the root it may succeed.
type pendingHeader struct {
	VaultID    string `json:"vault_id"`
	Version    uint64 `json:"version"`
	PrevSHA256 string `json:"prev_sha256"`
}

func rootHeaderOf(body []byte) (pendingHeader, bool) {
	var h pendingHeader
	return h, json.Unmarshal(body, &h) == nil
}

// gitIndexLock returns the path of the index lock of the Git repository that holds the vault when it
// exists, else "".
func (v *Vault) gitIndexLock() string {
	gitDir := findGitDir(v.workTop())
	if gitDir == "" {
		return ""
	}
	p := filepath.Join(gitDir, "index.lock")
	if _, err := os.Lstat(p); err != nil {
		return ""
	}
	return p
}

// findGitDir returns the Git directory of the working tree that holds dir: a .git directory in dir or a
// parent, or the directory a .git file names. "" when there is none.
func findGitDir(dir string) string {
	_, gitDir := findGitTop(dir)
	return gitDir
}

// findGitTop returns the top of the working tree that holds dir (the directory in which the search met
// .git) and its Git directory (that .git directory, or the directory a .git file names); "", "" when
// there is none.
func findGitTop(dir string) (top, gitDir string) {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, ".git")
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				return d, p
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return "", ""
			}
			line, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
			if !ok {
				return "", ""
			}
			g := strings.TrimSpace(line)
			if !filepath.IsAbs(g) {
				g = filepath.Join(d, g)
			}
			return d, g
		}
		if filepath.Dir(d) == d {
			return "", ""
		}
	}
}
