package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Sync with admin changes (docs/format.md section 9.4, "Admins"): two admins on two machines, the founding
// owner here (local) and bob there (remote, his own key and home). The Git side is tested by
// internal/cli/testdata/script/admins_sync*.txtar and tests/crash.

// admin is an admin's key, verify key and home.
type admin struct {
	key      *Key
	vk, home string
}

func newAdmin(t *testing.T) admin {
	t.Helper()
	k, vk, home := adminKey(t)
	return admin{key: k, vk: vk, home: home}
}

// newAdminSyncFixture is newSyncFixture on a vault whose admins are the founding owner and bob; the remote
// machine is bob's.
func newAdminSyncFixture(t *testing.T) (*syncFixture, admin) {
	t.Helper()
	tv := newTestVault(t)
	bob := newAdmin(t)
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.AddAdmin("bob", bob.key.Recipient, bob.vk) })
	f := newSyncFixtureOf(t, tv)
	f.home2, f.remoteKey = bob.home, bob.key
	return f, bob
}

// adminsOf returns the names of the admins of the local working tree's state.
func (f *syncFixture) adminsOf() []string {
	f.t.Helper()
	return sortedKeys(adminMembers(f.root(f.local.v)))
}

// readsAll checks that key decrypts every secret of values and every escrow of the local vault.
func (f *syncFixture) readsAll(who string, key *Key, values map[string]string) {
	f.t.Helper()
	ownerDecryptsEverything(f.t, f.local.v.Dir, key.Identity, values)
	for name, a := range f.root(f.local.v).Agents {
		if !a.HasEscrow() {
			continue
		}
		if _, err := decrypt(f.local.read(escrowFile(name)), key.Identity); err != nil {
			f.t.Errorf("%s cannot decrypt the escrow of agent %s: %v", who, name, err)
		}
	}
}

// readsNone checks that key decrypts no secret of the local vault.
func (f *syncFixture) readsNone(who string, key *Key, paths ...string) {
	f.t.Helper()
	for _, p := range paths {
		if _, err := decrypt(f.local.read(encFile(p)), key.Identity); err == nil {
			f.t.Errorf("%s still decrypts %s", who, p)
		}
	}
}

// Only this machine changed the admin set: its own link is kept byte for byte, the upstream's secrets
// and escrows are re-wrapped for the new admin, and a reader here that verified the link reads on.
func TestSyncAdminsOnlyLocal(t *testing.T) {
	f, bob := newAdminSyncFixture(t)
	carol := newAdmin(t)
	f.onLocal(func(o *Owner) error { return o.AddAdmin("carol", carol.key.Recipient, carol.vk) })
	link := f.local.since()
	linkRaw := f.local.read(adminChainFile(link))
	f.reads("ci", "a/x", "x0") // raises this machine's chain mark to the local link
	f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-bob"), SetOptions{}) })
	f.addAgentOn(f.remote, bob, "ops")
	res := f.apply(PreferNone)
	if !slices.Contains(res.Applied, "add admin carol") {
		t.Errorf("applied %v", res.Applied)
	}
	if got := f.local.read(adminChainFile(link)); !bytes.Equal(got, linkRaw) {
		t.Error("this machine's admin change is not kept byte for byte")
	}
	if r := f.root(f.local.v); r.Admins.Since != link {
		t.Errorf("the merged root's admin set is of version %d, want the local link %d", r.Admins.Since, link)
	}
	if got := f.adminsOf(); !slices.Equal(got, []string{"bob", "carol", "owner"}) {
		t.Errorf("admins %v", got)
	}
	values := map[string]string{"a/x": "x-bob", "a/y": "y0", "b/z": "z0"}
	f.readsAll("carol", carol.key, values)
	f.readsAll("bob", bob.key, values)
	f.reads("ci", "a/x", "x-bob")
}

