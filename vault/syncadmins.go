package vault

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Admin changes in a sync (docs/format.md section 9.4, "Admins"). An admin add or remove is an operation
// like a secret set: this machine's admin operations since the merge base are derived from the verified
// admin sets of the base and of the local state, and re-applied on the upstream's admin set. The merged
// admin chain is always the upstream's chain, byte for byte (readers elsewhere hold its links in their
// marks), followed by:
//   - nothing, when the merged admin set is the upstream's (no local admin change, or only ones the
//     upstream holds or that --prefer remote dropped);
//   - this machine's own links, byte for byte, when only this side changed the admin set since the base
//     (readers on this machine that verified them keep accepting the chain);
//   - otherwise one new link: the merged root itself, signed by this machine's admin, which must be an
//     admin of the upstream's set (the set before the link) and of the merged one (the set that verifies
//     the root).
// The merged root is signed by this machine's key, so that key must be an admin of the upstream's state:
// an upstream that removed it stops sync (exit 5). Conflicts: both sides changed the same admin
// differently, or this machine removed (or re-keyed) an admin whose key signed the upstream's changes
// since the base; --prefer local or remote says which side's admin entry stays.

// adminMerge is the admin set of a sync's merged state.
type adminMerge struct {
	admins  *RootAdmins // the merged root's admins field (nil: a vault that never changed its admin set)
	newLink bool        // the merged root makes a new admin set and is kept as a link of the chain
	keep    []chainLink // this machine's links, kept byte for byte (only this side changed the admin set)
	head    *chainLink  // the merged chain's last link when it is not a new one (nil: no chain)
	// superseded are this machine's links that the merged chain drops (both sides changed the admin set:
	// the local operations are re-applied in the new link); common is the last link both chains share.
	superseded []chainLink
	common     *chainLink
	applied    []string
	kept       []string
	conflicts  []string // admin names both sides changed differently
	signed     []string // admins this machine removed whose keys signed the upstream's changes
}

// chainLinks returns the verified admin chain of s's state: none for a root without admins.
func chainLinks(s *Snapshot) ([]chainLink, error) {
	if s.Root.Admins == nil {
		return nil, nil
	}
	c, err := s.verifiedChain()
	if err != nil {
		return nil, err
	}
	return c.links, nil
}

// isPrefix reports whether chain a is the beginning of chain b, link for link.
func isPrefix(a, b []chainLink) bool {
	return len(a) <= len(b) && slices.EqualFunc(a, b[:len(a)], func(x, y chainLink) bool { return x.sha == y.sha })
}

// adminOp is what one side did to one admin since the base: its entry now, or its removal.
type adminOp struct {
	admin   RootAdmin
	present bool
}

// adminOps returns the admins whose entries differ between the sets from and to.
func adminOps(from, to map[string]RootAdmin) map[string]adminOp {
	ops := map[string]adminOp{}
	for name, a := range from {
		if b, ok := to[name]; !ok || b != a {
			ops[name] = adminOp{admin: b, present: ok}
		}
	}
	for name, b := range to {
		if _, ok := from[name]; !ok {
			ops[name] = adminOp{admin: b, present: true}
		}
	}
	return ops
}

// describe says what op does to admin name, whose entry in the base is base (ok false: none).
func (op adminOp) describe(name string, base RootAdmin, ok bool) string {
	switch {
	case !op.present:
		return "remove admin " + name
	case ok:
		return "re-key admin " + name
	}
	return "add admin " + name
}

// adminNameOf returns the name of the admin whose verify key is vk in the sets, the first that has one.
func adminNameOf(vk string, sets ...map[string]RootAdmin) string {
	for _, m := range sets {
		for name, a := range m {
			if a.VerifyKey == vk {
				return name
			}
		}
	}
	return ""
}

