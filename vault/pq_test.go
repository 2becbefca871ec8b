package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
	"github.com/agent-vault/agent-vault/vault/internal/bech32"
)

// Post-quantum vaults (docs/format.md section 3.1): owner and agents hold hybrid ML-KEM-768 + X25519 keys,
// every file holds mlkem768x25519 stanzas only, and classic and hybrid keys never mix.

func stanzaTypes(t testing.TB, enc []byte) []string {
	t.Helper()
	f, err := agehdr.Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range f.Stanzas {
		out = append(out, agehdr.Type(s))
	}
	return out
}

func TestPQVaultReadWrite(t *testing.T) {
	tv := newTestVaultOf(t, KeyHybrid)
	if tv.owner.Kind() != KeyHybrid || tv.ci.Kind() != KeyHybrid {
		t.Fatalf("owner %s, ci %s; want hybrid keys", tv.owner.Kind(), tv.ci.Kind())
	}
	if !strings.HasPrefix(tv.ci.Recipient, "age1pq1") || len(tv.ci.Recipient) != hybridRecipientLen {
		t.Fatalf("agent recipient %s", shortRecipient(tv.ci.Recipient))
	}
	tv.set("stripe/api-key", "sk_live_pq", SetOptions{})
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live_pq")
	if _, kind := tv.get(tv.ci, "stripe/api-key"); kind != KindNotAuthorized {
		t.Fatalf("ci before grant: %v", kind)
	}
	tv.grant("ci", "stripe")
	tv.mustGet(tv.ci, "stripe/api-key", "sk_live_pq")
	enc := tv.read(encFile("stripe/api-key"))
	if got := stanzaTypes(t, enc); len(got) != 2 || got[0] != stanzaHybrid || got[1] != stanzaHybrid {
		t.Fatalf("stanzas %v, want two %s", got, stanzaHybrid)
	}
	// age itself reads the file with each key (the stock age CLI 1.3 and later does the same).
	for _, k := range []*Key{tv.owner, tv.ci} {
		if !canDecrypt(enc, k.Identity) {
			t.Fatalf("age cannot decrypt the file with %s", k.Source)
		}
	}
	// The escrow is a hybrid key file, encrypted to the hybrid owner.
	keyFile := tv.owned(func(o *Owner) ([]byte, error) { return o.Escrow("ci") })
	k, err := ParseKeyFile(keyFile, "escrow", quiet)
	if err != nil || k.Recipient != tv.ci.Recipient {
		t.Fatalf("escrow: %v", err)
	}
	if got := stanzaTypes(t, tv.read(escrowFile("ci"))); len(got) != 1 || got[0] != stanzaHybrid {
		t.Fatalf("escrow stanzas %v", got)
	}
}

// TestPQRewrapKeepsStanzas: grant and revoke of a hybrid vault change the header only, through age's
// generic Unwrap and Wrap: the payload and every kept stanza are copied byte for byte.
func TestPQRewrapKeepsStanzas(t *testing.T) {
	tv := newTestVaultOf(t, KeyHybrid)
	tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, "deploy") })
	tv.set("stripe/api-key", "sk_live_pq", SetOptions{})
	tv.grant("ci", "stripe")
	before, err := agehdr.Parse(tv.read(encFile("stripe/api-key")))
	if err != nil {
		t.Fatal(err)
	}
	tv.grant("deploy", "stripe")
	after, err := agehdr.Parse(tv.read(encFile("stripe/api-key")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Payload, after.Payload) {
		t.Fatal("grant changed the payload")
	}
	// Layout: ci, deploy, owner. ci's and the owner's stanzas are kept byte for byte.
	if len(after.Stanzas) != 3 || !bytes.Equal(after.Stanzas[0], before.Stanzas[0]) || !bytes.Equal(after.Stanzas[2], before.Stanzas[1]) {
		t.Fatal("grant did not keep the existing stanzas byte for byte")
	}
	tv.owned(func(o *Owner) ([]byte, error) {
		_, err := o.Revoke("ci", "stripe", RevokeOptions{})
		return nil, err
	})
	revoked, err := agehdr.Parse(tv.read(encFile("stripe/api-key")))
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked.Stanzas) != 2 || !bytes.Equal(revoked.Stanzas[0], after.Stanzas[1]) || !bytes.Equal(revoked.Payload, before.Payload) {
		t.Fatal("revoke did not drop exactly ci's stanza")
	}
	if _, kind := tv.get(tv.ci, "stripe/api-key"); kind != KindNotAuthorized {
		t.Fatalf("ci after revoke: %v", kind)
	}
}

