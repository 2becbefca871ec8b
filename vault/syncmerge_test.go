package vault

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// Unit tests of sync's merge (docs/format.md section 9.4): operations derived from verified states and
// re-applied on the other side's, conflicts and --prefer, agents and grants changed on both sides, the
// version above both, and the descent check that refuses older or foreign signed states. The Git side is
// tested by internal/cli/testdata/script/sync.txtar and tests/crash.

// syncFixture is one owner on two machines: local (the test vault, home H1) and remote (a copy of its
// working tree, home H2, the same owner key), which start from the same state, the base.
type syncFixture struct {
	t                     *testing.T
	local                 *testVault
	remote                *Vault
	home1, home2, baseDir string
	keys                  map[string]*Key // agent keys, by name (the latest issued)
	signers               []string        // the verify keys that signed the remote's changes, for merge
	remoteKey             *Key            // the key the remote machine changes the vault with (nil: the owner's)
}

// newSyncFixture makes a vault with agents ci (member of group a) and dep (no group), secrets a/x, a/y,
// b/z, then copies it into a base snapshot and a second machine's working tree.
func newSyncFixture(t *testing.T) *syncFixture {
	t.Helper()
	return newSyncFixtureOf(t, newTestVault(t))
}

// newSyncFixtureOf is newSyncFixture on the fresh test vault tv (another kind of owner key).
func newSyncFixtureOf(t *testing.T, tv *testVault) *syncFixture {
	t.Helper()
	f := &syncFixture{t: t, local: tv, home1: tv.home, keys: map[string]*Key{"ci": tv.ci}}
	f.addAgent("dep")
	tv.set("a/x", "x0", SetOptions{})
	tv.set("a/y", "y0", SetOptions{})
	tv.set("b/z", "z0", SetOptions{})
	tv.grant("ci", "a")
	f.baseDir = filepath.Join(t.TempDir(), "base", DirName)
	copyVaultDir(t, tv.v.Dir, f.baseDir)
	top2 := t.TempDir()
	copyDir(t, tv.v.Dir, filepath.Join(top2, DirName))
	f.home2 = t.TempDir()
	if err := fsutil.WriteNewPrivateFile(filepath.Join(f.home2, "owner.key"), tv.read2(filepath.Join(tv.home, "owner.key"))); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.remote, err = Find(top2); err != nil {
		t.Fatal(err)
	}
	return f
}

func (tv *testVault) read2(path string) []byte {
	tv.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tv.t.Fatal(err)
	}
	return b
}

// onLocal and onRemote run f as the owner on one machine (its home and working tree).
func (f *syncFixture) onLocal(do func(o *Owner) error) { f.t.Helper(); f.on(f.home1, f.local.v, do) }
func (f *syncFixture) onRemote(do func(o *Owner) error) {
	f.t.Helper()
	key := f.remoteKey
	if key == nil {
		key = f.local.owner
	}
	f.onWith(f.home2, f.remote, key, do)
	f.t.Setenv("AGENT_VAULT_HOME", f.home1)
}

func (f *syncFixture) on(home string, v *Vault, do func(o *Owner) error) {
	f.t.Helper()
	f.onWith(home, v, f.local.owner, do)
}

func (f *syncFixture) onWith(home string, v *Vault, key *Key, do func(o *Owner) error) {
	f.t.Helper()
	f.t.Setenv("AGENT_VAULT_HOME", home)
	o, err := v.OpenOwner(key)
	if err != nil {
		f.t.Fatal(err)
	}
	defer o.Close()
	if err := do(o); err != nil {
		f.t.Fatal(err)
	}
}

// addAgent adds agent name on the machine whose home is current and keeps its key.
func (f *syncFixture) addAgent(name string) {
	f.t.Helper()
	file := f.local.owned(func(o *Owner) ([]byte, error) { return addAgent(o, name) })
	k, err := ParseKeyFile(file, name+".key", quiet)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[name] = k
}

