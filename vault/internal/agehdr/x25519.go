package agehdr

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The X25519 recipient stanza of the age format (age-encryption.org/v1): "-> X25519 <ephemeral share>" and a
// body that is the file key sealed with ChaCha20-Poly1305 under HKDF-SHA-256(shared secret, salt = share ||
// recipient, info = x25519Label). These two functions do what age's X25519Recipient.Wrap and
// X25519Identity.Unwrap do, with crypto/ecdh keys that the caller makes once: each costs one scalar
// multiplication less than age's, which derives the identity's public key again on every call. A grant
// wraps and unwraps once per secret, so this is a large part of its time.

const x25519Label = "age-encryption.org/v1/X25519"

// ErrNotX25519 is returned by UnwrapX25519 for a stanza that is not a well-formed X25519 stanza.
var ErrNotX25519 = errors.New("agehdr: not an X25519 stanza")

// WrapX25519 wraps fileKey for the X25519 recipient whose public key is theirs.
func WrapX25519(fileKey, theirs []byte) (*age.Stanza, error) {
	peer, err := ecdh.X25519().NewPublicKey(theirs)
	if err != nil {
		return nil, err
	}
	ephemeral, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := ephemeral.ECDH(peer)
	if err != nil {
		return nil, err
	}
	share := ephemeral.PublicKey().Bytes()
	aead, err := wrapAEAD(shared, share, theirs)
	if err != nil {
		return nil, err
	}
	body := aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), fileKey, nil)
	return &age.Stanza{Type: "X25519", Args: []string{b64.EncodeToString(share)}, Body: body}, nil
}

// UnwrapX25519 returns the file key that stanza s (as written) holds for the identity priv.
func UnwrapX25519(s []byte, priv *ecdh.PrivateKey) ([]byte, error) {
	st, err := Decode(s)
	if err != nil {
		return nil, err
	}
	if st.Type != "X25519" || len(st.Args) != 1 || len(st.Body) != 16+chacha20poly1305.Overhead {
		return nil, ErrNotX25519
	}
	share, err := b64.DecodeString(st.Args[0])
	if err != nil {
		return nil, ErrNotX25519
	}
	peer, err := ecdh.X25519().NewPublicKey(share)
	if err != nil {
		return nil, ErrNotX25519
	}
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, err
	}
	aead, err := wrapAEAD(shared, share, priv.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), st.Body, nil)
}

// wrapAEAD is the stanza body's cipher: ChaCha20-Poly1305 keyed with HKDF-SHA-256(shared, share || recipient).
func wrapAEAD(shared, share, recipient []byte) (cipher.AEAD, error) {
	salt := make([]byte, 0, len(share)+len(recipient))
	salt = append(append(salt, share...), recipient...)
	key, err := hkdf.Key(sha256.New, shared, salt, x25519Label, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.New(key)
}
