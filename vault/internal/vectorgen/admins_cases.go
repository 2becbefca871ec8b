package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/agent-vault/agent-vault/vault"
)

// Keys of the admins set.
const (
	admCI    = "admins-ci.key"    // agent ci, pinned to the vault id and the founding owner's verify key
	admBare  = "admins-bare.key"  // ci's identity without pins
	admOwner = "admins-owner.key" // the founding owner
	admBob   = "admins-bob.key"   // admin bob's owner key
	admEve   = "admins-eve.key"   // an owner key that no admin set of the history names
)

// last is the case added last, for the fields the helpers do not set.
func (c *caseSet) last() *Case { return c.cs[len(c.cs)-1] }

// cases builds the vaults of the admins set and returns its cases.
func (a *adminVectors) cases(c *caseSet) {
	a.historyCases(c)
	a.removedAdminCases(c)
	a.chainCases(c)
	a.rollbackCases(c)
	a.memberCases(c)
}

// historyCases: the states of the history, read by every kind of key, and the marks a read records.
func (a *adminVectors) historyCases(c *caseSet) {
	v := a.from(a.s1, "admins-basic", nil)
	s1, _, _ := rootOf(a.s1)
	fromLinkA := a.marksWith(a.linkA, link(a.s1, a.linkA).SHA256, link(a.s1, a.linkA))
	c.okValue("pinned agent follows the admin chain to a root signed by an added admin", v, admCI, false, "stripe/bob-token", bobToken, nil,
		"The key pins the founding owner's verify key; the root is signed by admin bob, whom the founding owner added in state/admins/"+strconv.FormatUint(a.linkA, 10)+" (format.md 4.1). The reader verifies that link with the pinned key, then the root with a key of the link's admin set, and records the link in its marks.")
	c.last().HomeAfter = a.after(a.s1)
	c.ok("pinned agent reads a secret re-wrapped by an admin change", v, admCI, false, "stripe/api-key", nil,
		"stripe/api-key was set before the admin change, which re-wrapped it for the new admin set.")
	c.list("pinned agent lists a vault with admins", v, admCI, false, all, nil, listingOf(a.s1, s1, "ci", ""),
		"Listing follows the chain too; admins are never listed as authorized agents.")
	c.last().HomeAfter = a.after(a.s1)
	c.ok("founding owner reads a vault with admins", v, admOwner, true, "ops/owner-only", nil,
		"The founding owner is admin 'owner' of the set: an admin reads every secret.")
	c.list("founding owner lists a vault with admins", v, admOwner, true, all, nil, listingOf(a.s1, s1, "", ""),
		"An admin sees every secret.")
	c.okValue("added admin reads with its own owner key", v, admBob, true, "ops/owner-only", valueOf("ops/owner-only"), a.trusted(),
		"Bob's key is <home>/owner.key and known_vaults holds the founding verify key (what 'agent-vault admin trust' records): the anchor is that key, and the verified state lists bob's recipient and verify key as an admin's.")
	c.okValue("admin key used as a plain key file", v, admBob, false, "ops/owner-only", valueOf("ops/owner-only"), nil,
		"Bob's key given as a key file, not this machine's owner key: trust on first use of config.yaml's verify key; its recipient is an admin's, so it reads every secret.")
	c.okValue("unpinned agent key follows the admin chain on first use", v, admBare, false, "stripe/bob-token", bobToken, nil,
		"Trust on first use anchors the founding verify key that config.yaml publishes; the chain is followed from it.")
	c.ok("marks that saw this admin change", v, admCI, false, "stripe/api-key", a.seen(a.s1),
		"The home's marks hold this root and its last admin change (admins: version and SHA-256 of the link).")
	c.ok("marks of an older root keep the admin change", v, admCI, false, "stripe/api-key", fromLinkA,
		"The marks saw the admin change's own root (version "+strconv.FormatUint(a.linkA, 10)+") and its link; reading the next version raises the root mark and keeps the admins mark (format.md 4.1: readers keep the field).")
	c.last().HomeAfter = a.after(a.s1)
	forked := a.marksWith(a.linkA, link(a.s1, a.linkA).SHA256, &chainMark{Version: a.linkA, SHA256: strings.Repeat("cd", 32)})
	c.fail("fork of an admin change already seen", v, admCI, false, "stripe/api-key", forked, "integrity", "fork: admin change",
		"The marks hold admin change "+strconv.FormatUint(a.linkA, 10)+" with another hash than the link the repository holds (format.md 6.3).")
	c.fail("agent not granted a group in a vault with admins", v, admCI, false, "ops/owner-only", nil, "not_authorized", "is not granted",
		"Only admins read group ops.")
	c.fail("owner key of no admin", v, admEve, true, "ops/owner-only", nil, "not_authorized", "is not an admin",
		"Eve's key is <home>/owner.key, but the verified state lists no admin with her keys: not authorized (format.md 4.1), not an integrity error.")
	c.fail("unknown key on a vault with admins", v, admEve, false, "stripe/api-key", nil, "not_authorized", "neither the owner nor an agent",
		"Eve's key as a plain key file: neither an admin's nor an agent's recipient.")

	v = a.from(a.s2, "admins-removed", nil)
	s2, _, _ := rootOf(a.s2)
	c.okValue("secret set by an admin removed since", v, admCI, false, "stripe/bob-token", bobToken, nil,
		"Bob set stripe/bob-token, then the founding owner removed him (link "+strconv.FormatUint(a.linkR, 10)+", which re-wrapped every secret without him): what he signed before his removal stays.")
	c.okValue("pinned agent follows a chain of two admin changes", v, admCI, false, "stripe/after-removal", afterRemoval, nil,
		"Links "+strconv.FormatUint(a.linkA, 10)+" and "+strconv.FormatUint(a.linkR, 10)+", each signed by an admin of the set before it; the reader records the last.")
	c.last().HomeAfter = a.after(a.s2)
	c.ok("founding owner reads after removing an admin", v, admOwner, true, "ops/owner-only", nil,
		"The founding owner is the only admin left.")
	c.list("founding owner lists after removing an admin", v, admOwner, true, all, nil, listingOf(a.s2, s2, "", ""),
		"Every secret, including the one bob set.")
	c.fail("removed admin's owner key", v, admBob, true, "stripe/api-key", a.trusted(), "not_authorized", "is not an admin",
		"Bob's key is <home>/owner.key and his machine trusts the founding key; the verified state no longer lists him: not authorized.")
	c.fail("removed admin's key as a plain key file", v, admBob, false, "stripe/api-key", nil, "not_authorized", "neither the owner nor an agent",
		"Bob's recipient is no longer an admin's, and never was an agent's.")
	c.okValue("marks that saw the earlier admin change", v, admCI, false, "stripe/after-removal", afterRemoval, a.seen(a.s1),
		"The marks saw admin change "+strconv.FormatUint(a.linkA, 10)+", which the chain still holds; the reader raises them to the removal.")
	c.last().HomeAfter = a.after(a.s2)
}