// merge runs sync's merge on the local machine: the base and the remote's vault opened detached, this
// machine's operations re-applied with prefer. It returns the result and the merged vault's directory.
func (f *syncFixture) merge(prefer Prefer) (*SyncResult, string, error) {
	f.t.Helper()
	f.t.Setenv("AGENT_VAULT_HOME", f.home1)
	ow, err := f.local.v.OpenOwnerForSync(f.local.owner)
	if err != nil {
		f.t.Fatal(err)
	}
	defer ow.Close()
	base, err := f.local.v.OpenDetached(f.baseDir, f.local.owner, ow.Root.VaultID)
	if err != nil {
		f.t.Fatalf("base: %v", err)
	}
	scratch := filepath.Join(f.t.TempDir(), DirName)
	copyVaultDir(f.t, f.remote.Dir, scratch)
	remote, err := f.local.v.OpenDetached(scratch, f.local.owner, ow.Root.VaultID)
	if err != nil {
		f.t.Fatalf("remote: %v", err)
	}
	res, err := ow.MergeSync(base, remote, prefer, f.signers)
	return res, scratch, err
}

// apply merges and makes the result the local working tree's vault (ApplySync, as sync does after its
// push), then checks that it verifies in full.
func (f *syncFixture) apply(prefer Prefer) *SyncResult {
	f.t.Helper()
	res, dir, err := f.merge(prefer)
	if err != nil {
		f.t.Fatalf("merge: %v", err)
	}
	ow, err := f.local.v.OpenOwnerForSync(f.local.owner)
	if err != nil {
		f.t.Fatal(err)
	}
	defer ow.Close()
	if err := ow.ApplySync(res, dir, diffDirs(f.t, f.local.v.Dir, dir), "merge-commit"); err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	if _, err := f.local.v.Open(f.local.owner); err != nil {
		f.t.Fatalf("the merged vault does not open: %v", err)
	}
	whole := filepath.Join(f.t.TempDir(), DirName)
	copyVaultDir(f.t, f.local.v.Dir, whole)
	if _, err := f.local.v.OpenDetached(whole, f.local.owner, ""); err != nil {
		f.t.Fatalf("the merged vault does not verify in full: %v", err)
	}
	return res
}

// copyVaultDir copies a vault directory as Git would write it: without its lock file.
func copyVaultDir(t testing.TB, src, dst string) {
	t.Helper()
	copyDir(t, src, dst)
	os.Remove(filepath.Join(dst, ".lock"))
}

// diffDirs lists the vault-relative paths whose files differ between two vault directories.
func diffDirs(t *testing.T, a, b string) []string {
	t.Helper()
	files := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() == ".lock" {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			data, _ := os.ReadFile(p)
			out[filepath.ToSlash(rel)] = data
			return nil
		})
		return out
	}
	fa, fb := files(a), files(b)
	var changed []string
	for rel, data := range fa {
		if other, ok := fb[rel]; !ok || !bytes.Equal(data, other) {
			changed = append(changed, rel)
		}
	}
	for rel := range fb {
		if _, ok := fa[rel]; !ok {
			changed = append(changed, rel)
		}
	}
	slices.Sort(changed)
	return changed
}

func (f *syncFixture) root(v *Vault) *Root {
	f.t.Helper()
	home := f.home1
	if v == f.remote {
		home = f.home2
	}
	f.t.Setenv("AGENT_VAULT_HOME", home)
	defer f.t.Setenv("AGENT_VAULT_HOME", f.home1)
	s, err := v.Open(f.local.owner)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.Root
}

// reads checks what agent reads of path on the local machine: want, or "" for not authorized.
func (f *syncFixture) reads(agent, path, want string) {
	f.t.Helper()
	got, kind := f.local.get(f.keys[agent], path)
	switch {
	case want == "" && kind != KindNotAuthorized:
		f.t.Errorf("%s reads %s: %q (kind %v), want not authorized", agent, path, got, kind)
	case want != "" && got != want:
		f.t.Errorf("%s reads %s: %q (kind %v), want %q", agent, path, got, kind, want)
	}
}

