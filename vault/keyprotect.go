package vault

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
)

// Passphrase-protected key files (docs/format.md section 3.6): a key file encrypted with age's passphrase
// recipient (scrypt), in the armored or binary form `age -p` writes. The stock age CLI reads one with -i.

// scryptWorkFactor is the scrypt cost (log2 N) of the key files ProtectKeyFile writes: age's default.
var scryptWorkFactor = 18

const armorHeader = "-----BEGIN AGE ENCRYPTED FILE-----"

// IsProtectedKeyFile reports whether key file content is an age passphrase-encrypted file, armored or
// binary, rather than a plain identity file.
func IsProtectedKeyFile(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armorHeader)) ||
		bytes.HasPrefix(data, []byte("age-encryption.org/v1\n"))
}

// parseProtectedKeyFile asks opts for the passphrase of the protected key file data and parses what it
// holds. The plain key file exists only in memory.
func parseProtectedKeyFile(data []byte, source string, opts *KeyOptions) (*Key, error) {
	if opts == nil || opts.Passphrase == nil {
		return nil, newErr(KindVaultNotFound, "key %s is passphrase-protected, and this program cannot ask for a passphrase (use the agent-vault CLI, or unprotect the key with 'agent-vault key unprotect')", source)
	}
	pass, err := opts.Passphrase(source)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s is passphrase-protected", source)
	}
	defer clear(pass)
	plain, err := openProtected(data, pass, source)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if IsProtectedKeyFile(plain) {
		return nil, newErr(KindVaultNotFound, "key %s is passphrase-protected twice", source)
	}
	k, err := ParseKeyFile(plain, source, opts)
	if err != nil {
		return nil, err
	}
	k.Protected = true
	return k, nil
}

// openProtected decrypts a passphrase-protected key file. A wrong passphrase, and a file that is not
// passphrase-encrypted, are KindVaultNotFound; no error repeats the passphrase.
func openProtected(data, pass []byte, source string) ([]byte, error) {
	bin, err := dearmor(data)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s: malformed age file", source)
	}
	if f, err := agehdr.Parse(bin); err != nil || len(f.Stanzas) != 1 || !isScryptStanza(f.Stanzas[0]) {
		return nil, newErr(KindVaultNotFound, "key %s is an age file, but not one encrypted with a passphrase", source)
	}
	if len(pass) == 0 {
		return nil, newErr(KindVaultNotFound, "key %s: empty passphrase", source)
	}
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s", source)
	}
	r, err := age.Decrypt(bytes.NewReader(bin), id)
	if err != nil {
		if errors.Is(err, age.ErrIncorrectIdentity) || isNoMatch(err) {
			return nil, newErr(KindVaultNotFound, "key %s: wrong passphrase", source)
		}
		return nil, wrapErr(KindVaultNotFound, err, "key %s: cannot decrypt", source)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s: cannot decrypt", source)
	}
	if len(plain) > maxKeyFile {
		clear(plain)
		return nil, newErr(KindVaultNotFound, "key %s holds more than %d bytes", source, maxKeyFile)
	}
	return plain, nil
}

func isNoMatch(err error) bool {
	var nm *age.NoIdentityMatchError
	return errors.As(err, &nm)
}

func isScryptStanza(s []byte) bool {
	st, err := agehdr.Decode(s)
	return err == nil && st.Type == "scrypt"
}

// dearmor returns the binary form of an age file given armored or binary.
func dearmor(data []byte) ([]byte, error) {
	t := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(t, []byte(armorHeader)) {
		return data, nil
	}
	return io.ReadAll(io.LimitReader(armor.NewReader(bytes.NewReader(t)), maxKeyFile+1))
}

// sealWithPassphrase encrypts a plain key file to a passphrase, armored (the form `age -p -a` writes).
func sealWithPassphrase(plain, pass []byte) ([]byte, error) {
	if len(pass) == 0 {
		return nil, newErr(KindUsage, "the passphrase is empty")
	}
	rc, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return nil, wrapErr(KindUsage, err, "passphrase")
	}
	rc.SetWorkFactor(scryptWorkFactor)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, rc)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// NewProtectedOwnerKeyFile returns the content of a fresh owner key file encrypted to passphrase. The
// plain key exists only in memory.
func NewProtectedOwnerKeyFile(passphrase []byte) ([]byte, error) {
	plain, err := NewOwnerKeyFile()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return sealWithPassphrase(plain, passphrase)
}

// ProtectKeyFile encrypts the plain key file at path to passphrase, in place: the encrypted file, checked
// to decrypt back to the same bytes, replaces the plain one atomically with mode 0600 (a symbolic link is
// followed, so that the plain target does not stay behind). No plain copy is written. A file that is
// already protected, or is not a key file, is refused and left as it is.
func ProtectKeyFile(path string, passphrase []byte) error {
	real, data, err := readKeyForRewrite(path)
	if err != nil {
		return err
	}
	defer clear(data)
	if IsProtectedKeyFile(data) {
		return newErr(KindUsage, "key %s is already passphrase-protected", path)
	}
	if _, err := ParseKeyFile(data, path, nil); err != nil {
		return err
	}
	enc, err := sealWithPassphrase(data, passphrase)
	if err != nil {
		return err
	}
	back, err := openProtected(enc, passphrase, path)
	if err != nil || !bytes.Equal(back, data) {
		return newErr(KindError, "key %s: the encrypted copy did not decrypt back to the key; nothing was changed", path)
	}
	clear(back)
	if err := fsutil.WriteFileAtomic(real, enc, 0o600); err != nil {
		return wrapErr(KindError, err, "cannot write %s; nothing was changed", path)
	}
	return nil
}

// UnprotectKeyFile decrypts the passphrase-protected key file at path in place, atomically, mode 0600.
// A wrong passphrase fails with KindVaultNotFound and changes nothing; so does a file that is not
// protected (KindUsage) or does not hold a key file.
func UnprotectKeyFile(path string, passphrase []byte) error {
	real, data, err := readKeyForRewrite(path)
	if err != nil {
		return err
	}
	if !IsProtectedKeyFile(data) {
		return newErr(KindUsage, "key %s is not passphrase-protected", path)
	}
	plain, err := openProtected(data, passphrase, path)
	if err != nil {
		return err
	}
	defer clear(plain)
	if IsProtectedKeyFile(plain) {
		return newErr(KindVaultNotFound, "key %s is passphrase-protected twice", path)
	}
	if _, err := ParseKeyFile(plain, path, nil); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(real, plain, 0o600); err != nil {
		return wrapErr(KindError, err, "cannot write %s; nothing was changed", path)
	}
	return nil
}

// readKeyForRewrite reads the key file at path (the checks of LoadKeyFile) and returns the path of the
// file itself, symbolic links resolved, which a rewrite replaces.
func readKeyForRewrite(path string) (string, []byte, error) {
	path = expandHome(path)
	data, err := readKeyPath(path, path)
	if err != nil {
		return "", nil, err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, wrapErr(KindVaultNotFound, err, "cannot read key file %s", path)
	}
	return real, data, nil
}
