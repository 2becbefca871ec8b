package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault"
	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
)

// The post-quantum set (expected-pq.json, docs/format.md section 3.8): a vault whose owner and agent hold
// hybrid ML-KEM-768 + X25519 keys, two tampered copies of it, and cases that also cross kinds with the
// classic set's keys and vault. Its names start with vectors.PQPrefix.

// pqSecrets are the secrets of vaults/pq-basic: values and options of the classic set's secrets of the
// same paths.
var pqSecrets = []string{"stripe/api-key", "stripe/webhook-secret", "bin/all-bytes", "text/empty", "ops/owner-only"}

// withoutPQ is what a reader without post-quantum support answers to every case of the set (format.md 3.8:
// it refuses a post-quantum key, and a verified post-quantum root, as vault_not_found).
const withoutPQ = "vault_not_found"

// buildPQ makes the keys and vaults of the post-quantum set in the stage directory and returns its cases.
func (g *gen) buildPQ() (cases []*Case, err error) {
	defer recoverTo(&err)
	g.makePQBasic()
	c := &caseSet{}
	g.pqCases(c)
	for _, x := range c.cs {
		x.WithoutPQ = kind(withoutPQ)
	}
	return c.cs, nil
}

// makePQBasic writes vaults/pq-basic with a hybrid owner and agent ci (member of stripe, bin, text), and
// the keys pq-owner.key, pq-ci.key (pinned) and pq-bare.key (ci's identity, unpinned).
func (g *gen) makePQBasic() {
	g.makeOwner(vault.KeyHybrid, "pq-owner.key")
	v, o := g.ownedVault("pq-basic", "ci")
	ciPath := g.agentKeyPath("ci")
	var err error
	for _, s := range secrets {
		if slices.Contains(pqSecrets, s.path) {
			must(o.Set(s.path, s.value, s.opts))
		}
	}
	for _, grp := range []string{"stripe", "bin", "text"} {
		_, _, err := o.Grant("ci", grp)
		must(err)
	}
	o.Close()

	ciFile := fileBytes(ciPath)
	g.ci, err = vault.ParseKeyFile(ciFile, "pq-ci.key", quiet)
	must(err)
	if g.ci.Kind() != vault.KeyHybrid {
		panic("agent ci of a post-quantum vault did not get a hybrid key")
	}
	g.writeKey("pq-ci.key", append(slices.Clone(testOnly), ciFile...))
	g.writeKey("pq-bare.key", []byte(fmt.Sprintf("%s# agent ci's post-quantum identity without pins: readers fall back to trust on first use\n# public key: %s\n%s\n",
		testOnly, g.ci.Recipient, g.ci.Identity)))

	g.basic = g.copyVault(v.Dir, "pq-basic")
	g.root, _, _ = g.readRoot(g.basic)
	g.vaultID = g.root.VaultID
	for _, name := range []string{"stripe/api-key", "text/empty"} {
		types := stanzaTypesOf(fileBytes(rel(g.basic, "secrets/"+name+".enc")))
		if len(types) != 2 || types[0] != "mlkem768x25519" || types[1] != "mlkem768x25519" {
			panic(fmt.Sprintf("%s has stanzas %v, want two mlkem768x25519", name, types))
		}
	}
}

// stanzaTypesOf lists the stanza types of an age file's header.
func stanzaTypesOf(enc []byte) []string {
	f, err := agehdr.Parse(enc)
	must(err)
	var out []string
	for _, s := range f.Stanzas {
		out = append(out, agehdr.Type(s))
	}
	return out
}

// pqMixedStanzas makes vaults/pq-mixed-stanzas: stripe/api-key.enc gets an X25519 stanza for the same file
// key beside its mlkem768x25519 stanzas (a well-formed age file: header MAC and payload valid, every stanza
// opens), vouched for by a re-signed shard and root. Only the rule "a file never mixes the kinds" (5.1)
// catches it.
func (g *gen) pqMixedStanzas() string {
	return g.attack("pq-mixed-stanzas", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		p := rel(dir, "secrets/stripe/api-key.enc")
		f, err := agehdr.Parse(fileBytes(p))
		must(err)
		var stanzas []*age.Stanza
		for _, s := range f.Stanzas {
			st, err := agehdr.Decode(s)
			must(err)
			stanzas = append(stanzas, st)
		}
		fileKey, err := g.owner.Identity.Unwrap(stanzas)
		must(err)
		classic, err := age.GenerateX25519Identity()
		must(err)
		x, err := classic.Recipient().Wrap(fileKey)
		must(err)
		mixed, err := agehdr.Marshal(fileKey, append([][]byte{agehdr.Encode(x[0])}, f.Stanzas...), f.Payload)
		must(err)
		must(os.WriteFile(p, mixed, 0o644))
		editEntry(dir, r, "stripe/api-key", func(e *vault.Entry) { e.EncSHA256, e.EncSize = vault.Hash(mixed), int64(len(mixed)) })
		g.resign(dir, r, raw, g.signer)
	})
}

// pqClassicAgent makes vaults/pq-classic-agent: a re-signed root (and agents/ci/public.key) giving agent ci
// a classic X25519 recipient in a post-quantum vault. Only the rule "kinds never mix in a root" (3.1)
// catches it.
func (g *gen) pqClassicAgent() string {
	return g.attack("pq-classic-agent", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		classic, err := age.GenerateX25519Identity()
		must(err)
		pubPath := rel(dir, "agents/ci/public.key")
		pub := bytes.Replace(fileBytes(pubPath), []byte(g.ci.Recipient), []byte(classic.Recipient().String()), 1)
		must(os.WriteFile(pubPath, pub, 0o644))
		a := r.Agents["ci"]
		a.Recipient, a.PublicKeySHA256 = classic.Recipient().String(), vault.Hash(pub)
		r.Agents["ci"] = a
		g.resign(dir, r, raw, g.signer)
	})
}

