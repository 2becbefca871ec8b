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

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault"
)

// The secrets of the base vault. Values are test-only and chosen to exercise readers: binary bytes,
// line endings, non-ASCII text and the empty value.
var secrets = []struct {
	path  string
	value []byte
	opts  vault.SetOptions
}{
	{"stripe/api-key", []byte("sk_test_vectors_4eC39HqLyjWDarjtT1zdp7dc"), vault.SetOptions{}},
	{"stripe/webhook-secret", []byte("whsec_test_vectors_0123456789abcdef"), vault.SetOptions{}},
	{"legacy/db-password", []byte("postgres://app:hunter2-vectors@db.internal:5432/app"), vault.SetOptions{Group: "stripe"}},
	{"bin/all-bytes", allBytes(), vault.SetOptions{}},
	{"text/multi-line", []byte("-----BEGIN TEST KEY-----\nline two\r\nline three ends in spaces   \n\n\tindented line\n-----END TEST KEY-----\n"), vault.SetOptions{}},
	{"text/utf8", []byte("pässwörd – 日本語のパスワード – Ωμέγα – 🔑"), vault.SetOptions{}},
	{"text/empty", []byte{}, vault.SetOptions{}},
	{"misc/shared-token", []byte("shared-token-for-agent-other-only"), vault.SetOptions{Agents: []string{"other"}}},
	{"ops/owner-only", []byte("owner-eyes-only-vectors"), vault.SetOptions{}},
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func valueOf(path string) []byte {
	for _, s := range secrets {
		if s.path == path {
			return s.value
		}
	}
	panic("no secret " + path)
}

type gen struct {
	work, stage, home string

	owner    *vault.Key
	signer   ed25519.PrivateKey
	ownerPub ed25519.PublicKey

	ci, other, outsider *vault.Key
	owner2              *age.X25519Identity // an unrelated owner key, for re-signed and TOFU cases
	signer2             ed25519.PrivateKey

	basic   string // stage path of vaults/basic/.agent-vault
	vaultID string
	root    *vault.Root
	rootSHA string

	vaults map[string]bool
	keys   map[string]bool
}

func newGen(work string) (*gen, error) {
	g := &gen{work: work, stage: filepath.Join(work, "stage"), home: filepath.Join(work, "home"),
		vaults: map[string]bool{}, keys: map[string]bool{}}
	if err := os.MkdirAll(filepath.Join(g.stage, "keys"), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(g.stage, "vaults"), 0o755); err != nil {
		return nil, err
	}
	setEnv(map[string]string{"AGENT_VAULT_HOME": g.home, "AGENT_VAULT_KEY": ""})
	vault.Warn = func(string) {}
	return g, nil
}

// build makes the keys and vaults in the stage directory and returns the cases.
func (g *gen) build() (cases []*Case, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	g.makeBasic()
	return g.cases(), nil
}

func (g *gen) writeKey(name string, data []byte) {
	must(os.WriteFile(filepath.Join(g.stage, "keys", name), data, 0o600))
	g.keys[name] = true
}

func (g *gen) makeBasic() {
	ownerFile, err := vault.NewOwnerKeyFile()
	must(err)
	ownerFile = append([]byte("# TEST-ONLY KEY of the agent-vault test vectors: never use it for anything else.\n"), ownerFile...)
	must(vault.WriteNewPrivateFile(filepath.Join(g.home, "owner.key"), ownerFile))
	g.owner, err = vault.ResolveKey("")
	must(err)
	if !g.owner.IsOwner {
		panic("the generator's owner key is not recognised as the owner key")
	}
	g.signer, err = vault.DeriveSigningKey(g.owner.Identity)
	must(err)
	g.ownerPub = g.signer.Public().(ed25519.PublicKey)
	g.writeKey("owner.key", ownerFile)

	top := filepath.Join(g.work, "basic")
	v, err := vault.Init(top, g.owner)
	must(err)
	o, err := v.OpenOwner(g.owner)
	must(err)
	ciFile, err := o.AddAgent("ci")
	must(err)
	otherFile, err := o.AddAgent("other")
	must(err)
	for _, s := range secrets {
		must(o.Set(s.path, s.value, s.opts))
	}
	for _, grp := range []string{"stripe", "bin", "text"} {
		_, _, err := o.Grant("ci", grp)
		must(err)
	}
	o.Close()

	testOnly := []byte("# TEST-ONLY KEY of the agent-vault test vectors: never use it for anything else.\n")
	g.ci, err = vault.ParseKeyFile(ciFile, "ci.key")
	must(err)
	g.other, err = vault.ParseKeyFile(otherFile, "other.key")
	must(err)
	g.writeKey("ci.key", append(slices.Clone(testOnly), ciFile...))
	g.writeKey("other.key", append(slices.Clone(testOnly), otherFile...))
	g.writeKey("bare.key", []byte(fmt.Sprintf("%s# agent ci's identity without pins: readers fall back to trust on first use\n# public key: %s\n%s\n",
		testOnly, g.ci.Recipient, g.ci.Identity)))
	out, err := age.GenerateX25519Identity()
	must(err)
	g.outsider, err = vault.ParseKeyFile([]byte(out.String()+"\n"), "outsider.key")
	must(err)
	g.writeKey("outsider.key", []byte(fmt.Sprintf("%s# a key that no vault of the vectors knows\n# public key: %s\n%s\n", testOnly, out.Recipient(), out)))
	g.owner2, err = age.GenerateX25519Identity()
	must(err)
	g.signer2, err = vault.DeriveSigningKey(g.owner2)
	must(err)

	g.basic = g.copyVault(v.Dir, "basic")
	g.root, _, _ = g.readRoot(g.basic)
	g.vaultID = g.root.VaultID
	g.rootSHA = vault.Hash(fileBytes(filepath.Join(g.basic, "state", "root")))
}

// copyVault copies a vault directory to vaults/<name>/.agent-vault in the stage and returns the copy.
func (g *gen) copyVault(src, name string) string {
	if g.vaults[name] {
		panic("vault " + name + " made twice")
	}
	g.vaults[name] = true
	dst := filepath.Join(g.stage, "vaults", name, vault.DirName)
	must(os.MkdirAll(dst, 0o755))
	must(copyTree(src, dst))
	return dst
}

// readRoot verifies and parses a vault's root with the owner's key and returns it with the file and body.
func (g *gen) readRoot(dir string) (*vault.Root, []byte, []byte) {
	raw := fileBytes(filepath.Join(dir, "state", "root"))
	body, err := vault.VerifyRoot(raw, g.ownerPub)
	must(err)
	var r vault.Root
	must(json.Unmarshal(body, &r))
	if !bytes.Equal(jsonIndent(&r), body) {
		panic("the root body does not round-trip through vault.Root; the tampering helpers would change more than they mean to")
	}
	return &r, raw, body
}

// resign writes r as a new version of the root of dir, validly signed by signer: what a compromised or
// buggy owner could publish, so that only the rule under test can catch it.
func (g *gen) resign(dir string, r *vault.Root, prevRaw []byte, signer ed25519.PrivateKey) {
	r.Version++
	r.PrevSHA256 = vault.Hash(prevRaw)
	must(os.WriteFile(filepath.Join(dir, "state", "root"), vault.SignRoot(signer, jsonIndent(r)), 0o644))
}

// writeUnsigned writes r as the root body of dir but keeps the old signature line: an attacker's edit.
func writeUnsigned(dir string, r *vault.Root, oldRaw, oldBody []byte) {
	sigLine := oldRaw[len(oldBody):]
	must(os.WriteFile(filepath.Join(dir, "state", "root"), append(jsonIndent(r), sigLine...), 0o644))
}

func readIndex(dir, group string) *vault.Index {
	var ix vault.Index
	must(json.Unmarshal(fileBytes(filepath.Join(dir, "state", "groups", group+".json")), &ix))
	return &ix
}

// writeIndex writes a group index and returns its hash.
func writeIndex(dir, group string, ix *vault.Index) string {
	b := jsonIndent(ix)
	must(os.WriteFile(filepath.Join(dir, "state", "groups", group+".json"), b, 0o644))
	return vault.Hash(b)
}

func rel(dir, p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }

// attack copies the basic vault to vaults/<name> and lets tamper change it.
func (g *gen) attack(name string, tamper func(dir string)) string {
	dir := g.copyVault(g.basic, name)
	tamper(dir)
	return name
}

func (g *gen) marks(version uint64, rootSHA string, secrets map[string]uint64) map[string]string {
	if secrets == nil {
		secrets = map[string]uint64{}
	}
	b, err := json.Marshal(map[string]any{"version": version, "root_sha256": rootSHA, "secrets": secrets})
	must(err)
	return map[string]string{"state/" + g.vaultID + ".json": string(b) + "\n"}
}

func (g *gen) knownVaults(verifyKey string) map[string]string {
	return map[string]string{"known_vaults": g.vaultID + " " + verifyKey + "\n"}
}

// cases builds the attack vaults and returns every case.
func (g *gen) cases() []*Case {
	var cs []*Case
	add := func(c Case) {
		if c.Home == nil {
			c.Home = map[string]string{}
		}
		cs = append(cs, &c)
	}
	ok := func(name, vaultName, key string, ownerKey bool, secret string, home map[string]string, desc string) {
		add(Case{Name: name, Vault: vaultName, Key: key, OwnerKey: ownerKey, Secret: secret, Home: home,
			ValueBase64: value(valueOf(secret)), Description: desc})
	}
	fail := func(name, vaultName, key string, ownerKey bool, secret string, home map[string]string, errKind, goMessage, desc string) {
		add(Case{Name: name, Vault: vaultName, Key: key, OwnerKey: ownerKey, Secret: secret, Home: home,
			Error: kind(errKind), Description: desc, GoMessage: goMessage})
	}
	ownerVerify := vault.FormatVerifyKey(g.ownerPub)
	owner2Verify := vault.FormatVerifyKey(g.signer2.Public().(ed25519.PublicKey))
	ix := readIndex(g.basic, "stripe")
	apiKeyVersion := ix.Secrets["stripe/api-key"].Version

	// Reading the untampered vault.
	ok("owner reads a secret with the owner key", "basic", "owner.key", true, "stripe/api-key", nil,
		"The owner key, also stored as <home>/owner.key, reads a secret: the Go reader anchors trust in the verify key derived from it; an SDK without that rule uses trust on first use.")
	ok("owner reads a secret of a group without members", "basic", "owner.key", true, "ops/owner-only", nil,
		"The owner is a recipient of every secret, also of a group no agent is a member of.")
	ok("pinned agent reads a granted secret", "basic", "ci.key", false, "stripe/api-key", nil,
		"Agent ci's key file pins the vault id and the owner verify key; ci is a member of group stripe.")
	ok("pinned agent reads another secret of the group", "basic", "ci.key", false, "stripe/webhook-secret", nil,
		"A second secret of the same group.")
	ok("unpinned key is trusted on first use", "basic", "bare.key", false, "stripe/api-key", nil,
		"bare.key is ci's identity without pins: the reader takes the vault id and verify key from config.yaml, records them in known_vaults, says so once, and returns the value.")
	ok("unpinned key with the vault already in known_vaults", "basic", "bare.key", false, "stripe/api-key", g.knownVaults(ownerVerify),
		"known_vaults already records this vault with its real verify key.")
	ok("binary value with all 256 byte values", "basic", "ci.key", false, "bin/all-bytes", nil,
		"The value is the bytes 0x00 to 0xff in order: a reader must return bytes, not text.")
	ok("multi-line value", "basic", "ci.key", false, "text/multi-line", nil,
		"The value mixes \\n and \\r\\n line endings, a tab, trailing spaces and an empty line; it is returned exactly.")
	ok("non-ASCII UTF-8 value", "basic", "ci.key", false, "text/utf8", nil,
		"Latin, Greek, Japanese and an emoji, in UTF-8.")
	ok("empty value", "basic", "ci.key", false, "text/empty", nil,
		"A secret whose value is empty: value_base64 is the empty string, not null.")
	ok("secret placed in another group", "basic", "ci.key", false, "legacy/db-password", nil,
		"legacy/db-password was stored with --group stripe: the root's placement puts it in group stripe, of which ci is a member.")
	ok("extra agent reads a secret granted to it alone", "basic", "other.key", false, "misc/shared-token", nil,
		"Agent other is in no group, but misc/shared-token lists it in extra_agents (set with --agent other).")
	ok("high-water mark below the current version", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version-1, strings.Repeat("0", 64), nil),
		"The home saw an older version of this vault: a newer one is accepted.")
	ok("high-water marks equal to the current state", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version, g.rootSHA, map[string]uint64{"stripe/api-key": apiKeyVersion}),
		"The home saw exactly this state and this secret version: no rollback, no fork.")
	fail("pinned agent not granted the group", "basic", "other.key", false, "stripe/api-key", nil, "not_authorized", "is not granted",
		"Agent other is neither a member of group stripe nor an extra agent of the secret.")
	fail("pinned agent not granted a group without members", "basic", "ci.key", false, "ops/owner-only", nil, "not_authorized", "is not granted",
		"Only the owner can read group ops.")
	fail("member of another group reads an extra-agent secret", "basic", "ci.key", false, "misc/shared-token", nil, "not_authorized", "is not granted",
		"misc/shared-token is readable by the owner and agent other only.")
	fail("key unknown to the vault", "basic", "outsider.key", false, "stripe/api-key", nil, "not_authorized", "neither the owner nor an agent",
		"outsider.key is neither the owner's nor an agent's key (trust on first use, then no role).")
	fail("missing secret in an existing group", "basic", "ci.key", false, "stripe/does-not-exist", nil, "not_found", "no secret",
		"The group index has no such entry and there are no files for it.")
	fail("missing secret in a group that does not exist", "basic", "ci.key", false, "nosuchgroup/token", nil, "not_found", "no secret",
		"The root has no such group and there are no files for it.")
	fail("missing secret is not found before authorization", "basic", "other.key", false, "stripe/does-not-exist", nil, "not_found", "no secret",
		"format.md 6.4: existence (step 4) is decided before authorization (step 5).")
	fail("invalid secret path", "basic", "ci.key", false, "stripe/../api-key", nil, "usage", "invalid secret path",
		"A path with a '..' segment typed by the user is a usage error.")

	// The agent-vault home records trust: rollback, fork, trust on first use.
	fail("rollback: the home saw a newer version", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version+5, strings.Repeat("ab", 32), nil), "integrity", "rollback",
		"The high-water mark of this vault is above the signed version: an older signed state was restored.")
	fail("fork: the home saw another state with the same version", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version, strings.Repeat("cd", 32), nil), "integrity", "fork",
		"Same version, different root hash: two signed states claim the same version.")
	fail("rollback of one secret", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version, g.rootSHA, map[string]uint64{"stripe/api-key": apiKeyVersion + 1}), "integrity", "rollback",
		"The vault-wide mark matches, but this secret was already seen at a higher version than its index entry.")
	fail("trust on first use mismatch", "basic", "bare.key", false, "stripe/api-key", g.knownVaults(owner2Verify), "integrity", "trusted on first use",
		"known_vaults records another verify key for this vault id; the unpinned key must not accept the published one.")

	// One vault per attack class; each is the basic vault with one change.
	v := g.attack("forged-ciphertext", func(dir string) {
		rs := []age.Recipient{mustRecipient(g.root.Owner.Recipient), mustRecipient(g.ci.Recipient)}
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, rs...)
		must(err)
		_, err = w.Write([]byte("sk_test_vectors_FORGED_by_attacker"))
		must(err)
		must(w.Close())
		must(os.WriteFile(rel(dir, "secrets/stripe/api-key.enc"), buf.Bytes(), 0o644))
	})
	fail("forged ciphertext", v, "ci.key", false, "stripe/api-key", nil, "integrity", "hash mismatch",
		"secrets/stripe/api-key.enc was replaced by a valid age file of another value to the same recipients (owner and ci): it decrypts, but its hash is not the signed one.")
	fail("forged ciphertext, read by the owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "hash mismatch",
		"The owner is refused the forged file too.")

	v = g.attack("swapped-ciphertexts", func(dir string) {
		a, b := rel(dir, "secrets/stripe/api-key.enc"), rel(dir, "secrets/stripe/webhook-secret.enc")
		ab, bb := fileBytes(a), fileBytes(b)
		must(os.WriteFile(a, bb, 0o644))
		must(os.WriteFile(b, ab, 0o644))
	})
	fail("swapped ciphertexts", v, "ci.key", false, "stripe/api-key", nil, "integrity", "hash mismatch",
		"The .enc files of stripe/api-key and stripe/webhook-secret were swapped: both decrypt for ci, neither hash matches.")
	fail("swapped ciphertexts, other secret", v, "ci.key", false, "stripe/webhook-secret", nil, "integrity", "hash mismatch",
		"The other half of the swap.")

	v = g.attack("policy-edited", func(dir string) {
		r, raw, body := g.readRoot(dir)
		grp := r.Groups["stripe"]
		grp.Members = append(grp.Members, "other")
		slices.Sort(grp.Members)
		r.Groups["stripe"] = grp
		writeUnsigned(dir, r, raw, body)
	})
	fail("policy edited without a signature", v, "other.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
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
	fail("agent public key replaced, read by the attacker", v, "outsider.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"Agent ci's recipient in the root (and agents/ci/public.key) was replaced by the outsider's; the signature was left as it was.")
	fail("agent public key replaced, read by the agent", v, "ci.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"The real agent is refused too: the state is not signed.")

	v = g.attack("index-edited", func(dir string) {
		ix := readIndex(dir, "stripe")
		e := ix.Secrets["stripe/api-key"]
		e.ExtraAgents = append(e.ExtraAgents, "other")
		ix.Secrets["stripe/api-key"] = e
		writeIndex(dir, "stripe", ix)
	})
	fail("group index edited", v, "other.key", false, "stripe/api-key", nil, "integrity", "stripe.json does not match",
		"state/groups/stripe.json was edited to list agent other in extra_agents; the root's index_sha256 no longer matches.")

	v = g.attack("missing-ciphertext", func(dir string) {
		must(os.Remove(rel(dir, "secrets/stripe/api-key.enc")))
	})
	fail("ciphertext missing", v, "ci.key", false, "stripe/api-key", nil, "integrity", "missing",
		"The index vouches for secrets/stripe/api-key.enc, which was deleted.")

	v = g.attack("root-unsigned", func(dir string) {
		_, _, body := g.readRoot(dir)
		must(os.WriteFile(rel(dir, "state/root"), body, 0o644))
	})
	fail("root without a signature line", v, "ci.key", false, "stripe/api-key", nil, "integrity", "signature",
		"state/root holds its JSON body only.")

	v = g.attack("root-signature-crlf", func(dir string) {
		raw := fileBytes(rel(dir, "state/root"))
		must(os.WriteFile(rel(dir, "state/root"), append(raw[:len(raw)-1], '\r', '\n'), 0o644))
	})
	fail("root signature line ending in CRLF", v, "ci.key", false, "stripe/api-key", nil, "integrity", "malformed signature",
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
	fail("state from another vault of the same owner", v, "ci.key", false, "stripe/api-key", nil, "integrity", "belongs to vault",
		"The root, indexes, agents and secrets of another vault signed by the same owner key were copied in: the signature verifies, the vault id is not the pinned one.")

	v = g.attack("unsigned-secret", func(dir string) {
		for _, p := range []string{"stripe/planted", "planted/token"} {
			must(os.MkdirAll(filepath.Dir(rel(dir, "secrets/"+p)), 0o755))
			must(os.WriteFile(rel(dir, "secrets/"+p+".enc"), fileBytes(rel(dir, "secrets/stripe/api-key.enc")), 0o644))
			must(os.WriteFile(rel(dir, "secrets/"+p+".meta"), []byte(fmt.Sprintf(
				"name: %q\ngroup: %q\ncreated: \"2026-11-29T13:50:00Z\"\nrotated: \"2026-11-29T13:50:00Z\"\nauthorized_agents: [\"ci\"]\n",
				p, vault.DefaultGroup(p))), 0o644))
		}
	})
	fail("unsigned secret in a signed group", v, "ci.key", false, "stripe/planted", nil, "integrity", "unsigned secret",
		"secrets/stripe/planted.enc and .meta were added without an index entry: an unsigned secret, not a missing one.")
	fail("unsigned secret in an unsigned group", v, "ci.key", false, "planted/token", nil, "integrity", "unsigned secret",
		"secrets/planted/token.enc and .meta were added; the root has no group planted.")

	v = g.attack("bad-group-name", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		r.Groups["../x"] = r.Groups["stripe"]
		g.resign(dir, r, raw, g.signer)
	})
	fail("bad group name in the signed root", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad group name",
		"A validly signed root names a group \"../x\": only the name rule catches it.")

	v = g.attack("bad-agent-name", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		r.Agents["evil agent"] = r.Agents["other"]
		g.resign(dir, r, raw, g.signer)
	})
	fail("bad agent name in the signed root", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad agent name",
		"A validly signed root names an agent \"evil agent\" (a space): only the name rule catches it.")

	v = g.attack("bad-placement", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		r.Placement["../legacy/x"] = "stripe"
		g.resign(dir, r, raw, g.signer)
	})
	fail("bad secret path in the signed placement", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad placement",
		"A validly signed root places a secret \"../legacy/x\": only the name rule catches it.")

	v = g.attack("bad-secret-name", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		ix := readIndex(dir, "stripe")
		ix.Secrets["stripe/../x"] = ix.Secrets["stripe/api-key"]
		grp := r.Groups["stripe"]
		grp.IndexSHA256, grp.Secrets = writeIndex(dir, "stripe", ix), len(ix.Secrets)
		r.Groups["stripe"] = grp
		g.resign(dir, r, raw, g.signer)
	})
	fail("bad secret name in a signed group index", v, "ci.key", false, "stripe/api-key", nil, "integrity", "bad secret name",
		"The stripe index, vouched for by a validly signed root, has an entry \"stripe/../x\": only the name rule catches it.")

	v = g.attack("oversized-config", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		cfg := fileBytes(rel(dir, "config.yaml"))
		pad := strings.Repeat("# padding: a YAML comment line of sixty-four bytes in total ....\n", (vault.LimitOther/64)+16)
		cfg = append(cfg, pad...)
		must(os.WriteFile(rel(dir, "config.yaml"), cfg, 0o644))
		r.Files["config.yaml"] = vault.Hash(cfg)
		g.resign(dir, r, raw, g.signer)
	})
	fail("oversized file", v, "bare.key", false, "stripe/api-key", nil, "integrity", "limit",
		"config.yaml is over the 64 KiB limit of 'any other file' (valid YAML, its hash vouched for by a validly signed root); an unpinned reader must read it and refuses it by size. (A reader's get reads no .meta, and an .enc over 2 MiB would bloat the repository.)")

	v = g.attack("symlink-file", func(dir string) {
		enc := rel(dir, "secrets/stripe/api-key.enc")
		must(os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.enc"), fileBytes(enc), 0o644))
		must(os.Remove(enc))
		must(os.Symlink("../../../outside.enc", enc))
	})
	fail("symbolic link to a file", v, "ci.key", false, "stripe/api-key", nil, "integrity", "symbolic link",
		"secrets/stripe/api-key.enc is a symbolic link to a file with the very bytes the index vouches for (vaults/symlink-file/outside.enc). Git keeps the link; copy the vault preserving links, or read it in place.")

	v = g.attack("symlink-dir", func(dir string) {
		sec := rel(dir, "secrets/stripe")
		target := filepath.Join(filepath.Dir(dir), "stripe-real")
		must(os.MkdirAll(target, 0o755))
		must(copyTree(sec, target))
		must(os.RemoveAll(sec))
		must(os.Symlink("../../stripe-real", sec))
	})
	fail("symbolic link to a directory", v, "ci.key", false, "stripe/api-key", nil, "integrity", "not a directory",
		"secrets/stripe is a symbolic link to a directory holding the same files (vaults/symlink-dir/stripe-real).")

	v = g.attack("resigned-by-other-owner", func(dir string) {
		r, raw, _ := g.readRoot(dir)
		verify2 := vault.FormatVerifyKey(g.signer2.Public().(ed25519.PublicKey))
		cfg := bytes.Replace(fileBytes(rel(dir, "config.yaml")), []byte(ownerVerify), []byte(verify2), 1)
		pub := []byte(g.owner2.Recipient().String() + "\n")
		must(os.WriteFile(rel(dir, "config.yaml"), cfg, 0o644))
		must(os.WriteFile(rel(dir, "owner.pub"), pub, 0o644))
		r.Files["config.yaml"], r.Files["owner.pub"] = vault.Hash(cfg), vault.Hash(pub)
		r.Owner = vault.RootOwner{Recipient: g.owner2.Recipient().String(), VerifyKey: verify2}
		g.resign(dir, r, raw, g.signer2)
	})
	fail("pinned key against a vault re-signed by another owner", v, "ci.key", false, "stripe/api-key", nil, "integrity", "signature does not verify",
		"Someone re-signed the vault with their own owner key (root, config.yaml and owner.pub changed consistently): the pinned verify key refuses it.")
	fail("owner key against a vault re-signed by another owner", v, "owner.key", true, "stripe/api-key", nil, "integrity", "not signed by this owner key",
		"The owner's own key refuses a vault that another key signed.")
	fail("known vault re-signed by another owner", v, "bare.key", false, "stripe/api-key", g.knownVaults(ownerVerify), "integrity", "trusted on first use",
		"An unpinned key that trusted the real owner key on first use refuses the new one.")

	return cs
}

func mustRecipient(s string) *age.X25519Recipient {
	r, err := age.ParseX25519Recipient(s)
	must(err)
	return r
}

// otherVault makes a second vault owned by the same owner key, with its own agent ci and a secret at
// the same path, and returns its directory (outside the stage).
func (g *gen) otherVault() string {
	top := filepath.Join(g.work, "other-vault")
	v, err := vault.Init(top, g.owner)
	must(err)
	o, err := v.OpenOwner(g.owner)
	must(err)
	defer o.Close()
	_, err = o.AddAgent("ci")
	must(err)
	must(o.Set("stripe/api-key", []byte("sk_test_vectors_of_ANOTHER_vault"), vault.SetOptions{}))
	_, _, err = o.Grant("ci", "stripe")
	must(err)
	return v.Dir
}