// TestPQWrongKeyKind: a classic key on a hybrid vault, and a hybrid key on a classic one, are "not
// authorized" (exit 5), with a message that names the kinds; never an integrity error. So is a classic
// owner key given as the owner key of a hybrid vault.
func TestPQWrongKeyKind(t *testing.T) {
	pq := newTestVaultOf(t, KeyHybrid)
	pq.set("stripe/api-key", "v", SetOptions{})
	pqAgent := unpinned(t, pq.ci)
	classic := newTestVault(t) // a new home: the hybrid vault is read there by classic keys
	classic.set("stripe/api-key", "v", SetOptions{})
	for name, c := range map[string]struct {
		v   *Vault
		key *Key
	}{"classic agent, pq vault": {pq.v, unpinned(t, classic.ci)}, "classic owner, pq vault": {pq.v, classic.owner},
		"pq agent, classic vault": {classic.v, pqAgent}} {
		s, err := c.v.Open(c.key)
		if err == nil {
			_, err = s.Get("stripe/api-key")
		}
		if KindOf(err) != KindNotAuthorized || !strings.Contains(err.Error(), "post-quantum") {
			t.Fatalf("%s: %v (kind %s)", name, err, KindOf(err))
		}
		if strings.Contains(err.Error(), hybridPrefix) && len(err.Error()) > 400 {
			t.Fatalf("%s: the message holds a whole hybrid recipient", name)
		}
	}
	o, err := pq.v.OpenOwner(classic.owner)
	if err == nil {
		o.Close()
	}
	if KindOf(err) != KindNotAuthorized {
		t.Fatalf("OpenOwner of a hybrid vault with a classic owner key: %v", err)
	}
}

