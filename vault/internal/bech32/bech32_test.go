package bech32

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestBech32AgainstAge(t *testing.T) {
	for range 32 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		hrp, scalar, err := Decode(id.String())
		if err != nil || hrp != "age-secret-key-" || len(scalar) != 32 {
			t.Fatalf("decode %s…: %q, %d bytes, %v", id.String()[:20], hrp, len(scalar), err)
		}
		hrp, point, err := Decode(id.Recipient().String())
		if err != nil || hrp != "age" || len(point) != 32 {
			t.Fatalf("decode %s: %q, %d bytes, %v", id.Recipient(), hrp, len(point), err)
		}
		// The decoded scalar is the one age uses: its public point is the recipient's.
		priv, err := ecdh.X25519().NewPrivateKey(scalar)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(priv.PublicKey().Bytes(), point) {
			t.Fatal("the decoded identity does not match the decoded recipient")
		}
		// And the other way round: bytes we encode are the key age parses.
		enc := strings.ToUpper(Encode("age-secret-key-", scalar))
		if enc != id.String() {
			t.Fatalf("re-encoding gives %s…, age wrote %s…", enc[:24], id.String()[:24])
		}
	}
	random := make([]byte, 32)
	rand.Read(random)
	parsed, err := age.ParseX25519Identity(strings.ToUpper(Encode("age-secret-key-", random)))
	if err != nil {
		t.Fatal(err)
	}
	if _, got, _ := Decode(parsed.String()); !bytes.Equal(got, random) {
		t.Fatal("round trip through age changed the bytes")
	}

	id, _ := age.GenerateX25519Identity()
	s := id.String()
	groups, _ := regroup(random, 8, 5, true)
	badPad := append([]byte{}, groups...)
	badPad[len(badPad)-1] |= 1 // 32 bytes are 256 bits in 52 groups: the last 4 bits are padding
	for name, in := range map[string]string{
		"mixed case":         s[:20] + strings.ToLower(s[20:]),
		"bad checksum":       s[:len(s)-1] + map[bool]string{true: "Q", false: "P"}[s[len(s)-1] != 'Q'],
		"invalid character":  s[:30] + "B" + s[31:],
		"no separator":       "agesecretkeyqqqqqqqqqqqqq",
		"separator first":    "1qqqqqqqqqq",
		"too short":          "a1qqqqq",
		"empty":              "",
		"non-zero padding":   encodeGroups("age", badPad),
		"six padding bits":   encodeGroups("age", append(append([]byte{}, groups...), 0, 0)),
		"one group":          encodeGroups("age", []byte{0}),
		"data char in hrp":   "age\x7f1qqqqqqqqqqqqq",
		"non-ASCII":          "agé1" + strings.Repeat("q", 60),
		"swapped characters": s[:20] + string(s[21]) + string(s[20]) + s[22:],
	} {
		if in == s {
			continue
		}
		if _, _, err := Decode(in); err == nil {
			t.Errorf("%s: %q decoded", name, in)
		}
	}
}
