package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault"
	"github.com/agent-vault/agent-vault/vault/internal/vectors"
)

// farFuture is the expiry of the secrets that have one: far enough that no reader's clock passes it.
var farFuture = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)

// The secrets of the base vault. Values are test-only and chosen to exercise readers: binary bytes,
// line endings, non-ASCII text and the empty value. Paths are chosen so that some index shards hold
// two entries (the shard id is the first byte of SHA-256 of the lower-cased path): stripe/test-key
// shares shard f6 with bin/all-bytes, and ops/client-secret shares shard 27 with legacy/db-password.
var secrets = []struct {
	path  string
	value []byte
	opts  vault.SetOptions
}{
	{"stripe/api-key", []byte("sk_test_vectors_4eC39HqLyjWDarjtT1zdp7dc"), vault.SetOptions{AllowHosts: []string{"api.stripe.com"}}},
	{"stripe/webhook-secret", []byte("whsec_test_vectors_0123456789abcdef"), vault.SetOptions{Expires: &farFuture}},
	{"stripe/test-key", []byte("sk_test_vectors_shard_mate_of_bin_all_bytes"), vault.SetOptions{AllowHosts: []string{"files.stripe.com", "api.stripe.com"}, Expires: &farFuture}},
	{"legacy/db-password", []byte("postgres://app:hunter2-vectors@db.internal:5432/app"), vault.SetOptions{Group: "stripe"}},
	{"bin/all-bytes", allBytes(), vault.SetOptions{}},
	{"text/multi-line", []byte("-----BEGIN TEST KEY-----\nline two\r\nline three ends in spaces   \n\n\tindented line\n-----END TEST KEY-----\n"), vault.SetOptions{}},
	{"text/utf8", []byte("pässwörd – 日本語のパスワード – Ωμέγα – 🔑"), vault.SetOptions{}},
	{"text/empty", []byte{}, vault.SetOptions{}},
	{"misc/shared-token", []byte("shared-token-for-agent-other-only"), vault.SetOptions{Agents: []string{"other"}}},
	{"ops/owner-only", []byte("owner-eyes-only-vectors"), vault.SetOptions{}},
	{"ops/client-secret", []byte("client-secret-vectors-owner-only"), vault.SetOptions{}},
}

// Shard ids the tampered vaults rely on; the generator checks them.
const (
	apiKeyShard = "25" // stripe/api-key, alone in its shard
	badName     = "stripe/../x47"
)

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

// newGen makes a generator that works in work (a new directory) and writes keys/ and vaults/ into stage,
// which several generators may share.
func newGen(work, stage string) (*gen, error) {
	g := &gen{work: work, stage: stage, home: filepath.Join(work, "home"),
		vaults: map[string]bool{}, keys: map[string]bool{}}
	if err := os.MkdirAll(filepath.Join(g.stage, "keys"), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(g.stage, "vaults"), 0o755); err != nil {
		return nil, err
	}
	setEnv(map[string]string{"AGENT_VAULT_HOME": g.home, "AGENT_VAULT_KEY": ""})
	return g, nil
}

// quiet are the key options of every key the generator loads: its notices (trust on first use) are
// expected, and not for the person running it.
var quiet = &vault.KeyOptions{Warn: func(string) {}}

// build makes the keys and vaults of the classic set in the stage directory and returns its cases.
func (g *gen) build() (cases []*Case, err error) {
	defer recoverTo(&err)
	if vault.ShardOf("stripe/api-key") != apiKeyShard || vault.ShardOf(badName) != apiKeyShard ||
		vault.ShardOf("stripe/restricted-key-129") != vault.ShardOf("legacy/db-password") {
		panic("shard ids changed: update apiKeyShard and badName")
	}
	g.makeBasic()
	return g.cases(), nil
}

// recoverTo turns a panic of the generator's must helpers into *err.
func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%v", r)
	}
}

func (g *gen) writeKey(name string, data []byte) {
	must(os.WriteFile(filepath.Join(g.stage, "keys", name), data, 0o600))
	g.keys[name] = true
}

