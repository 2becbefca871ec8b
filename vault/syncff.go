package vault

import (
	"fmt"
	"slices"
)

// AdoptUpstream makes up, the verified vault of the upstream's commit (opened with OpenDetached and
// checked to descend from this working tree's signed state), the working tree's vault, as an owner
// change (docs/format.md sections 9 and 9.4): every file of changed (vault-relative paths that differ
// between the working tree's commit and commit) is staged from up's directory, or removed, with up's
// signed root as the commit point; recording the change adopts commit (Vault.Adopter moves the branch
// from the commit from to it). A kill before the commit point leaves the working tree as it was; after
// it, repair or the next owner command finishes the change. The caller holds the vault lock and has
// finished any interrupted change. The working tree's root must still be the one whose hash is
// fromRoot. roots are the signed roots of the history between the two (as for DescendsFrom): up's admin
// chain must continue the working tree's, unless up holds this machine's own sync of the working tree's
// state that re-applied its unpushed admin changes (section 9.4, "Admins"); anything else is a history
// rewritten without an admin change this machine holds, refused as an integrity error.
func (v *Vault) AdoptUpstream(up *Snapshot, changed []string, commit, from, fromRoot string, roots [][]byte) error {
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
	yield, err := v.adoptedChain(up, fromRoot, roots)
	if err != nil {
		return err
	}
	t := newTx(v, nil, nil, "")
	t.root = &Root{VaultID: up.Root.VaultID}
	t.yield = yield
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

// adoptedChain checks that up's admin chain continues the working tree's (read with up's anchor), and
// returns what adopting up does to this machine's mark: nil when it continues it; when it drops links of
// the working tree's, it must hold this machine's own sync of the working tree's state (a root signed by
// this key with merged_sha256 set and prev_sha256 fromRoot, whose admin set up's chain holds): the sync
// that re-applied those unpushed admin changes, pushed before a kill or elsewhere left this machine
// behind it.
func (v *Vault) adoptedChain(up *Snapshot, fromRoot string, roots [][]byte) (*chainYield, error) {
	cur, err := readAdminChain(v.Dir, up.anchor)
	if err != nil {
		return nil, err
	}
	next, err := chainLinks(up)
	if err != nil {
		return nil, err
	}
	superseded, common := supersededLinks(cur.links, next)
	if len(superseded) == 0 {
		return nil, nil
	}
	me, err := up.Key.ownerVerifyKey()
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", up.Key.Source)
	}
	h, err := up.history(roots)
	if err != nil {
		return nil, err
	}
	for sha, r := range h.roots {
		if r.Merged == "" || r.PrevSHA256 != fromRoot || h.signers[sha] != me || r.Admins == nil {
			continue
		}
		if slices.ContainsFunc(next, func(l chainLink) bool { return l.version == r.Admins.Since && sameAdmins(l.admins, r.Admins) }) {
			return &chainYield{superseded: superseded, common: common, head: &next[len(next)-1]}, nil
		}
	}
	return nil, newErr(KindIntegrity, "the upstream's vault (version %d) is signed by an admin, but its admin chain lacks admin change %d that this working tree holds (%s): a history rewritten without it; nothing was changed",
		up.Root.Version, superseded[0].version, adminChainFile(superseded[0].version))
}
