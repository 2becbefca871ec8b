package vault

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// nothingToRepair is what Repair reports when no interrupted change was found.
const nothingToRepair = "nothing to repair"

// staleGitLockWait is how long a Git index lock left in a change's Git step may stay before it is taken
// for the lock of a Git child that died with the owner command.
var staleGitLockWait = 5 * time.Second

// Repair finishes or discards an interrupted change (docs/format.md section 9.1) and returns what it did,
// for the user: "nothing to repair" when it found no interrupted change. Afterwards the vault is
// verified as its owner. Every owner command does the same first.
func (v *Vault) Repair(key *Key) (string, error) {
	unlock, err := v.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	did, err := v.resolvePending(key)
	if err != nil {
		return "", err
	}
	o, err := v.openOwnerLocked(key, nil)
	if err != nil {
		return "", err
	}
	if err := o.entries(func(string, *Entry) {}); err != nil {
		return "", err
	}
	return did, nil
}

// Record finishes a change that is on disk: it records the paths of .pending/paths with the Recorder,
// then removes .pending (steps 5 and 6 of docs/format.md section 9). The caller holds the vault lock.
func (v *Vault) Record() error {
	pend := filepath.Join(v.Dir, pendingDir)
	if v.Recorder != nil {
		var paths []string
		for _, p := range pendingList(pend, "paths") {
			if filepath.IsLocal(p) {
				paths = append(paths, p)
			}
		}
		msg, _ := os.ReadFile(filepath.Join(pend, "message"))
		if adopt := pendingList(pend, "commit"); len(adopt) >= 1 && v.Adopter != nil {
			// A sync or a fast-forward: its commit exists already (a sync's was pushed); the working tree
			// adopts it.
			from := ""
			if len(adopt) > 1 {
				from = adopt[1]
			}
			if err := v.Adopter(adopt[0], from); err != nil {
				return &RecordError{Err: err}
			}
		} else if len(paths) > 0 {
			if err := v.Recorder(paths, string(msg)); err != nil {
				return &RecordError{Err: err}
			}
		}
	}
	crashHook("recorded")
	return v.cleanPending()
}

// RecordError is returned when a change was written and is visible to readers, but recording it in
// version control failed. The next owner command, or repair, records it again.
type RecordError struct{ Err error }

// Error says that the vault changed but Git did not record it, and what to run; then Err's message.
func (e *RecordError) Error() string {
	return "the vault changed, but recording the change in Git failed (fix Git, then run 'agent-vault repair'): " + e.Err.Error()
}

// Unwrap returns Err, the version control failure.
func (e *RecordError) Unwrap() error { return e.Err }

// cleanPending removes .pending in one atomic rename, so that a cut clean-up is never taken for an
// incomplete change.
func (v *Vault) cleanPending() error {
	pend, done := filepath.Join(v.Dir, pendingDir), filepath.Join(v.Dir, doneDir)
	if err := os.RemoveAll(done); err != nil {
		return wrapErr(KindError, err, "cannot remove %s", done)
	}
	if err := os.Rename(pend, done); err != nil && !os.IsNotExist(err) {
		return wrapErr(KindError, err, "cannot clean up %s", pend)
	}
	crashHook("cleaning")
	if err := os.RemoveAll(done); err != nil {
		return wrapErr(KindError, err, "cannot remove %s", done)
	}
	return nil
}

// resolvePending finishes or discards the interrupted change in .pending, if any. The caller holds the
// vault lock.
func (v *Vault) resolvePending(key *Key) (string, error) {
	pend := filepath.Join(v.Dir, pendingDir)
	if _, err := os.Lstat(pend); err != nil {
		if _, err := os.Lstat(filepath.Join(v.Dir, doneDir)); err == nil {
			return nothingToRepair, v.cleanPending()
		}
		return nothingToRepair, nil
	}
	pending, err := os.ReadFile(filepath.Join(pend, "root"))
	if os.IsNotExist(err) {
		discardKeys(pend)
		if err := os.RemoveAll(pend); err != nil {
			return "", wrapErr(KindError, err, "cannot discard %s", pend)
		}
		return "discarded an incomplete change that had not reached its commit point; the previous state is intact", nil
	}
	if err != nil {
		return "", wrapErr(KindError, err, "cannot read the pending root")
	}
	signer, err := key.SigningKey()
	if err != nil {
		return "", wrapErr(KindVaultNotFound, err, "key %s", key.Source)
	}
	body, err := VerifyRoot(pending, signer.Public().(ed25519.PublicKey))
	if err != nil {
		// A fast-forward installs the upstream's root, which another admin may have signed.
		if body, err = v.verifyAdoptedPending(pend, pending, key); err != nil {
			return "", wrapErr(KindIntegrity, err, "the pending change is not signed by this owner key; remove %s by hand after inspecting it", pend)
		}
	}
	next, err := parseRoot(body)
	if err != nil {
		return "", err
	}
	cur, err := readRepoFile(v.Dir, rootFile, LimitRoot)
	if errNotExist(err) && next.PrevSHA256 == "" {
		cur, err = nil, nil // an init that reached its commit point
	}
	if err != nil {
		return "", classifyRead(err, rootFile)
	}
	did := "finished an interrupted change: " + pendingMessage(pend) + " (now at version " + versionString(next.Version) + ")"
	switch {
	case bytes.Equal(cur, pending):
		if err := installKeys(pend); err != nil {
			return "", err
		}
		did = "recorded an interrupted change that was already applied: " + pendingMessage(pend) + " (version " + versionString(next.Version) + ")"
	case cur == nil || next.PrevSHA256 == Hash(cur) || adoptsFrom(pend, cur, next):
		if err := applyPending(v.Dir, nil); err != nil {
			return "", err
		}
	default:
		return "", newErr(KindIntegrity, "the pending change does not follow the current signed state; remove %s by hand after inspecting it", pend)
	}
	home, err := homeDir()
	if err != nil {
		return "", err
	}
	if err := raiseMarks(home, next.VaultID, next.Version, Hash(pending), "", nil); err != nil {
		return "", err
	}
	if err := settleChainMark(pend, next.VaultID); err != nil {
		return "", err
	}
	if note := v.removeStaleGitLocks(pend); note != "" {
		did += "; " + note
	}
	if err := v.Record(); err != nil {
		return "", err
	}
	return did, nil
}

