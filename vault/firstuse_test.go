package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// forgeVault writes to dst/.agent-vault what an attacker who can push writes: a copy of av's vault under
// a new vault id, signed by the attacker's own owner key, that keeps every agent's real recipient and
// gives stripe/api-key the value forged, encrypted to agent ci. It returns the new vault id.
func forgeVault(t *testing.T, av *attackVault, dst, forged string) string {
	t.Helper()
	dir := filepath.Join(dst, DirName)
	copyDir(t, av.v.Dir, dir)
	write := func(rel string, data []byte) FileRef {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return refOf(data)
	}
	owner, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := DeriveSigningKey(owner)
	if err != nil {
		t.Fatal(err)
	}
	idBytes := make([]byte, 16)
	rand.Read(idBytes)
	r, _, _ := av.root()
	r.VaultID, r.Version, r.PrevSHA256 = hex.EncodeToString(idBytes), 1, ""
	r.Owner = RootOwner{Recipient: owner.Recipient().String(), VerifyKey: FormatVerifyKey(signer.Public().(ed25519.PublicKey))}
	r.Files[configFile] = write(configFile, encodeConfig(&vaultConfig{Format: 2, VaultID: r.VaultID, OwnerVerifyKey: r.Owner.VerifyKey, Created: now()}))
	r.Files["owner.pub"] = write("owner.pub", []byte(r.Owner.Recipient+"\n"))
	for id := range r.Index {
		sh := av.shard(firstPathOf(t, av, id))
		sh.VaultID = r.VaultID
		if e, ok := sh.Secrets["stripe/api-key"]; ok {
			ref := write(encFile("stripe/api-key"), encryptTo(t, []byte(forged), av.ci.Recipient, r.Owner.Recipient))
			e.EncSHA256, e.EncSize = ref.SHA256, ref.Size
			e.AllowHosts = []string{"attacker.example"}
			sh.Secrets["stripe/api-key"] = e
		}
		b := encodeCompact(sh)
		write(shardFile(id), b)
		r.Index[id] = ShardRef{SHA256: Hash(b), Size: int64(len(b)), Secrets: len(sh.Secrets)}
	}
	write(rootFile, SignRoot(signer, encodeJSON(r)))
	return r.VaultID
}

// firstPathOf returns a secret path of av that lives in shard id.
func firstPathOf(t *testing.T, av *attackVault, id string) string {
	for p := range av.values {
		if ShardOf(p) == id {
			return p
		}
	}
	t.Fatalf("no secret in shard %s", id)
	return ""
}

// bareKey is k without its pins: AGENT_VAULT_KEY holding only the AGE-SECRET-KEY-1 line.
func bareKey(k *Key) *Key {
	return &Key{Identity: k.Identity, Recipient: k.Recipient, Source: "AGENT_VAULT_KEY", opts: quiet}
}

// TestAttackFirstUseNewVaultID is issue 10 item 1: a key without pins that trusted a vault on first use
// is not made to trust a pushed vault with a new id and the attacker's owner key, neither in the same
// directory (the repository was replaced: integrity) nor elsewhere (the key belongs to another vault:
// configuration, exit 3). Before the fix both were a new "first use" that returned the forged value.
func TestAttackFirstUseNewVaultID(t *testing.T) {
	av := newAttackVault(t)
	// The agent's machine: a home of its own (the owner's tools record the vaults they write).
	av.home = t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", av.home)
	bare := bareKey(av.ci)
	s, err := av.v.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	if !s.FirstUse {
		t.Fatal("the first read with a bare key is not reported as first use")
	}
	realID := s.Root.VaultID
	av.mustRead(bare, "stripe/api-key")
	if s, err := av.v.Open(bare); err != nil || s.FirstUse {
		t.Fatalf("second read: first use %v, %v", s != nil && s.FirstUse, err)
	}

	// The attacker pushes a whole new vault into the same repository.
	elsewhere := t.TempDir()
	newID := forgeVault(t, av, elsewhere, forgedValue)
	if err := os.RemoveAll(av.v.Dir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(elsewhere, DirName), av.v.Dir)
	_, err = av.readAs(bare, "stripe/api-key")
	av.expect(err, KindIntegrity, "the repository was replaced")

	// The same forged vault in another directory: the key trusts one vault only.
	other := &Vault{Top: elsewhere, Dir: filepath.Join(elsewhere, DirName)}
	_, err = other.Open(bare)
	av.expect(err, KindVaultNotFound, "belongs to vault "+realID)
	if !strings.Contains(err.Error(), av.v.Dir) || !strings.Contains(err.Error(), "known_vaults") {
		t.Fatalf("the error names neither the key's vault directory nor how to reset trust: %v", err)
	}

	// Another key that never read anything here is refused too: the directory is bound.
	_, err = av.readAs(bareKey(av.other), "stripe/api-key")
	av.expect(err, KindIntegrity, "the repository was replaced")

	// A deliberate reset (the lines removed) lets the key trust the new vault, as a new first use.
	if err := os.Remove(filepath.Join(av.home, "known_vaults")); err != nil {
		t.Fatal(err)
	}
	s, err = other.Open(bare)
	if err != nil || !s.FirstUse || s.Root.VaultID != newID {
		t.Fatalf("after a reset: %v", err)
	}
}