func TestSyncMergeReappliesLocalOperations(t *testing.T) {
	f := newSyncFixture(t)
	// This machine: a value changed, a secret removed, a new secret, dep granted b, an agent added.
	f.onLocal(func(o *Owner) error { return o.Set("a/x", []byte("x-local"), SetOptions{}) })
	f.onLocal(func(o *Owner) error { return o.Remove("a/y") })
	f.onLocal(func(o *Owner) error { return o.Set("c/w", []byte("w-local"), SetOptions{}) })
	f.onLocal(func(o *Owner) error { _, _, err := o.Grant("dep", "b"); return err })
	f.addAgent("ops")
	f.onLocal(func(o *Owner) error { _, _, err := o.Grant("ops", "c"); return err })
	// The other machine: another value changed, ci revoked from a, a new secret in a.
	f.onRemote(func(o *Owner) error { return o.Set("b/z", []byte("z-remote"), SetOptions{}) })
	f.onRemote(func(o *Owner) error { _, err := o.Revoke("ci", "a", RevokeOptions{}); return err })
	f.onRemote(func(o *Owner) error { return o.Set("a/r", []byte("r-remote"), SetOptions{}) })
	local, remote := f.root(f.local.v), f.root(f.remote)
	localSHA := Hash(f.local.read(rootFile))
	remoteRaw, err := os.ReadFile(filepath.Join(f.remote.Dir, "state", "root"))
	if err != nil {
		t.Fatal(err)
	}

	res := f.apply(PreferNone)
	merged := f.root(f.local.v)
	if want := max(local.Version, remote.Version) + 1; merged.Version != want || res.Version != want {
		t.Errorf("merged version %d (result %d), want %d (local %d, remote %d)", merged.Version, res.Version, want, local.Version, remote.Version)
	}
	if merged.PrevSHA256 != localSHA || merged.Merged != Hash(remoteRaw) {
		t.Errorf("the merged root's prev_sha256/merged_sha256 do not name the local and the remote roots")
	}
	for _, want := range []string{"set a/x", "delete a/y", "set c/w", "grant dep b", "agent ops", "grant ops c"} {
		if !slices.Contains(res.Applied, want) {
			t.Errorf("applied %q, want it to include %q", res.Applied, want)
		}
	}
	if len(res.Kept) != 0 {
		t.Errorf("no conflict, but kept %v", res.Kept)
	}
	// Both sides' operations are in place, and the recipients follow the merged policy: ci lost a
	// (remote), dep gained b (local), ops reads c.
	f.local.mustGet(f.local.owner, "a/x", "x-local")
	f.local.mustGet(f.local.owner, "b/z", "z-remote")
	f.local.mustGet(f.local.owner, "a/r", "r-remote")
	if _, kind := f.local.get(f.local.owner, "a/y"); kind != KindNotFound {
		t.Errorf("a/y, removed on this machine, reads with kind %v after the merge", kind)
	}
	f.reads("ci", "a/x", "")
	f.reads("ci", "a/r", "")
	f.reads("dep", "b/z", "z-remote")
	f.reads("ops", "c/w", "w-local")
	f.reads("dep", "a/x", "")
	if len(merged.Groups["a"].Members) != 0 {
		t.Errorf("group a has members %v after ci's revocation", merged.Groups["a"].Members)
	}
}

