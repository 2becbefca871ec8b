package vault

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
	"github.com/agent-vault/agent-vault/vault/internal/bech32"
)

// KeyKind is the kind of age key a vault is built on (docs/format.md section 3.1). Every recipient of a
// vault — its owner and every agent — is of the owner's kind, and every secret file holds stanzas of
// that kind only: classic and post-quantum recipients never mix in one vault or one file.
type KeyKind int

const (
	// KeyX25519 is the classic age key: age1…, AGE-SECRET-KEY-1…, "X25519" stanzas.
	KeyX25519 KeyKind = iota
	// KeyHybrid is age's post-quantum key, ML-KEM-768 + X25519 (HPKE): age1pq1…, AGE-SECRET-KEY-PQ-1…,
	// "mlkem768x25519" stanzas.
	KeyHybrid
)

const (
	stanzaX25519 = "X25519"
	stanzaHybrid = "mlkem768x25519"
	// hybridPrefix begins every hybrid recipient; hybridRecipientLen is its whole length (Bech32 of a
	// 1216-byte ML-KEM-768 + X25519 public key).
	hybridPrefix       = "age1pq1"
	hybridRecipientLen = 1959
	hybridPublicKeyLen = 1216
)

// String names the kind for people.
func (k KeyKind) String() string {
	if k == KeyHybrid {
		return "post-quantum (ML-KEM-768 + X25519, age1pq)"
	}
	return "classic (X25519, age1)"
}

// RecipientKind returns the kind a recipient string claims by its prefix; it does not validate it.
func RecipientKind(r string) KeyKind {
	if strings.HasPrefix(strings.ToLower(r), hybridPrefix) {
		return KeyHybrid
	}
	return KeyX25519
}

// Kind is the kind of the key's identity.
func (k *Key) Kind() KeyKind { return RecipientKind(k.Recipient) }

// validHybridRecipient reports whether s is a hybrid recipient as the repository must spell it: "age1pq1"
// and lower-case Bech32 characters (1959 in all) that decode to an ML-KEM-768 + X25519 public key.
func validHybridRecipient(s string) bool {
	if len(s) != hybridRecipientLen || strings.ToLower(s) != s || !strings.HasPrefix(s, hybridPrefix) {
		return false
	}
	hrp, data, err := bech32.Decode(s)
	if err != nil || hrp != "age1pq" || len(data) != hybridPublicKeyLen {
		return false
	}
	_, err = hybridRecipient(s)
	return err == nil
}

// validRecipient reports whether s is an X25519 recipient as the repository must spell it: "age1" and 58
// lower-case Bech32 characters that decode to 32 bytes (docs/format.md section 3.1).
func validRecipient(s string) bool {
	if len(s) != 62 || strings.ToLower(s) != s {
		return false
	}
	hrp, data, err := bech32.Decode(s)
	return err == nil && hrp == "age" && len(data) == 32
}

// validRecipientOf reports whether s is a recipient of the repository, of either kind, and its kind.
func validRecipientOf(s string) (KeyKind, bool) {
	if validPluginRecipient(s) {
		return KeyX25519, true // a plugin's stanzas are not post-quantum (section 3.7)
	}
	if RecipientKind(s) == KeyHybrid {
		return KeyHybrid, validHybridRecipient(s)
	}
	return KeyX25519, validRecipient(s)
}

// hybridRecipients caches parsed hybrid recipients: parsing one expands its ML-KEM matrix, which would
// otherwise be done again for every secret of a change. It holds public keys only.
var hybridRecipients sync.Map // string → *age.HybridRecipient

func hybridRecipient(s string) (*age.HybridRecipient, error) {
	if r, ok := hybridRecipients.Load(s); ok {
		return r.(*age.HybridRecipient), nil
	}
	r, err := age.ParseHybridRecipient(s)
	if err != nil {
		return nil, err
	}
	hybridRecipients.Store(s, r)
	return r, nil
}

