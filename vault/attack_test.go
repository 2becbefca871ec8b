package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// Attack tests: one per class of the trust model (docs/format.md sections 4 to 6; README "The trust model
// in plain words"), against live vaults. Each asserts the error kind, that the message names what failed, and
// that no message ever contains a secret value.

// attackVault is a test vault with agent ci in group stripe, an agent other with no access, an owner-only
// group ops, and known values.
type attackVault struct {
	*testVault
	other    *Key
	attacker *age.X25519Identity
	values   map[string]string
}

const forgedValue = "sk_live_FORGED_by_the_attacker"

func newAttackVault(t *testing.T) *attackVault {
	t.Helper()
	tv := newTestVault(t)
	otherFile := tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, "other") })
	other, err := ParseKeyFile(otherFile, "other.key", quiet)
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	av := &attackVault{testVault: tv, other: other, attacker: attacker, values: map[string]string{
		"stripe/api-key":        "sk_live_attack_value_0001",
		"stripe/webhook-secret": "whsec_attack_value_0002",
		"ops/db-password":       "db-password-attack-0003",
	}}
	for _, p := range sortedKeys(av.values) {
		tv.set(p, av.values[p], SetOptions{})
	}
	tv.grant("ci", "stripe")
	return av
}

// clean fails the test when msg contains a secret value (or the attacker's forged one).
func (av *attackVault) clean(msg string) {
	av.t.Helper()
	for _, v := range append(slices.Collect(mapValues(av.values)), forgedValue) {
		if strings.Contains(msg, v) {
			av.t.Fatalf("a message contains a secret value: %s", msg)
		}
	}
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// expect asserts err has kind and names what failed (contains), and carries no secret value.
func (av *attackVault) expect(err error, kind Kind, contains string) {
	av.t.Helper()
	if err == nil {
		av.t.Fatalf("no error, want %s (%q)", kind, contains)
	}
	if KindOf(err) != kind {
		av.t.Fatalf("got %s error %v, want %s", KindOf(err), err, kind)
	}
	if !strings.Contains(err.Error(), contains) {
		av.t.Fatalf("error %q does not mention %q", err, contains)
	}
	av.clean(err.Error())
}

// readAs opens the vault with key in the current home and reads path.
func (av *attackVault) readAs(key *Key, path string) ([]byte, error) {
	s, err := av.v.Open(key)
	if err != nil {
		return nil, err
	}
	return s.Get(path)
}

func (av *attackVault) mustRead(key *Key, path string) {
	av.t.Helper()
	got, err := av.readAs(key, path)
	if err != nil {
		av.t.Fatalf("read %s: %v", path, err)
	}
	if string(got) != av.values[path] {
		av.t.Fatalf("read %s: wrong value", path)
	}
}

// check runs Check as the owner and returns the findings of level error; none may carry a value.
func (av *attackVault) check() []Finding {
	av.t.Helper()
	s, err := av.v.Open(av.owner)
	if err != nil {
		av.t.Fatalf("open as owner for check: %v", err)
	}
	var errs []Finding
	for _, f := range s.Check(time.Hour).Findings {
		av.clean(f.Message)
		if f.Level == "error" {
			errs = append(errs, f)
		}
	}
	return errs
}

func (av *attackVault) checkReports(path string) {
	av.t.Helper()
	for _, f := range av.check() {
		if f.Path == path {
			return
		}
	}
	av.t.Fatalf("check does not report %s: %+v", path, av.check())
}

func (av *attackVault) pub() ed25519.PublicKey {
	signer, err := DeriveSigningKey(av.owner.Identity)
	if err != nil {
		av.t.Fatal(err)
	}
	return signer.Public().(ed25519.PublicKey)
}

// root returns the verified, parsed root with its file and body bytes.
func (av *attackVault) root() (*Root, []byte, []byte) {
	av.t.Helper()
	raw := av.read(rootFile)
	body, err := VerifyRoot(raw, av.pub())
	if err != nil {
		av.t.Fatal(err)
	}
	r, err := parseRoot(body)
	if err != nil {
		av.t.Fatal(err)
	}
	return r, raw, body
}

// resign publishes r as the next version, validly signed by the owner: what only the owner (or a bug in
// the owner's tools) could write, so that a later check is the only line of defence.
func (av *attackVault) resign(r *Root, prevRaw []byte) {
	av.t.Helper()
	signer, err := DeriveSigningKey(av.owner.Identity)
	if err != nil {
		av.t.Fatal(err)
	}
	r.Version++
	r.PrevSHA256 = Hash(prevRaw)
	av.writeFile(rootFile, SignRoot(signer, encodeJSON(r)))
}

// writeUnsigned writes r as the root body and keeps the old signature line: an attacker's edit.
func (av *attackVault) writeUnsigned(r *Root, raw, body []byte) {
	av.writeFile(rootFile, append(encodeJSON(r), raw[len(body):]...))
}

// shard returns the verified index shard that holds path.
func (av *attackVault) shard(path string) *Shard {
	av.t.Helper()
	r, _, _ := av.root()
	id := ShardOf(path)
	sh, err := parseShard(av.read(shardFile(id)), r, id)
	if err != nil {
		av.t.Fatal(err)
	}
	return sh
}

// writeShard writes an index shard and records its hash, size and count in r.
func (av *attackVault) writeShard(r *Root, sh *Shard) {
	b := encodeCompact(sh)
	av.writeFile(shardFile(sh.Shard), b)
	r.Index[sh.Shard] = ShardRef{SHA256: Hash(b), Size: int64(len(b)), Secrets: len(sh.Secrets)}
}

// editEntry changes path's entry through edit and writes its shard, recording it in r.
func (av *attackVault) editEntry(r *Root, path string, edit func(e *Entry)) {
	sh := av.shard(path)
	e := sh.Secrets[path]
	edit(&e)
	sh.Secrets[path] = e
	av.writeShard(r, sh)
}

func encryptTo(t *testing.T, value []byte, recipients ...string) []byte {
	t.Helper()
	var rs []age.Recipient
	for _, s := range recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	enc, err := encrypt(value, rs)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func canDecrypt(enc []byte, id age.Identity) bool {
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		return false
	}
	_, err = io.ReadAll(r)
	return err == nil
}

// copyDir copies a directory tree (regular files and directories only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshotDir saves the vault directory and returns a function that puts the saved copy back.
func (av *attackVault) snapshotDir() func() {
	av.t.Helper()
	saved := filepath.Join(av.t.TempDir(), "saved")
	copyDir(av.t, av.v.Dir, saved)
	return func() {
		av.t.Helper()
		if err := os.RemoveAll(av.v.Dir); err != nil {
			av.t.Fatal(err)
		}
		copyDir(av.t, saved, av.v.Dir)
	}
}

func TestAttackForgedCiphertext(t *testing.T) {
	av := newAttackVault(t)
	r, _, _ := av.root()
	// Anyone can encrypt to the public keys in the repository: the forgery decrypts fine for ci.
	forged := encryptTo(t, []byte(forgedValue), r.Owner.Recipient, av.ci.Recipient)
	if !canDecrypt(forged, av.ci.Identity) {
		t.Fatal("the forged file should decrypt for ci")
	}
	av.writeFile(encFile("stripe/api-key"), forged)
	_, err := av.readAs(av.ci, "stripe/api-key")
	av.expect(err, KindIntegrity, "secrets/stripe/api-key.enc does not match the signed state")
	_, err = av.readAs(av.owner, "stripe/api-key")
	av.expect(err, KindIntegrity, "does not match the signed state")
	av.mustRead(av.ci, "stripe/webhook-secret")
	// The owner refuses to re-encrypt (and so launder) the forged value.
	o, err := av.v.OpenOwner(av.owner)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = o.Grant("other", "stripe")
	o.Close()
	av.expect(err, KindIntegrity, "secrets/stripe/api-key.enc")
	av.checkReports(encFile("stripe/api-key"))
}

func TestAttackSwappedCiphertexts(t *testing.T) {
	av := newAttackVault(t)
	a, b := av.read(encFile("stripe/api-key")), av.read(encFile("stripe/webhook-secret"))
	av.writeFile(encFile("stripe/api-key"), b)
	av.writeFile(encFile("stripe/webhook-secret"), a)
	for _, p := range []string{"stripe/api-key", "stripe/webhook-secret"} {
		_, err := av.readAs(av.ci, p)
		av.expect(err, KindIntegrity, encFile(p)+" does not match")
		_, err = av.readAs(av.owner, p)
		av.expect(err, KindIntegrity, "does not match the signed state")
	}
	av.checkReports(encFile("stripe/api-key"))
}

func TestAttackRecipientAddedToPolicy(t *testing.T) {
	t.Run("root edited", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, body := av.root()
		g := r.Groups["stripe"]
		g.Members = append(g.Members, "other")
		r.Groups["stripe"] = g
		av.writeUnsigned(r, raw, body)
		for _, k := range []*Key{av.other, av.ci, av.owner} {
			_, err := av.readAs(k, "stripe/api-key")
			av.expect(err, KindIntegrity, "signature does not verify")
		}
		_, err := av.v.OpenOwner(av.owner)
		av.expect(err, KindIntegrity, "not signed by this owner key")
	})
	t.Run("manifest edited", func(t *testing.T) {
		av := newAttackVault(t)
		m := av.read(manifestFile)
		m = bytes.Replace(m, []byte(`members: ["ci"]`), []byte(`members: ["ci", "other"]`), 1)
		av.writeFile(manifestFile, m)
		// The manifest is a view: it grants nothing.
		_, err := av.readAs(av.other, "stripe/api-key")
		av.expect(err, KindNotAuthorized, "not granted")
		av.mustRead(av.ci, "stripe/api-key")
		av.checkReports(manifestFile)
		// The owner takes recipients from the signed root only.
		av.set("stripe/new", "sk_live_new_after_manifest_edit", SetOptions{})
		enc := av.read(encFile("stripe/new"))
		if canDecrypt(enc, av.other.Identity) || !canDecrypt(enc, av.ci.Identity) {
			t.Fatal("the owner encrypted to the manifest's recipients, not the signed root's")
		}
	})
	t.Run("index edited", func(t *testing.T) {
		av := newAttackVault(t)
		r, _, _ := av.root()
		// r is not written: the root still vouches for the old shard.
		av.editEntry(r, "stripe/api-key", func(e *Entry) { e.ExtraAgents = append(e.ExtraAgents, "other") })
		_, err := av.readAs(av.other, "stripe/api-key")
		av.expect(err, KindIntegrity, "state/index/")
		if ShardOf("stripe/webhook-secret") != ShardOf("stripe/api-key") {
			av.mustRead(av.ci, "stripe/webhook-secret") // a read of another shard does not touch it
		}
		// The owner reads every shard before it re-encrypts, and refuses the edited one.
		o, err := av.v.OpenOwner(av.owner)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = o.Grant("other", "ops")
		o.Close()
		av.expect(err, KindIntegrity, "state/index/")
	})
}