// removedAdminCases: a removed admin's signatures (format.md 4.1 "What this stops" and "What it cannot stop").
func (a *adminVectors) removedAdminCases(c *caseSet) {
	sawRemoval := a.seen(a.s2)
	r := strconv.FormatUint(a.linkR, 10)

	v := a.from(a.s2, "admins-removed-signs", func(dir string) {
		root, raw, _ := rootOf(dir)
		enc := encryptTo(forkedValue, a.ci.Recipient, root.Owner.Recipient)
		must(os.WriteFile(rel(dir, "secrets/stripe/api-key.enc"), enc, 0o644))
		editEntry(dir, root, "stripe/api-key", func(e *vault.Entry) { e.EncSHA256, e.EncSize = vault.Hash(enc), int64(len(enc)) })
		a.resign(dir, root, raw, a.bobSigner)
	})
	c.fail("root signed by a removed admin", v, admCI, false, "stripe/api-key", nil, "integrity", "signature does not verify with the key of any current admin",
		"After the removal (link "+r+", kept), bob signs a new version replacing stripe/api-key. A reader that never read this vault follows the chain through the removal: bob's key is not in the last admin set (format.md 4.1, 'What this stops').")
	c.fail("root signed by a removed admin, marks saw the removal", v, admCI, false, "stripe/api-key", sawRemoval, "integrity", "signature does not verify with the key of any current admin",
		"The same, read by a machine whose marks hold the state after the removal.")
	c.fail("root signed by a removed admin, read by the founding owner", v, admOwner, true, "ops/owner-only", nil, "integrity", "signature does not verify with the key of any current admin",
		"The owner key refuses it too.")
	c.listFail("list of a root signed by a removed admin", v, admCI, false, all, nil, "integrity", "signature does not verify with the key of any current admin",
		"As for get.")

	v = a.from(a.s2, "admins-removed-readds", func(dir string) {
		addAdminLink(dir, "bob", vault.RootAdmin{Recipient: a.bob.Recipient, VerifyKey: a.bobVK}, a.bobSigner)
	})
	c.fail("removed admin adds itself back", v, admCI, false, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"Bob, removed in link "+r+", writes a link adding himself back (well formed, linked by hash to "+r+") signed by his own key, which the set before it does not hold.")
	c.fail("removed admin adds itself back, read by its own owner key", v, admBob, true, "stripe/api-key", a.trusted(), "integrity", "is not signed by an admin of the admin set before it",
		"Bob's own machine refuses the link too.")
	c.fail("removed admin adds itself back, marks saw the removal", v, admCI, false, "stripe/api-key", sawRemoval, "integrity", "is not signed by an admin of the admin set before it",
		"The same with marks that saw the removal.")

	v = a.from(a.fork, "admins-removed-fork", nil)
	c.okValue("removed admin's history without the removal, read with no marks", v, admCI, false, "stripe/api-key", forkedValue, nil,
		"Bob's own history branching off before his removal: the chain holds link "+strconv.FormatUint(a.linkA, 10)+" only, and bob rewrote stripe/api-key until his version is above the real one's. A reader with no marks follows the chain the repository holds and accepts it: format.md 4.1, 'What it cannot stop'.")
	c.last().HomeAfter = a.after(a.fork)
	c.okValue("removed admin's history without the removal, marks from before it", v, admCI, false, "stripe/api-key", forkedValue, a.seen(a.s1),
		"A reader whose marks saw the state before the removal (admin change "+strconv.FormatUint(a.linkA, 10)+") cannot tell either.")
	c.fail("removed admin's history without the removal, marks saw the removal", v, admCI, false, "stripe/api-key", sawRemoval, "integrity", "admin change "+r+", already seen on this machine, is missing",
		"The marks hold the removal (admin change "+r+"); bob's root has a higher version than the marks' root, so only the admins mark refuses it: the chain lacks the link this machine saw (a rollback).")

	v = a.from(a.ownerRemoved, "admins-owner-removed", nil)
	c.ok("pinned agent after the founding owner was removed", v, admCI, false, "stripe/api-key", nil,
		"Bob removed the founding owner (a link signed by bob, an admin of the set before it). The founding verify key stays the anchor that agents pin (format.md 4.1); the chain is followed from it.")
	c.fail("removed founding owner's key", v, admOwner, true, "stripe/api-key", nil, "not_authorized", "is not an admin",
		"The founding owner's key as <home>/owner.key: its verify key still anchors the vault, but it is no admin.")
	c.fail("removed founding owner's key as a plain key file", v, admOwner, false, "stripe/api-key", nil, "not_authorized", "neither the owner nor an agent",
		"The root's owner.recipient is still the founding owner's; in a root with admins it gives no role unless it is a member's (format.md 6.5 step 3).")
	c.okValue("admin who removed the founding owner", v, admBob, true, "ops/owner-only", valueOf("ops/owner-only"), a.trusted(),
		"Bob is the only admin.")

	v = a.from(a.ownerRemoved, "admins-owner-removed-signs", func(dir string) {
		root, raw, _ := rootOf(dir)
		a.resign(dir, root, raw, a.signer)
	})
	c.fail("root signed by the removed founding owner", v, admCI, false, "stripe/api-key", nil, "integrity", "signature does not verify with the key of any current admin",
		"After its removal, the founding owner signs a new version: the anchor's own key is refused once the chain removed it.")
}