// addAgentOn adds agent name on the machine of v as admin a, and keeps its key.
func (f *syncFixture) addAgentOn(v *Vault, a admin, name string) {
	f.t.Helper()
	var file []byte
	f.onWith(a.home, v, a.key, func(o *Owner) error {
		var err error
		file, err = addAgent(o, name)
		return err
	})
	f.t.Setenv("AGENT_VAULT_HOME", f.home1)
	k, err := ParseKeyFile(file, name+".key", quiet)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[name] = k
}

// Both machines changed the admin set: this machine's admin operation is re-applied in one new link after
// the upstream's, signed by this machine's admin; every admin reads every secret and escrow; a reader
// here that verified the dropped local link reads the merged state.
func TestSyncAdminsBothSides(t *testing.T) {
	f, bob := newAdminSyncFixture(t)
	carol, dave := newAdmin(t), newAdmin(t)
	f.onLocal(func(o *Owner) error { return o.AddAdmin("carol", carol.key.Recipient, carol.vk) })
	f.onLocal(func(o *Owner) error { return o.Set("b/z", []byte("z-local"), SetOptions{}) })
	localLink := f.local.since()
	f.reads("ci", "a/x", "x0")
	f.onRemote(func(o *Owner) error { return o.AddAdmin("dave", dave.key.Recipient, dave.vk) })
	f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-bob"), SetOptions{}) })
	remoteRoot := f.root(f.remote)
	remoteLink, err := os.ReadFile(filepath.Join(f.remote.Dir, filepath.FromSlash(adminChainFile(remoteRoot.Admins.Since))))
	if err != nil {
		t.Fatal(err)
	}
	res := f.apply(PreferNone)
	r := f.root(f.local.v)
	if r.Admins.Since != res.Version || r.Admins.PrevSHA256 != Hash(remoteLink) {
		t.Fatalf("the merged root's admins: since %d prev %s; want since %d (a new link) after the upstream's", r.Admins.Since, r.Admins.PrevSHA256, res.Version)
	}
	if !bytes.Equal(f.local.read(adminChainFile(res.Version)), f.local.read(rootFile)) {
		t.Error("the merged root is not kept as the new link")
	}
	if exists(f.local.v.Dir, adminChainFile(localLink)) && localLink != remoteRoot.Admins.Since {
		t.Error("this machine's superseded link is still in the chain")
	}
	if got := f.adminsOf(); !slices.Equal(got, []string{"bob", "carol", "dave", "owner"}) {
		t.Errorf("admins %v", got)
	}
	values := map[string]string{"a/x": "x-bob", "a/y": "y0", "b/z": "z-local"}
	for _, a := range []struct {
		name string
		key  *Key
	}{{"owner", f.local.owner}, {"bob", bob.key}, {"carol", carol.key}, {"dave", dave.key}} {
		f.readsAll(a.name, a.key, values)
	}
	f.reads("ci", "a/x", "x-bob")
	// A reader on a fresh machine, and bob's, follow the chain to the merged state.
	as(t, t.TempDir(), func() { f.reads("ci", "a/x", "x-bob") })
	as(t, bob.home, func() { f.reads("ci", "a/x", "x-bob") })
}

