package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault"
)

// The admins set (expected-admins.json, docs/format.md 4.1): a vault whose admin set changed, written by the
// Go owner as its founding owner and as admin bob, the states of its history, and tampered copies of them.
// Its names start with vectors.AdminsPrefix.
//
// The history (versions as they come out; the generator works them out):
//
//	s0   the founding owner's vault: agent ci (member of stripe), the secrets of adminPaths
//	A    the owner adds admin bob: link state/admins/<A>
//	s1   bob sets stripe/bob-token (a root signed by bob)                      → vaults/admins-basic
//	R    the owner removes bob: link state/admins/<R>
//	s2   the owner sets stripe/after-removal                                    → vaults/admins-removed
//
// and two branches off s1 that the owner never sees: bob rewriting stripe/api-key until his history is
// longer than s2 (vaults/admins-removed-fork), and bob removing the founding owner (vaults/admins-owner-removed).

// adminPaths are the secrets of the history's first state: values and options of the classic set's.
var adminPaths = []string{"stripe/api-key", "stripe/webhook-secret", "ops/owner-only"}

var (
	bobToken     = []byte("token-set-by-admin-bob-vectors")
	afterRemoval = []byte("set-by-the-owner-after-bob-was-removed")
	forkedValue  = []byte("sk_test_vectors_REWRITTEN_by_a_removed_admin")
)

// adminVectors is the generator of the admins set: its history and the keys of its admins.
type adminVectors struct {
	*gen
	ownerVK string

	bob, eve             *vault.Key
	bobSigner, eveSigner ed25519.PrivateKey
	bobVK, eveVK         string
	bobFile              []byte

	s0, s1, s2, fork, ownerRemoved string // work copies of the .agent-vault directory of each state
	linkA, linkR                   uint64
}

// buildAdmins makes the keys and vaults of the admins set in the stage directory and returns its cases.
func (g *gen) buildAdmins() (cases []*Case, err error) {
	defer recoverTo(&err)
	a := &adminVectors{gen: g}
	a.makeHistory()
	c := &caseSet{}
	a.cases(c)
	return c.cs, nil
}

// newAdminKey makes an owner key for an admin other than the founding owner, written as keys/<keyName>.
func (a *adminVectors) newAdminKey(keyName string) (*vault.Key, ed25519.PrivateKey, string, []byte) {
	file, err := vault.NewOwnerKeyFileOf(vault.KeyX25519)
	must(err)
	file = append(slices.Clone(testOnly), file...)
	k, err := vault.ParseKeyFile(file, keyName, quiet)
	must(err)
	signer, err := k.SigningKey()
	must(err)
	vk, err := vault.OwnerVerifyKey(k)
	must(err)
	a.writeKey(keyName, file)
	return k, signer, vk, file
}

// asBob runs f with an agent-vault home of bob's named name (made on first use), where his owner key is
// <home>/owner.key and known_vaults holds the founding verify key, as `agent-vault admin trust` records it.
// Each of bob's histories has a home of its own: his marks of one would refuse the others as rollbacks.
func (a *adminVectors) asBob(name string, f func()) {
	home := filepath.Join(a.work, "bob-home-"+name)
	restore := setEnv(map[string]string{"AGENT_VAULT_HOME": home})
	defer restore()
	if !exists(home) {
		must(fsutil.MkdirPrivate(home))
		must(fsutil.WriteNewPrivateFile(filepath.Join(home, "owner.key"), a.bobFile))
		must(vault.TrustVault(a.vaultID, a.ownerVK))
	}
	f()
}

// snapshot copies the .agent-vault directory dir into the work directory as name and returns the copy.
func (a *adminVectors) snapshot(dir, name string) string {
	dst := filepath.Join(a.work, "states", name, vault.DirName)
	must(os.MkdirAll(dst, 0o755))
	must(copyTree(dir, dst))
	return dst
}

// branch copies the state dir to a vault of its own in the work directory, for a history the owner never sees.
func (a *adminVectors) branch(dir, name string) *vault.Vault {
	v := vault.New(filepath.Join(a.work, name))
	must(os.MkdirAll(v.Dir, 0o755))
	must(copyTree(dir, v.Dir))
	return v
}

func (a *adminVectors) openOwner(v *vault.Vault, k *vault.Key) *vault.Owner {
	o, err := v.OpenOwner(k)
	must(err)
	return o
}