// chainCases: the chain itself altered, by someone who can push.
func (a *adminVectors) chainCases(c *caseSet) {
	aName, rName := strconv.FormatUint(a.linkA, 10), strconv.FormatUint(a.linkR, 10)

	v := a.from(a.s1, "admins-attacker-adds", func(dir string) {
		addAdminLink(dir, "eve", vault.RootAdmin{Recipient: a.eve.Recipient, VerifyKey: a.eveVK}, a.eveSigner)
	})
	c.fail("admin change signed by a key not in the previous set", v, admCI, false, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"Eve, who can push but holds no admin key, writes a link adding herself (well formed, linked by hash) signed by her own key, and makes it the root.")
	c.fail("admin change signed by a key not in the previous set, read by that key", v, admEve, true, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"Eve's own owner key refuses it.")
	c.fail("admin change signed by a key not in the previous set, marks saw the chain", v, admCI, false, "stripe/api-key", a.seen(a.s1), "integrity", "is not signed by an admin of the admin set before it",
		"A reader that saw the state before it.")
	c.listFail("list after an admin change signed by a key not in the previous set", v, admCI, false, all, nil, "integrity", "is not signed by an admin of the admin set before it",
		"As for get.")

	v = a.from(a.s0, "admins-attacker-first-link", func(dir string) {
		root, raw, _ := rootOf(dir)
		nextLink(root, raw, "", map[string]vault.RootAdmin{vault.FirstAdminName: a.founder(), "eve": {Recipient: a.eve.Recipient, VerifyKey: a.eveVK}})
		signLink(dir, root, a.eveSigner)
	})
	c.fail("first admin change not signed by the founding key", v, admCI, false, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"A vault without admins gets a first link adding eve, signed by eve: the first link must verify with the anchor (format.md 4.1 step 2).")
	c.fail("first admin change not signed by the founding key, unpinned reader", v, admBare, false, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"The same for trust on first use.")

	v = a.from(a.s1, "admins-link-self-signed", func(dir string) {
		resignLink(dir, a.linkA, a.bobSigner, func(*vault.Root) {})
	})
	c.fail("admin change signed by the admin it adds", v, admCI, false, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"Link "+aName+" (same body) re-signed by bob, whom it adds: an admin of the set it makes, not of the set before it.")

	v = a.from(a.s2, "admins-first-link-missing", func(dir string) { must(os.Remove(rel(dir, linkRel(a.linkA)))) })
	c.fail("chain that skips its first admin change", v, admCI, false, "stripe/api-key", nil, "integrity", "does not follow the admin change before it",
		"state/admins/"+aName+" is deleted: the chain starts at "+rName+", whose admins.prev_sha256 names the missing link.")
	c.fail("chain that skips its first admin change, read by the owner", v, admOwner, true, "stripe/api-key", nil, "integrity", "does not follow the admin change before it",
		"The owner key refuses it too.")

	v = a.from(a.s2, "admins-last-link-missing", func(dir string) { must(os.Remove(rel(dir, linkRel(a.linkR)))) })
	c.fail("chain without its last admin change", v, admCI, false, "stripe/api-key", nil, "integrity", "does not name the admin set of the last admin change",
		"state/admins/"+rName+" is deleted: the root's admins (since "+rName+") are not those of the last link left ("+aName+"), format.md 4.1 step 3.")
	c.fail("chain without its last admin change, marks saw it", v, admCI, false, "stripe/api-key", a.seen(a.s2), "integrity", "does not name the admin set of the last admin change",
		"The same with marks that saw the removal.")

	v = a.from(a.s2, "admins-link-edited", func(dir string) {
		p := rel(dir, linkRel(a.linkA))
		b := fileBytes(p)
		edited := []byte(strings.Replace(string(b), a.bobVK, a.eveVK, 1))
		if string(edited) == string(b) {
			panic("admins-link-edited: the link did not change")
		}
		must(os.WriteFile(p, edited, 0o644))
	})
	c.fail("admin change edited without a signature", v, admCI, false, "stripe/api-key", nil, "integrity", "is not signed by an admin of the admin set before it",
		"Link "+aName+"'s body gives bob eve's verify key; its signature line is left as it was.")

	v = a.from(a.s2, "admins-link-resigned", func(dir string) {
		resignLink(dir, a.linkA, a.signer, func(r *vault.Root) { r.Time = "2030-01-01T00:00:00Z" })
	})
	c.fail("admin change replaced by another signed one", v, admCI, false, "stripe/api-key", nil, "integrity", "does not follow the admin change before it",
		"Link "+aName+" replaced by a copy with another time, validly signed by the founding owner: the next link's admins.prev_sha256 no longer matches.")
	c.fail("admin change replaced, marks saw it", v, admCI, false, "stripe/api-key", a.seen(a.s1), "integrity", "does not follow the admin change before it",
		"The same with marks that saw the original link.")

	v = a.from(a.s2, "admins-link-renamed", func(dir string) {
		must(os.Rename(rel(dir, linkRel(a.linkA)), rel(dir, linkRel(a.linkA+1))))
	})
	c.fail("admin change kept under another version", v, admCI, false, "stripe/api-key", nil, "integrity", "is not the root that made an admin set at version",
		"state/admins/"+aName+" is renamed "+strconv.FormatUint(a.linkA+1, 10)+": a link's name must be its version and its admins.since.")

	v = a.from(a.s1, "admins-planted-name", func(dir string) {
		must(os.WriteFile(rel(dir, "state/admins/latest"), fileBytes(rel(dir, linkRel(a.linkA))), 0o644))
	})
	c.fail("file under state/admins that is not a version", v, admCI, false, "stripe/api-key", nil, "integrity", "planted file",
		"state/admins/latest (a copy of link "+aName+"): a name that is not a positive decimal is an integrity error (format.md 4.1 step 1).")

	v = a.from(a.s1, "admins-leading-zero", func(dir string) {
		must(os.WriteFile(rel(dir, "state/admins/0"+aName), fileBytes(rel(dir, linkRel(a.linkA))), 0o644))
	})
	c.fail("link name with a leading zero", v, admCI, false, "stripe/api-key", nil, "integrity", "planted file",
		"state/admins/0"+aName+" beside state/admins/"+aName+" (the same bytes): versions are decimal without a leading zero.")

	v = a.from(a.s2, "admins-no-chain", func(dir string) { must(os.RemoveAll(rel(dir, "state/admins"))) })
	c.fail("root with admins and no chain", v, admCI, false, "stripe/api-key", nil, "integrity", "holds no chain of admin changes",
		"state/admins/ is deleted from the state after the removal, whose root the founding owner signed (so it verifies with the anchor): a root with an admins field is refused when there is no chain (format.md 4.1 step 1).")
	c.fail("root with admins and no chain, unpinned reader", v, admBare, false, "stripe/api-key", nil, "integrity", "holds no chain of admin changes",
		"The same for trust on first use.")

	v = a.from(a.s1, "admins-root-set-without-link", func(dir string) {
		root, raw, _ := rootOf(dir)
		root.Admins.Members["eve"] = vault.RootAdmin{Recipient: a.eve.Recipient, VerifyKey: a.eveVK}
		a.resign(dir, root, raw, a.bobSigner)
	})
	c.fail("admin set changed without a link", v, admCI, false, "stripe/api-key", nil, "integrity", "does not name the admin set of the last admin change",
		"Bob, an admin, signs a root whose admins add eve without a new link (since and prev_sha256 unchanged): the root's admins must equal the last link's (format.md 4.1 step 3).")
	c.fail("admin set changed without a link, read by the admin it names", v, admEve, true, "stripe/api-key", nil, "integrity", "does not name the admin set of the last admin change",
		"Eve's owner key refuses it too.")

	v = a.from(a.s1, "admins-link-other-vault", func(dir string) {
		resignLink(dir, a.linkA, a.signer, func(r *vault.Root) { r.VaultID = strings.Repeat("0f", 16) })
	})
	c.fail("admin change of another vault", v, admCI, false, "stripe/api-key", nil, "integrity", "belongs to another vault",
		"Link "+aName+" re-signed by the founding owner naming another vault id (the root still names this vault and the link's admin set): each link must have the anchor's vault id (format.md 4.1 step 2).")
	c.fail("admin change of another vault, unpinned reader", v, admBare, false, "stripe/api-key", nil, "integrity", "belongs to another vault",
		"Trust on first use: the anchor's vault id is the one config.yaml publishes.")
	c.fail("admin change of another vault, read by an admin", v, admBob, true, "stripe/api-key", a.trusted(), "integrity", "belongs to another vault",
		"An admin's anchor is the founding key recorded for the vault id config.yaml names.")

	v = a.from(a.s1, "admins-link-other-founder", func(dir string) {
		resignLink(dir, a.linkA, a.signer, func(r *vault.Root) {
			r.Owner = vault.RootOwner{Recipient: a.bob.Recipient, VerifyKey: a.bobVK}
		})
	})
	c.fail("admin change naming another founding owner", v, admCI, false, "stripe/api-key", nil, "integrity", "belongs to another vault",
		"Link "+aName+" re-signed by the founding owner with owner.recipient and owner.verify_key bob's: each link's owner.verify_key must be the anchor's (format.md 4.1 step 2).")

	v = a.from(a.s1, "admins-link-since-mismatch", func(dir string) {
		resignLink(dir, a.linkA, a.signer, func(r *vault.Root) { r.Admins.Since = r.Version - 1 })
	})
	c.fail("admin change whose since is not its version", v, admCI, false, "stripe/api-key", nil, "integrity", "is not the root that made an admin set at version",
		"Link "+aName+" re-signed by the founding owner with admins.since one below its version: a link made its own admin set.")
}

