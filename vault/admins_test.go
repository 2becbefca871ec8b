package vault

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// adminKey makes an owner key for another admin, in its own agent-vault home, and returns the key, its
// verify key and the home.
func adminKey(t *testing.T) (*Key, string, string) {
	t.Helper()
	home := t.TempDir()
	file, err := NewOwnerKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteNewPrivateFile(filepath.Join(home, "owner.key"), file); err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeyFile(file, filepath.Join(home, "owner.key"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := k.ownerVerifyKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, vk, home
}

// as runs f with home as the agent-vault home.
func as(t *testing.T, home string, f func()) {
	t.Helper()
	old := os.Getenv("AGENT_VAULT_HOME")
	os.Setenv("AGENT_VAULT_HOME", home)
	defer os.Setenv("AGENT_VAULT_HOME", old)
	f()
}

func openAdmin(t *testing.T, v *Vault, k *Key) *Owner {
	t.Helper()
	o, err := v.OpenOwner(k)
	if err != nil {
		t.Fatalf("open as admin: %v", err)
	}
	return o
}

func TestAdminsAddSignRemove(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/key", "s1", SetOptions{})
	tv.grant("ci", "stripe")
	bob, bobVK, bobHome := adminKey(t)

	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.AddAdmin("bob", bob.Recipient, bobVK) })
	if since := tv.since(); since == 0 || tv.read(adminChainFile(since)) == nil {
		t.Fatal("the admin change's root is not kept")
	}
	// Bob, on his own machine, signs a change; the agent pinned to the founding key follows the chain.
	as(t, bobHome, func() {
		o := openAdmin(t, tv.v, bob)
		if o.Role.Admin != "bob" {
			t.Fatalf("role %v", o.Role)
		}
		if err := o.Set("stripe/other", []byte("s2"), SetOptions{}); err != nil {
			t.Fatal(err)
		}
		o.Close()
		tv.mustGet(bob, "stripe/key", "s1")
	})
	tv.mustGet(tv.ci, "stripe/other", "s2")
	tv.mustGet(tv.owner, "stripe/other", "s2")

	// Bob removes the founding owner; its key then has no role, and its signature is refused.
	as(t, bobHome, func() {
		o := openAdmin(t, tv.v, bob)
		all, err := o.RemoveAdmin(FirstAdminName)
		o.Close()
		if err != nil || strings.Join(all, ",") != "stripe/key,stripe/other" {
			t.Fatalf("remove: %v %v", all, err)
		}
	})
	tv.mustGet(tv.ci, "stripe/key", "s1")
	if _, err := tv.v.OpenOwner(tv.owner); KindOf(err) != KindNotAuthorized {
		t.Fatalf("removed founding owner: %v", err)
	}
	if _, k := tv.get(tv.owner, "stripe/key"); k != KindNotAuthorized {
		t.Fatalf("removed founding owner reads: kind %v", k)
	}

	// The removed owner signs a state without admins: refused by an agent that saw the chain, and by a
	// fresh machine's agent (the chain names bob alone).
	rootRaw := tv.read("state/root")
	body, _, _ := splitSigned(rootRaw)
	var r map[string]any
	json.Unmarshal(body, &r)
	delete(r, "admins")
	r["version"] = r["version"].(float64) + 1
	forged, _ := json.Marshal(r)
	priv, _ := tv.owner.SigningKey()
	tv.writeFile("state/root", SignRoot(priv, append(forged, '\n')))
	if _, k := tv.get(tv.ci, "stripe/key"); k != KindIntegrity {
		t.Fatalf("removed admin's signature accepted (kind %v)", k)
	}
	as(t, t.TempDir(), func() {
		if _, k := tv.get(tv.ci, "stripe/key"); k != KindIntegrity {
			t.Fatalf("fresh reader accepted a removed admin's signature (kind %v)", k)
		}
	})
	tv.writeFile("state/root", rootRaw)
	tv.mustGet(tv.ci, "stripe/key", "s1")
}

