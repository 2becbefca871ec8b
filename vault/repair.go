package vault

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
)

// NothingToRepair is what Repair reports when no interrupted change was found.
const NothingToRepair = "nothing to repair"

// Repair finishes or discards an interrupted change (docs/format.md section 9) and returns what it did.
// A pending transaction whose signed root verifies with the owner key and follows the current root is
// rolled forward; an incomplete one is discarded, which leaves the previous state untouched. Afterwards
// the vault is verified as its owner.
func (v *Vault) Repair(key *Key) (string, error) {
	unlock, err := v.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	did := NothingToRepair
	pend := filepath.Join(v.Dir, pendingDir)
	if _, err := os.Lstat(pend); err == nil {
		did, err = v.resolvePending(key)
		if err != nil {
			return "", err
		}
	}
	o, err := v.openOwnerLocked(key, nil)
	if err != nil {
		return "", err
	}
	if _, err := o.allIndexes(); err != nil {
		return "", err
	}
	return did, nil
}

func (v *Vault) resolvePending(key *Key) (string, error) {
	pend := filepath.Join(v.Dir, pendingDir)
	pending, err := os.ReadFile(filepath.Join(pend, "root"))
	if os.IsNotExist(err) {
		if err := os.RemoveAll(pend); err != nil {
			return "", wrapErr(KindError, err, "cannot discard %s", pend)
		}
		return "discarded an incomplete change; the previous state is intact", nil
	}
	if err != nil {
		return "", wrapErr(KindError, err, "cannot read the pending root")
	}
	signer, err := DeriveSigningKey(key.Identity)
	if err != nil {
		return "", wrapErr(KindVaultNotFound, err, "key %s", key.Source)
	}
	body, err := VerifyRoot(pending, signer.Public().(ed25519.PublicKey))
	if err != nil {
		return "", wrapErr(KindIntegrity, err, "the pending change is not signed by this owner key; remove %s by hand after inspecting it", pend)
	}
	next, err := parseRoot(body)
	if err != nil {
		return "", err
	}
	cur, err := readRepoFile(v.Dir, rootFile, LimitRoot)
	if err != nil {
		return "", classifyRead(err, rootFile)
	}
	if next.PrevSHA256 != Hash(cur) {
		return "", newErr(KindIntegrity, "the pending change does not follow the current signed state; remove %s by hand after inspecting it", pend)
	}
	if err := applyPending(v.Dir); err != nil {
		return "", err
	}
	home, err := Home()
	if err != nil {
		return "", err
	}
	if err := raiseMarks(home, next.VaultID, next.Version, Hash(pending), nil); err != nil {
		return "", err
	}
	return "finished an interrupted change (now at version " + strconv.FormatUint(next.Version, 10) + ")", nil
}