// Conflicts on the admin set: the same name added with two keys, one key added under two names, and an
// admin removed here whose key signed the upstream's changes. Without --prefer nothing changes; with it,
// the side it names keeps its entry.
func TestSyncAdminsConflicts(t *testing.T) {
	t.Run("same name", func(t *testing.T) {
		for _, prefer := range []Prefer{PreferNone, PreferLocal, PreferRemote} {
			f, _ := newAdminSyncFixture(t)
			f1, f2 := newAdmin(t), newAdmin(t)
			f.onLocal(func(o *Owner) error { return o.AddAdmin("frank", f1.key.Recipient, f1.vk) })
			f.onRemote(func(o *Owner) error { return o.AddAdmin("frank", f2.key.Recipient, f2.vk) })
			if prefer == PreferNone {
				before := f.local.read(rootFile)
				if ce := f.conflict(); !slices.Equal(ce.Admins, []string{"frank"}) {
					t.Fatalf("conflict on %v, want admin frank", ce)
				}
				if !bytes.Equal(before, f.local.read(rootFile)) {
					t.Fatal("a conflict changed the local state")
				}
				continue
			}
			f.apply(prefer)
			want := map[Prefer]string{PreferLocal: f1.vk, PreferRemote: f2.vk}[prefer]
			if got := adminMembers(f.root(f.local.v))["frank"].VerifyKey; got != want {
				t.Errorf("prefer %d: frank has verify key %s, want %s", prefer, got, want)
			}
		}
	})
	t.Run("same key", func(t *testing.T) {
		for _, prefer := range []Prefer{PreferNone, PreferLocal, PreferRemote} {
			f, _ := newAdminSyncFixture(t)
			g := newAdmin(t)
			f.onLocal(func(o *Owner) error { return o.AddAdmin("gina", g.key.Recipient, g.vk) })
			f.onRemote(func(o *Owner) error { return o.AddAdmin("gil", g.key.Recipient, g.vk) })
			if prefer == PreferNone {
				if ce := f.conflict(); !slices.Equal(ce.Admins, []string{"gina"}) {
					t.Fatalf("conflict on %v, want admin gina", ce)
				}
				continue
			}
			f.apply(prefer)
			want := map[Prefer][]string{PreferLocal: {"bob", "gina", "owner"}, PreferRemote: {"bob", "gil", "owner"}}[prefer]
			if got := f.adminsOf(); !slices.Equal(got, want) {
				t.Errorf("prefer %d: admins %v, want %v", prefer, got, want)
			}
		}
	})
	t.Run("removed signer", func(t *testing.T) {
		for _, prefer := range []Prefer{PreferNone, PreferLocal, PreferRemote} {
			f, bob := newAdminSyncFixture(t)
			f.onLocal(func(o *Owner) error { _, err := o.RemoveAdmin("bob"); return err })
			f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-bob"), SetOptions{}) })
			f.signers = []string{bob.vk}
			if prefer == PreferNone {
				if ce := f.conflict(); !slices.Equal(ce.Signed, []string{"bob"}) || len(ce.Admins) > 0 {
					t.Fatalf("conflict on %v, want bob's signature", ce)
				}
				// Signed by another key (the owner's own second machine, say), the same changes merge.
				f.signers = []string{"ed25519:someone-else"}
				f.apply(prefer)
				if got := f.adminsOf(); !slices.Equal(got, []string{"owner"}) {
					t.Errorf("admins %v", got)
				}
				continue
			}
			res := f.apply(prefer)
			f.local.mustGet(f.local.owner, "a/x", "x-bob")
			if prefer == PreferLocal {
				if got := f.adminsOf(); !slices.Equal(got, []string{"owner"}) {
					t.Errorf("prefer local: admins %v, want the removal kept", got)
				}
				f.readsNone("bob", bob.key, "a/x", "a/y", "b/z")
			} else {
				if got := f.adminsOf(); !slices.Equal(got, []string{"bob", "owner"}) || slices.Contains(res.Applied, "remove admin bob") {
					t.Errorf("prefer remote: admins %v, applied %v, want bob kept", got, res.Applied)
				}
				f.readsAll("bob", bob.key, map[string]string{"a/x": "x-bob"})
			}
		}
	})
}