func TestAttackAgentPublicKeyReplaced(t *testing.T) {
	t.Run("public.key file", func(t *testing.T) {
		av := newAttackVault(t)
		av.writeFile(agentPubFile("ci"), []byte(av.attacker.Recipient().String()+"\n"))
		av.mustRead(av.ci, "stripe/api-key")
		av.checkReports(agentPubFile("ci"))
		// Later owner changes take ci's recipient from the signed root, never from public.key.
		av.set("stripe/after-swap", "sk_live_after_pubkey_swap", SetOptions{})
		av.values["stripe/after-swap"] = "sk_live_after_pubkey_swap"
		av.grant("ci", "ops")
		av.set("ops/after-swap", "ops_after_pubkey_swap", SetOptions{Agents: []string{"ci"}})
		av.values["ops/after-swap"] = "ops_after_pubkey_swap"
		for _, p := range []string{"stripe/after-swap", "ops/after-swap", "ops/db-password", "stripe/api-key"} {
			enc := av.read(encFile(p))
			if canDecrypt(enc, av.attacker) {
				t.Fatalf("%s is encrypted to the attacker's key", p)
			}
			if !canDecrypt(enc, av.ci.Identity) || !canDecrypt(enc, av.owner.Identity) {
				t.Fatalf("%s is not encrypted to ci and the owner", p)
			}
			av.mustRead(av.ci, p)
		}
		// Recovering the agent writes a fresh key for it, again never the attacker's.
		keyFile := av.owned(func(o *Owner) ([]byte, error) { return recoverAgent(o, "ci") })
		ci2, err := ParseKeyFile(keyFile, "ci.key", quiet)
		if err != nil {
			t.Fatal(err)
		}
		if enc := av.read(encFile("stripe/api-key")); canDecrypt(enc, av.attacker) || !canDecrypt(enc, ci2.Identity) {
			t.Fatal("recover-agent encrypted to the wrong key")
		}
	})
	t.Run("root recipient", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, body := av.root()
		a := r.Agents["ci"]
		pub := []byte(av.attacker.Recipient().String() + "\n")
		a.Recipient, a.PublicKeySHA256 = av.attacker.Recipient().String(), Hash(pub)
		r.Agents["ci"] = a
		av.writeFile(agentPubFile("ci"), pub)
		av.writeUnsigned(r, raw, body)
		attackerKey := &Key{Identity: av.attacker, Recipient: av.attacker.Recipient().String(), Source: "attacker.key", opts: quiet}
		for _, k := range []*Key{attackerKey, av.ci, av.owner} {
			_, err := av.readAs(k, "stripe/api-key")
			av.expect(err, KindIntegrity, "signature does not verify")
		}
		// The owner cannot be made to grant anything on this state.
		_, err := av.v.OpenOwner(av.owner)
		av.expect(err, KindIntegrity, "not signed by this owner key")
	})
}

