package vault

import (
	"crypto/ecdh"
	"slices"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
	"github.com/agent-vault/agent-vault/vault/internal/bech32"
)

// recipientList returns the recipients a secret's file is encrypted to under root, in the order of its
// stanzas (docs/format.md section 5.1): its authorized agents by name, then the admins by name (the
// owner alone in a vault without admins, section 4.1).
func recipientList(root *Root, e *Entry) []string {
	agents := authorizedAgents(root, e)
	out := make([]string, 0, len(agents)+1)
	for _, a := range agents {
		out = append(out, root.Agents[a].Recipient)
	}
	return append(out, adminRecipients(root)...)
}

// rewrap gives the file key of enc, written for the recipients old, to the recipients want, without
// touching the payload: the stanzas of recipients in both are copied byte for byte, a stanza is wrapped
// for each new recipient, the stanzas of the others are dropped, and the header gets a new MAC. The
// acting admin's stanza (the owner's, last in old, in a vault without admins) yields the file key, which the old MAC must confirm.
//
// ok is false, with no error, when enc does not have the layout old describes (one stanza per
// recipient, of the vault's kind, the owner's last): the caller then re-encrypts with a fresh file key
// instead.
func rewrap(enc []byte, old, want []string, ring *keyring) (out []byte, ok bool, err error) {
	f, err := agehdr.Parse(enc)
	if err != nil || len(f.Stanzas) != len(old) {
		return nil, false, nil
	}
	for _, s := range f.Stanzas {
		if (agehdr.Type(s) == stanzaHybrid) != (ring.kind == KeyHybrid) { // a plugin's stanza is classic
			return nil, false, nil
		}
	}
	self := slices.Index(old, ring.self)
	if self < 0 {
		return nil, false, nil
	}
	fileKey, err := ring.unwrapOwner(f.Stanzas[self])
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
		wrapped, err := ring.wrap(fileKey, r)
		if err != nil {
			return nil, false, err
		}
		stanzas = append(stanzas, wrapped)
	}
	out, err = agehdr.Marshal(fileKey, stanzas, f.Payload)
	return out, err == nil, err
}

// keyring unwraps the owner's stanza and wraps file keys for the recipients of one vault, of its kind
// only: a classic vault's with agehdr's X25519 functions (the fast path), a hybrid vault's with age's
// own HybridIdentity.Unwrap and HybridRecipient.Wrap.
type keyring struct {
	kind      KeyKind
	self      string           // the acting admin's recipient: its stanza yields the file key
	ownerECDH *ecdh.PrivateKey // classic vaults
	owner     age.Identity     // hybrid vaults
	opts      *KeyOptions      // the owner key's, for plugin recipients
}

// newKeyring returns the keyring of an owner key for a vault of the key's kind.
func newKeyring(k *Key) (*keyring, error) {
	ring := &keyring{kind: k.Kind(), owner: k.Identity, self: k.Recipient, opts: k.opts}
	if ring.kind == KeyX25519 && k.Plugin == nil { // a plugin-held owner unwraps through its plugin
		var err error
		if ring.ownerECDH, err = ecdhIdentity(k); err != nil {
			return nil, err
		}
	}
	return ring, nil
}

// unwrapOwner returns the file key that the owner's stanza s (as written) holds.
func (ring *keyring) unwrapOwner(s []byte) ([]byte, error) {
	if ring.ownerECDH != nil {
		return agehdr.UnwrapX25519(s, ring.ownerECDH)
	}
	st, err := agehdr.Decode(s)
	if err != nil {
		return nil, err
	}
	return ring.owner.Unwrap([]*age.Stanza{st})
}

// wrap returns the stanza, as written, that gives fileKey to the recipient r of the vault's kind.
func (ring *keyring) wrap(fileKey []byte, r string) ([]byte, error) {
	if RecipientKind(r) != ring.kind {
		return nil, newErr(KindIntegrity, "refusing to add a %s recipient to a %s file: kinds never mix", RecipientKind(r), ring.kind)
	}
	rc, err := parseRecipient(r, ring.opts)
	if err != nil {
		return nil, err
	}
	st, err := rc.Wrap(fileKey)
	if err != nil {
		return nil, err
	}
	if len(st) != 1 {
		return nil, newErr(KindError, "a recipient wrapped %d stanzas", len(st))
	}
	return agehdr.Encode(st[0]), nil
}

// ecdhIdentity returns the crypto/ecdh form of an X25519 key's identity, for agehdr's stanza functions.
func ecdhIdentity(k *Key) (*ecdh.PrivateKey, error) {
	id, ok := k.Identity.(*age.X25519Identity)
	if !ok {
		return nil, newErr(KindError, "cannot use the key %s for X25519", k.Source)
	}
	hrp, scalar, err := bech32.Decode(id.String())
	if err != nil || hrp != "age-secret-key-" {
		return nil, newErr(KindError, "cannot use the key %s for X25519", k.Source)
	}
	return ecdh.X25519().NewPrivateKey(scalar)
}

// x25519Public decodes an X25519 recipient (age1...) of the signed state to its public key.
func x25519Public(r string) ([]byte, error) {
	hrp, pub, err := bech32.Decode(r)
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