func (a *adminVectors) makeHistory() {
	g := a.gen
	g.makeOwner(vault.KeyX25519, "admins-owner.key")
	a.ownerVK = vault.FormatVerifyKey(g.ownerPub)
	v, o := g.ownedVault("admins-history", "ci")
	for _, s := range secrets {
		if slices.Contains(adminPaths, s.path) {
			must(o.Set(s.path, s.value, s.opts))
		}
	}
	_, _, err := o.Grant("ci", "stripe")
	must(err)
	o.Close()
	ciFile := fileBytes(g.agentKeyPath("ci"))
	g.ci, err = vault.ParseKeyFile(ciFile, "admins-ci.key", quiet)
	must(err)
	g.writeKey("admins-ci.key", append(slices.Clone(testOnly), ciFile...))
	g.writeKey("admins-bare.key", []byte(fmt.Sprintf("%s# agent ci's identity (vault admins-*) without pins: readers fall back to trust on first use\n# public key: %s\n%s\n",
		testOnly, g.ci.Recipient, g.ci.Identity)))
	a.s0 = a.snapshot(v.Dir, "s0")
	g.root, _, _ = rootOf(a.s0)
	g.vaultID = g.root.VaultID

	a.bob, a.bobSigner, a.bobVK, a.bobFile = a.newAdminKey("admins-bob.key")
	a.eve, a.eveSigner, a.eveVK, _ = a.newAdminKey("admins-eve.key")

	o = a.openOwner(v, g.owner)
	must(o.AddAdmin("bob", a.bob.Recipient, a.bobVK))
	o.Close()
	a.linkA = sinceOf(v.Dir)
	a.asBob("main", func() {
		ob := a.openOwner(v, a.bob)
		must(ob.Set("stripe/bob-token", bobToken, vault.SetOptions{}))
		ob.Close()
	})
	a.s1 = a.snapshot(v.Dir, "s1")

	o = a.openOwner(v, g.owner)
	_, err = o.RemoveAdmin("bob")
	must(err)
	a.linkR = sinceOf(v.Dir)
	must(o.Set("stripe/after-removal", afterRemoval, vault.SetOptions{}))
	o.Close()
	a.s2 = a.snapshot(v.Dir, "s2")
	s2, _, _ := rootOf(a.s2)

	// Bob's branches off s1: the owner never sees them.
	fork := a.branch(a.s1, "bob-fork")
	a.asBob("fork", func() {
		ob := a.openOwner(fork, a.bob)
		for ob.Root.Version <= s2.Version {
			must(ob.Set("stripe/api-key", forkedValue, vault.SetOptions{AllowHosts: []string{"api.stripe.com"}}))
		}
		ob.Close()
	})
	a.fork = fork.Dir
	removed := a.branch(a.s1, "owner-removed")
	a.asBob("owner-removed", func() {
		ob := a.openOwner(removed, a.bob)
		_, err := ob.RemoveAdmin(vault.FirstAdminName)
		must(err)
		ob.Close()
	})
	a.ownerRemoved = removed.Dir

	if a.linkA == 0 || a.linkR <= a.linkA || sinceOf(a.s1) != a.linkA || sinceOf(a.ownerRemoved) <= a.linkA {
		panic(fmt.Sprintf("the admin history is not as the cases say (links %d, %d)", a.linkA, a.linkR))
	}
}

// rootOf parses the root of dir without verifying it (the generator's own files) and returns it with the
// file and its body.
func rootOf(dir string) (*vault.Root, []byte, []byte) {
	raw := fileBytes(rel(dir, "state/root"))
	i := bytes.LastIndexByte(raw[:len(raw)-1], '\n')
	body := raw[:i+1]
	var r vault.Root
	must(json.Unmarshal(body, &r))
	if !bytes.Equal(jsonCompact(&r), body) {
		panic("the root body does not round-trip through vault.Root")
	}
	return &r, raw, body
}

// sinceOf is the version of the last admin change of the state in dir (0 without one).
func sinceOf(dir string) uint64 {
	r, _, _ := rootOf(dir)
	if r.Admins == nil {
		return 0
	}
	return r.Admins.Since
}

func linkRel(v uint64) string { return "state/admins/" + strconv.FormatUint(v, 10) }

// chainMark is the admins mark of a marks file (docs/format.md section 6.3), as readers write it.
type chainMark struct {
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256"`
}

// link is the chain mark of link v of the state in dir: what a reader that verified it records.
func link(dir string, v uint64) *chainMark {
	return &chainMark{Version: v, SHA256: vault.Hash(fileBytes(rel(dir, linkRel(v))))}
}