func TestAttackRollback(t *testing.T) {
	av := newAttackVault(t)
	restore := av.snapshotDir()
	av.set("stripe/api-key", "sk_live_rotated_0004", SetOptions{})
	av.values["stripe/api-key"] = "sk_live_rotated_0004"
	av.mustRead(av.ci, "stripe/api-key")
	restore() // the attacker serves the older, validly signed state
	_, err := av.readAs(av.ci, "stripe/api-key")
	av.expect(err, KindIntegrity, "rollback")
	_, err = av.readAs(av.owner, "stripe/webhook-secret")
	av.expect(err, KindIntegrity, "rollback")
	_, err = av.v.OpenOwner(av.owner)
	av.expect(err, KindIntegrity, "rollback")

	// A per-secret mark above the index entry is a rollback too, even when the root mark matches.
	t.Run("per secret", func(t *testing.T) {
		av := newAttackVault(t)
		av.mustRead(av.ci, "stripe/api-key")
		m, err := loadMarks(av.home, av.ci.PinVaultID)
		if err != nil {
			t.Fatal(err)
		}
		if err := raiseMarks(av.home, av.ci.PinVaultID, m.Version, m.RootSHA256, "", map[string]uint64{"stripe/api-key": m.Secrets["stripe/api-key"] + 1}); err != nil {
			t.Fatal(err)
		}
		_, err = av.readAs(av.ci, "stripe/api-key")
		av.expect(err, KindIntegrity, "rollback: stripe/api-key")
		av.mustRead(av.ci, "stripe/webhook-secret")
	})
}

