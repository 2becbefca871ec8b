package vault

import (
	"slices"
)

// Several admins (docs/format.md section 4.1).
//
// A root written after the first admin change carries the admin set in its optional "admins" field. Every
// admin holds its own age key and Ed25519 signing key (derived from its age identity as the owner's is,
// section 3.4); any admin signs changes, and every secret and escrow is encrypted to every admin. The root's
// "owner" stays the vault's founding key: the anchor that config.yaml and the agents' pins name. A root
// without "admins" is a vault whose only admin is that owner.

// FirstAdminName is the name the founding owner gets in the admin set when the first admin is added.
const FirstAdminName = "owner"

// RootAdmins is the admin set of a root and its place in the chain of admin changes.
type RootAdmins struct {
	// Since is the version of the root that made this admin set; that root's bytes are kept as
	// state/admins/<Since>.
	Since uint64 `json:"since"`
	// PrevSHA256 is the hash of the previous admin change's root file (state/admins/<v> for the greatest v
	// below Since), "" when this is the first admin change (the previous set was the founding owner alone).
	PrevSHA256 string `json:"prev_sha256"`
	// Members maps an admin's name to its keys.
	Members map[string]RootAdmin `json:"members"`
}

// RootAdmin names one admin's keys: its age recipient and its verify key (docs/format.md section 4.1).
type RootAdmin struct {
	Recipient string `json:"recipient"`
	VerifyKey string `json:"verify_key"`
}

// AdminInfo is an admin as `admin list` shows it: its name in the admin set and its keys.
type AdminInfo struct {
	Name      string `json:"name"`
	Recipient string `json:"recipient"`
	VerifyKey string `json:"verify_key"`
	Founding  bool   `json:"founding"` // the vault's founding owner key (config.yaml's verify key)
}

// adminMembers returns the admin set of root: its admins, or the founding owner alone in a root without
// admins.
func adminMembers(root *Root) map[string]RootAdmin {
	if root.Admins != nil {
		return root.Admins.Members
	}
	return map[string]RootAdmin{FirstAdminName: {Recipient: root.Owner.Recipient, VerifyKey: root.Owner.VerifyKey}}
}

// AdminList lists the vault's admins, sorted by name: the founding owner alone in a vault without admins.
func (r *Root) AdminList() []AdminInfo {
	m := adminMembers(r)
	out := make([]AdminInfo, 0, len(m))
	for _, name := range sortedKeys(m) {
		a := m[name]
		out = append(out, AdminInfo{Name: name, Recipient: a.Recipient, VerifyKey: a.VerifyKey, Founding: a.VerifyKey == r.Owner.VerifyKey})
	}
	return out
}

// adminRecipients returns the recipients of every admin, in the order of their names: the last stanzas
// of every secret file (section 5.1).
func adminRecipients(root *Root) []string {
	m := adminMembers(root)
	out := make([]string, 0, len(m))
	for _, name := range sortedKeys(m) {
		out = append(out, m[name].Recipient)
	}
	return out
}

// adminByRecipient returns the name of the admin whose recipient is rcpt.
func adminByRecipient(root *Root, rcpt string) (string, RootAdmin, bool) {
	for name, a := range adminMembers(root) {
		if a.Recipient == rcpt {
			return name, a, true
		}
	}
	return "", RootAdmin{}, false
}

// checkAdmins checks the admins field of a parsed root (section 4.1): names, recipients of the vault's
// kind, distinct from each other and from every agent's, verify keys well formed and distinct, the founding
// owner's recipient only with the founding verify key, and the chain fields.
func checkAdmins(r *Root, kind KeyKind) error {
	a := r.Admins
	if a == nil {
		return nil
	}
	if len(a.Members) == 0 || a.Since == 0 || a.Since > r.Version || (a.PrevSHA256 != "" && !validHash(a.PrevSHA256)) {
		return newErr(KindIntegrity, "state/root: malformed admins entry")
	}
	keys := map[string]bool{}
	rcpts := map[string]bool{}
	for _, name := range sortedKeys(a.Members) {
		m := a.Members[name]
		if err := CheckSegment(name); err != nil {
			return wrapErr(KindIntegrity, err, "state/root: bad admin name")
		}
		if k, ok := validRecipientOf(m.Recipient); !ok || k != kind {
			return newErr(KindIntegrity, "state/root: admin %s has a malformed recipient or one of another kind than the owner's", name)
		}
		if _, err := ParseVerifyKey(m.VerifyKey); err != nil {
			return newErr(KindIntegrity, "state/root: admin %s has a malformed verify key", name)
		}
		if keys[m.VerifyKey] || rcpts[m.Recipient] {
			return newErr(KindIntegrity, "state/root: admin %s shares a key with another admin", name)
		}
		if (m.Recipient == r.Owner.Recipient) != (m.VerifyKey == r.Owner.VerifyKey) {
			return newErr(KindIntegrity, "state/root: admin %s has only one of the founding owner's two keys", name)
		}
		if agent, ok := r.AgentByRecipient(m.Recipient); ok {
			return newErr(KindIntegrity, "state/root: admin %s has the same recipient as agent %s", name, agent)
		}
		keys[m.VerifyKey], rcpts[m.Recipient] = true, true
	}
	return nil
}

// sameAdmins reports whether two admin entries are equal.
func sameAdmins(a, b *RootAdmins) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Since != b.Since || a.PrevSHA256 != b.PrevSHA256 || len(a.Members) != len(b.Members) {
		return false
	}
	for name, m := range a.Members {
		if b.Members[name] != m {
			return false
		}
	}
	return true
}

func cloneAdmins(a *RootAdmins) *RootAdmins {
	if a == nil {
		return nil
	}
	c := *a
	c.Members = cloneMap(a.Members)
	return &c
}

// adminVerifyKeys returns the verify keys of an admin set, sorted.
func adminVerifyKeys(m map[string]RootAdmin) []string {
	var out []string
	for _, a := range m {
		out = append(out, a.VerifyKey)
	}
	slices.Sort(out)
	return out
}