// parseRecipient returns the age recipient of a recipient of the signed state, of either kind. A plugin
// recipient encrypts through its plugin, which talks to the user through opts: the acting key's.
func parseRecipient(r string, opts *KeyOptions) (age.Recipient, error) {
	if validPluginRecipient(r) {
		return newPluginRecipient(r, opts)
	}
	if RecipientKind(r) == KeyHybrid {
		rc, err := hybridRecipient(r)
		if err != nil {
			return nil, newErr(KindIntegrity, "state/root: malformed recipient %.20s…", r)
		}
		return rc, nil
	}
	pub, err := x25519Public(r)
	if err != nil {
		return nil, err
	}
	return x25519Recipient{pub}, nil
}

// parseIdentity parses an identity line of either kind and returns the identity and its recipient.
func parseIdentity(line string) (age.Identity, string, error) {
	if strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1") {
		id, err := age.ParseHybridIdentity(line)
		if err != nil {
			return nil, "", err
		}
		return id, id.Recipient().String(), nil
	}
	id, err := age.ParseX25519Identity(line)
	if err != nil {
		return nil, "", err
	}
	return id, id.Recipient().String(), nil
}

// identityStrings returns the secret key line and the recipient of a classic or hybrid identity, and
// empty strings for any other.
func identityStrings(id age.Identity) (secret, recipient string) {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.String(), id.Recipient().String()
	case *age.HybridIdentity:
		return id.String(), id.Recipient().String()
	}
	return "", ""
}

// newIdentity is a freshly generated identity: the identity, its secret key line and its recipient.
type newIdentity struct {
	id        age.Identity
	secret    string
	recipient string
}

// generateIdentity makes a new identity of the given kind.
func generateIdentity(kind KeyKind) (newIdentity, error) {
	if kind == KeyHybrid {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return newIdentity{}, err
		}
		return newIdentity{id, id.String(), id.Recipient().String()}, nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return newIdentity{}, err
	}
	return newIdentity{id, id.String(), id.Recipient().String()}, nil
}

// errMixedStanzas is decrypt's refusal of a file whose stanzas mix post-quantum and other recipients.
var errMixedStanzas = errors.New("the file mixes post-quantum (mlkem768x25519) and other recipient stanzas")

// checkStanzaKinds refuses an age file that holds an mlkem768x25519 stanza beside a stanza of another
// type (docs/format.md section 5.1): such a file is only as strong as its weakest stanza, and no writer
// of this format makes one. A file this package cannot split is left to age to refuse.
func checkStanzaKinds(enc []byte) error {
	f, err := agehdr.Parse(enc)
	if err != nil {
		return nil
	}
	hybrid, other := false, false
	for _, s := range f.Stanzas {
		if agehdr.Type(s) == stanzaHybrid {
			hybrid = true
		} else {
			other = true
		}
	}
	if hybrid && other {
		return errMixedStanzas
	}
	return nil
}

// refuseMixedRecipients refuses a recipient list that mixes kinds, before anything is encrypted.
func refuseMixedRecipients(list []string) error {
	for _, r := range list[1:] {
		if RecipientKind(r) != RecipientKind(list[0]) {
			return newErr(KindIntegrity, "refusing to encrypt to classic and post-quantum recipients at once: they never mix in one file")
		}
	}
	return nil
}

// shortRecipient is a recipient as messages show it: a classic one whole, a hybrid one (1959
// characters) by its first 16 and last 8 characters.
func shortRecipient(r string) string {
	if len(r) <= 64 {
		return r
	}
	return r[:16] + "…" + r[len(r)-8:]
}

// kindMismatch explains why an owner key does not verify a root, when the root (unverified: this only
// chooses the message) names an owner recipient of the other kind: a classic owner key given for a
// post-quantum vault, or the reverse, is the wrong key, not tampering. nil otherwise.
func kindMismatch(raw []byte, key *Key) error {
	body, _, err := splitSigned(raw)
	if err != nil {
		return nil
	}
	var r struct {
		Owner struct {
			Recipient string `json:"recipient"`
		} `json:"owner"`
	}
	if json.Unmarshal(body, &r) != nil || r.Owner.Recipient == "" {
		return nil
	}
	if vk := RecipientKind(r.Owner.Recipient); vk != key.Kind() {
		return newErr(KindNotAuthorized, "key %s is a %s key, but this vault uses %s keys: give the owner key of this vault (a post-quantum vault's is ~/.agent-vault/owner-pq.key)", key.Source, key.Kind(), vk)
	}
	return nil
}
