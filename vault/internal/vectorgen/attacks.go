package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agent-vault/agent-vault/vault"
)

// attackCases makes one vault per attack class, each the basic vault with one change, and adds the cases
// that read them.
func (g *gen) attackCases(c *caseSet) {
	ownerVerify := vault.FormatVerifyKey(g.ownerPub)

	v := g.attack("forged-ciphertext", func(dir string) {
		must(os.WriteFile(rel(dir, "secrets/stripe/api-key.enc"), encryptTo([]byte("sk_test_vectors_FORGED_by_attacker"), g.ci.Recipient, g.root.Owner.Recipient), 0o644))
	})
	c.fail("forged ciphertext", v, "ci.key", false, "stripe/api-key", nil, "integrity", "does not match the signed state",
		"secrets/stripe/api-key.enc was replaced by a valid age file of another value to the same recipients (ci and the owner): it decrypts, but its size and hash are not the vouched ones.")
	c.fail("forged ciphertext, read by the owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "does not match the signed state",
		"The owner is refused the forged file too.")

	v = g.attack("swapped-ciphertexts", func(dir string) {
		a, b := rel(dir, "secrets/stripe/api-key.enc"), rel(dir, "secrets/stripe/webhook-secret.enc")
		ab, bb := fileBytes(a), fileBytes(b)
		must(os.WriteFile(a, bb, 0o644))
		must(os.WriteFile(b, ab, 0o644))
	})
	c.fail("swapped ciphertexts", v, "ci.key", false, "stripe/api-key", nil, "integrity", "does not match the signed state",
		"The .enc files of stripe/api-key and stripe/webhook-secret were swapped: both decrypt for ci, neither matches its entry.")
	c.fail("swapped ciphertexts, other secret", v, "ci.key", false, "stripe/webhook-secret", nil, "integrity", "does not match the signed state",
		"The other half of the swap.")

	v = g.attack("policy-edited", func(dir string) {
		r, raw, body := g.readRoot(dir)
		grp := r.Groups["stripe"]
		grp.Members = append(grp.Members, "other")
		slices.Sort(grp.Members)
		r.Groups["stripe"] = grp
		writeUnsigned(dir, r, raw, body)
	})
	c.fail("policy edited without a signature", v, "other.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"The root body was edited to add agent other to group stripe; the signature line was left as it was.")

	v = g.attack("public-key-replaced", func(dir string) {
		r, raw, body := g.readRoot(dir)
		pub := []byte(g.outsider.Recipient + "\n")
		a := r.Agents["ci"]
		a.Recipient, a.PublicKeySHA256 = g.outsider.Recipient, vault.Hash(pub)
		r.Agents["ci"] = a
		must(os.WriteFile(rel(dir, "agents/ci/public.key"), pub, 0o644))
		writeUnsigned(dir, r, raw, body)
	})
	c.fail("agent public key replaced, read by the attacker", v, "outsider.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"Agent ci's recipient in the root (and agents/ci/public.key) was replaced by the outsider's; the signature was left as it was.")
	c.fail("agent public key replaced, read by the agent", v, "ci.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"The real agent is refused too: the state is not signed.")

	v = g.attack("index-edited", func(dir string) {
		sh := readShard(dir, apiKeyShard)
		e := sh.Secrets["stripe/api-key"]
		e.ExtraAgents = append(e.ExtraAgents, "other")
		sh.Secrets["stripe/api-key"] = e
		must(os.WriteFile(shardPath(dir, apiKeyShard), jsonCompact(sh), 0o644))
	})
	c.fail("index shard edited", v, "other.key", false, "stripe/api-key", nil, "integrity", "state/index/"+apiKeyShard+".json does not match",
		"state/index/"+apiKeyShard+".json was edited to list agent other in the extra_agents of stripe/api-key; the root was left as it was, so the shard's size and hash no longer match.")
	c.fail("index shard edited, read by a member", v, "ci.key", false, "stripe/api-key", nil, "integrity", "state/index/"+apiKeyShard+".json does not match",
		"Agent ci, a member of stripe, is refused too: the shard is not the vouched one.")
	c.listFail("list with an edited index shard", v, "other.key", false, all, nil, "integrity", "state/index/"+apiKeyShard+".json does not match",
		"A listing verifies every shard it reads.")

	v = g.attack("missing-ciphertext", func(dir string) {
		must(os.Remove(rel(dir, "secrets/stripe/api-key.enc")))
	})
	c.fail("ciphertext missing", v, "ci.key", false, "stripe/api-key", nil, "integrity", "missing",
		"The index vouches for secrets/stripe/api-key.enc, which was deleted.")

	v = g.attack("root-unsigned", func(dir string) {
		_, _, body := g.readRoot(dir)
		must(os.WriteFile(rel(dir, "state/root"), body, 0o644))
	})
	c.fail("root without a signature line", v, "ci.key", false, "stripe/api-key", nil, "integrity", "signature",
		"state/root holds its JSON body only.")

	v = g.attack("root-signature-crlf", func(dir string) {
		raw := fileBytes(rel(dir, "state/root"))
		must(os.WriteFile(rel(dir, "state/root"), append(raw[:len(raw)-1], '\r', '\n'), 0o644))
	})
	c.fail("root signature line ending in CRLF", v, "ci.key", false, "stripe/api-key", nil, "integrity", "malformed signature",
		"The signature line ends in \\r\\n: the signature is valid, but the line is not \"signature: ed25519 \" base64 \"\\n\" (format.md section 4); a lenient base64 decoder would accept it, and the root's hash would differ from the signed file's.")

	v = g.attack("other-vault-state", func(dir string) {
		other := g.otherVault()
		for _, d := range []string{"state", "secrets", "agents"} {
			must(os.RemoveAll(rel(dir, d)))
			must(os.MkdirAll(rel(dir, d), 0o755))
			must(copyTree(rel(other, d), rel(dir, d)))
		}
		must(os.WriteFile(rel(dir, "manifest.yaml"), fileBytes(rel(other, "manifest.yaml")), 0o644))
	})
	c.fail("state from another vault of the same owner", v, "ci.key", false, "stripe/api-key", nil, "integrity", "belongs to vault",
		"The root, index shards, agents and secrets of another vault signed by the same owner key were copied in: the signature verifies, the vault id is not the pinned one.")

	// Unsigned secrets: files with no index entry, in a shard the root has, in one it lacks, and in a group
	// it lacks.
	planted := map[string]string{"stripe/planted-33": "present", "stripe/planted": "absent", "planted/token": "absent"}
	for p, want := range planted {
		if _, ok := g.root.Index[vault.ShardOf(p)]; ok != (want == "present") {
			panic("the shard of " + p + " is not " + want + " in the basic vault")
		}
	}
	v = g.attack("unsigned-secret", func(dir string) {
		for _, p := range sortedKeys(planted) {
			must(os.MkdirAll(filepath.Dir(rel(dir, "secrets/"+p)), 0o755))
			must(os.WriteFile(rel(dir, "secrets/"+p+".enc"), encryptTo([]byte("planted-value-"+p), g.ci.Recipient, g.root.Owner.Recipient), 0o644))
			must(os.WriteFile(rel(dir, "secrets/"+p+".meta"), []byte(fmt.Sprintf(
				"name: %q\ngroup: %q\ncreated: \"2026-11-29T13:50:00Z\"\nrotated: \"2026-11-29T13:50:00Z\"\nauthorized_agents: [\"ci\"]\n",
				p, vault.DefaultGroup(p))), 0o644))
		}
	})
	c.fail("unsigned secret in a signed shard", v, "ci.key", false, "stripe/planted-33", nil, "integrity", "unsigned secret",
		"secrets/stripe/planted-33.enc and .meta (a valid age file to ci and the owner) were added without an index entry; the path's shard (59) exists and holds misc/shared-token: an unsigned secret, not a missing one.")
	c.fail("unsigned secret in a signed group", v, "ci.key", false, "stripe/planted", nil, "integrity", "unsigned secret",
		"secrets/stripe/planted.enc and .meta were added; the path's shard is absent from the root.")
	c.fail("unsigned secret in an unsigned group", v, "ci.key", false, "planted/token", nil, "integrity", "unsigned secret",
		"secrets/planted/token.enc and .meta were added; the root has neither the path's shard nor a group planted.")

	v = g.attack("bad-group-name", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		r.Groups["../x"] = r.Groups["stripe"]
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("bad group name in the signed root", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad group name",
		"A validly signed root names a group \"../x\": only the name rule catches it.")

	v = g.attack("bad-agent-name", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		a := r.Agents["other"]
		// A distinct recipient, so that only the name rule is broken.
		out, err := vault.ParseKeyFile(fileBytes(filepath.Join(g.stage, "keys", "outsider.key")), "outsider.key", quiet)
		must(err)
		a.Recipient = out.Recipient
		r.Agents["evil agent"] = a
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("bad agent name in the signed root", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad agent name",
		"A validly signed root names an agent \"evil agent\" (a space), with a recipient of its own: only the name rule catches it.")

	v = g.attack("bad-entry-group", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		editEntry(dir, r, "stripe/api-key", func(e *vault.Entry) { e.Group = "nosuchgroup" })
		grp := r.Groups["stripe"]
		grp.Secrets--
		r.Groups["stripe"] = grp
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("index entry names a group the root lacks", v, "ci.key", false, "stripe/api-key", nil, "integrity", "which the signed root does not have",
		"A validly signed root vouches for shard "+apiKeyShard+", whose entry for stripe/api-key names group \"nosuchgroup\", which the root does not have (the count of group stripe was lowered to match).")
	c.fail("index entry names a group the root lacks, read by the owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "which the signed root does not have",
		"The owner, who could decrypt the file, is refused too.")

	v = g.attack("bad-secret-name", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		sh := readShard(dir, apiKeyShard)
		sh.Secrets[badName] = sh.Secrets["stripe/api-key"]
		writeShard(dir, r, sh)
		grp := r.Groups["stripe"]
		grp.Secrets++
		r.Groups["stripe"] = grp
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("bad secret name in a signed index shard", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad secret name",
		"Shard "+apiKeyShard+", vouched for (with its count of 2) by a validly signed root, has an entry \""+badName+"\" beside stripe/api-key; SHA-256 of that name starts with "+apiKeyShard+", so only the name rule catches it.")
	c.listFail("list with a bad secret name in a signed index shard", v, "owner.key", true, all, nil, "integrity", "bad secret name",
		"A listing reads the shard and refuses it by the name rule.")

	v = g.attack("oversized-config", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		cfg := fileBytes(rel(dir, "config.yaml"))
		pad := strings.Repeat("# padding: a YAML comment line of sixty-four bytes in total ....\n", (vault.LimitOther/64)+16)
		cfg = append(cfg, pad...)
		must(os.WriteFile(rel(dir, "config.yaml"), cfg, 0o644))
		r.Files["config.yaml"] = vault.FileRef{SHA256: vault.Hash(cfg), Size: int64(len(cfg))}
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("oversized config.yaml read by an unpinned key", v, "bare.key", false, "stripe/api-key", nil, "integrity", "limit",
		"config.yaml is over the 64 KiB limit of an untrusted config.yaml (valid YAML, its hash and size vouched for by a validly signed root); an unpinned reader must read it before it trusts anything, and refuses it by size.")

	v = g.attack("symlink-file", func(dir string) {
		enc := rel(dir, "secrets/stripe/api-key.enc")
		must(os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.enc"), fileBytes(enc), 0o644))
		must(os.Remove(enc))
		must(os.Symlink("../../../outside.enc", enc))
	})
	c.fail("symbolic link to a file", v, "ci.key", false, "stripe/api-key", nil, "integrity", "symbolic link",
		"secrets/stripe/api-key.enc is a symbolic link to a file with the very bytes the index vouches for (vaults/symlink-file/outside.enc). Git keeps the link; copy the vault preserving links, or read it in place.")

	v = g.attack("symlink-dir", func(dir string) {
		sec := rel(dir, "secrets/stripe")
		target := filepath.Join(filepath.Dir(dir), "stripe-real")
		must(os.MkdirAll(target, 0o755))
		must(copyTree(sec, target))
		must(os.RemoveAll(sec))
		must(os.Symlink("../../stripe-real", sec))
	})
	c.fail("symbolic link to a directory", v, "ci.key", false, "stripe/api-key", nil, "integrity", "not a directory",
		"secrets/stripe is a symbolic link to a directory holding the same files (vaults/symlink-dir/stripe-real).")

	v = g.attack("resigned-by-other-owner", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		verify2 := vault.FormatVerifyKey(g.signer2.Public().(ed25519.PublicKey))
		cfg := bytes.Replace(fileBytes(rel(dir, "config.yaml")), []byte(ownerVerify), []byte(verify2), 1)
		pub := []byte(g.owner2.Recipient().String() + "\n")
		must(os.WriteFile(rel(dir, "config.yaml"), cfg, 0o644))
		must(os.WriteFile(rel(dir, "owner.pub"), pub, 0o644))
		r.Files["config.yaml"] = vault.FileRef{SHA256: vault.Hash(cfg), Size: int64(len(cfg))}
		r.Files["owner.pub"] = vault.FileRef{SHA256: vault.Hash(pub), Size: int64(len(pub))}
		r.Owner = vault.RootOwner{Recipient: g.owner2.Recipient().String(), VerifyKey: verify2}
		g.resign(dir, r, raw, g.signer2)
	})
	c.fail("pinned key against a vault re-signed by another owner", v, "ci.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"Someone re-signed the vault with their own owner key (root, config.yaml and owner.pub changed consistently): the pinned verify key refuses it.")
	c.fail("owner key against a vault re-signed by another owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "not signed by this owner key",
		"The owner's own key refuses a vault that another key signed.")
	c.fail("known vault re-signed by another owner", v, "bare.key", false, "stripe/api-key", g.knownVaults(ownerVerify), "integrity", "trusted on first use",
		"An unpinned key that trusted the real owner key on first use refuses the new one.")

	// Format 2's own rules.
	v = g.attack("shared-recipient", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		a := r.Agents["other"]
		a.Recipient = g.ci.Recipient
		r.Agents["other"] = a
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("two agents share a recipient", v, "ci.key", false, "stripe/api-key", nil, "integrity", "same recipient",
		"A validly signed root gives agent other the recipient of agent ci: a reader could not tell which agent the key is (format.md section 4).")
	c.listFail("list with two agents sharing a recipient", v, "ci.key", false, all, nil, "integrity", "same recipient",
		"The recipient rule is part of verifying the root, for listing too.")

	v = g.attack("shared-owner-recipient", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		a := r.Agents["other"]
		a.Recipient = r.Owner.Recipient
		r.Agents["other"] = a
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("an agent shares the owner's recipient", v, "ci.key", false, "stripe/api-key", nil, "integrity", "same recipient",
		"A validly signed root gives agent other the owner's recipient: the owner's and every agent's recipients are pairwise distinct (format.md section 4).")
	c.fail("an agent shares the owner's recipient, read by the owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "same recipient",
		"The owner key is refused too: its role would be ambiguous.")

	v = g.attack("recipient-uppercase", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		a := r.Agents["ci"]
		a.Recipient = strings.ToUpper(a.Recipient)
		r.Agents["ci"] = a
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("recipient in upper case in the signed root", v, "ci.key", false, "stripe/api-key", nil, "integrity", "malformed recipient",
		"A validly signed root writes agent ci's recipient in upper case (valid Bech32, but repository bytes hold recipients in lower case only, format.md 3.1): refused, neither matched case-insensitively nor taken as an unknown key.")

	big := bytes.Repeat([]byte("v"), vault.MaxValueSize+1)
	v = g.attack("oversized-value", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		enc := encryptTo(big, g.ci.Recipient, g.root.Owner.Recipient)
		must(os.WriteFile(rel(dir, "secrets/stripe/api-key.enc"), enc, 0o644))
		editEntry(dir, r, "stripe/api-key", func(e *vault.Entry) {
			e.EncSHA256, e.EncSize = vault.Hash(enc), int64(len(enc))
		})
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("value over 1 MiB", v, "ci.key", false, "stripe/api-key", nil, "integrity", "limit",
		fmt.Sprintf("secrets/stripe/api-key.enc is a valid age file to ci and the owner holding %d bytes (1 MiB + 1), vouched for with its right size and hash by a re-signed shard and root: a reader that decrypts more than 1 MiB stops with an integrity error (format.md 5.1).", len(big)))
	c.fail("value over 1 MiB, read by the owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "limit",
		"The owner is refused the oversized value too.")
	c.ok("other secrets of a vault with an oversized value", v, "ci.key", false, "stripe/webhook-secret", nil,
		"Only the oversized secret is refused.")
	c.list("list of a vault with an oversized value", v, "ci.key", false, group("stripe"), nil, g.listing("ci", "stripe"),
		"A listing decrypts nothing, so the oversized value does not stop it; the entries are unchanged but for the .enc hash and size, which a listing does not show.")

	webhookShard, utf8Shard := vault.ShardOf("stripe/webhook-secret"), vault.ShardOf("text/utf8")
	if webhookShard == apiKeyShard || utf8Shard == apiKeyShard || utf8Shard == webhookShard {
		panic("size-mismatch needs three distinct shards")
	}
	v = g.attack("size-mismatch", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		ref := r.Index[apiKeyShard]
		ref.Size++
		r.Index[apiKeyShard] = ref
		ref = r.Index[webhookShard]
		ref.Size--
		r.Index[webhookShard] = ref
		editEntry(dir, r, "text/utf8", func(e *vault.Entry) { e.EncSize++ })
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("index shard larger than vouched", v, "ci.key", false, "stripe/api-key", nil, "integrity", "size mismatch",
		"A validly signed root vouches for shard "+apiKeyShard+" with its right hash but a size one byte larger than the file.")
	c.fail("index shard smaller than vouched", v, "ci.key", false, "stripe/webhook-secret", nil, "integrity", "size mismatch",
		"A validly signed root vouches for shard "+webhookShard+" with its right hash but a size one byte smaller than the file (a reader that reads at most the vouched size sees a file over its size).")
	c.fail("ciphertext size differs from its entry", v, "ci.key", false, "text/utf8", nil, "integrity", "size mismatch",
		"The entry of text/utf8 (in a re-signed shard and root) has the right enc_sha256 but an enc_size one byte larger than secrets/text/utf8.enc.")
	c.ok("secret with right sizes in a vault with size mismatches", v, "ci.key", false, "bin/all-bytes", nil,
		"The mismatches touch other shards and files only.")
	c.listFail("list with an index shard of the wrong size", v, "ci.key", false, all, nil, "integrity", "size mismatch",
		"A listing reads every shard and compares each one's size.")

	v = g.attack("meta-edited", func(dir string) {
		meta := rel(dir, "secrets/stripe/api-key.meta")
		b := bytes.Replace(fileBytes(meta), []byte(`authorized_agents: ["ci"]`), []byte(`authorized_agents: ["ci", "other"]`), 1)
		b = bytes.Replace(b, []byte(`group: "stripe"`), []byte(`group: "misc"`), 1)
		if bytes.Equal(b, fileBytes(meta)) {
			panic("meta-edited: the .meta file did not change")
		}
		must(os.WriteFile(meta, b, 0o644))
		must(os.WriteFile(rel(dir, "secrets/legacy/db-password.meta"), []byte("this: is: not [valid YAML\n"), 0o644))
		must(os.Remove(rel(dir, "secrets/text/empty.meta")))
	})
	c.ok("edited .meta is not read by get", v, "ci.key", false, "stripe/api-key", nil,
		"secrets/stripe/api-key.meta was edited (group misc, authorized_agents with other) and its entry's meta_sha256 left as it was: readers of values do not read .meta (format.md 5.1), so the value is returned.")
	c.fail("edited .meta grants nothing", v, "other.key", false, "stripe/api-key", nil, "not_authorized", "is not granted",
		"The edited .meta names agent other; the entry and the root do not, so other is not authorized.")
	c.ok("invalid .meta is not read by get", v, "ci.key", false, "legacy/db-password", nil,
		"secrets/legacy/db-password.meta is not valid YAML.")
	c.ok("missing .meta is not read by get", v, "ci.key", false, "text/empty", nil,
		"secrets/text/empty.meta was deleted.")
	c.list("list ignores edited .meta files", v, "owner.key", true, all, nil, g.listing("", ""),
		"Listing takes the metadata from the index entries, never from .meta: the list is the basic vault's.")
	c.list("agent list ignores edited .meta files", v, "ci.key", false, all, nil, g.listing("ci", ""),
		"The agent's listing is the basic vault's too.")

	g.shardCountCases(c)
	g.moreRootAndShardCases(c)
	g.format1Cases(c)
}

// moreRootAndShardCases: a missing root, shards that do not belong where the root puts them, recipients
// and formats a reader must refuse, and fields it must ignore.
func (g *gen) moreRootAndShardCases(c *caseSet) {
	v := g.attack("root-missing", func(dir string) {
		must(os.Remove(rel(dir, "state/root")))
	})
	c.fail("signed root deleted", v, "ci.key", false, "stripe/api-key", nil, "integrity", "state/root is missing",
		"state/root was deleted; config.yaml is still there, so the state was deleted: an integrity error, not vault_not_found (format.md 6.7).")
	c.fail("signed root deleted, read by an unpinned key", v, "bare.key", false, "stripe/api-key", nil, "integrity", "state/root is missing",
		"The unpinned key reads config.yaml first (trust on first use), then finds no root.")

	webhookShard := vault.ShardOf("stripe/webhook-secret")
	v = g.attack("entry-wrong-shard", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		sh, from := readShard(dir, apiKeyShard), readShard(dir, webhookShard)
		sh.Secrets["stripe/webhook-secret"] = from.Secrets["stripe/webhook-secret"]
		writeShard(dir, r, sh)
		delete(r.Index, webhookShard)
		must(os.Remove(shardPath(dir, webhookShard)))
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("index entry in the wrong shard", v, "ci.key", false, "stripe/api-key", nil, "integrity", "which belongs to shard",
		"A re-signed root vouches for shard "+apiKeyShard+" holding the entries of stripe/api-key and of stripe/webhook-secret, whose path hash starts with "+webhookShard+" (that shard is gone): every key of a shard must hash to it (format.md 5).")
	c.fail("secret whose entry sits in the wrong shard", v, "ci.key", false, "stripe/webhook-secret", nil, "integrity", "unsigned secret",
		"The reader looks in shard "+webhookShard+", which the root does not have, and finds the secret's files: an unsigned secret.")
	c.listFail("list with an index entry in the wrong shard", v, "ci.key", false, all, nil, "integrity", "which belongs to shard",
		"A listing reads shard "+apiKeyShard+" and refuses it.")

	v = g.attack("shard-other-vault", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		sh := readShard(dir, apiKeyShard)
		sh.VaultID = strings.Repeat("0f", 16)
		writeShard(dir, r, sh)
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("index shard of another vault id", v, "ci.key", false, "stripe/api-key", nil, "integrity", "belongs to another vault or shard",
		"A re-signed root vouches for shard "+apiKeyShard+" (right size and hash) whose vault_id is not the root's.")

	v = g.attack("unknown-format", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		r.Format = 3
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("root of an unknown format", v, "ci.key", false, "stripe/api-key", nil, "integrity", "format 3 is not supported",
		"A re-signed root says format 3 (signed with the format 2 domain): a reader refuses a format it does not know (format.md 10).")

	v = g.attack("recipient-bad-checksum", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		a := r.Agents["ci"]
		last := a.Recipient[len(a.Recipient)-1]
		repl := byte('q')
		if last == 'q' {
			repl = 'p'
		}
		a.Recipient = a.Recipient[:len(a.Recipient)-1] + string(repl)
		r.Agents["ci"] = a
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("recipient with a bad Bech32 checksum", v, "ci.key", false, "stripe/api-key", nil, "integrity", "malformed recipient",
		"A re-signed root gives agent ci a recipient that matches ^age1[02-9ac-hj-np-z]{58}$ but whose last character was changed, so its Bech32 checksum fails (format.md 3.1).")

	v = g.attack("unknown-fields", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		r.Version++
		r.PrevSHA256 = vault.Hash(raw)
		var m map[string]any
		must(json.Unmarshal(jsonIndent(r), &m))
		m["x_future_field"] = map[string]any{"note": "a field a later format version may add", "list": []int{1, 2, 3}}
		m["x_future_flag"] = true
		must(os.WriteFile(rel(dir, "state/root"), vault.SignRoot(g.signer, jsonCompact(m)), 0o644))
	})
	c.ok("root with unknown fields", v, "ci.key", false, "stripe/api-key", nil,
		"A re-signed root has two top-level fields that format 2 does not define (an object and a boolean): unknown fields MUST be ignored (format.md 4).")
	c.list("list of a root with unknown fields", v, "ci.key", false, all, nil, g.listing("ci", ""),
		"The listing is the basic vault's.")
}

// shardCountCases: counts in a validly signed root that disagree with the entries.
func (g *gen) shardCountCases(c *caseSet) {
	v := g.attack("shard-count-edited", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		ref := r.Index[apiKeyShard]
		ref.Secrets++
		r.Index[apiKeyShard] = ref
		g.resign(dir, r, raw, g.signer)
	})
	c.fail("index shard with fewer entries than its count", v, "ci.key", false, "stripe/api-key", nil, "integrity", "the signed root says",
		"A validly signed root vouches for shard "+apiKeyShard+" with its right hash and size but a count of 2; the shard holds 1 entry (format.md 5: the count MUST equal index.<shard>.secrets).")

	v = g.attack("group-count-edited", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		text, bin := r.Groups["text"], r.Groups["bin"]
		text.Secrets++
		bin.Secrets--
		r.Groups["text"], r.Groups["bin"] = text, bin
		g.resign(dir, r, raw, g.signer)
	})
	c.listFail("list of a group with fewer entries than its count", v, "ci.key", false, group("text"), nil, "integrity", "the signed root says",
		"A validly signed root says group text has 4 secrets and group bin 0 (the total is unchanged); 3 entries name text and 1 names bin. Listing a group checks its count (format.md 6.5).")
	c.listFail("list of a group with more entries than its count", v, "ci.key", false, group("bin"), nil, "integrity", "the signed root says",
		"Group bin: the root says 0 secrets, one entry names it.")
	c.ok("get in a group whose count is wrong", v, "ci.key", false, "text/utf8", nil,
		"A get reads the root, one shard and one .enc: it cannot count a group's entries, and the root's group counts still add up to its shard counts. Only listing a group checks its count.")
}

// format1Cases: a genuine format 1 vault, which readers ask to have migrated.
func (g *gen) format1Cases(c *caseSet) {
	version, rootSHA := g.makeFormat1("format1")
	if err := g.checkMigration("format1", version); err != nil {
		panic(err)
	}
	v := "format1"
	c.fail("format 1 vault read by a pinned agent", v, "ci.key", false, "stripe/api-key", nil, "vault_not_found", "agent-vault migrate",
		"A genuine format 1 vault (state/groups/<group>.json indexes, root signed with the domain \"agent-vault/v1 root\\n\" by the real owner key, the same vault id): the reader verifies it with the format 1 domain and asks for 'agent-vault migrate' (format.md 11).")
	c.fail("format 1 vault read with the owner key", v, "owner.key", true, "stripe/api-key", nil, "vault_not_found", "agent-vault migrate",
		"The owner key, used as a reader, also stops with vault_not_found (an owner command would migrate the vault).")
	c.fail("format 1 vault read by an unpinned key", v, "bare.key", false, "stripe/api-key", nil, "vault_not_found", "agent-vault migrate",
		"config.yaml says format 1; the root verifies with the format 1 domain and the verify key trusted on first use.")
	c.fail("format 1 vault at the high-water mark", v, "ci.key", false, "stripe/api-key", g.marks(version, rootSHA, nil), "vault_not_found", "agent-vault migrate",
		"The home's mark is this very format 1 root (version and hash): it passes the mark, so the answer is still vault_not_found.")
	c.fail("format 1 vault below the high-water mark", v, "ci.key", false, "stripe/api-key", g.marks(version+1, strings.Repeat("ab", 32), nil), "integrity", "rollback",
		"The home saw version+1 (the migrated vault): an older format 1 root is a rollback, an integrity error (format.md 11).")
	c.fail("format 1 vault forking the high-water mark", v, "ci.key", false, "stripe/api-key", g.marks(version, strings.Repeat("cd", 32), nil), "integrity", "fork",
		"The home saw another root with this version: the format 1 root does not pass the mark.")
	c.listFail("list of a format 1 vault", v, "ci.key", false, all, nil, "vault_not_found", "agent-vault migrate",
		"Listing a format 1 vault asks for the migration too.")
}