// rollbackCases: states older than the last admin change a machine saw.
func (a *adminVectors) rollbackCases(c *caseSet) {
	aName, rName := strconv.FormatUint(a.linkA, 10), strconv.FormatUint(a.linkR, 10)
	onlyA := a.marksWith(0, "", link(a.s1, a.linkA))
	onlyR := a.marksWith(0, "", link(a.s2, a.linkR))

	c.fail("rollback below the admin change the marks saw", "admins-basic", admCI, false, "stripe/api-key", a.seen(a.s2), "integrity", "rollback",
		"The repository holds the state before bob's removal (admin change "+aName+"); the marks saw the state after it (admin change "+rName+").")
	c.fail("rollback below the admin change the marks saw, admins mark alone", "admins-basic", admCI, false, "stripe/api-key", onlyR, "integrity", "admin change "+rName+", already seen on this machine, is missing",
		"The same, but the marks have no root mark (version 0): only the admins mark refuses the older state (format.md 6.3).")
	c.listFail("list after a rollback below an admin change", "admins-basic", admCI, false, all, onlyR, "integrity", "admin change "+rName+", already seen on this machine, is missing",
		"The admins mark applies to listing.")

	v := a.from(a.s0, "admins-before-admins", nil)
	c.ok("state from before any admin change, no marks", v, admCI, false, "stripe/api-key", nil,
		"The history's state before the first admin change, read by a machine that never saw the vault: nothing tells it that the vault went on.")
	c.fail("state from before any admin change, marks saw one", v, admCI, false, "stripe/api-key", a.seen(a.s1), "integrity", "rollback",
		"The marks saw admin change "+aName+" and a later root.")
	c.fail("state from before any admin change, admins mark alone", v, admCI, false, "stripe/api-key", onlyA, "integrity", "has no admin set",
		"No root mark: the admins mark alone refuses a root without admins (format.md 4.1, Marks).")

	v = a.from(a.s0, "admins-root-before-chain", func(dir string) {
		must(os.MkdirAll(rel(dir, "state/admins"), 0o755))
		must(os.WriteFile(rel(dir, linkRel(a.linkA)), fileBytes(rel(a.s1, linkRel(a.linkA))), 0o644))
	})
	c.fail("root from before the chain it lies beside", v, admCI, false, "stripe/api-key", nil, "integrity", "does not name the admin set of the last admin change",
		"The state before the first admin change with its link left in state/admins: the root has no admins, the chain has a link (format.md 4.1 step 3), refused with no marks.")

	v = a.from(a.s2, "admins-chain-dropped", func(dir string) {
		root, raw, _ := rootOf(dir)
		root.Admins = nil
		must(os.RemoveAll(rel(dir, "state/admins")))
		a.resign(dir, root, raw, a.signer)
	})
	c.okValue("admin chain dropped by the founding owner, no marks", v, admCI, false, "stripe/after-removal", afterRemoval, nil,
		"The founding owner (still an admin) signs a next version without admins and deletes state/admins: with no chain, the root is verified with the anchor as in a vault that never had admins (format.md 4.1 step 1). A reader with no marks cannot tell.")
	c.fail("admin chain dropped by the founding owner, marks saw it", v, admCI, false, "stripe/after-removal", a.seen(a.s2), "integrity", "has no admin set",
		"A machine whose marks saw admin change "+rName+" refuses a root without admins, although its version is above the root mark.")
}

