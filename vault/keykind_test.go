package vault

import "filippo.io/age"

// x25519Of returns a classic key's identity (tests of classic vaults).
func x25519Of(k *Key) *age.X25519Identity { return k.Identity.(*age.X25519Identity) }

// secretLine is the secret key line of a classic or hybrid identity.
func secretLine(id age.Identity) string {
	secret, _ := identityStrings(id)
	return secret
}