// mergeAdmins works out the admin set of the merged state of a sync: this machine's admin operations
// since base re-applied on remote's admin set. remoteSigners are the verify keys that signed remote's
// history since base (HistorySigners).
func (o *Owner) mergeAdmins(base, remote *Snapshot, prefer Prefer, remoteSigners []string) (*adminMerge, error) {
	cb, err := chainLinks(base)
	if err != nil {
		return nil, err
	}
	cl, err := chainLinks(o.Snapshot)
	if err != nil {
		return nil, err
	}
	cu, err := chainLinks(remote)
	if err != nil {
		return nil, err
	}
	if !isPrefix(cb, cu) {
		return nil, newErr(KindIntegrity, "the upstream's admin chain (%s) does not continue the one of the common state: a link was replaced or removed in its history; nothing was changed", adminChainDir)
	}
	if !isPrefix(cb, cl) {
		return nil, newErr(KindIntegrity, "this working tree's admin chain (%s) does not continue the one of the common state: a link was replaced or removed in its history; nothing was changed", adminChainDir)
	}
	me, err := o.Key.ownerVerifyKey()
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", o.Key.Source)
	}
	bm, lm, um := adminMembers(base.Root), adminMembers(o.Root), adminMembers(remote.Root)
	if adminNameOf(me, um) == "" {
		return nil, removedKeyError(o.Key.Source, adminNameOf(me, lm, bm), remote.Root)
	}
	m := &adminMerge{}
	merged := cloneMap(um)
	local, upstream := adminOps(bm, lm), adminOps(bm, um)
	for _, name := range sortedKeys(local) {
		op := local[name]
		b, inBase := bm[name]
		if r, ok := upstream[name]; ok && r == op {
			continue // both made the same change
		}
		_, bothChanged := upstream[name]
		signedUpstream := inBase && (!op.present || op.admin.VerifyKey != b.VerifyKey) && slices.Contains(remoteSigners, b.VerifyKey)
		if bothChanged || signedUpstream {
			if bothChanged {
				m.conflicts = append(m.conflicts, name)
			} else {
				m.signed = append(m.signed, name)
			}
			if prefer != PreferLocal {
				m.kept = append(m.kept, "admin "+name+": the upstream's")
				continue
			}
			m.kept = append(m.kept, "admin "+name+": this machine's")
		}
		if op.present {
			merged[name] = op.admin
		} else {
			delete(merged, name)
		}
		m.applied = append(m.applied, op.describe(name, b, inBase))
	}
	// A key under two names (this machine added an admin with the key of one the upstream added) is a
	// conflict of the admin added here: --prefer local drops the upstream's, --prefer remote this one.
	for _, name := range sortedKeys(local) {
		a, ok := merged[name]
		if !ok || um[name] == a {
			continue
		}
		for _, other := range sortedKeys(merged) {
			if x := merged[other]; other != name && (x.Recipient == a.Recipient || x.VerifyKey == a.VerifyKey) {
				m.conflicts = append(m.conflicts, name)
				if prefer == PreferLocal {
					delete(merged, other)
					m.kept = append(m.kept, "admin "+name+": this machine's (the upstream's admin "+other+" had its key)")
					continue
				}
				if prev, ok := um[name]; ok {
					merged[name] = prev
				} else {
					delete(merged, name)
				}
				m.kept = append(m.kept, "admin "+name+": the upstream's (its key is admin "+other+"'s there)")
				break
			}
		}
	}
	if adminNameOf(me, merged) == "" {
		return nil, newErr(KindError, "this machine's changes remove its own admin key (%s), which then cannot sign the merged state; nothing was changed: another admin makes that change", o.Key.Source)
	}
	switch {
	case sameMembers(merged, um):
		m.admins = cloneAdmins(remote.Root.Admins)
		if len(cu) > 0 {
			m.head = &cu[len(cu)-1]
		}
	case len(cu) == len(cb) && sameMembers(merged, lm):
		m.admins = cloneAdmins(o.Root.Admins)
		m.keep = cl[len(cb):]
		m.head = &cl[len(cl)-1]
	default:
		m.admins = &RootAdmins{Members: merged}
		if len(cu) > 0 {
			m.admins.PrevSHA256 = cu[len(cu)-1].sha
		}
		m.newLink = true
	}
	if len(m.keep) == 0 {
		m.superseded, m.common = supersededLinks(cl, cu)
	}
	return m, nil
}

// sameMembers reports whether two admin sets are equal.
func sameMembers(a, b map[string]RootAdmin) bool {
	if len(a) != len(b) {
		return false
	}
	for name, x := range a {
		if y, ok := b[name]; !ok || x != y {
			return false
		}
	}
	return true
}