var testOnly = []byte("# TEST-ONLY KEY of the agent-vault test vectors: never use it for anything else.\n")

// makeOwner writes a new owner key of kind as <home>/owner.key and as keys/<keyName>, and makes it the
// generator's owner (and signer).
func (g *gen) makeOwner(kind vault.KeyKind, keyName string) {
	ownerFile, err := vault.NewOwnerKeyFileOf(kind)
	must(err)
	ownerFile = append(slices.Clone(testOnly), ownerFile...)
	must(fsutil.WriteNewPrivateFile(filepath.Join(g.home, "owner.key"), ownerFile))
	g.owner, err = vault.ResolveKey("", quiet)
	must(err)
	if !g.owner.IsOwner || g.owner.Kind() != kind {
		panic("the generator's owner key is not recognised as the owner key of its kind")
	}
	g.signer, err = vault.DeriveSigningKey(g.owner.Identity)
	must(err)
	g.ownerPub = g.signer.Public().(ed25519.PublicKey)
	g.writeKey(keyName, ownerFile)
}

// ownedVault makes the vault <work>/<name> with the generator's owner, adds the agents (their key files at
// <work>/agent-keys/<agent>.key) and returns it, open as its owner.
func (g *gen) ownedVault(name string, agents ...string) (*vault.Vault, *vault.Owner) {
	v := vault.New(filepath.Join(g.work, name))
	must(v.Init(g.owner))
	o, err := v.OpenOwner(g.owner)
	must(err)
	for _, a := range agents {
		must(o.AddAgent(a, g.agentKeyPath(a)))
	}
	return v, o
}

func (g *gen) agentKeyPath(agent string) string {
	return filepath.Join(g.work, "agent-keys", agent+".key")
}

func (g *gen) makeBasic() {
	g.makeOwner(vault.KeyX25519, "owner.key")
	v, o := g.ownedVault("basic", "ci", "other")
	ciPath, otherPath := g.agentKeyPath("ci"), g.agentKeyPath("other")
	var err error
	for _, s := range secrets {
		must(o.Set(s.path, s.value, s.opts))
	}
	for _, grp := range []string{"stripe", "bin", "text"} {
		_, _, err := o.Grant("ci", grp)
		must(err)
	}
	o.Close()

	ciFile, otherFile := fileBytes(ciPath), fileBytes(otherPath)
	g.ci, err = vault.ParseKeyFile(ciFile, "ci.key", quiet)
	must(err)
	g.other, err = vault.ParseKeyFile(otherFile, "other.key", quiet)
	must(err)
	g.writeKey("ci.key", append(slices.Clone(testOnly), ciFile...))
	g.writeKey("other.key", append(slices.Clone(testOnly), otherFile...))
	g.writeKey("bare.key", []byte(fmt.Sprintf("%s# agent ci's identity without pins: readers fall back to trust on first use\n# public key: %s\n%s\n",
		testOnly, g.ci.Recipient, g.ci.Identity)))
	out, err := age.GenerateX25519Identity()
	must(err)
	g.outsider, err = vault.ParseKeyFile([]byte(out.String()+"\n"), "outsider.key", quiet)
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
	shards := map[string]int{}
	for _, s := range secrets {
		shards[vault.ShardOf(s.path)]++
	}
	if len(shards) == len(secrets) || shards[apiKeyShard] != 1 {
		panic("the base vault must have a shard with two entries and stripe/api-key alone in its shard")
	}
	// The not-found cases rely on these shards being absent, or present.
	for p, present := range map[string]bool{"stripe/does-not-exist": false, "nosuchgroup/token": false, "stripe/restricted-key-129": true} {
		if _, ok := g.root.Index[vault.ShardOf(p)]; ok != present {
			panic("the shard of " + p + " is not as the cases say")
		}
	}
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
	if !bytes.Equal(jsonCompact(&r), body) {
		panic("the root body does not round-trip through vault.Root; the tampering helpers would change more than they mean to")
	}
	return &r, raw, body
}