// An upstream that removed this machine's admin stops the merge with a not-authorized error before
// anything is signed: the key can sign nothing readers of that chain accept.
func TestSyncAdminsRemovedHere(t *testing.T) {
	f, _ := newAdminSyncFixture(t)
	f.onLocal(func(o *Owner) error { return o.Set("a/x", []byte("x-local"), SetOptions{}) })
	f.onRemote(func(o *Owner) error { _, err := o.RemoveAdmin(FirstAdminName); return err })
	scratch := filepath.Join(t.TempDir(), DirName)
	copyVaultDir(t, f.remote.Dir, scratch)
	_, err := f.local.v.OpenDetached(scratch, f.local.owner, "")
	if KindOf(err) != KindNotAuthorized {
		t.Fatalf("the upstream's state that removed this key opens: %v, want not authorized", err)
	}
	// MergeSync itself refuses it too (with a state this key could open: the check is on the admin set).
	ow, err := f.local.v.OpenOwnerForSync(f.local.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer ow.Close()
	base, err := f.local.v.OpenDetached(f.baseDir, f.local.owner, "")
	if err != nil {
		t.Fatal(err)
	}
	remote := *base
	root := *base.Root
	root.Admins = &RootAdmins{Since: 1, Members: map[string]RootAdmin{"bob": adminMembers(base.Root)["bob"]}}
	remote.Root = &root
	if _, err := ow.MergeSync(base, &remote, PreferLocal, nil); KindOf(err) != KindNotAuthorized {
		t.Fatalf("merge on an admin set without this key: %v, want not authorized", err)
	}
}

// An admin cannot remove itself: the removal's root would be signed by a key its own admin set no longer
// holds, a state every reader refuses.
func TestRemoveAdminSelf(t *testing.T) {
	tv := newTestVault(t)
	tv.set("a/x", "x0", SetOptions{})
	bob := newAdmin(t)
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.AddAdmin("bob", bob.key.Recipient, bob.vk) })
	before := tv.read(rootFile)
	o := openAdmin(t, tv.v, tv.owner)
	_, err := o.RemoveAdmin(FirstAdminName)
	o.Close()
	if KindOf(err) != KindUsage {
		t.Fatalf("an admin removed itself: %v", err)
	}
	if !bytes.Equal(before, tv.read(rootFile)) {
		t.Fatal("the refused removal changed the state")
	}
	as(t, bob.home, func() {
		o := openAdmin(t, tv.v, bob.key)
		defer o.Close()
		if _, err := o.RemoveAdmin(FirstAdminName); err != nil {
			t.Fatalf("bob removes the owner: %v", err)
		}
	})
	tv.mustGet(bob.key, "a/x", "x0")
}

// A fast-forward to an upstream whose admin chain lacks an admin change this working tree holds is
// refused (a history rewritten without it), unless the upstream holds this machine's own sync that
// re-applied it: the sync pushed before a kill, which repair finishes.
func TestFastForwardAdminChain(t *testing.T) {
	f, _ := newAdminSyncFixture(t)
	carol, dave := newAdmin(t), newAdmin(t)
	f.onLocal(func(o *Owner) error { return o.AddAdmin("carol", carol.key.Recipient, carol.vk) })
	f.reads("ci", "a/x", "x0")
	f.onRemote(func(o *Owner) error { return o.AddAdmin("dave", dave.key.Recipient, dave.vk) })
	local := f.local.read(rootFile)
	adopt := func(dir string, roots [][]byte) error {
		t.Helper()
		up, err := f.local.v.OpenDetached(dir, f.local.owner, "")
		if err != nil {
			t.Fatal(err)
		}
		unlock, err := f.local.v.lock()
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		f.local.v.Adopter = func(string, string) error { return nil }
		return f.local.v.AdoptUpstream(up, diffDirs(t, f.local.v.Dir, dir), "up", "old", Hash(local), roots)
	}
	upDir := filepath.Join(t.TempDir(), DirName)
	copyVaultDir(t, f.remote.Dir, upDir)
	if err := adopt(upDir, nil); KindOf(err) != KindIntegrity {
		t.Fatalf("a fast-forward that drops this machine's admin change: %v, want an integrity error", err)
	}
	if !bytes.Equal(local, f.local.read(rootFile)) {
		t.Fatal("the refused fast-forward changed the working tree")
	}
	// This machine's own merge, pushed (and not applied here): adopted, and the reader here reads on.
	res, mergedDir, err := f.merge(PreferNone)
	if err != nil {
		t.Fatal(err)
	}
	remoteRoot, err := os.ReadFile(filepath.Join(f.remote.Dir, filepath.FromSlash(rootFile)))
	if err != nil {
		t.Fatal(err)
	}
	if err := adopt(mergedDir, [][]byte{res.Root, remoteRoot}); err != nil {
		t.Fatalf("the fast-forward to this machine's own merge: %v", err)
	}
	if got := f.adminsOf(); !slices.Equal(got, []string{"bob", "carol", "dave", "owner"}) {
		t.Errorf("admins %v", got)
	}
	f.reads("ci", "a/x", "x0")
}