func TestSyncMergeConflicts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefer Prefer
		want   string
	}{
		{"none", PreferNone, ""},
		{"local", PreferLocal, "x-local"},
		{"remote", PreferRemote, "x-remote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSyncFixture(t)
			f.onLocal(func(o *Owner) error { return o.Set("a/x", []byte("x-local"), SetOptions{}) })
			f.onLocal(func(o *Owner) error { return o.Remove("b/z") })
			f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-remote"), SetOptions{}) })
			f.onRemote(func(o *Owner) error { return o.Remove("b/z") }) // the same change: no conflict
			before := f.local.read(rootFile)
			if tc.prefer == PreferNone {
				_, _, err := f.merge(PreferNone)
				var ce *ConflictError
				if !errors.As(err, &ce) || KindOf(err) != KindError {
					t.Fatalf("merge: %v, want a conflict (kind error)", err)
				}
				if !slices.Equal(ce.Secrets, []string{"a/x"}) || len(ce.Agents) != 0 {
					t.Errorf("conflicts %+v, want secret a/x only", ce)
				}
				if msg := err.Error(); !strings.Contains(msg, "--prefer remote") || strings.Contains(msg, "x-local") || strings.Contains(msg, "x-remote") {
					t.Errorf("conflict message %q: it must name --prefer and no value", msg)
				}
				if !bytes.Equal(before, f.local.read(rootFile)) || exists(f.local.v.Dir, pendingDir) {
					t.Error("a conflict changed the local vault")
				}
				f.local.mustGet(f.local.owner, "a/x", "x-local")
				return
			}
			res := f.apply(tc.prefer)
			f.local.mustGet(f.local.owner, "a/x", tc.want)
			f.reads("ci", "a/x", tc.want)
			if len(res.Kept) != 1 || !strings.HasPrefix(res.Kept[0], "secret a/x: ") {
				t.Errorf("kept %v, want the one conflict on a/x", res.Kept)
			}
			if _, kind := f.local.get(f.local.owner, "b/z"); kind != KindNotFound {
				t.Errorf("b/z, removed on both sides, reads with kind %v", kind)
			}
		})
	}
}

func TestSyncMergeAgentsAndGrantsOnBothSides(t *testing.T) {
	t.Run("grant and revoke", func(t *testing.T) {
		f := newSyncFixture(t)
		f.onLocal(func(o *Owner) error { _, _, err := o.Grant("dep", "a"); return err })
		f.onRemote(func(o *Owner) error { _, err := o.Revoke("ci", "a", RevokeOptions{}); return err })
		f.apply(PreferNone)
		if m := f.root(f.local.v).Groups["a"].Members; !slices.Equal(m, []string{"dep"}) {
			t.Errorf("group a has members %v, want [dep]", m)
		}
		f.reads("dep", "a/x", "x0")
		f.reads("ci", "a/x", "")
	})
	t.Run("agent removed here, granted there", func(t *testing.T) {
		f := newSyncFixture(t)
		f.onLocal(func(o *Owner) error { _, err := o.RemoveAgent("dep"); return err })
		f.onRemote(func(o *Owner) error { _, _, err := o.Grant("dep", "b"); return err })
		f.apply(PreferNone)
		r := f.root(f.local.v)
		if _, ok := r.Agents["dep"]; ok || slices.Contains(r.Groups["b"].Members, "dep") {
			t.Errorf("dep is still in the merged state (agents %v, group b %v)", r.AgentNames(), r.Groups["b"].Members)
		}
		f.reads("dep", "b/z", "")
		if exists(f.local.v.Dir, agentPubFile("dep")) || exists(f.local.v.Dir, escrowFile("dep")) {
			t.Error("the removed agent's files are still in the merged vault")
		}
	})
	t.Run("agent re-keyed on both sides", func(t *testing.T) {
		for _, prefer := range []Prefer{PreferNone, PreferLocal, PreferRemote} {
			f := newSyncFixture(t)
			localKey := f.local.owned(func(o *Owner) ([]byte, error) { return recoverAgent(o, "ci") })
			t.Setenv("AGENT_VAULT_HOME", f.home2)
			o, err := f.remote.OpenOwner(f.local.owner)
			if err != nil {
				t.Fatal(err)
			}
			remoteKey, err := recoverAgent(o, "ci")
			o.Close()
			t.Setenv("AGENT_VAULT_HOME", f.home1)
			if err != nil {
				t.Fatal(err)
			}
			if prefer == PreferNone {
				if ce := f.conflict(); !slices.Equal(ce.Agents, []string{"ci"}) {
					t.Fatalf("conflict on %v, want agent ci", ce)
				}
				continue
			}
			f.apply(prefer)
			winner, loser := localKey, remoteKey
			if prefer == PreferRemote {
				winner, loser = remoteKey, localKey
			}
			for file, want := range map[string]string{string(winner): "x0", string(loser): ""} {
				k, err := ParseKeyFile([]byte(file), "ci.key", quiet)
				if err != nil {
					t.Fatal(err)
				}
				f.keys["ci"] = k
				f.reads("ci", "a/x", want)
			}
		}
	})
	t.Run("agent added on both sides alike", func(t *testing.T) {
		// The same public key added on both sides (an agent that brings its own key) is no conflict.
		f := newSyncFixture(t)
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		rcpt := id.Recipient().String()
		f.onLocal(func(o *Owner) error { return o.AddAgentRecipient("own", rcpt) })
		f.onRemote(func(o *Owner) error { return o.AddAgentRecipient("own", rcpt) })
		res := f.apply(PreferNone)
		if len(res.Kept) != 0 {
			t.Errorf("kept %v for an identical change", res.Kept)
		}
	})
}