// An attacker who can push but holds no admin key cannot add an admin: a link it signs is refused.
func TestAdminsAttackerCannotAdd(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/key", "s1", SetOptions{})
	tv.grant("ci", "stripe")
	bob, bobVK, _ := adminKey(t)
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.AddAdmin("bob", bob.Recipient, bobVK) })
	tv.mustGet(tv.ci, "stripe/key", "s1")

	eve, eveVK, _ := adminKey(t)
	evePriv, _ := eve.SigningKey()
	rootRaw := tv.read("state/root")
	body, _, _ := splitSigned(rootRaw)
	var r Root
	json.Unmarshal(body, &r)
	r.Version++
	prev := Hash(tv.read(adminChainFile(tv.since())))
	r.Admins = &RootAdmins{Since: r.Version, PrevSHA256: prev, Members: cloneMap(r.Admins.Members)}
	r.Admins.Members["eve"] = RootAdmin{Recipient: eve.Recipient, VerifyKey: eveVK}
	signed := SignRoot(evePriv, encodeCompact(&r))
	tv.writeFile(adminChainFile(r.Version), signed)
	tv.writeFile("state/root", signed)
	for _, home := range []string{tv.home, t.TempDir()} {
		as(t, home, func() {
			if _, k := tv.get(tv.ci, "stripe/key"); k != KindIntegrity {
				t.Fatalf("an admin added by a non-admin was accepted (kind %v)", k)
			}
		})
	}
	// Dropping the admin chain while keeping the state is refused too (by a reader that has not verified
	// these root bytes before: one that has keeps trusting what it verified, section 6.3).
	os.RemoveAll(tv.file("state/admins"))
	tv.writeFile("state/root", rootRaw)
	as(t, t.TempDir(), func() {
		if _, k := tv.get(tv.ci, "stripe/key"); k != KindIntegrity {
			t.Fatalf("a root with admins and no chain was accepted (kind %d)", k)
		}
	})
}

// since is the version of the vault's last admin change, 0 without one.
func (tv *testVault) since() uint64 {
	tv.t.Helper()
	body, _, _ := splitSigned(tv.read("state/root"))
	var r Root
	json.Unmarshal(body, &r)
	if r.Admins == nil {
		return 0
	}
	return r.Admins.Since
}

// An admin change killed at any step is never read as tampering, and repair finishes or discards it whole:
// afterwards the admin set is the old or the new one, the chain verifies, and no value is lost.
func TestAdminsCrashDuringAdd(t *testing.T) {
	withWriterWait(t, 50*time.Millisecond)
	for _, step := range []string{"staged", "marked", "half-applied", "applied", "rooted", "recorded", "cleaning"} {
		t.Run(step, func(t *testing.T) {
			cv := newCrashVault(t, 20)
			paths := sortedKeys(cv.values)
			bob, bobVK, bobHome := adminKey(t)
			crashHook = func(s string) {
				if s == step {
					panic(crashed{s})
				}
			}
			func() {
				defer func() { crashHook = func(string) {} }()
				o := openAdmin(t, cv.v, cv.owner)
				defer o.Close()
				defer func() {
					if c, ok := recover().(crashed); !ok || c.step != step {
						t.Fatalf("admin add did not stop at step %q", step)
					}
				}()
				o.AddAdmin("bob", bob.Recipient, bobVK)
			}()
			ownerDecryptsEverything(t, cv.v.Dir, cv.owner.Identity, cv.values)
			readersNeverLie(t, cv.v, cv.ci, cv.values, paths)
			if _, err := cv.v.Repair(cv.owner); err != nil {
				t.Fatalf("repair: %v", err)
			}
			if n := readersNeverLie(t, cv.v, cv.ci, cv.values, paths); n != len(paths) {
				t.Fatalf("ci reads %d of %d secrets after repair", n, len(paths))
			}
			added := tv(cv).since() != 0
			if added != (step != "staged") { // the commit point is .pending/root, written after "staged"
				t.Fatalf("after repair the admin change is applied: %v", added)
			}
			as(t, bobHome, func() {
				if !added {
					if _, err := cv.v.Open(bob); KindOf(err) != KindNotAuthorized {
						t.Fatalf("bob, not added, opens the vault: %v", err)
					}
					return
				}
				if n := readersNeverLie(t, cv.v, bob, cv.values, paths); n != len(paths) {
					t.Fatalf("bob reads %d of %d secrets after repair", n, len(paths))
				}
			})
			cv.set("bulk/after-repair", "value-after-repair", SetOptions{})
		})
	}
}