// Repair finishes a fast-forward whose root another admin signed (the upstream's state), killed after its
// commit point.
func TestRepairFastForwardSignedByAnotherAdmin(t *testing.T) {
	withWriterWait(t, 50*time.Millisecond)
	for _, step := range []string{"marked", "half-applied", "rooted"} {
		t.Run(step, func(t *testing.T) {
			f, _ := newAdminSyncFixture(t)
			carol := newAdmin(t)
			f.onRemote(func(o *Owner) error { return o.AddAdmin("carol", carol.key.Recipient, carol.vk) })
			f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-bob"), SetOptions{}) })
			f.crashFastForward(step)
			if _, err := f.local.v.Repair(f.local.owner); err != nil {
				t.Fatalf("repair: %v", err)
			}
			f.local.mustGet(f.local.owner, "a/x", "x-bob")
			if got := f.adminsOf(); !slices.Equal(got, []string{"bob", "carol", "owner"}) {
				t.Errorf("admins %v", got)
			}
		})
	}
}

// A sync that re-applies an admin change on the upstream's admin changes, killed at every step of its
// local apply: repair arrives at the local or the merged state, and the agent here, which verified the
// local admin change, reads before and after repair without an integrity error.
func TestCrashDuringAdminSyncApply(t *testing.T) {
	withWriterWait(t, 50*time.Millisecond)
	for _, tc := range adoptSteps {
		t.Run(tc.step, func(t *testing.T) {
			f, _ := newAdminSyncFixture(t)
			carol, dave := newAdmin(t), newAdmin(t)
			f.onLocal(func(o *Owner) error { return o.AddAdmin("carol", carol.key.Recipient, carol.vk) })
			f.reads("ci", "a/x", "x0")
			f.onRemote(func(o *Owner) error { return o.AddAdmin("dave", dave.key.Recipient, dave.vk) })
			f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-bob"), SetOptions{}) })
			res, dir, err := f.merge(PreferNone)
			if err != nil {
				t.Fatal(err)
			}
			f.local.v.Adopter = func(string, string) error { return nil }
			ow, err := f.local.v.OpenOwnerForSync(f.local.owner)
			if err != nil {
				t.Fatal(err)
			}
			if err := ow.YieldChainMark(res); err != nil {
				t.Fatal(err)
			}
			changed := diffDirs(t, f.local.v.Dir, dir)
			if !crashAt(t, tc.step, func() { ow.ApplySync(res, dir, changed, "merge-commit") }) {
				t.Fatalf("ApplySync did not stop at %s", tc.step)
			}
			ow.Close()
			// Before repair: the old or the new value, or a wait that ends in "run repair"; never tampering.
			// The reader verifies the root in full (as one that never read it does), so that reading the local
			// state raises this machine's chain mark to its admin change again.
			forgetVerified(t, f.home1, res.tx.root.VaultID)
			if got, kind := f.local.get(f.keys["ci"], "a/x"); kind == KindIntegrity || kind == -1 && got != "x0" && got != "x-bob" {
				t.Fatalf("before repair ci reads %q, kind %v", got, kind)
			}
			if _, err := f.local.v.Repair(f.local.owner); err != nil {
				t.Fatalf("repair: %v", err)
			}
			want := map[bool]string{true: "x-bob", false: "x0"}[tc.new]
			f.reads("ci", "a/x", want)
			wantAdmins := map[bool][]string{true: {"bob", "carol", "dave", "owner"}, false: {"bob", "carol", "owner"}}[tc.new]
			if got := f.adminsOf(); !slices.Equal(got, wantAdmins) {
				t.Errorf("admins %v, want %v", got, wantAdmins)
			}
		})
	}
}