func TestSyncMergeVersionAboveBoth(t *testing.T) {
	for _, tc := range []struct{ local, remote int }{{1, 3}, {3, 1}, {2, 2}} {
		f := newSyncFixture(t)
		for i := range tc.local {
			f.onLocal(func(o *Owner) error { return o.Set("l/s", []byte{byte('a' + i)}, SetOptions{}) })
		}
		for i := range tc.remote {
			f.onRemote(func(o *Owner) error { return o.Set("r/s", []byte{byte('a' + i)}, SetOptions{}) })
		}
		lv, rv := f.root(f.local.v).Version, f.root(f.remote).Version
		f.apply(PreferNone)
		if got := f.root(f.local.v).Version; got != max(lv, rv)+1 {
			t.Errorf("local %d changes (v%d), remote %d (v%d): merged version %d, want %d", tc.local, lv, tc.remote, rv, got, max(lv, rv)+1)
		}
		// The merge is a successor for this machine's marks: a later change follows it.
		f.local.set("after/merge", "ok", SetOptions{})
		f.local.mustGet(f.local.owner, "after/merge", "ok")
	}
}

func TestSyncDescendsFrom(t *testing.T) {
	f := newSyncFixture(t)
	baseRaw := f.local.read(rootFile)
	var roots [][]byte
	for _, v := range []string{"1", "2"} {
		f.onRemote(func(o *Owner) error { return o.Set("r/s", []byte(v), SetOptions{}) })
		raw, err := os.ReadFile(filepath.Join(f.remote.Dir, "state", "root"))
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, raw)
	}
	t.Setenv("AGENT_VAULT_HOME", f.home1)
	tipDir := filepath.Join(t.TempDir(), DirName)
	copyVaultDir(t, f.remote.Dir, tipDir)
	tip, err := f.local.v.OpenDetached(tipDir, f.local.owner, "")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := DescendsFrom(f.local.owner, tip, Hash(baseRaw), roots)
	if err != nil || !ok {
		t.Fatalf("the remote's state does not descend from the base: %v %v", ok, err)
	}
	// Without the intermediate root the chain is broken.
	if ok, _ := DescendsFrom(f.local.owner, tip, Hash(baseRaw), roots[1:]); ok {
		t.Error("descends without the root between them")
	}
	// The base does not descend from the newer state (a rollback).
	base, err := f.local.v.OpenDetached(f.baseDir, f.local.owner, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := DescendsFrom(f.local.owner, base, Hash(roots[1]), roots); ok {
		t.Error("an older state descends from a newer one")
	}
	// The owner's root body signed by another key does not stand in for the owner's root.
	other := newTestVault(t)
	t.Setenv("AGENT_VAULT_HOME", f.home1)
	body, _, err := splitSigned(roots[0])
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := other.owner.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	forged := SignRoot(otherSigner, body)
	if ok, _ := DescendsFrom(f.local.owner, tip, Hash(baseRaw), [][]byte{forged, roots[1]}); ok {
		t.Error("descends through a root signed by another key")
	}
}

// crashAt runs f with the crash hook stopping it at step, as a kill would, and reports whether it did.
func crashAt(t *testing.T, step string, f func()) (stopped bool) {
	t.Helper()
	crashHook = func(s string) {
		if s == step {
			panic(crashed{s})
		}
	}
	defer func() {
		crashHook = func(string) {}
		if r := recover(); r != nil {
			if c, ok := r.(crashed); !ok || c.step != step {
				panic(r)
			}
			stopped = true
		}
	}()
	f()
	return false
}