// seen is the marks file of a reader that verified the state in dir: its root, and its last admin change.
func (a *adminVectors) seen(dir string) map[string]string {
	r, raw, _ := rootOf(dir)
	var l *chainMark
	if r.Admins != nil {
		l = link(dir, r.Admins.Since)
	}
	return a.marksWith(r.Version, vault.Hash(raw), l)
}

// marksWith is a marks file with a root mark (version 0: none) and an admins mark (nil: none).
func (a *adminVectors) marksWith(version uint64, rootSHA string, l *chainMark) map[string]string {
	m := map[string]any{"version": version, "root_sha256": rootSHA, "secrets": map[string]uint64{}}
	if l != nil {
		m["admins"] = l
	}
	b, err := json.Marshal(m)
	must(err)
	return map[string]string{"state/" + a.vaultID + ".json": string(b) + "\n"}
}

// after is the home_after of a read that verified the state in dir: the marks file holds its version and
// its last admin change.
func (a *adminVectors) after(dir string) map[string]map[string]any {
	r, _, _ := rootOf(dir)
	return map[string]map[string]any{"state/" + a.vaultID + ".json": {"version": r.Version, "admins": link(dir, r.Admins.Since)}}
}

// trusted is the home of bob's machine after `agent-vault admin trust`: the founding verify key recorded.
func (a *adminVectors) trusted() map[string]string { return a.knownVaults(a.ownerVK) }

// signLink writes r, signed by signer, as the vault's root and as its link r.Version (a root that changes
// the admin set).
func signLink(dir string, r *vault.Root, signer ed25519.PrivateKey) {
	file := vault.SignRoot(signer, jsonCompact(r))
	must(os.MkdirAll(rel(dir, "state/admins"), 0o755))
	must(os.WriteFile(rel(dir, "state/root"), file, 0o644))
	must(os.WriteFile(rel(dir, linkRel(r.Version)), file, 0o644))
}

// nextLink makes r, read from prevRaw, the next version of its vault and the root of an admin change with
// members, linked to the admin change before it (prevLink, "" for the first).
func nextLink(r *vault.Root, prevRaw []byte, prevLink string, members map[string]vault.RootAdmin) {
	r.Version++
	r.PrevSHA256 = vault.Hash(prevRaw)
	r.Admins = &vault.RootAdmins{Since: r.Version, PrevSHA256: prevLink, Members: members}
}

// addAdminLink makes the next version of dir an admin change adding admin name, linked by hash to the last
// admin change, signed by signer: a well-formed link (also the root) that only its signature can betray.
func addAdminLink(dir, name string, admin vault.RootAdmin, signer ed25519.PrivateKey) {
	root, raw, _ := rootOf(dir)
	members := maps.Clone(root.Admins.Members)
	members[name] = admin
	nextLink(root, raw, vault.Hash(fileBytes(rel(dir, linkRel(root.Admins.Since)))), members)
	signLink(dir, root, signer)
}

// resignLink replaces link v of dir by edit's change of it, validly signed by signer (the root is left).
func resignLink(dir string, v uint64, signer ed25519.PrivateKey, edit func(r *vault.Root)) {
	p := rel(dir, linkRel(v))
	raw := fileBytes(p)
	var r vault.Root
	must(json.Unmarshal(raw[:bytes.LastIndexByte(raw[:len(raw)-1], '\n')+1], &r))
	edit(&r)
	must(os.WriteFile(p, vault.SignRoot(signer, jsonCompact(&r)), 0o644))
}

// from copies the state src to vaults/<name> and lets tamper change it.
func (a *adminVectors) from(src, name string, tamper func(dir string)) string {
	dir := a.copyVault(src, name)
	if tamper != nil {
		tamper(dir)
	}
	return name
}

// founder is the founding owner's entry in an admin set.
func (a *adminVectors) founder() vault.RootAdmin {
	return vault.RootAdmin{Recipient: a.root.Owner.Recipient, VerifyKey: a.ownerVK}
}

// firstLink copies s0 to vaults/<name> with a first admin change to members signed by the founding owner's
// key (the set before it): a valid link, also the current root, whose members may break the rules of 4.1.
func (a *adminVectors) firstLink(name string, members map[string]vault.RootAdmin) string {
	return a.from(a.s0, name, func(dir string) {
		r, raw, _ := rootOf(dir)
		nextLink(r, raw, "", members)
		signLink(dir, r, a.signer)
	})
}