func tv(cv *crashVault) *testVault { return cv.testVault }

// The chain's own integrity: a planted file under state/admins, a link replaced by a re-signed copy, and
// a link removed are refused by every reader; the last admin cannot be removed; a removed admin's own
// changes are refused by its CLI.
func TestAdminsChainTampering(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/key", "s1", SetOptions{})
	tv.grant("ci", "stripe")
	bob, bobVK, bobHome := adminKey(t)
	carol, carolVK, _ := adminKey(t)
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.AddAdmin("bob", bob.Recipient, bobVK) })
	first := tv.since()
	as(t, bobHome, func() {
		o := openAdmin(t, tv.v, bob)
		defer o.Close()
		if err := o.AddAdmin("carol", carol.Recipient, carolVK); err != nil {
			t.Fatal(err)
		}
	})
	second := tv.since()
	if second <= first {
		t.Fatalf("admin changes at %d then %d", first, second)
	}
	fresh := func(what string) {
		t.Helper()
		as(t, t.TempDir(), func() {
			if _, k := tv.get(tv.ci, "stripe/key"); k != KindIntegrity {
				t.Fatalf("%s: kind %d, want integrity", what, k)
			}
		})
	}
	tv.mustGet(tv.ci, "stripe/key", "s1")

	tv.writeFile("state/admins/x", []byte("planted"))
	fresh("a planted file under state/admins")
	os.Remove(tv.file("state/admins/x"))

	// Link `first` re-signed by bob (an admin, but of the set it makes, not of the set before it).
	firstRaw := tv.read(adminChainFile(first))
	body, _, _ := splitSigned(firstRaw)
	bobPriv, _ := bob.SigningKey()
	tv.writeFile(adminChainFile(first), SignRoot(bobPriv, body))
	fresh("a link signed by an admin it adds")
	tv.writeFile(adminChainFile(first), firstRaw)

	secondRaw := tv.read(adminChainFile(second))
	os.Remove(tv.file(adminChainFile(first)))
	fresh("a missing first link")
	tv.writeFile(adminChainFile(first), firstRaw)
	os.Remove(tv.file(adminChainFile(second)))
	fresh("a missing last link")
	tv.writeFile(adminChainFile(second), secondRaw)
	tv.mustGet(tv.ci, "stripe/key", "s1")

	// Removing down to one admin works; the last one stays.
	tv.owned(func(o *Owner) ([]byte, error) { _, err := o.RemoveAdmin("carol"); return nil, err })
	tv.owned(func(o *Owner) ([]byte, error) { _, err := o.RemoveAdmin("bob"); return nil, err })
	o := openAdmin(t, tv.v, tv.owner)
	if _, err := o.RemoveAdmin(FirstAdminName); KindOf(err) != KindUsage {
		t.Fatalf("removing the last admin: %v", err)
	}
	o.Close()
	as(t, bobHome, func() {
		if _, err := tv.v.OpenOwner(bob); KindOf(err) != KindNotAuthorized {
			t.Fatalf("removed admin opens as admin: %v", err)
		}
	})
	tv.mustGet(tv.ci, "stripe/key", "s1")
	s, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Check(0).Findings {
		if f.Level == "error" {
			t.Fatalf("check after admin changes: %+v", f)
		}
	}
}