// adoptSteps are the crash steps of a change that adopts a commit, and whether repair arrives at the
// new state after a crash there.
var adoptSteps = []struct {
	step string
	new  bool
}{{"staged", false}, {"marked", true}, {"half-applied", true}, {"applied", true}, {"rooted", true}, {"keyed", true}, {"recorded", true}, {"cleaning", true}}

// TestCrashDuringSyncApply kills ApplySync (a sync's merge applied after its push) at every step: repair
// arrives at the local state (before the commit point) or the merged one, and adopts the merge commit.
func TestCrashDuringSyncApply(t *testing.T) {
	for _, tc := range adoptSteps {
		t.Run(tc.step, func(t *testing.T) {
			f := newSyncFixture(t)
			f.onLocal(func(o *Owner) error { return o.Set("a/x", []byte("x-local"), SetOptions{}) })
			f.onRemote(func(o *Owner) error { _, _, err := o.Grant("dep", "a"); return err })
			local := f.root(f.local.v).Version
			res, dir, err := f.merge(PreferNone)
			if err != nil {
				t.Fatal(err)
			}
			var adopted []string
			f.local.v.Adopter = func(commit, from string) error { adopted = append(adopted, commit+"/"+from); return nil }
			f.local.v.Recorder = func([]string, string) error { t.Error("a sync's change made a commit of its own"); return nil }
			ow, err := f.local.v.OpenOwnerForSync(f.local.owner)
			if err != nil {
				t.Fatal(err)
			}
			changed := diffDirs(t, f.local.v.Dir, dir)
			if !crashAt(t, tc.step, func() { ow.ApplySync(res, dir, changed, "merge-commit") }) {
				t.Fatalf("ApplySync did not stop at %s", tc.step)
			}
			ow.Close()
			if _, err := f.local.v.Repair(f.local.owner); err != nil {
				t.Fatalf("repair: %v", err)
			}
			got := f.root(f.local.v).Version
			if tc.new && got != res.Version || !tc.new && got != local {
				t.Fatalf("after repair the version is %d; local %d, merged %d, want the %v one", got, local, res.Version, map[bool]string{true: "merged", false: "local"}[tc.new])
			}
			if tc.new && !adoptedOnce(adopted, "merge-commit/", tc.step) {
				t.Errorf("adopted %v, want the merge commit (once, or again by repair after a crash at recorded)", adopted)
			}
			f.local.mustGet(f.local.owner, "a/x", "x-local")
			f.reads("dep", "a/x", map[bool]string{true: "x-local", false: ""}[tc.new])
		})
	}
}

// adoptedOnce reports whether the adopter ran with want once, or twice when the crash came right after it
// (repair runs it again: it is idempotent).
func adoptedOnce(adopted []string, want, step string) bool {
	n := 1
	if step == "recorded" {
		n = 2
	}
	return len(adopted) == n && !slices.ContainsFunc(adopted, func(a string) bool { return a != want })
}