// adoptsFrom reports whether the pending change is a fast-forward to a verified upstream state (several
// versions ahead, so its prev_sha256 names another root): .pending/from names the current root, and its
// version is above the current one (a replayed older root is never adopted).
func adoptsFrom(pend string, cur []byte, next *Root) bool {
	from := pendingList(pend, "from")
	if len(from) != 1 || from[0] != Hash(cur) {
		return false
	}
	body, _, err := splitSigned(cur)
	if err != nil {
		return false
	}
	r, err := parseRoot(body)
	return err == nil && next.Version > r.Version && next.VaultID == r.VaultID
}

func pendingMessage(pend string) string {
	msg, err := os.ReadFile(filepath.Join(pend, "message"))
	if err != nil || len(msg) == 0 {
		return "an owner change"
	}
	return string(msg)
}

// removeStaleGitLocks removes the Git lock files (the index's, HEAD's, a branch's) that a Git child of the
// interrupted change left: ones created after the change reached its commit point that stay in place,
// unchanged, while this process holds the vault lock. A lock that goes away or changes belongs to a live
// Git process and is left alone.
func (v *Vault) removeStaleGitLocks(pend string) string {
	gitDir := findGitDir(v.Top)
	if gitDir == "" {
		return ""
	}
	rootInfo, err := os.Stat(filepath.Join(pend, "root"))
	if err != nil {
		return ""
	}
	candidates := []string{filepath.Join(gitDir, "index.lock"), filepath.Join(gitDir, "HEAD.lock")}
	for _, pattern := range []string{"refs/heads/*.lock", "refs/heads/*/*.lock", "refs/heads/*/*/*.lock"} {
		m, _ := filepath.Glob(filepath.Join(gitDir, pattern))
		candidates = append(candidates, m...)
	}
	locks := map[string]os.FileInfo{}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && !fi.ModTime().Before(rootInfo.ModTime()) {
			locks[c] = fi
		}
	}
	if len(locks) == 0 {
		return ""
	}
	deadline := time.Now().Add(staleGitLockWait)
	for time.Now().Before(deadline) && len(locks) > 0 {
		time.Sleep(50 * time.Millisecond)
		for c, first := range locks {
			fi, err := os.Stat(c)
			if err != nil || !fi.ModTime().Equal(first.ModTime()) || fi.Size() != first.Size() {
				delete(locks, c) // gone or changing: a live Git's
			}
		}
	}
	var removed []string
	for _, c := range sortedKeys(locks) {
		if os.Remove(c) == nil {
			removed = append(removed, c)
		}
	}
	if len(removed) == 0 {
		return ""
	}
	return "removed " + strings.Join(removed, ", ") + ", left by a Git command of the interrupted change"
}

// verifyAdoptedPending verifies the pending root of a fast-forward (.pending/from names the root it
// replaces, section 9.4), which any admin may have signed, with the admin chain the pending state will
// have: the working tree's links, with the staged ones in place and the removed ones gone, followed from
// key's anchor. It returns the root's body.
func (v *Vault) verifyAdoptedPending(pend string, raw []byte, key *Key) ([]byte, error) {
	if len(pendingList(pend, "from")) != 1 {
		return nil, newErr(KindIntegrity, "not a fast-forward")
	}
	_, a, err := v.ownerAnchor(key)
	if err != nil {
		return nil, err
	}
	staged, err := readStaged(pend)
	if err != nil {
		return nil, wrapErr(KindError, err, "cannot read the pending transaction")
	}
	names := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(v.Dir, filepath.FromSlash(adminChainDir)))
	for _, e := range ents {
		names[e.Name()] = true
	}
	for rel := range staged {
		if name, ok := strings.CutPrefix(rel, adminChainDir+"/"); ok {
			names[name] = true
		}
	}
	for _, rel := range pendingList(pend, "remove") {
		if name, ok := strings.CutPrefix(rel, adminChainDir+"/"); ok {
			delete(names, name)
		}
	}
	c, err := verifyChain(sortedKeys(names), a, func(rel string) ([]byte, error) {
		if data, ok := staged[rel]; ok {
			return data, nil
		}
		data, err := readRepoFile(v.Dir, rel, LimitRoot)
		if err != nil {
			return nil, classifyRead(err, rel)
		}
		return data, nil
	})
	if err != nil {
		return nil, err
	}
	body, err := c.verify(raw)
	if err != nil {
		return nil, err
	}
	r, err := parseRoot(body)
	if err != nil {
		return nil, err
	}
	if err := c.check(r); err != nil {
		return nil, err
	}
	return body, nil
}
