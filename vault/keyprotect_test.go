package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// withPassphrase makes scrypt cheap for the test and returns key options whose passphrase source gives
// pass ("": no passphrase source), with the count of the times it was asked.
func withPassphrase(t *testing.T, pass string) (*KeyOptions, *int) {
	t.Helper()
	asked := new(int)
	oldWF := scryptWorkFactor
	t.Cleanup(func() { scryptWorkFactor = oldWF })
	scryptWorkFactor = 10
	opts := &KeyOptions{Warn: quiet.Warn}
	if pass != "" {
		opts.Passphrase = func(string) ([]byte, error) { *asked++; return []byte(pass), nil }
	}
	return opts, asked
}

func writeKey(t *testing.T, dir string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, "owner.key")
	if err := fsutil.WriteNewPrivateFile(p, data); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProtectUnprotectRoundTrip(t *testing.T) {
	none, _ := withPassphrase(t, "")
	plain, err := NewOwnerKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ParseKeyFile(plain, "plain", quiet)
	p := writeKey(t, t.TempDir(), plain)
	if err := ProtectKeyFile(p, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	enc, _ := os.ReadFile(p)
	if !IsProtectedKeyFile(enc) || bytes.Contains(enc, []byte("AGE-SECRET-KEY")) || bytes.Contains(enc, []byte("public key")) {
		t.Fatalf("protected file is not an opaque age file:\n%s", enc)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*tmp*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// Without a passphrase source the key is unusable (exit 3), and says why.
	_, err = LoadKeyFile(p, none)
	if KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "passphrase-protected") {
		t.Fatalf("load without a passphrase source: %v", err)
	}
	right, asked := withPassphrase(t, "correct horse")
	k, err := LoadKeyFile(p, right)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Protected || k.Recipient != want.Recipient || *asked != 1 {
		t.Fatalf("loaded %+v (asked %d times)", k, *asked)
	}
	wrong, _ := withPassphrase(t, "wrong")
	if _, err := LoadKeyFile(p, wrong); KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "wrong\"") {
		t.Fatalf("load with a wrong passphrase: %v", err)
	}

	if err := UnprotectKeyFile(p, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(p); !bytes.Equal(back, plain) {
		t.Fatalf("unprotect gave\n%s\nwant\n%s", back, plain)
	}
}

// Every refusal leaves the file exactly as it was.
func TestProtectRefusals(t *testing.T) {
	withPassphrase(t, "")
	dir := t.TempDir()
	plain, _ := NewOwnerKeyFile()
	p := writeKey(t, dir, plain)
	same := func(want []byte) {
		t.Helper()
		if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
			t.Fatal("the key file changed")
		}
	}
	if err := UnprotectKeyFile(p, []byte("x")); KindOf(err) != KindUsage {
		t.Fatalf("unprotect of a plain file: %v", err)
	}
	same(plain)
	if err := ProtectKeyFile(p, nil); KindOf(err) != KindUsage {
		t.Fatalf("empty passphrase: %v", err)
	}
	same(plain)
	if err := ProtectKeyFile(p, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	enc, _ := os.ReadFile(p)
	if err := ProtectKeyFile(p, []byte("pw")); KindOf(err) != KindUsage {
		t.Fatalf("protect twice: %v", err)
	}
	same(enc)
	if err := UnprotectKeyFile(p, []byte("wrong")); KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("unprotect with a wrong passphrase: %v", err)
	}
	same(enc)

	// Not a key file, and a key file others can read: refused, untouched.
	junk := filepath.Join(dir, "junk.key")
	os.WriteFile(junk, []byte("hello\n"), 0o600)
	if err := ProtectKeyFile(junk, []byte("pw")); KindOf(err) != KindVaultNotFound {
		t.Fatalf("protect of a non-key: %v", err)
	}
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, plain, 0o644)
	if err := ProtectKeyFile(open, []byte("pw")); KindOf(err) != KindVaultNotFound {
		t.Fatalf("protect of a readable key: %v", err)
	}
	if got, _ := os.ReadFile(open); !bytes.Equal(got, plain) {
		t.Fatal("the readable key file changed")
	}
	if err := ProtectKeyFile(filepath.Join(dir, "missing.key"), []byte("pw")); KindOf(err) != KindVaultNotFound {
		t.Fatalf("protect of a missing file: %v", err)
	}

	// An age file encrypted to a recipient, not a passphrase, is not a protected key.
	rcpt, _ := parseRecipient(mustKey(t, plain).Recipient, quiet)
	other, _ := encrypt(plain, []age.Recipient{rcpt})
	os.WriteFile(junk, other, 0o600)
	pw, _ := withPassphrase(t, "pw")
	if _, err := LoadKeyFile(junk, pw); KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "not one encrypted with a passphrase") {
		t.Fatalf("load of a recipient-encrypted file: %v", err)
	}
}

// A symbolic link is followed: the plain target is replaced, the link stays.
func TestProtectFollowsSymlink(t *testing.T) {
	withPassphrase(t, "")
	dir := t.TempDir()
	plain, _ := NewOwnerKeyFile()
	target := writeKey(t, dir, plain)
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := ProtectKeyFile(link, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); !IsProtectedKeyFile(data) {
		t.Fatal("the link's target is still plain")
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
}

// A vault owned by a protected key works as with a plain one, and keeps verifying after unprotect.
func TestProtectedOwnerKeyOwnsVault(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/api-key", "sk", SetOptions{})
	withPassphrase(t, "")
	p := filepath.Join(tv.home, "owner.key")
	if err := ProtectKeyFile(p, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	pw, asked := withPassphrase(t, "pw")
	k, err := ResolveKey("", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !k.IsOwner || !k.Protected {
		t.Fatalf("resolved %+v", k)
	}
	tv.owner = k
	tv.set("stripe/other", "v2", SetOptions{})
	tv.mustGet(k, "stripe/api-key", "sk")
	if *asked != 1 {
		t.Fatalf("asked for the passphrase %d times, want 1", *asked)
	}
}

func mustKey(t *testing.T, data []byte) *Key {
	t.Helper()
	k, err := ParseKeyFile(data, "test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
