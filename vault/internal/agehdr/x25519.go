package agehdr

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"filippo.io/age"
	"filippo.io/edwards25519"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
)

const x25519Label = "age-encryption.org/v1/X25519"

// WrapX25519 wraps fileKey for the X25519 recipient whose public key is theirs, as age's
// X25519Recipient.Wrap does, with one difference in how: the ephemeral public key is computed with the
// Edwards form's fixed-base multiplication (precomputed tables, several times faster than the Montgomery
// ladder), which gives the same u-coordinate. A grant wraps one file key per secret, so this is half of
// its public-key work.
func WrapX25519(fileKey, theirs []byte) (*age.Stanza, error) {
	if len(theirs) != curve25519.PointSize {
		return nil, errors.New("agehdr: an X25519 public key is 32 bytes")
	}
	ephemeral := make([]byte, curve25519.ScalarSize)
	rand.Read(ephemeral)
	ours, err := basepointMult(ephemeral)
	if err != nil {
		return nil, err
	}
	shared, err := curve25519.X25519(ephemeral, theirs)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 0, len(ours)+len(theirs))
	salt = append(append(salt, ours...), theirs...)
	key, err := hkdf.Key(sha256.New, shared, salt, x25519Label, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	body := aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), fileKey, nil)
	return &age.Stanza{Type: "X25519", Args: []string{b64.EncodeToString(ours)}, Body: body}, nil
}

// basepointMult is X25519(scalar, 9): the clamped scalar times the Edwards base point, whose Montgomery
// u-coordinate is 9, read back as a u-coordinate.
func basepointMult(scalar []byte) ([]byte, error) {
	s, err := new(edwards25519.Scalar).SetBytesWithClamping(scalar)
	if err != nil {
		return nil, err
	}
	return new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery(), nil
}
