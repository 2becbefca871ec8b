package vault

import "fmt"

// AdoptUpstream makes up, the verified vault of the upstream's commit (opened with OpenDetached and
// checked to descend from this working tree's signed state), the working tree's vault, as an owner
// change (docs/format.md sections 9 and 9.4): every file of changed (vault-relative paths that differ
// between the working tree's commit and commit) is staged from up's directory, or removed, with up's
// signed root as the commit point; recording the change adopts commit (Vault.Adopter moves the branch
// from the commit from to it). A kill before the commit point leaves the working tree as it was; after
// it, repair or the next owner command finishes the change. The caller holds the vault lock and has
// finished any interrupted change. The working tree's root must still be the one whose hash is
// fromRoot.
func (v *Vault) AdoptUpstream(up *Snapshot, changed []string, commit, from, fromRoot string) error {
	cur, err := readRepoFile(v.Dir, rootFile, LimitRoot)
	if err != nil {
		return classifyRead(err, rootFile)
	}
	if Hash(cur) != fromRoot {
		return newErr(KindError, "the working tree's signed state changed while the upstream was verified; nothing was changed: run the command again")
	}
	upRoot, err := readRepoFile(up.Vault.Dir, rootFile, LimitRoot)
	if err != nil {
		return classifyRead(err, rootFile)
	}
	if Hash(upRoot) != up.RootSHA {
		return newErr(KindError, "the upstream's vault changed while it was verified; nothing was changed")
	}
	t := newTx(v, nil, nil, "")
	t.message = fmt.Sprintf("fast-forward to version %d", up.Root.Version)
	t.adopt, t.adoptFrom, t.from = commit, from, fromRoot
	if err := t.stageFrom(up.Vault.Dir, changed); err != nil {
		return err
	}
	if err := t.commitSealed(upRoot); err != nil {
		return err
	}
	home, err := homeDir()
	if err != nil {
		return err
	}
	if err := raiseMarks(home, up.Root.VaultID, up.Root.Version, up.RootSHA, "", nil); err != nil {
		return err
	}
	return v.Record()
}