func TestAttackFork(t *testing.T) {
	av := newAttackVault(t)
	restore := av.snapshotDir()
	av.set("stripe/api-key", "sk_live_branch_a", SetOptions{})
	av.values["stripe/api-key"] = "sk_live_branch_a"
	av.mustRead(av.ci, "stripe/api-key")
	r1, _, _ := av.root()

	// The same version, signed on another machine of the owner from the older state.
	restore()
	home1 := av.home
	home2 := t.TempDir()
	copyPrivate(t, filepath.Join(home1, "owner.key"), filepath.Join(home2, "owner.key"))
	t.Setenv("AGENT_VAULT_HOME", home2)
	av.set("stripe/webhook-secret", "whsec_branch_b", SetOptions{})
	av.values["stripe/webhook-secret"] = "whsec_branch_b"
	r2, _, _ := av.root()
	if r1.Version != r2.Version {
		t.Fatalf("versions %d and %d: not a fork", r1.Version, r2.Version)
	}
	t.Setenv("AGENT_VAULT_HOME", home1)
	_, err := av.readAs(av.ci, "stripe/webhook-secret")
	av.expect(err, KindIntegrity, "fork")
	_, err = av.v.OpenOwner(av.owner)
	av.expect(err, KindIntegrity, "fork")
}