// pqCases builds the tampered post-quantum vaults and returns the set's cases. Cases that cross kinds use
// the classic set's owner.key, outsider.key and vault basic.
func (g *gen) pqCases(c *caseSet) {
	// Reading the untampered vault.
	c.ok("post-quantum owner reads a secret with the owner key", "pq-basic", "pq-owner.key", true, "stripe/api-key", nil,
		"A hybrid (AGE-SECRET-KEY-PQ-1) owner key, also stored as <home>/owner.key: the Go reader anchors trust in the verify key derived from it (format.md 3.4, the hybrid derivation); an SDK without that rule uses trust on first use.")
	c.ok("post-quantum owner reads a secret of a group without members", "pq-basic", "pq-owner.key", true, "ops/owner-only", nil,
		"The owner's mlkem768x25519 stanza is in every secret file.")
	c.ok("post-quantum pinned agent reads a granted secret", "pq-basic", "pq-ci.key", false, "stripe/api-key", nil,
		"Agent ci's hybrid key file pins the vault id and the owner verify key; the file holds two mlkem768x25519 stanzas (ci and the owner).")
	c.ok("post-quantum pinned agent reads a secret with an expiry", "pq-basic", "pq-ci.key", false, "stripe/webhook-secret", nil,
		"Another secret of group stripe.")
	c.ok("post-quantum binary value with all 256 byte values", "pq-basic", "pq-ci.key", false, "bin/all-bytes", nil,
		"The bytes 0x00 to 0xff, through the hybrid stanza.")
	c.ok("post-quantum empty value", "pq-basic", "pq-ci.key", false, "text/empty", nil,
		"An empty value: value_base64 is the empty string.")
	c.ok("post-quantum unpinned key is trusted on first use", "pq-basic", "pq-bare.key", false, "stripe/api-key", nil,
		"pq-bare.key is ci's hybrid identity without pins: trust on first use, as for a classic key.")
	c.fail("post-quantum agent not granted a group without members", "pq-basic", "pq-ci.key", false, "ops/owner-only", nil, "not_authorized", "is not granted",
		"Only the owner can read group ops.")
	c.list("post-quantum owner lists every secret", "pq-basic", "pq-owner.key", true, all, nil, g.listing("", ""),
		"Listing a post-quantum vault decrypts nothing; the owner sees every secret.")
	c.list("post-quantum agent lists what it can read", "pq-basic", "pq-ci.key", false, all, nil, g.listing("ci", ""),
		"Agent ci sees the secrets of stripe, bin and text.")

	// Keys of the other kind: not authorized, never integrity (format.md 3.8).
	c.fail("classic key on a post-quantum vault", "pq-basic", "outsider.key", false, "stripe/api-key", nil, "not_authorized", "post-quantum",
		"outsider.key (classic, unpinned) trusts pq-basic on first use, then cannot be any recipient of it: a classic key is never a recipient of a post-quantum vault.")
	c.fail("classic owner key on a post-quantum vault", "pq-basic", "owner.key", true, "stripe/api-key", nil, "not_authorized", "post-quantum",
		"The classic set's owner key, stored as <home>/owner.key, given for a post-quantum vault: its derived verify key is not this vault's, and the message names both kinds instead of an integrity error.")
	c.listFail("classic key lists a post-quantum vault", "pq-basic", "outsider.key", false, all, nil, "not_authorized", "post-quantum",
		"As for get.")
	c.fail("post-quantum key on a classic vault", "basic", "pq-bare.key", false, "stripe/api-key", nil, "not_authorized", "post-quantum",
		"pq-bare.key (hybrid, unpinned) on the classic set's vault basic: no hybrid key is a recipient of a classic vault.")

	// Tampered post-quantum vaults.
	mixed := g.pqMixedStanzas()
	c.fail("file mixing mlkem768x25519 and X25519 stanzas", mixed, "pq-ci.key", false, "stripe/api-key", nil, "integrity", "mlkem768x25519",
		"stripe/api-key.enc holds an X25519 stanza beside its mlkem768x25519 stanzas, all for the same file key, and the re-signed state vouches for it: a reader refuses the header before decrypting (format.md 5.1).")
	c.fail("file mixing stanza kinds, read by the owner", mixed, "pq-owner.key", true, "stripe/api-key", nil, "integrity", "mlkem768x25519",
		"The same file read with the owner key, whose stanza is intact.")
	c.ok("other secrets of a vault with a mixed file", mixed, "pq-ci.key", false, "stripe/webhook-secret", nil,
		"Only the mixed file is refused.")
	classicAgent := g.pqClassicAgent()
	c.fail("post-quantum root naming a classic agent recipient", classicAgent, "pq-ci.key", false, "stripe/api-key", nil, "integrity", "never mix",
		"A re-signed root gives agent ci an X25519 recipient in a vault whose owner is post-quantum: kinds never mix in a root (format.md 3.1).")
	c.fail("owner reads a root naming a classic agent recipient", classicAgent, "pq-owner.key", true, "ops/owner-only", nil, "integrity", "never mix",
		"The owner key is refused the same root.")
}