// resign writes r as a new version of the root of dir, validly signed by signer: what a compromised or
// buggy owner could publish, so that only the rule under test can catch it.
func (g *gen) resign(dir string, r *vault.Root, prevRaw []byte, signer ed25519.PrivateKey) {
	r.Version++
	r.PrevSHA256 = vault.Hash(prevRaw)
	must(os.WriteFile(filepath.Join(dir, "state", "root"), vault.SignRoot(signer, jsonCompact(r)), 0o644))
}

// writeUnsigned writes r as the root body of dir but keeps the old signature line: an attacker's edit.
func writeUnsigned(dir string, r *vault.Root, oldRaw, oldBody []byte) {
	sigLine := oldRaw[len(oldBody):]
	must(os.WriteFile(filepath.Join(dir, "state", "root"), append(jsonCompact(r), sigLine...), 0o644))
}

func shardPath(dir, id string) string { return filepath.Join(dir, "state", "index", id+".json") }

// readShard reads an index shard the generator wrote.
func readShard(dir, id string) *vault.Shard {
	data := fileBytes(shardPath(dir, id))
	var sh vault.Shard
	must(json.Unmarshal(data, &sh))
	if !bytes.Equal(jsonCompact(&sh), data) {
		panic("shard " + id + " does not round-trip through vault.Shard")
	}
	return &sh
}

// writeShard writes an index shard and vouches for it in r (hash, size and count).
func writeShard(dir string, r *vault.Root, sh *vault.Shard) {
	b := jsonCompact(sh)
	must(os.WriteFile(shardPath(dir, sh.Shard), b, 0o644))
	r.Index[sh.Shard] = vault.ShardRef{SHA256: vault.Hash(b), Size: int64(len(b)), Secrets: len(sh.Secrets)}
}

