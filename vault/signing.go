package vault

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault/internal/bech32"
)

const (
	signingKeyInfo = "agent-vault/v1 owner signing key"
	// signingKeyInfoHybrid labels the derivation from a hybrid (AGE-SECRET-KEY-PQ-1) identity's seed.
	signingKeyInfoHybrid = "agent-vault/v2 owner signing key mlkem768x25519"
	rootSigDomain        = "agent-vault/v2 root\n"
	rootSigDomainV1      = "agent-vault/v1 root\n" // format 1, recognised only to ask for a migration
	sigLinePrefix        = "signature: ed25519 "
	verifyKeyPrefix      = "ed25519:"
)

// DeriveSigningKey derives the owner's Ed25519 signing key from the owner's age identity
// (docs/format.md section 3.4), so that the owner backs up one key. A classic identity's 32-byte scalar
// and a hybrid identity's 32-byte seed are the key material, each under its own HKDF label.
func DeriveSigningKey(id age.Identity) (ed25519.PrivateKey, error) {
	var encoded, wantHRP, info string
	switch id := id.(type) {
	case *age.X25519Identity:
		encoded, wantHRP, info = id.String(), "age-secret-key-", signingKeyInfo
	case *age.HybridIdentity:
		encoded, wantHRP, info = id.String(), "age-secret-key-pq-", signingKeyInfoHybrid
	default:
		return nil, fmt.Errorf("no signing key can be derived from this kind of age identity")
	}
	hrp, scalar, err := bech32.Decode(encoded)
	if err != nil || hrp != wantHRP || len(scalar) != 32 {
		return nil, fmt.Errorf("malformed age identity")
	}
	seed, err := hkdf.Key(sha256.New, scalar, nil, info, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// FormatVerifyKey writes a verify key as "ed25519:" and standard base64.
func FormatVerifyKey(pub ed25519.PublicKey) string {
	return verifyKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParseVerifyKey parses the form written by FormatVerifyKey.
func ParseVerifyKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(s, verifyKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("verify key does not start with %q", verifyKeyPrefix)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	// The decoder skips '\r' and '\n'; a verify key is compared as a string, so only its canonical form is one.
	if err != nil || len(raw) != ed25519.PublicKeySize || base64.StdEncoding.EncodeToString(raw) != b64 {
		return nil, fmt.Errorf("malformed verify key")
	}
	return ed25519.PublicKey(raw), nil
}

// SignRoot returns the bytes of a signed root file: body (which must end in "\n") and its signature line.
func SignRoot(priv ed25519.PrivateKey, body []byte) []byte {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		panic("vault: root body must end with a newline")
	}
	sig := ed25519.Sign(priv, append([]byte(rootSigDomain), body...))
	out := append([]byte{}, body...)
	out = append(out, sigLinePrefix...)
	out = append(out, base64.StdEncoding.EncodeToString(sig)...)
	return append(out, '\n')
}

// VerifyRoot splits a signed root file, verifies its signature with pub over the exact body bytes, and
// returns the body. Nothing is parsed before the signature is verified.
func VerifyRoot(file []byte, pub ed25519.PublicKey) ([]byte, error) {
	return verifySigned(file, pub, rootSigDomain)
}

func verifySigned(file []byte, pub ed25519.PublicKey, domain string) ([]byte, error) {
	body, sig, err := splitSigned(file)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, append([]byte(domain), body...), sig) {
		return nil, newErr(KindIntegrity, "state/root: signature does not verify with the owner's key")
	}
	return body, nil
}

func splitSigned(file []byte) (body, sig []byte, err error) {
	if len(file) == 0 || file[len(file)-1] != '\n' {
		return nil, nil, newErr(KindIntegrity, "state/root: not a signed file (no final newline)")
	}
	i := bytes.LastIndexByte(file[:len(file)-1], '\n')
	if i < 0 {
		return nil, nil, newErr(KindIntegrity, "state/root: not a signed file (no signature line)")
	}
	line := file[i+1 : len(file)-1]
	b64, ok := bytes.CutPrefix(line, []byte(sigLinePrefix))
	if !ok {
		return nil, nil, newErr(KindIntegrity, "state/root: last line is not an ed25519 signature")
	}
	sig, err = base64.StdEncoding.Strict().DecodeString(string(b64))
	// The decoder skips '\r' and '\n'; only the canonical encoding is the format's (and every reader's).
	if err != nil || len(sig) != ed25519.SignatureSize || base64.StdEncoding.EncodeToString(sig) != string(b64) {
		return nil, nil, newErr(KindIntegrity, "state/root: malformed signature")
	}
	return file[:i+1], sig, nil
}

// Hash is the lowercase hex SHA-256 of b, the only hash the format uses.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
