package vault

import (
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"
)

// Admin changes (docs/format.md section 4.1): add and remove an admin. Each is one signed change whose
// root is kept as a link of the admin chain; every secret is re-wrapped for the new admin set (the file
// keys stay, section 9.2) and every escrow re-encrypted to it.

// adminAgeRecipients returns the age recipients of every admin of root, for escrows.
func adminAgeRecipients(root *Root, opts *KeyOptions) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range adminRecipients(root) {
		rc, err := parseRecipient(r, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, rc)
	}
	return out, nil
}

// AddAdmin adds an admin with its age recipient and verify key (both as `agent-vault admin key` prints
// them on the new admin's machine). The first admin change names the founding owner FirstAdminName.
func (o *Owner) AddAdmin(name, recipient, verifyKey string) error {
	if err := userSegment("admin", name); err != nil {
		return err
	}
	verifyKey = strings.TrimSpace(verifyKey)
	rc, err := userRecipient(recipient)
	if err != nil {
		return err
	}
	if _, err := ParseVerifyKey(verifyKey); err != nil {
		return newErr(KindUsage, "--verify-key %q is not a verify key (ed25519: and the base64 of 32 bytes, as 'agent-vault admin key' prints it)", verifyKey)
	}
	members := adminMembers(o.Root)
	if _, ok := members[name]; ok {
		return newErr(KindError, "admin %q already exists", name)
	}
	if other := caseTwin(name, sortedKeys(members)); other != "" {
		return newErr(KindUsage, "admin %q differs from admin %q only in case", name, other)
	}
	for other, a := range members {
		if a.Recipient == rc || a.VerifyKey == verifyKey {
			return newErr(KindUsage, "admin %s already has this key; every admin needs a key of its own ('agent-vault admin key' on the new admin's machine)", other)
		}
	}
	if verifyKey == o.Root.Owner.VerifyKey || rc == o.Root.Owner.Recipient {
		return newErr(KindUsage, "this is the vault's founding owner key; it cannot be added under another name")
	}
	if err := o.checkRecipientFree("", rc); err != nil {
		return err
	}
	t := o.begin("add admin " + name)
	if t.root.Admins, err = o.nextAdmins(members); err != nil {
		return err
	}
	t.root.Admins.Members[name] = RootAdmin{Recipient: rc, VerifyKey: verifyKey}
	return o.commitAdminChange(t)
}

// RemoveAdmin removes an admin: its later signatures are refused by every reader that follows the chain
// past this change, and every secret and escrow is re-wrapped without it. It returns every secret, all of
// which the admin could read (rotate them at their source). The last admin cannot be removed.
func (o *Owner) RemoveAdmin(name string) ([]string, error) {
	if err := userSegment("admin", name); err != nil {
		return nil, err
	}
	members := adminMembers(o.Root)
	if _, ok := members[name]; !ok {
		return nil, newErr(KindNotFound, "admin '%s' not found in vault %s (its admins: %s)", name, o.Root.VaultID, strings.Join(sortedKeys(members), ", "))
	}
	if len(members) == 1 {
		return nil, newErr(KindUsage, "admin %s is the vault's last admin; add another admin first", name)
	}
	// The root that removes an admin is the state readers verify with the new admin set, which no longer
	// holds the removed admin's key: an admin that signed its own removal would leave a state every reader
	// refuses.
	if vk, err := o.Key.ownerVerifyKey(); err == nil && members[name].VerifyKey == vk {
		return nil, newErr(KindUsage, "admin %s is this key's own admin: an admin cannot sign its own removal (readers refuse a state signed by a key it removes); another admin removes it", name)
	}
	t := o.begin("remove admin " + name)
	var err error
	if t.root.Admins, err = o.nextAdmins(members); err != nil {
		return nil, err
	}
	delete(t.root.Admins.Members, name)
	var all []string
	err = o.entries(func(p string, _ *Entry) { all = append(all, p) })
	if err != nil {
		return nil, err
	}
	slices.Sort(all)
	return all, o.commitAdminChange(t)
}

// nextAdmins is the admin entry of a change of the admin set: linked to the current last admin change,
// taken from the verified chain.
func (o *Owner) nextAdmins(members map[string]RootAdmin) (*RootAdmins, error) {
	next := &RootAdmins{Members: cloneMap(members)}
	if o.Root.Admins == nil {
		return next, nil
	}
	c, err := o.verifiedChain()
	if err != nil {
		return nil, err
	}
	next.PrevSHA256 = c.head().sha
	return next, nil
}

// commitAdminChange re-wraps every secret and re-encrypts every escrow for t's admin set, and commits t
// as a link of the admin chain.
func (o *Owner) commitAdminChange(t *tx) error {
	t.adminChange = true
	changes, err := o.reencryptChanges(func(string, *Entry) bool { return true })
	if err != nil {
		return err
	}
	admins, err := adminAgeRecipients(t.root, o.Key.opts)
	if err != nil {
		return err
	}
	for _, name := range t.root.AgentNames() {
		a := t.root.Agents[name]
		if !a.HasEscrow() {
			continue
		}
		keyFile, err := o.Escrow(name)
		if err != nil {
			return err
		}
		escrow, err := encrypt(keyFile, admins)
		if err != nil {
			return err
		}
		t.write(escrowFile(name), escrow)
		a.EscrowSHA256 = Hash(escrow)
		t.root.Agents[name] = a
	}
	if err := o.rewrite(t, changes); err != nil {
		return err
	}
	t.message = fmt.Sprintf("%s (%s re-wrapped)", t.message, plural(len(changes), "secret"))
	return o.finish(t)
}

// OwnerVerifyKey returns the verify key of an owner (admin) key: what `agent-vault admin key` prints.
func OwnerVerifyKey(k *Key) (string, error) { return k.ownerVerifyKey() }