// expectEscrowRefused asserts that the owner refuses ci's escrow with an integrity error naming want, and
// that check reports the escrow.
func (av *attackVault) expectEscrowRefused(want string) {
	av.t.Helper()
	o, err := av.v.OpenOwner(av.owner)
	if err != nil {
		av.t.Fatal(err)
	}
	_, err = o.Escrow("ci")
	o.Close()
	av.expect(err, KindIntegrity, want)
	av.checkReports(escrowFile("ci"))
}

func TestAttackEscrowReplaced(t *testing.T) {
	attackerKeyFile := func(av *attackVault) []byte {
		return agentKeyFile(av.attacker, "ci", av.ci.PinVaultID, av.ci.PinVerifyKey)
	}
	t.Run("file replaced", func(t *testing.T) {
		av := newAttackVault(t)
		r, _, _ := av.root()
		av.writeFile(escrowFile("ci"), encryptTo(t, attackerKeyFile(av), r.Owner.Recipient))
		av.expectEscrowRefused("agents/ci/private.key.escrow does not match")
	})
	t.Run("signed but holding another key", func(t *testing.T) {
		// Even an escrow the root vouches for is refused when the identity inside is not the agent's
		// signed recipient.
		av := newAttackVault(t)
		r, raw, _ := av.root()
		esc := encryptTo(t, attackerKeyFile(av), r.Owner.Recipient)
		av.writeFile(escrowFile("ci"), esc)
		a := r.Agents["ci"]
		a.EscrowSHA256 = Hash(esc)
		r.Agents["ci"] = a
		av.resign(r, raw)
		av.expectEscrowRefused("not the agent's signed recipient")
	})
	t.Run("not encrypted to the owner", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, _ := av.root()
		esc := encryptTo(t, agentKeyFile(av.ci.Identity, "ci", av.ci.PinVaultID, av.ci.PinVerifyKey), av.attacker.Recipient().String())
		av.writeFile(escrowFile("ci"), esc)
		a := r.Agents["ci"]
		a.EscrowSHA256 = Hash(esc)
		r.Agents["ci"] = a
		av.resign(r, raw)
		av.expectEscrowRefused("does not decrypt with the owner key")
	})
}