// editEntry changes the entry of path in its shard of dir with edit, writes the shard and vouches for it
// in r.
func editEntry(dir string, r *vault.Root, path string, edit func(e *vault.Entry)) {
	sh := readShard(dir, vault.ShardOf(path))
	e, ok := sh.Secrets[path]
	if !ok {
		panic("no entry for " + path)
	}
	edit(&e)
	sh.Secrets[path] = e
	writeShard(dir, r, sh)
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

// listing is what list must return on the basic vault for role ("" for the owner) in group ("" for every
// group), worked out from the generator's own files rather than by the reader under test.
func (g *gen) listing(role, group string) []vectors.Item {
	return listingOf(g.basic, g.root, role, group)
}

// listingOf is what list must return on the vault dir whose root is root, for role ("" for an admin) in
// group ("" for every group).
func listingOf(dir string, root *vault.Root, role, group string) []vectors.Item {
	out := []vectors.Item{}
	for id := range root.Index {
		for p, e := range readShard(dir, id).Secrets {
			if group != "" && e.Group != group {
				continue
			}
			members := root.Groups[e.Group].Members
			agents := slices.Concat(members, e.ExtraAgents)
			sort.Strings(agents)
			agents = slices.Compact(agents)
			if role != "" && !slices.Contains(agents, role) {
				continue
			}
			it := vectors.Item{Name: p, Group: e.Group, Created: e.Created, Rotated: e.Rotated, Expires: e.Expires,
				AuthorizedAgents: agents, AllowHosts: slices.Clone(e.AllowHosts)}
			if it.AllowHosts == nil {
				it.AllowHosts = []string{}
			}
			if it.AuthorizedAgents == nil {
				it.AuthorizedAgents = []string{}
			}
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func mustRecipient(s string) *age.X25519Recipient {
	r, err := age.ParseX25519Recipient(s)
	must(err)
	return r
}

func encryptTo(value []byte, recipients ...string) []byte {
	var rs []age.Recipient
	for _, r := range recipients {
		rs = append(rs, mustRecipient(r))
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	must(err)
	_, err = w.Write(value)
	must(err)
	must(w.Close())
	return buf.Bytes()
}

// otherVault makes a second vault owned by the same owner key, with its own agent ci and a secret at
// the same path, and returns its directory (outside the stage).
func (g *gen) otherVault() string {
	v := vault.New(filepath.Join(g.work, "other-vault"))
	must(v.Init(g.owner))
	o, err := v.OpenOwner(g.owner)
	must(err)
	defer o.Close()
	must(o.AddAgent("ci", filepath.Join(g.work, "agent-keys", "other-vault-ci.key")))
	must(o.Set("stripe/api-key", []byte("sk_test_vectors_of_ANOTHER_vault"), vault.SetOptions{}))
	_, _, err = o.Grant("ci", "stripe")
	must(err)
	return v.Dir
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// caseSet collects the cases.
type caseSet struct{ cs []*Case }

func (c *caseSet) add(x Case) {
	if x.Home == nil {
		x.Home = map[string]string{}
	}
	c.cs = append(c.cs, &x)
}

// ok: a get that returns the secret's value.
func (c *caseSet) ok(name, vaultName, key string, ownerKey bool, secret string, home map[string]string, desc string) {
	c.okValue(name, vaultName, key, ownerKey, secret, valueOf(secret), home, desc)
}

// okValue: a get that returns val.
func (c *caseSet) okValue(name, vaultName, key string, ownerKey bool, secret string, val []byte, home map[string]string, desc string) *Case {
	c.add(Case{Name: name, Vault: vaultName, Key: key, OwnerKey: ownerKey, Secret: &secret, Home: home,
		ValueBase64: value(val), Description: desc})
	return c.cs[len(c.cs)-1]
}

// fail: a get that fails with errKind; goMessage is part of the Go reader's message (the rule that fired).
func (c *caseSet) fail(name, vaultName, key string, ownerKey bool, secret string, home map[string]string, errKind, goMessage, desc string) {
	c.add(Case{Name: name, Vault: vaultName, Key: key, OwnerKey: ownerKey, Secret: &secret, Home: home,
		Error: kind(errKind), Description: desc, GoMessage: goMessage})
}

// list: a listing of grp (nil: every group) that returns want.
func (c *caseSet) list(name, vaultName, key string, ownerKey bool, grp *string, home map[string]string, want []vectors.Item, desc string) {
	c.add(Case{Name: name, Op: vectors.OpList, Vault: vaultName, Key: key, OwnerKey: ownerKey, ListGroup: grp, Home: home,
		List: want, Description: desc})
}

// listFail: a listing that fails with errKind.
func (c *caseSet) listFail(name, vaultName, key string, ownerKey bool, grp *string, home map[string]string, errKind, goMessage, desc string) {
	c.add(Case{Name: name, Op: vectors.OpList, Vault: vaultName, Key: key, OwnerKey: ownerKey, ListGroup: grp, Home: home,
		Error: kind(errKind), Description: desc, GoMessage: goMessage})
}

func group(s string) *string { return &s }

// all is the list_group of a listing of every group.
var all *string

// cases builds the attack vaults and returns every case.
func (g *gen) cases() []*Case {
	c := &caseSet{}
	ownerVerify := vault.FormatVerifyKey(g.ownerPub)
	owner2Verify := vault.FormatVerifyKey(g.signer2.Public().(ed25519.PublicKey))
	apiKeyVersion := readShard(g.basic, apiKeyShard).Secrets["stripe/api-key"].Version

	// Reading the untampered vault.
	c.ok("owner reads a secret with the owner key", "basic", "owner.key", true, "stripe/api-key", nil,
		"The owner key, also stored as <home>/owner.key, reads a secret: the Go reader anchors trust in the verify key derived from it; an SDK without that rule uses trust on first use.")
	c.ok("owner reads a secret of a group without members", "basic", "owner.key", true, "ops/owner-only", nil,
		"The owner is a recipient of every secret, also of a group no agent is a member of.")
	c.ok("owner reads a secret that shares its shard with another group's", "basic", "owner.key", true, "ops/client-secret", nil,
		"ops/client-secret (group ops) and legacy/db-password (group stripe) are both in index shard 27.")
	c.ok("pinned agent reads a granted secret", "basic", "ci.key", false, "stripe/api-key", nil,
		"Agent ci's key file pins the vault id and the owner verify key; ci is a member of group stripe.")
	c.ok("pinned agent reads another secret of the group", "basic", "ci.key", false, "stripe/webhook-secret", nil,
		"A second secret of the same group; it has an expiry (far in the future), which does not stop a read.")
	c.ok("pinned agent reads a secret from a shard with two entries", "basic", "ci.key", false, "stripe/test-key", nil,
		"stripe/test-key and bin/all-bytes are both in index shard f6: the reader picks the entry of the path it reads.")
	c.ok("unpinned key is trusted on first use", "basic", "bare.key", false, "stripe/api-key", nil,
		"bare.key is ci's identity without pins: the reader takes the vault id and verify key from config.yaml, records them in known_vaults, says so once, and returns the value.")
	c.ok("unpinned key with the vault already in known_vaults", "basic", "bare.key", false, "stripe/api-key", g.knownVaults(ownerVerify),
		"known_vaults already records this vault with its real verify key.")
	c.ok("binary value with all 256 byte values", "basic", "ci.key", false, "bin/all-bytes", nil,
		"The value is the bytes 0x00 to 0xff in order: a reader must return bytes, not text.")
	c.ok("multi-line value", "basic", "ci.key", false, "text/multi-line", nil,
		"The value mixes \\n and \\r\\n line endings, a tab, trailing spaces and an empty line; it is returned exactly.")
	c.ok("non-ASCII UTF-8 value", "basic", "ci.key", false, "text/utf8", nil,
		"Latin, Greek, Japanese and an emoji, in UTF-8.")
	c.ok("empty value", "basic", "ci.key", false, "text/empty", nil,
		"A secret whose value is empty: value_base64 is the empty string, not null.")
	c.ok("secret placed in another group", "basic", "ci.key", false, "legacy/db-password", nil,
		"legacy/db-password was stored with --group stripe: its index entry names group stripe, of which ci is a member. Readers take the group from the entry, never from the path.")
	c.ok("extra agent reads a secret granted to it alone", "basic", "other.key", false, "misc/shared-token", nil,
		"Agent other is in no group, but the entry of misc/shared-token lists it in extra_agents (set with --agent other).")
	c.ok("high-water mark below the current version", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version-1, strings.Repeat("0", 64), nil),
		"The home saw an older version of this vault: a newer one is accepted.")
	c.ok("high-water marks equal to the current state", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version, g.rootSHA, map[string]uint64{"stripe/api-key": apiKeyVersion}),
		"The home saw exactly this state and this secret version: no rollback, no fork.")
	c.fail("pinned agent not granted the group", "basic", "other.key", false, "stripe/api-key", nil, "not_authorized", "is not granted",
		"Agent other is neither a member of group stripe nor an extra agent of the secret.")
	c.fail("pinned agent not granted a group without members", "basic", "ci.key", false, "ops/owner-only", nil, "not_authorized", "is not granted",
		"Only the owner can read group ops.")
	c.fail("pinned agent not granted a secret that shares its shard with a granted one", "basic", "ci.key", false, "ops/client-secret", nil, "not_authorized", "is not granted",
		"ops/client-secret shares index shard 27 with legacy/db-password, which ci can read; the entry's group (ops) decides.")
	c.fail("member of another group reads an extra-agent secret", "basic", "ci.key", false, "misc/shared-token", nil, "not_authorized", "is not granted",
		"misc/shared-token is readable by the owner and agent other only.")
	c.fail("key unknown to the vault", "basic", "outsider.key", false, "stripe/api-key", nil, "not_authorized", "neither the owner nor an agent",
		"outsider.key is neither the owner's nor an agent's key (trust on first use, then no role).")
	c.fail("missing secret in an existing group", "basic", "ci.key", false, "stripe/does-not-exist", nil, "not_found", "not found in vault",
		"No index entry and no files for this path (its shard is absent from the root).")
	c.fail("missing secret in an existing shard", "basic", "ci.key", false, "stripe/restricted-key-129", nil, "not_found", "not found in vault",
		"The path's shard (27) exists and holds other secrets, but no entry for this path, and there are no files for it.")
	c.fail("missing secret in a group that does not exist", "basic", "ci.key", false, "nosuchgroup/token", nil, "not_found", "not found in vault",
		"The root has no such group and there are no files for it.")
	c.fail("missing secret is not found before authorization", "basic", "other.key", false, "stripe/does-not-exist", nil, "not_found", "not found in vault",
		"format.md 6.5: existence (step 4) is decided before authorization (step 5).")
	c.fail("invalid secret path", "basic", "ci.key", false, "stripe/../api-key", nil, "usage", "invalid secret path",
		"A path with a '..' segment typed by the user is a usage error.")

	// The agent-vault home records trust: rollback, fork, trust on first use.
	c.fail("rollback: the home saw a newer version", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version+5, strings.Repeat("ab", 32), nil), "integrity", "rollback",
		"The high-water mark of this vault is above the signed version: an older signed state was restored.")
	c.fail("fork: the home saw another state with the same version", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version, strings.Repeat("cd", 32), nil), "integrity", "fork",
		"Same version, different root hash: two signed states claim the same version.")
	c.fail("rollback of one secret", "basic", "ci.key", false, "stripe/api-key",
		g.marks(g.root.Version, g.rootSHA, map[string]uint64{"stripe/api-key": apiKeyVersion + 1}), "integrity", "rollback",
		"The vault-wide mark matches, but this secret was already seen at a higher version than its index entry.")
	c.fail("trust on first use mismatch", "basic", "bare.key", false, "stripe/api-key", g.knownVaults(owner2Verify), "integrity", "trusted on first use",
		"known_vaults records another verify key for this vault id; the unpinned key must not accept the published one.")

	// Listing the untampered vault.
	c.list("owner lists every secret", "basic", "owner.key", true, all, nil, g.listing("", ""),
		"The owner sees every secret, with the metadata of its index entry: group (from the entry), times, expires (\"\" for none), authorized agents (members of the group and extra agents, sorted, without the owner) and allowed hosts.")
	c.list("pinned agent lists what it can read", "basic", "ci.key", false, all, nil, g.listing("ci", ""),
		"Agent ci sees the secrets of its groups (stripe, bin, text), including legacy/db-password placed in stripe; not ops/* or misc/shared-token.")
	c.list("extra agent lists the secret granted to it alone", "basic", "other.key", false, all, nil, g.listing("other", ""),
		"Agent other is in no group; it sees misc/shared-token, of which it is an extra agent, and nothing else.")
	c.list("agent lists one group", "basic", "ci.key", false, group("stripe"), nil, g.listing("ci", "stripe"),
		"Group stripe: its entries name it, including legacy/db-password, whose path starts with legacy.")
	c.list("agent lists a group it is not a member of", "basic", "ci.key", false, group("ops"), nil, g.listing("ci", "ops"),
		"Group ops exists but ci reads none of its secrets: an empty list, not an error.")
	c.list("unpinned key lists on first use", "basic", "bare.key", false, group("text"), nil, g.listing("ci", "text"),
		"Trust on first use applies to listing as to get: recorded in known_vaults and said once.")
	c.list("listing ignores per-secret marks", "basic", "ci.key", false, group("stripe"),
		g.marks(g.root.Version, g.rootSHA, map[string]uint64{"stripe/api-key": apiKeyVersion + 1}), g.listing("ci", "stripe"),
		"format.md 6.7: per-secret marks are applied by reads of a value, not by listing; the vault-wide mark matches.")
	c.listFail("list of a group that does not exist", "basic", "ci.key", false, group("nosuchgroup"), nil, "not_found", "not found in vault",
		"The root has no group nosuchgroup.")
	c.listFail("list of an invalid group name", "basic", "ci.key", false, group("../x"), nil, "usage", "group",
		"A group name typed by the user that breaks the name rules is a usage error.")
	c.listFail("list by a key unknown to the vault", "basic", "outsider.key", false, all, nil, "not_authorized", "neither the owner nor an agent",
		"outsider.key is neither the owner's nor an agent's key.")
	c.listFail("list after a rollback", "basic", "ci.key", false, all, g.marks(g.root.Version+5, strings.Repeat("ab", 32), nil), "integrity", "rollback",
		"The vault-wide high-water mark applies to listing.")

	g.attackCases(c)
	return c.cs
}