// memberCases: first admin changes validly signed by the founding owner whose admin set breaks a rule of
// format.md 4.1, and the role rules.
func (a *adminVectors) memberCases(c *caseSet) {
	bob := vault.RootAdmin{Recipient: a.bob.Recipient, VerifyKey: a.bobVK}
	owner := a.founder()
	pqFile, err := vault.NewOwnerKeyFileOf(vault.KeyHybrid)
	must(err)
	pq, err := vault.ParseKeyFile(pqFile, "pq", quiet)
	must(err)

	bad := []struct {
		vault, name, goMessage, desc string
		members                      map[string]vault.RootAdmin
	}{
		{"admins-member-agent-recipient", "admin with an agent's recipient", "same recipient as agent",
			"Admin bob has agent ci's recipient: admin recipients are distinct from every agent's.",
			map[string]vault.RootAdmin{"owner": owner, "bob": {Recipient: a.ci.Recipient, VerifyKey: a.bobVK}}},
		{"admins-member-shared-verify-key", "two admins with one verify key", "shares a key with another admin",
			"Admins bob and eve have bob's verify key: verify keys are pairwise distinct.",
			map[string]vault.RootAdmin{"owner": owner, "bob": bob, "eve": {Recipient: a.eve.Recipient, VerifyKey: a.bobVK}}},
		{"admins-member-half-founder", "admin with one of the founding owner's two keys", "only one of the founding owner's two keys",
			"Admin owner has the founding owner's recipient and eve's verify key: a member has the founding recipient if and only if it has the founding verify key.",
			map[string]vault.RootAdmin{"owner": {Recipient: owner.Recipient, VerifyKey: a.eveVK}, "bob": bob}},
		{"admins-no-members", "admin set without members", "malformed admins entry",
			"admins.members is empty: an admin set has at least one member.",
			map[string]vault.RootAdmin{}},
		{"admins-member-pq-recipient", "admin recipient of another kind", "another kind",
			"Admin bob has a post-quantum (mlkem768x25519) recipient in a classic vault: admin recipients are of the owner's kind.",
			map[string]vault.RootAdmin{"owner": owner, "bob": {Recipient: pq.Recipient, VerifyKey: a.bobVK}}},
		{"admins-member-bad-verify-key", "admin with a malformed verify key", "malformed verify key",
			"Admin bob's verify key is ed25519: and the base64 of 3 bytes.",
			map[string]vault.RootAdmin{"owner": owner, "bob": {Recipient: a.bob.Recipient, VerifyKey: "ed25519:AAAA"}}},
		{"admins-member-bad-name", "admin with a bad name", "bad admin name",
			"An admin named \"evil admin\" (a space): admin names are segments (format.md 2).",
			map[string]vault.RootAdmin{"owner": owner, "evil admin": bob}},
	}
	for _, b := range bad {
		v := a.firstLink(b.vault, b.members)
		c.fail(b.name, v, admCI, false, "stripe/api-key", nil, "integrity", b.goMessage,
			b.desc+" The first link (also the root) is validly signed by the founding owner, so only the member rule catches it (format.md 4.1).")
	}
	c.fail("admin set without members, read by the owner", "admins-no-members", admOwner, true, "stripe/api-key", nil, "integrity", "malformed admins entry",
		"The founding owner's key refuses it too.")

	v := a.firstLink("admins-member-other-verify-key", map[string]vault.RootAdmin{"owner": owner, "bob": {Recipient: a.bob.Recipient, VerifyKey: a.eveVK}, "eve": {Recipient: a.eve.Recipient, VerifyKey: a.bobVK}})
	c.ok("agent reads a vault whose admin keys are crossed", v, admCI, false, "stripe/api-key", nil,
		"A valid first link names bob with bob's recipient and eve's verify key, and eve with eve's recipient and bob's verify key: well formed, so an agent reads.")
	c.fail("owner key whose admin entry names another verify key", v, admBob, true, "stripe/api-key", a.trusted(), "integrity", "with another verify key",
		"Bob's key as <home>/owner.key: its recipient is admin bob's, whose verify key is not the one bob's key derives; an owner key must also have that member's verify key (format.md 4.1).")
}