// unpinned is key without its pins (a bare identity line), which trusts a vault on first use.
func unpinned(t *testing.T, key *Key) *Key {
	t.Helper()
	k, err := ParseKeyFile([]byte(secretLine(key.Identity)+"\n"), key.Source, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPQMixedRecipientsRefused: a writer refuses to encrypt to both kinds, and a signed root that mixes them
// is an integrity error.
func TestPQMixedRecipientsRefused(t *testing.T) {
	classic := newTestVault(t)
	pq := newTestVaultOf(t, KeyHybrid)
	if _, err := recipients(&Root{Owner: RootOwner{Recipient: pq.owner.Recipient}, Agents: map[string]RootAgent{"ci": {Recipient: classic.ci.Recipient}},
		Groups: map[string]RootGroup{"g": {Members: []string{"ci"}}}}, &Entry{Group: "g"}, quiet); err == nil {
		t.Fatal("recipients of a mixed root: no error")
	}
	ring, err := newKeyring(pq.owner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.wrap(make([]byte, 16), classic.ci.Recipient); err == nil {
		t.Fatal("a hybrid keyring wrapped for a classic recipient")
	}
	av := &attackVault{testVault: pq, values: map[string]string{}}
	r, raw, _ := av.root()
	a := r.Agents["ci"]
	a.Recipient = classic.ci.Recipient
	r.Agents["ci"] = a
	av.resign(r, raw)
	_, err = pq.v.Open(pq.owner)
	if KindOf(err) != KindIntegrity || !strings.Contains(err.Error(), "kinds never mix") {
		t.Fatalf("mixed root: %v", err)
	}
}

// TestPQMixedFileRefused: a file that holds mlkem768x25519 and X25519 stanzas is refused by every reader
// of this package, even when the key could open one of its stanzas and the signed state vouches for it.
func TestPQMixedFileRefused(t *testing.T) {
	pq := newTestVaultOf(t, KeyHybrid)
	classic := newTestVault(t)
	fileKey := make([]byte, 16)
	hybrid, err := age.ParseHybridRecipient(pq.owner.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	pqStanza, err := hybrid.Wrap(fileKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x25519Public(classic.owner.Recipient)
	xStanza, err := agehdr.WrapX25519(fileKey, pub)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := encrypt([]byte("v"), []age.Recipient{x25519Recipient{pub}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := agehdr.Parse(valid)
	// A well-formed age file (MAC and all) under a known file key cannot be made without the payload key;
	// the mix is detected from the header alone, before any decryption.
	mixed, err := agehdr.Marshal(fileKey, [][]byte{agehdr.Encode(xStanza), agehdr.Encode(pqStanza[0])}, f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []age.Identity{pq.owner.Identity, classic.owner.Identity} {
		if _, err := decrypt(mixed, id); err != errMixedStanzas {
			t.Fatalf("decrypt of a mixed file: %v", err)
		}
	}
	// Signed by the owner (or a bug in its tools): get says integrity, and names the file.
	pq.set("stripe/api-key", "v", SetOptions{})
	av := &attackVault{testVault: pq, values: map[string]string{}}
	r, raw, _ := av.root()
	av.writeFile(encFile("stripe/api-key"), mixed)
	av.editEntry(r, "stripe/api-key", func(e *Entry) { e.EncSHA256, e.EncSize = Hash(mixed), int64(len(mixed)) })
	av.resign(r, raw)
	_, kind := pq.get(pq.owner, "stripe/api-key")
	if kind != KindIntegrity {
		t.Fatalf("get of a signed mixed file: kind %s", kind)
	}
}

// TestPQSigningKey: the owner signing key of a hybrid identity is HKDF-SHA256 of its 32-byte seed under its
// own label (docs/format.md section 3.4). The vector below is in the format document.
func TestPQSigningKey(t *testing.T) {
	seed, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	id, err := age.ParseHybridIdentity(strings.ToUpper(bech32.Encode("age-secret-key-pq-", seed)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := DeriveSigningKey(id)
	if err != nil {
		t.Fatal(err)
	}
	got := FormatVerifyKey(signer.Public().(ed25519.PublicKey))
	const want = "ed25519:cDFY5Bme3g7gDw5ez6BnOJLg6yjljx6Xh3xs7c3YkTc="
	if got != want {
		t.Fatalf("verify key of the test seed = %s, want %s", got, want)
	}
	// The same 32 bytes as a classic identity give another signing key: the labels differ.
	x, err := age.ParseX25519Identity(strings.ToUpper(bech32.Encode("age-secret-key-", seed)))
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := DeriveSigningKey(x)
	if bytes.Equal(xs, signer) {
		t.Fatal("classic and hybrid identities of the same bytes derive the same signing key")
	}
}

func TestValidHybridRecipient(t *testing.T) {
	id, _ := age.GenerateHybridIdentity()
	r := id.Recipient().String()
	if len(r) != hybridRecipientLen || !validHybridRecipient(r) {
		t.Fatalf("len %d", len(r))
	}
	other := "q" // a last character other than r's breaks the checksum
	if strings.HasSuffix(r, other) {
		other = "p"
	}
	for _, bad := range []string{strings.ToUpper(r), r[:len(r)-1] + other, r + "q", "age1pq1", ""} {
		if validHybridRecipient(bad) {
			t.Fatalf("accepted %.30s", bad)
		}
	}
	if k, ok := validRecipientOf(r); !ok || k != KeyHybrid {
		t.Fatal("validRecipientOf")
	}
	if shortRecipient(r) == r || len(shortRecipient(r)) > 40 {
		t.Fatal("shortRecipient")
	}
}

// TestMigratePQ: a classic vault converts in one signed change: new hybrid keys for the owner and every
// agent (key files installed with new pins, escrowed), every value re-encrypted with no X25519 stanza
// left, a new vault id, the version chain kept; the old agent key stops working.
func TestMigratePQ(t *testing.T) {
	tv := newTestVault(t)
	tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, "deploy") })
	tv.set("stripe/api-key", "sk_live_1", SetOptions{})
	tv.set("ops/db", "db_2", SetOptions{Agents: []string{"deploy"}})
	tv.grant("ci", "stripe")
	oldCI := tv.ci
	paths := map[string]string{}
	var rep *MigratedPQ
	tv.owned(func(o *Owner) ([]byte, error) {
		oldVersion := o.Root.Version
		var err error
		rep, err = o.MigratePQ(func(name string) string {
			paths[name] = filepath.Join(tv.home, "agents", name+"-pq.key")
			return paths[name]
		})
		if err == nil && rep.Version != oldVersion+1 {
			t.Fatalf("version %d after %d", rep.Version, oldVersion)
		}
		return nil, err
	})
	if rep.VaultID == rep.OldVaultID || !rep.OwnerKeyCreated || len(rep.Agents) != 2 {
		t.Fatalf("report %+v", rep)
	}
	// A kill between the commit point and the new id's vault_paths line: the owner's next command follows the
	// signed successor of the root it last verified instead of calling it another vault.
	if err := bindOwnedPath(tv.home, tv.v.recordDir(), rep.OldVaultID, true); err != nil {
		t.Fatal(err)
	}
	owner, err := ResolveKeyFor(tv.v, "", quiet)
	if err != nil || owner.Kind() != KeyHybrid || !strings.HasSuffix(owner.Source, pqOwnerKeyName) {
		t.Fatalf("default owner key of the converted vault: %v %v", owner, err)
	}
	ci, err := LoadKeyFile(paths["ci"], quiet)
	if err != nil || ci.Kind() != KeyHybrid || ci.PinVaultID != rep.VaultID || ci.PinVerifyKey != rep.VerifyKey {
		t.Fatalf("ci's new key: %v %v", ci, err)
	}
	deploy, err := LoadKeyFile(paths["deploy"], quiet)
	if err != nil {
		t.Fatal(err)
	}
	tv.mustGet(owner, "stripe/api-key", "sk_live_1")
	tv.mustGet(owner, "ops/db", "db_2")
	tv.mustGet(ci, "stripe/api-key", "sk_live_1")
	tv.mustGet(deploy, "ops/db", "db_2")
	if _, kind := tv.get(deploy, "stripe/api-key"); kind != KindNotAuthorized {
		t.Fatalf("deploy reads stripe: %v", kind)
	}
	for _, p := range []string{encFile("stripe/api-key"), encFile("ops/db"), escrowFile("ci"), escrowFile("deploy")} {
		for _, typ := range stanzaTypes(t, tv.read(p)) {
			if typ != stanzaHybrid {
				t.Fatalf("%s holds a %s stanza", p, typ)
			}
		}
	}
	// The old classic agent key: its pinned vault is gone from this repository (another vault id).
	if _, kind := tv.get(oldCI, "stripe/api-key"); kind == -1 {
		t.Fatal("the old agent key still reads")
	}
	// The classic owner key no longer opens it as owner: not authorized, not an integrity error.
	if _, err := tv.v.OpenOwner(tv.owner); KindOf(err) != KindNotAuthorized {
		t.Fatalf("classic owner key after migration: %v", err)
	}
	// Changes go on with the hybrid keys: a grant re-wraps through age's hybrid Unwrap and Wrap.
	o, err := tv.v.OpenOwner(owner)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Grant("deploy", "stripe"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.MigratePQ(func(string) string { return "" }); KindOf(err) != KindUsage {
		t.Fatalf("second conversion: %v", err)
	}
	o.Close()
	tv.mustGet(deploy, "stripe/api-key", "sk_live_1")
}