// TestPinnedKeyOfAnotherVault is issue 10 item 9: a key pinned to vault A used on a whole other vault B
// is a configuration mistake (exit 3) that names vault A and, when this machine knows it, its
// directory; B's state copied into A's directory beside A's configuration stays an integrity error.
func TestPinnedKeyOfAnotherVault(t *testing.T) {
	av := newAttackVault(t)
	realID := v2RootID(t, av.v)
	// Vault B: another owner's vault, with its own agent ci.
	otherTop := t.TempDir()
	elsewhere := t.TempDir()
	forgeVault(t, av, elsewhere, "value-of-vault-b")
	copyDir(t, filepath.Join(elsewhere, DirName), filepath.Join(otherTop, DirName))
	b := &Vault{Top: otherTop, Dir: filepath.Join(otherTop, DirName)}
	_, err := b.Open(av.ci)
	av.expect(err, KindVaultNotFound, "belongs to vault "+realID)
	if !strings.Contains(err.Error(), av.v.Dir) {
		t.Fatalf("the error does not name the key's vault directory (known from the owner's records): %v", err)
	}
	// Without the owner's records the directory is unknown, and said so.
	if err := os.Remove(filepath.Join(av.home, "vault_paths")); err != nil {
		t.Fatal(err)
	}
	_, err = b.Open(av.ci)
	av.expect(err, KindVaultNotFound, "not known on this machine")

	// A forged state of the key's own vault (same id, another signer) stays an integrity error.
	r, _, _ := av.root()
	signer, _ := DeriveSigningKey(av.attacker)
	av.writeFile(rootFile, SignRoot(signer, encodeJSON(r)))
	_, err = av.readAs(av.ci, "stripe/api-key")
	av.expect(err, KindIntegrity, "")
}

func TestParseKnownVaults(t *testing.T) {
	id := strings.Repeat("a", 32)
	k := parseKnownVaults([]byte(id + " ed25519:x\n" +
		"key age1abc " + id + " ed25519:x\n" +
		"key age1abc " + strings.Repeat("b", 32) + " ed25519:y\n" + // a repeated key: the first line counts
		"repo " + id + " /a dir/with spaces/.agent-vault\r\n" +
		"repo " + id + " relative/.agent-vault\n" + // not absolute: ignored
		"garbage line here and more\n" + "key too few\n"))
	if k.owners[id] != "ed25519:x" || k.keys["age1abc"].vaultID != id || k.repos["/a dir/with spaces/.agent-vault"] != id || len(k.repos) != 1 {
		t.Fatalf("parsed %+v", k)
	}
}

func FuzzParseKnownVaults(f *testing.F) {
	id := strings.Repeat("a", 32)
	f.Add([]byte(id + " ed25519:x\nkey age1abc " + id + " ed25519:x\nrepo " + id + " /x/.agent-vault\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k := parseKnownVaults(data)
		for dir, id := range k.repos {
			if !validVaultID(id) || !filepath.IsAbs(dir) {
				t.Fatalf("accepted repo line %q %q", id, dir)
			}
		}
		for _, b := range k.keys {
			if !validVaultID(b.vaultID) {
				t.Fatalf("accepted key line for %q", b.vaultID)
			}
		}
	})
}