// removedKeyError is the error of a sync or fast-forward whose upstream does not list key (this machine's
// admin key, admin name here) as an admin: another admin removed it, and it can sign nothing there.
func removedKeyError(source, name string, up *Root) error {
	if name == "" {
		name = "of this key"
	} else {
		name = "'" + name + "'"
	}
	return newErr(KindNotAuthorized, "the upstream's vault (version %d) no longer lists this machine's key %s as an admin (its admins: %s): another admin removed admin %s. This key can sign nothing there, so nothing was changed; an admin of the vault makes the changes this machine has not pushed ('git log @{upstream}..HEAD' lists them)",
		up.Version, source, strings.Join(sortedKeys(adminMembers(up)), ", "), name)
}

// yieldChainMark lowers this machine's admin-chain mark for vaultID (section 6.3) to common, the last link
// two chains share, when it names one of superseded: links of this machine's own that a state the owner
// made or verified is about to replace (a sync that re-applied an unpushed admin change on the upstream's
// admin changes, section 9.4). Readers on this machine then accept the state being replaced and the one
// replacing it, and raise the mark again to whichever they read; the change that replaces it raises it
// to its own last link. A mark that names any other link is left alone.
func yieldChainMark(home, vaultID string, superseded []chainLink, common *chainLink) error {
	if len(superseded) == 0 {
		return nil
	}
	cur, err := loadMarks(home, vaultID)
	if err != nil || cur.Admins == nil {
		return err
	}
	if !slices.ContainsFunc(superseded, func(l chainLink) bool { return l.version == cur.Admins.Version && l.sha == cur.Admins.SHA256 }) {
		return nil
	}
	cur.Admins = nil
	if common != nil {
		cur.Admins = &chainMark{Version: common.version, SHA256: common.sha}
	}
	return writeMarks(home, vaultID, cur)
}

// supersededLinks returns the links of old beyond the last link that next also holds, and that link
// (nil when they share none): what a change from old to next drops from the admin chain.
func supersededLinks(old, next []chainLink) ([]chainLink, *chainLink) {
	n := 0
	for n < len(old) && n < len(next) && old[n].sha == next[n].sha {
		n++
	}
	if n == len(old) {
		return nil, nil
	}
	if n == 0 {
		return old, nil
	}
	return old[n:], &old[n-1]
}

// yieldFile is the file of a pending transaction that lists the admin-chain links it supersedes.
const yieldFile = "yield"

// chainYield is what a change does to this machine's admin-chain mark when it replaces a state whose chain
// holds links of this machine's own that the new state's chain does not (section 9.4): superseded are
// those links, common the last link both chains share (nil: none), head the new chain's last link.
type chainYield struct {
	superseded   []chainLink
	common, head *chainLink
}

// encode writes y as lines "superseded|common|head <version> <sha256>".
func (y *chainYield) encode() string {
	var b strings.Builder
	line := func(what string, l *chainLink) {
		if l != nil {
			fmt.Fprintf(&b, "%s %d %s\n", what, l.version, l.sha)
		}
	}
	for i := range y.superseded {
		line("superseded", &y.superseded[i])
	}
	line("common", y.common)
	line("head", y.head)
	return b.String()
}

// readYield reads the yield list of the pending transaction in pend; nil when it has none.
func readYield(pend string) *chainYield {
	lines := pendingList(pend, yieldFile)
	if len(lines) == 0 {
		return nil
	}
	y := &chainYield{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 || !validHash(f[2]) {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		l := chainLink{version: v, sha: f[2]}
		switch f[0] {
		case "superseded":
			y.superseded = append(y.superseded, l)
		case "common":
			y.common = &l
		case "head":
			y.head = &l
		}
	}
	return y
}

// before moves this machine's mark off the superseded links, before the commit point: readers here
// accept both the state being replaced and the new one.
func (y *chainYield) before(vaultID string) error {
	home, err := homeDir()
	if err != nil {
		return err
	}
	return yieldChainMark(home, vaultID, y.superseded, y.common)
}

// settleChainMark finishes what the pending transaction in pend does to this machine's mark once it is
// applied: off the superseded links again (a read of the replaced state may have raised it since), and up
// to the new chain's last link. Nothing for a transaction without a yield list.
func settleChainMark(pend, vaultID string) error {
	y := readYield(pend)
	if y == nil {
		return nil
	}
	if err := y.before(vaultID); err != nil {
		return err
	}
	if y.head == nil {
		return nil
	}
	home, err := homeDir()
	if err != nil {
		return err
	}
	return raiseChainMark(home, vaultID, y.head)
}