func TestAttackStateFromAnotherVault(t *testing.T) {
	av := newAttackVault(t)
	// A second vault of the same owner, with an agent of the same name and a secret at the same path.
	v2, err := Init(t.TempDir(), av.owner)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := v2.OpenOwner(av.owner)
	if err != nil {
		t.Fatal(err)
	}
	ci2File, err := addAgent(o2, "ci")
	if err == nil {
		err = o2.Set("stripe/api-key", []byte("sk_live_value_of_vault_two"), SetOptions{})
	}
	if err == nil {
		_, _, err = o2.Grant("ci", "stripe")
	}
	o2.Close()
	if err != nil {
		t.Fatal(err)
	}
	av.values["vault-two"] = "sk_live_value_of_vault_two"
	for _, d := range []string{"state", "secrets", "agents"} {
		if err := os.RemoveAll(av.file(d)); err != nil {
			t.Fatal(err)
		}
		copyDir(t, filepath.Join(v2.Dir, d), av.file(d))
	}
	_, err = av.readAs(av.ci, "stripe/api-key")
	av.expect(err, KindIntegrity, "belongs to vault "+v2RootID(t, v2))
	// The unpinned key reads config.yaml (still the first vault's) and sees the mismatch as well.
	bare := &Key{Identity: av.ci.Identity, Recipient: av.ci.Recipient, Source: "bare", opts: quiet}
	_, err = av.readAs(bare, "stripe/api-key")
	av.expect(err, KindIntegrity, "belongs to vault")
	// The copied state is genuinely vault two's: vault two's own pinned agent reads it, as it should.
	ci2, err := ParseKeyFile(ci2File, "ci2.key", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := av.readAs(ci2, "stripe/api-key"); err != nil || string(got) != "sk_live_value_of_vault_two" {
		t.Fatalf("vault two's agent on vault two's state: %v", err)
	}
	// The owner's key verifies both vaults, but the owner's tools remember which vault this directory
	// held, so neither a read nor a change (which would encrypt to vault two's agents) goes through.
	_, err = av.readAs(av.owner, "stripe/api-key")
	av.expect(err, KindIntegrity, "another vault's state was copied in")
	_, err = av.v.OpenOwner(av.owner)
	av.expect(err, KindIntegrity, "another vault's state was copied in")
}

func v2RootID(t *testing.T, v *Vault) string {
	cfg, err := os.ReadFile(filepath.Join(v.Dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.VaultID
}

func TestAttackUnsignedSecret(t *testing.T) {
	av := newAttackVault(t)
	enc, meta := av.read(encFile("stripe/api-key")), av.read(metaFile("stripe/api-key"))
	av.writeFile(encFile("stripe/planted"), enc)
	av.writeFile(metaFile("stripe/planted"), bytes.Replace(meta, []byte("stripe/api-key"), []byte("stripe/planted"), 1))
	av.writeFile(metaFile("stripe/meta-only"), meta)
	av.writeFile(encFile("newgroup/planted"), enc)
	for _, p := range []string{"stripe/planted", "stripe/meta-only", "newgroup/planted"} {
		for _, k := range []*Key{av.ci, av.owner} {
			_, err := av.readAs(k, p)
			av.expect(err, KindIntegrity, "unsigned secret")
		}
	}
	s, err := av.v.Open(av.owner)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range list {
		if strings.Contains(info.Name, "planted") {
			t.Fatalf("list shows the unsigned secret %s", info.Name)
		}
	}
	av.checkReports(encFile("stripe/planted"))
	av.checkReports(metaFile("stripe/meta-only"))
	// The owner cannot be tricked into adopting it either: set on that path is refused.
	o, err := av.v.OpenOwner(av.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	av.expect(o.Set("stripe/planted", []byte("x"), SetOptions{}), KindIntegrity, "unsigned secret")
}

func TestAttackSymlink(t *testing.T) {
	outside := func(t *testing.T, data []byte) string {
		p := filepath.Join(t.TempDir(), "outside")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("ciphertext", func(t *testing.T) {
		av := newAttackVault(t)
		p := outside(t, av.read(encFile("stripe/api-key")))
		os.Remove(av.file(encFile("stripe/api-key")))
		if err := os.Symlink(p, av.file(encFile("stripe/api-key"))); err != nil {
			t.Fatal(err)
		}
		for _, k := range []*Key{av.ci, av.owner} {
			_, err := av.readAs(k, "stripe/api-key")
			av.expect(err, KindIntegrity, "symbolic link")
		}
		av.checkReports(encFile("stripe/api-key"))
	})
	t.Run("meta", func(t *testing.T) {
		av := newAttackVault(t)
		p := outside(t, av.read(metaFile("stripe/api-key")))
		os.Remove(av.file(metaFile("stripe/api-key")))
		if err := os.Symlink(p, av.file(metaFile("stripe/api-key"))); err != nil {
			t.Fatal(err)
		}
		av.mustRead(av.ci, "stripe/api-key") // readers do not read .meta
		av.checkReports(metaFile("stripe/api-key"))
	})
	t.Run("directory", func(t *testing.T) {
		av := newAttackVault(t)
		elsewhere := filepath.Join(t.TempDir(), "stripe")
		copyDir(t, av.file("secrets/stripe"), elsewhere)
		os.RemoveAll(av.file("secrets/stripe"))
		if err := os.Symlink(elsewhere, av.file("secrets/stripe")); err != nil {
			t.Fatal(err)
		}
		_, err := av.readAs(av.ci, "stripe/api-key")
		av.expect(err, KindIntegrity, "secrets/stripe is not a directory")
		av.checkReports("secrets/stripe")
	})
	t.Run("root", func(t *testing.T) {
		av := newAttackVault(t)
		p := outside(t, av.read(rootFile))
		os.Remove(av.file(rootFile))
		if err := os.Symlink(p, av.file(rootFile)); err != nil {
			t.Fatal(err)
		}
		for _, k := range []*Key{av.ci, av.owner} {
			_, err := av.readAs(k, "stripe/api-key")
			av.expect(err, KindIntegrity, "state/root is a symbolic link")
		}
		_, err := av.v.OpenOwner(av.owner)
		av.expect(err, KindIntegrity, "symbolic link")
	})
	t.Run("state directory", func(t *testing.T) {
		av := newAttackVault(t)
		elsewhere := filepath.Join(t.TempDir(), "state")
		copyDir(t, av.file("state"), elsewhere)
		os.RemoveAll(av.file("state"))
		if err := os.Symlink(elsewhere, av.file("state")); err != nil {
			t.Fatal(err)
		}
		_, err := av.readAs(av.ci, "stripe/api-key")
		av.expect(err, KindIntegrity, "state is not a directory")
	})
	t.Run("vault directory", func(t *testing.T) {
		av := newAttackVault(t)
		top := t.TempDir()
		if err := os.Symlink(av.v.Dir, filepath.Join(top, DirName)); err != nil {
			t.Fatal(err)
		}
		_, err := Find(top)
		av.expect(err, KindIntegrity, "symbolic link")
	})
}

func TestAttackOversizedFile(t *testing.T) {
	t.Run("meta over its vouched size", func(t *testing.T) {
		av := newAttackVault(t)
		meta := append(av.read(metaFile("stripe/api-key")), strings.Repeat("# padding\n", 100)...)
		av.writeFile(metaFile("stripe/api-key"), meta)
		av.mustRead(av.ci, "stripe/api-key") // get and list read no .meta
		s, err := av.v.Open(av.ci)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.List("stripe"); err != nil {
			t.Fatal(err)
		}
		av.checkReports(metaFile("stripe/api-key"))
	})
	t.Run("ciphertext over its vouched size", func(t *testing.T) {
		av := newAttackVault(t)
		enc := append(av.read(encFile("stripe/api-key")), make([]byte, 4096)...)
		av.writeFile(encFile("stripe/api-key"), enc)
		for _, k := range []*Key{av.ci, av.owner} {
			_, err := av.readAs(k, "stripe/api-key")
			av.expect(err, KindIntegrity, "size mismatch")
		}
	})
	t.Run("value over the limit", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, _ := av.root()
		enc := encryptTo(t, make([]byte, MaxValueSize+1), av.ci.Recipient, av.owner.Recipient)
		av.writeFile(encFile("stripe/api-key"), enc)
		av.editEntry(r, "stripe/api-key", func(e *Entry) { e.EncSHA256, e.EncSize = Hash(enc), int64(len(enc)) })
		av.resign(r, raw)
		for _, k := range []*Key{av.ci, av.owner} {
			_, err := av.readAs(k, "stripe/api-key")
			av.expect(err, KindIntegrity, "over the 1048576-byte limit")
		}
	})
	t.Run("root", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, _ := av.root()
		signer, _ := DeriveSigningKey(av.owner.Identity)
		r.Version++
		r.PrevSHA256 = Hash(raw)
		body := encodeJSON(r)
		body = append(body[:len(body)-1], append(bytes.Repeat([]byte(" "), LimitRoot), '\n')...)
		av.writeFile(rootFile, SignRoot(signer, body))
		_, err := av.readAs(av.ci, "stripe/api-key")
		av.expect(err, KindIntegrity, "state/root is")
	})
	t.Run("config read on first use", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, _ := av.root()
		cfg := append(av.read(configFile), strings.Repeat("# padding\n", LimitOther/10+1)...)
		av.writeFile(configFile, cfg)
		r.Files[configFile] = refOf(cfg)
		av.resign(r, raw)
		bare := &Key{Identity: av.ci.Identity, Recipient: av.ci.Recipient, Source: "bare", opts: quiet}
		_, err := av.readAs(bare, "stripe/api-key")
		av.expect(err, KindIntegrity, "config.yaml is")
		av.mustRead(av.ci, "stripe/api-key") // a pinned key does not need config.yaml
	})
}

// The .meta files are a view for people: readers decide from the signed entries, and check reports a
// .meta that disagrees.
func TestAttackMetaRenamedOrEdited(t *testing.T) {
	t.Run("edited", func(t *testing.T) {
		av := newAttackVault(t)
		m := bytes.Replace(av.read(metaFile("stripe/api-key")), []byte(`authorized_agents: ["ci"]`), []byte(`authorized_agents: ["ci", "other"]`), 1)
		av.writeFile(metaFile("stripe/api-key"), m)
		s, err := av.v.Open(av.ci)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info("stripe/api-key")
		if err != nil || slices.Contains(info.AuthorizedAgents, "other") {
			t.Fatalf("Info = %+v, %v; want the signed entry's agents", info, err)
		}
		_, err = av.readAs(av.other, "stripe/api-key")
		av.expect(err, KindNotAuthorized, "not granted")
		av.checkReports(metaFile("stripe/api-key"))
		// The owner's next change of the secret rewrites the view from the signed entry.
		av.set("stripe/api-key", "sk_live_rotated_after_meta_edit", SetOptions{})
		if bytes.Contains(av.read(metaFile("stripe/api-key")), []byte("other")) {
			t.Fatal("the owner kept the edited .meta")
		}
	})
	t.Run("renamed", func(t *testing.T) {
		av := newAttackVault(t)
		av.writeFile(metaFile("stripe/webhook-secret"), av.read(metaFile("stripe/api-key")))
		os.Remove(av.file(metaFile("stripe/api-key")))
		av.mustRead(av.ci, "stripe/api-key")
		av.checkReports(metaFile("stripe/webhook-secret"))
		av.checkReports(metaFile("stripe/api-key"))
	})
	t.Run("vouched but naming another secret", func(t *testing.T) {
		av := newAttackVault(t)
		r, raw, _ := av.root()
		meta := av.read(metaFile("stripe/api-key"))
		av.writeFile(metaFile("stripe/webhook-secret"), meta)
		av.editEntry(r, "stripe/webhook-secret", func(e *Entry) { e.MetaSHA256, e.MetaSize = Hash(meta), int64(len(meta)) })
		av.resign(r, raw)
		av.checkReports(metaFile("stripe/webhook-secret"))
	})
}

func TestAttackSymlinkedDirectorySendsWritesElsewhere(t *testing.T) {
	av := newAttackVault(t)
	outside := t.TempDir()
	// The repository replaces the group's directory with a link to somewhere else on the owner's disk.
	if err := os.RemoveAll(av.file("secrets/stripe")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, av.file("secrets/stripe")); err != nil {
		t.Fatal(err)
	}
	o, err := av.v.OpenOwner(av.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	err = o.Set("stripe/new-key", []byte("sk_live_new_value"), SetOptions{})
	av.expect(err, KindIntegrity, "symbolic link")
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("the owner wrote through the link: %v", entries)
	}
	if exists(av.v.Dir, pendingDir) {
		t.Fatal("a refused change left a pending transaction")
	}
}

// A reader skips the signature check only for the very root (by SHA-256) that a reader on this machine
// verified with the same key (docs/format.md section 6.3); any other bytes are verified again.
func TestVerifiedRootRecord(t *testing.T) {
	av := newAttackVault(t)
	av.mustRead(av.ci, "stripe/api-key")
	m, err := loadMarks(av.home, av.ci.PinVaultID)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, body := av.root()
	if !m.verified(Hash(raw), av.ci.PinVerifyKey) {
		t.Fatalf("the marks do not record the verified root: %+v", m.Verified)
	}

	// The same body under a broken signature is other bytes: verified, and refused.
	broken := append(append([]byte{}, body...), []byte("signature: ed25519 "+strings.Repeat("A", 86)+"==\n")...)
	av.writeFile(rootFile, broken)
	_, err = av.readAs(av.ci, "stripe/api-key")
	av.expect(err, KindIntegrity, "signature does not verify")

	// A record for another verify key does not stand for this key's check.
	av.writeFile(rootFile, raw)
	m.Verified.VerifyKey = FormatVerifyKey(make(ed25519.PublicKey, ed25519.PublicKeySize))
	writeMarksForTest(t, av.home, av.ci.PinVaultID, m)
	av.writeFile(rootFile, broken)
	m.RootSHA256, m.Verified.RootSHA256 = Hash(broken), Hash(broken)
	writeMarksForTest(t, av.home, av.ci.PinVaultID, m)
	_, err = av.readAs(av.ci, "stripe/api-key")
	av.expect(err, KindIntegrity, "signature does not verify")

	// The record is trusted as the key files beside it are: with this key's own record of these bytes,
	// the check is not made again.
	m.Verified.VerifyKey = av.ci.PinVerifyKey
	writeMarksForTest(t, av.home, av.ci.PinVaultID, m)
	av.mustRead(av.ci, "stripe/api-key")
}

func writeMarksForTest(t *testing.T, home, vaultID string, m *markFile) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marksPath(home, vaultID), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
