package crash_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Admin changes in the kill trials (docs/format.md sections 4.1 and 9.4; issue 12 item 4): admin add,
// admin remove, and sync with admin changes, killed at any instant, get the checks every change gets, and
// one more: the admin set is the old or the new one, in step with the rest of the state, and every admin
// key this test holds decrypts every secret and every escrow exactly when the state lists it as an admin.
//
//   - admin-add: the founding owner adds erin on the main template (the vault's first admin change).
//   - admin-remove: the founding owner removes bob from the admins template (the main one with bob added).
//   - sync-admin-ff, sync-admin-merge: on the admins template with a bare remote, bob (his own key and home)
//     adds carol and pushes the changes of sync_test.go; for the merge, this machine added dave and made
//     its changes meanwhile, so that sync re-applies dave in a new link after carol's.

// adminKey is another admin's owner key, in a home of its own outside every template.
type adminKey struct {
	name, home, recipient, verifyKey string
	id                               *age.X25519Identity
}

// newAdminKey makes the admin key of name with `agent-vault admin key`.
func (k *killer) newAdminKey(name string) *adminKey {
	t := k.t
	t.Helper()
	a := &adminKey{name: name, home: filepath.Join(k.base, "admin-"+name)}
	u := user{home: a.home}
	if err := os.MkdirAll(a.home, 0o700); err != nil {
		t.Fatal(err)
	}
	out := u.mustAV(t, k.base, "", "admin", "key")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "recipient: "); ok {
			a.recipient = v
		}
		if v, ok := strings.CutPrefix(line, "verify-key: "); ok {
			a.verifyKey = v
		}
	}
	var err error
	if a.id, err = loadIdentity(u.ownerKey()); err != nil {
		t.Fatal(err)
	}
	if a.id.Recipient().String() != a.recipient {
		t.Fatalf("admin key prints %s for %s", a.recipient, name)
	}
	k.admins = append(k.admins, a)
	return a
}

// addArgs are the arguments of `agent-vault admin add` for a.
func (a *adminKey) addArgs() []string {
	return []string{"admin", "add", a.name, "--recipient", a.recipient, "--verify-key", a.verifyKey}
}

// adminKinds prepares the admin templates and returns the admin kinds.
func (k *killer) adminKinds() []*kind {
	t := k.t
	t.Helper()
	bob, carol, dave, erin := k.newAdminKey("bob"), k.newAdminKey("carol"), k.newAdminKey("dave"), k.newAdminKey("erin")

	admins := &tmpl{dir: filepath.Join(k.base, "template-admins"), values: k.main.values}
	if err := copyTree(k.main.dir, admins.dir, gitObject); err != nil {
		t.Fatal(err)
	}
	u := user{home: filepath.Join(admins.dir, "home")}
	top := filepath.Join(admins.dir, "vault")
	out := u.mustAV(t, top, "", bob.addArgs()...)
	trust := ""
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "agent-vault admin trust "); ok {
			trust = v
		}
	}
	if len(strings.Fields(trust)) != 2 {
		t.Fatalf("admin add printed no trust line: %q", out)
	}
	var err error
	if admins.state, err = readState(filepath.Join(top, ".agent-vault")); err != nil {
		t.Fatal(err)
	}
	admins.head = strings.TrimSpace(u.mustGit(t, top, "rev-parse", "HEAD"))
	if probs := k.verify(&trial{plan: plan{kind: &kind{name: "template", tmpl: admins}}, dir: admins.dir, u: u, top: top}); len(probs) > 0 {
		t.Fatalf("the admins template does not verify: %s", strings.Join(probs, "; "))
	}

	kinds := []*kind{
		{name: "admin-add", args: erin.addArgs()},
		{name: "admin-remove", args: []string{"admin", "remove", "bob"}, tmpl: admins},
	}
	return append(kinds, k.syncPair(syncSpec{
		name: "sync-admin",
		from: admins,
		other: func(dir string, u user) user {
			// Bob's machine: his own key and home; he trusts the founding key the owner handed him.
			b := user{home: bob.home}
			b.mustAV(t, dir, "", append([]string{"admin", "trust"}, strings.Fields(trust)...)...)
			return b
		},
		localFirst:  func(u user, top string) { u.mustAV(t, top, "", dave.addArgs()...) },
		remoteFirst: func(b user, m2 string) { b.mustAV(t, m2, "", append(carol.addArgs(), "--push")...) },
	})...)
}

// checkAdmins checks the admin set of the recovered state st against want (admin → recipient), and that
// every admin key this test holds decrypts every secret and every agent's escrow exactly when st lists it.
func (k *killer) checkAdmins(tr *trial, st *vstate, want map[string]string) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if fmt.Sprint(st.Admins) != fmt.Sprint(want) {
		bad("the %s state has admins %v, want %v", tr.outcome, sortedKeys(st.Admins), sortedKeys(want))
	}
	vdir := filepath.Join(tr.top, ".agent-vault")
	listed := st.adminRecipients()
	for _, a := range k.admins {
		isAdmin := listed[a.recipient]
		for _, p := range sortedKeys(st.Secrets) {
			if _, ok, err := decryptFile(encPath(vdir, p), a.id); err != nil || ok != isAdmin {
				bad("admin key %s (an admin: %v) decrypts %s: %v (%v)", a.name, isAdmin, p, ok, err)
				break
			}
		}
		for _, name := range sortedKeys(st.Agents) {
			_, ok, err := decryptFile(filepath.Join(vdir, "agents", name, "private.key.escrow"), a.id)
			if err != nil || ok != isAdmin {
				bad("admin key %s (an admin: %v) decrypts the escrow of %s: %v (%v)", a.name, isAdmin, name, ok, err)
			}
		}
	}
	return probs
}