// TestCrashDuringFastForward kills AdoptUpstream (a fast-forward to the upstream's verified vault, two
// versions ahead) at every step: repair arrives at the old or the upstream's state, never a torn one,
// and adopts the upstream's commit from the old one.
func TestCrashDuringFastForward(t *testing.T) {
	for _, tc := range adoptSteps {
		t.Run(tc.step, func(t *testing.T) {
			f := newSyncFixture(t)
			f.onRemote(func(o *Owner) error { return o.Set("a/x", []byte("x-remote"), SetOptions{}) })
			f.onRemote(func(o *Owner) error { _, _, err := o.Grant("dep", "a"); return err })
			old := f.root(f.local.v).Version
			upDir := filepath.Join(t.TempDir(), DirName)
			copyVaultDir(t, f.remote.Dir, upDir)
			up, err := f.local.v.OpenDetached(upDir, f.local.owner, "")
			if err != nil {
				t.Fatal(err)
			}
			var adopted []string
			f.local.v.Adopter = func(commit, from string) error { adopted = append(adopted, commit+"/"+from); return nil }
			f.local.v.Recorder = func([]string, string) error { t.Error("a fast-forward made a commit of its own"); return nil }
			unlock, err := f.local.v.lock()
			if err != nil {
				t.Fatal(err)
			}
			changed := diffDirs(t, f.local.v.Dir, upDir)
			from := Hash(f.local.read(rootFile))
			stopped := crashAt(t, tc.step, func() {
				if err := f.local.v.AdoptUpstream(up, changed, "up-commit", "old-commit", from, nil); err != nil {
					t.Errorf("AdoptUpstream: %v", err)
				}
			})
			unlock()
			if !stopped {
				t.Fatalf("AdoptUpstream did not stop at %s", tc.step)
			}
			ownerDecryptsEverything(t, f.local.v.Dir, f.local.owner.Identity, map[string]string{"a/x": map[bool]string{true: "x-remote", false: "x0"}[tc.step != "staged"], "b/z": "z0"})
			if _, err := f.local.v.Repair(f.local.owner); err != nil {
				t.Fatalf("repair: %v", err)
			}
			got := f.root(f.local.v).Version
			if tc.new && got != up.Root.Version || !tc.new && got != old {
				t.Fatalf("after repair the version is %d; old %d, upstream %d", got, old, up.Root.Version)
			}
			if tc.new && !adoptedOnce(adopted, "up-commit/old-commit", tc.step) {
				t.Errorf("adopted %v, want the upstream's commit from the old one (once, or again by repair after a crash at recorded)", adopted)
			}
			want := map[bool]string{true: "x-remote", false: "x0"}[tc.new]
			f.local.mustGet(f.local.owner, "a/x", want)
			f.reads("dep", "a/x", map[bool]string{true: want, false: ""}[tc.new])
		})
	}
}

// TestFastForwardPendingNeverRollsBack: a pending change that claims to replace the current root
// (.pending/from) but carries an older signed root is refused by repair, not applied (a replayed state).
func TestFastForwardPendingNeverRollsBack(t *testing.T) {
	f := newSyncFixture(t)
	older := f.local.read(rootFile)
	f.local.set("a/x", "x1", SetOptions{})
	f.local.set("a/x", "x2", SetOptions{})
	cur := f.local.read(rootFile)
	pend := filepath.Join(f.local.v.Dir, pendingDir)
	for name, content := range map[string][]byte{"root": older, "from": []byte(Hash(cur)), "commit": []byte("c"), "paths": nil, "remove": nil} {
		if err := os.MkdirAll(pend, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pend, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeStaged(filepath.Join(pend, stagedData), nil, nil, func() {}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.local.v.Repair(f.local.owner); err == nil || KindOf(err) != KindIntegrity {
		t.Fatalf("repair of a pending older root: %v, want an integrity error", err)
	}
	if !bytes.Equal(cur, f.local.read(rootFile)) {
		t.Fatal("repair installed an older root")
	}
}

// TestSyncMergeOwnerKinds merges as a post-quantum owner and as a plugin-held owner (whose signing key is
// sealed in its key file, section 3.7): sync signs with the key's own signing key, not one derived from
// an X25519 identity, and follows the chain with the verify key the key file names.
func TestSyncMergeOwnerKinds(t *testing.T) {
	for _, kind := range []string{"post-quantum", "plugin"} {
		t.Run(kind, func(t *testing.T) {
			var tv *testVault
			if kind == "plugin" {
				pluginEnv(t)
				tv = newPluginOwnedVault(t)
			} else {
				tv = newTestVaultOf(t, KeyHybrid)
			}
			f := newSyncFixtureOf(t, tv)
			f.onLocal(func(o *Owner) error { return o.Set("a/x", []byte("x-local"), SetOptions{}) })
			f.onRemote(func(o *Owner) error { return o.Set("b/z", []byte("z-remote"), SetOptions{}) })
			f.onRemote(func(o *Owner) error { _, _, err := o.Grant("dep", "a"); return err })
			f.apply(PreferNone)
			f.local.mustGet(f.local.owner, "a/x", "x-local")
			f.local.mustGet(f.local.owner, "b/z", "z-remote")
			f.reads("dep", "a/x", "x-local")
		})
	}
}
