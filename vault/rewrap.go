package vault

import (
	"crypto/ecdh"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
)

// recipientList returns the recipients a secret's file is encrypted to under root, in the order of its
// stanzas (docs/format.md section 5.2): its authorized agents by name, then the owner.
func recipientList(root *Root, e *Entry) []string {
	agents := authorizedAgents(root, e)
	out := make([]string, 0, len(agents)+1)
	for _, a := range agents {
		out = append(out, root.Agents[a].Recipient)
	}
	return append(out, root.Owner.Recipient)
}

// rewrap gives the file key of enc, written for the recipients old, to the recipients want, without
// touching the payload: the stanzas of recipients in both are copied, a stanza is wrapped for each new
// recipient, the stanzas of the others are dropped, and the header gets a new MAC. The owner's stanza,
// last in old, yields the file key, which the old MAC must confirm.
//
// ok is false, with no error, when enc does not have the layout old describes (one stanza per
// recipient, the owner's last): the caller then re-encrypts with a fresh file key instead.
func rewrap(enc []byte, old, want []string, owner *ecdh.PrivateKey) (out []byte, ok bool, err error) {
	f, err := agehdr.Parse(enc)
	if err != nil || len(f.Stanzas) != len(old) {
		return nil, false, nil
	}
	fileKey, err := agehdr.UnwrapX25519(f.Stanzas[len(old)-1], owner)
	if err != nil || !f.CheckMAC(fileKey) {
		return nil, false, nil
	}
	have := make(map[string][]byte, len(old))
	for i, r := range old {
		have[r] = f.Stanzas[i]
	}
	stanzas := make([][]byte, 0, len(want))
	for _, r := range want {
		if s, kept := have[r]; kept {
			stanzas = append(stanzas, s)
			continue
		}
		pub, err := x25519Public(r)
		if err != nil {
			return nil, false, err
		}
		wrapped, err := agehdr.WrapX25519(fileKey, pub)
		if err != nil {
			return nil, false, err
		}
		stanzas = append(stanzas, agehdr.Encode(wrapped))
	}
	out, err = agehdr.Marshal(fileKey, stanzas, f.Payload)
	return out, err == nil, err
}

// ecdhIdentity returns the crypto/ecdh form of an X25519 key's identity, for agehdr's stanza functions.
func ecdhIdentity(k *Key) (*ecdh.PrivateKey, error) {
	hrp, scalar, err := bech32Decode(k.Identity.String())
	if err != nil || hrp != "age-secret-key-" {
		return nil, newErr(KindError, "cannot use the key %s for X25519", k.Source)
	}
	return ecdh.X25519().NewPrivateKey(scalar)
}

// x25519Public decodes an X25519 recipient (age1...) of the signed state to its public key.
func x25519Public(r string) ([]byte, error) {
	hrp, pub, err := bech32Decode(r)
	if err != nil || hrp != "age" || len(pub) != 32 {
		return nil, newErr(KindIntegrity, "state/root: malformed recipient %s", r)
	}
	return pub, nil
}

// x25519Recipient is an age X25519 recipient whose stanza agehdr.WrapX25519 writes: the same stanza as age's
// X25519Recipient, with one scalar multiplication less (see agehdr).
type x25519Recipient struct{ pub []byte }

func (r x25519Recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, err := agehdr.WrapX25519(fileKey, r.pub)
	if err != nil {
		return nil, err
	}
	return []*age.Stanza{s}, nil
}