// forgetVerified drops the record of the last root whose signature was verified on this machine (section
// 6.3), so that the next read verifies the root and its admin chain in full.
func forgetVerified(t *testing.T, home, vaultID string) {
	t.Helper()
	m, err := loadMarks(home, vaultID)
	if err != nil {
		t.Fatal(err)
	}
	m.Verified = nil
	if err := writeMarks(home, vaultID, m); err != nil {
		t.Fatal(err)
	}
}

// A reader that meets a fast-forward half applied (the upstream's state, several versions on, signed by
// an admin the upstream added) waits for it, and then reads or says that the owner must run repair: the
// pending root is a writer although its prev_sha256 names the upstream's previous state (section 6.6).
func TestReadersDuringFastForward(t *testing.T) {
	withWriterWait(t, 50*time.Millisecond)
	for _, step := range []string{"half-applied", "applied"} {
		t.Run(step, func(t *testing.T) {
			f, _ := newAdminSyncFixture(t)
			carol := newAdmin(t)
			f.onRemote(func(o *Owner) error { return o.AddAdmin("carol", carol.key.Recipient, carol.vk) })
			f.onWith(carol.home, f.remote, carol.key, func(o *Owner) error { return o.Set("a/x", []byte("x-carol"), SetOptions{}) })
			f.onWith(carol.home, f.remote, carol.key, func(o *Owner) error { return o.Set("a/y", []byte("y-carol"), SetOptions{}) })
			f.t.Setenv("AGENT_VAULT_HOME", f.home1)
			f.crashFastForward(step)
			for _, p := range []string{"a/x", "a/y"} {
				s, err := f.local.v.Open(f.keys["ci"])
				if err == nil {
					_, err = s.Get(p)
				}
				if err != nil && (KindOf(err) != KindError || !strings.Contains(err.Error(), "repair")) {
					t.Fatalf("ci reads %s during the fast-forward: %s error %v", p, KindOf(err), err)
				}
			}
			if _, err := f.local.v.Repair(f.local.owner); err != nil {
				t.Fatalf("repair: %v", err)
			}
			f.reads("ci", "a/x", "x-carol")
		})
	}
}

// crashFastForward fast-forwards the local working tree to the remote's state (a copy, verified as the
// local owner), stopped at step as a kill would stop it; adopting the commit does nothing.
func (f *syncFixture) crashFastForward(step string) {
	f.t.Helper()
	upDir := filepath.Join(f.t.TempDir(), DirName)
	copyVaultDir(f.t, f.remote.Dir, upDir)
	up, err := f.local.v.OpenDetached(upDir, f.local.owner, "")
	if err != nil {
		f.t.Fatal(err)
	}
	f.local.v.Adopter = func(string, string) error { return nil }
	unlock, err := f.local.v.lock()
	if err != nil {
		f.t.Fatal(err)
	}
	from := Hash(f.local.read(rootFile))
	stopped := crashAt(f.t, step, func() {
		f.local.v.AdoptUpstream(up, diffDirs(f.t, f.local.v.Dir, upDir), "up", "old", from, nil)
	})
	unlock()
	if !stopped {
		f.t.Fatalf("AdoptUpstream did not stop at %s", step)
	}
}

// conflict merges without --prefer and returns the conflict that stops the merge (failing the test when
// none does).
func (f *syncFixture) conflict() *ConflictError {
	f.t.Helper()
	_, _, err := f.merge(PreferNone)
	var ce *ConflictError
	if !errors.As(err, &ce) || KindOf(err) != KindError {
		f.t.Fatalf("merge: %v, want a conflict", err)
	}
	return ce
}
