package agehdr

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

func encrypt(t *testing.T, value []byte, rs ...age.Recipient) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := age.Encrypt(&b, rs...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(value)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decrypt(data []byte, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func identities(t testing.TB, n int) []*age.X25519Identity {
	ids := make([]*age.X25519Identity, n)
	for i := range ids {
		var err error
		if ids[i], err = age.GenerateX25519Identity(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// Parse and Marshal round-trip a file that age wrote, byte for byte.
func TestRoundTrip(t *testing.T) {
	ids := identities(t, 3)
	for _, size := range []int{0, 1, 64 << 10, 64<<10 + 1} {
		data := encrypt(t, bytes.Repeat([]byte{'v'}, size), ids[0].Recipient(), ids[1].Recipient(), ids[2].Recipient())
		f, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Stanzas) != 3 {
			t.Fatalf("%d stanzas", len(f.Stanzas))
		}
		key, err := UnwrapX25519(f.Stanzas[2], ecdhKey(t, ids[2]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnwrapX25519(f.Stanzas[0], ecdhKey(t, ids[2])); err == nil {
			t.Fatal("stanza 0 unwrapped with the key of stanza 2")
		}
		if !f.CheckMAC(key) {
			t.Fatal("MAC does not check")
		}
		out, err := Marshal(key, f.Stanzas, f.Payload)
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("round trip differs (%v)", err)
		}
	}
}

// A header with a stanza added for a new recipient and one dropped decrypts with every key it names,
// and with no other; the payload is unchanged; a changed header byte is refused.
func TestAddAndDropStanzas(t *testing.T) {
	ids := identities(t, 3)
	data := encrypt(t, []byte("sk_live_rewrap"), ids[0].Recipient(), ids[1].Recipient())
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	key, err := UnwrapX25519(f.Stanzas[1], ecdhKey(t, ids[1]))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := ids[2].Recipient().Wrap(key)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(key, [][]byte{f.Stanzas[1], Encode(wrapped[0])}, f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out, f.Payload) {
		t.Fatal("payload changed")
	}
	for i, want := range []bool{false, true, true} {
		v, err := decrypt(out, ids[i])
		if want && (err != nil || string(v) != "sk_live_rewrap") {
			t.Errorf("key %d: %q, %v", i, v, err)
		}
		if !want && err == nil {
			t.Errorf("key %d still decrypts", i)
		}
	}
	header := len(out) - len(f.Payload)
	for _, i := range []int{len("age-encryption.org/v1\n-> X25519 ") + 2, header - 10} {
		bad := bytes.Clone(out)
		bad[i] ^= 1
		if _, err := decrypt(bad, ids[1]); err == nil {
			t.Errorf("a header changed at byte %d decrypts", i)
		}
	}
}

// Encode wraps a body at 64 columns and always ends it with a short line, as age does.
func TestEncodeBodyLines(t *testing.T) {
	for _, n := range []int{0, 47, 48, 49, 96} {
		s := &age.Stanza{Type: "test", Args: []string{"a", "b"}, Body: bytes.Repeat([]byte{0xfe}, n)}
		enc := Encode(s)
		lines := bytes.Split(bytes.TrimSuffix(enc, []byte("\n")), []byte("\n"))
		if last := lines[len(lines)-1]; len(last) >= columns {
			t.Errorf("body of %d bytes ends with a full line", n)
		}
		got, err := Decode(enc)
		if err != nil || got.Type != "test" || len(got.Args) != 2 || !bytes.Equal(got.Body, s.Body) {
			t.Errorf("body of %d bytes: %+v, %v", n, got, err)
		}
		// age itself parses the stanza in a header.
		f := append([]byte("age-encryption.org/v1\n"), enc...)
		f = append(f, []byte("--- "+b64.EncodeToString(make([]byte, 32))+"\n")...)
		if _, err := age.ExtractHeader(bytes.NewReader(f)); err != nil {
			t.Errorf("body of %d bytes: age cannot parse the header: %v", n, err)
		}
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	ids := identities(t, 1)
	good := encrypt(t, []byte("x"), ids[0].Recipient())
	for name, data := range map[string][]byte{
		"empty":          nil,
		"armored":        []byte("-----BEGIN AGE ENCRYPTED FILE-----\n"),
		"no mac":         bytes.Split(good, []byte("---"))[0],
		"short mac":      []byte("age-encryption.org/v1\n-> X25519 abc\n\n--- AAAA\n"),
		"no stanza type": []byte("age-encryption.org/v1\n-> \n\n--- " + b64.EncodeToString(make([]byte, 32)) + "\n"),
		"long line":      []byte("age-encryption.org/v1\n-> X\n" + string(bytes.Repeat([]byte("A"), 65)) + "\n\n--- " + b64.EncodeToString(make([]byte, 32)) + "\n"),
	} {
		if _, err := Parse(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	ids := identities(f, 2)
	var b bytes.Buffer
	w, _ := age.Encrypt(&b, ids[0].Recipient(), ids[1].Recipient())
	w.Write([]byte("seed"))
	w.Close()
	f.Add(b.Bytes())
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n\n--- " + b64.EncodeToString(make([]byte, 32)) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses re-assembles to the same bytes, MAC aside.
		var re bytes.Buffer
		writeHeaderWithoutMAC(&re, parsed.Stanzas)
		re.WriteString(" " + b64.EncodeToString(parsed.MAC) + "\n")
		re.Write(parsed.Payload)
		if !bytes.Equal(re.Bytes(), data) {
			t.Fatalf("parse of %q does not re-assemble", data)
		}
		for _, s := range parsed.Stanzas {
			Decode(s) // must not panic
		}
	})
}

// A stanza WrapX25519 writes is one age reads, and UnwrapX25519 reads the stanzas age writes; both refuse what
// they must.
func TestX25519Stanzas(t *testing.T) {
	ids := identities(t, 2)
	data := encrypt(t, []byte("sk_live_x25519"), ids[0].Recipient())
	f, _ := Parse(data)
	priv0 := ecdhKey(t, ids[0])
	key, err := UnwrapX25519(f.Stanzas[0], priv0)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := age.DecryptHeader(data[:len(data)-len(f.Payload)], ids[0]); !bytes.Equal(key, want) {
		t.Fatal("UnwrapX25519 and age disagree on the file key")
	}
	if _, err := UnwrapX25519(f.Stanzas[0], ecdhKey(t, ids[1])); err == nil {
		t.Fatal("another identity unwrapped the stanza")
	}
	s, err := WrapX25519(key, recipientBytes(t, ids[1].Recipient().String()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(key, [][]byte{f.Stanzas[0], Encode(s)}, f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if v, err := decrypt(out, id); err != nil || string(v) != "sk_live_x25519" {
			t.Fatalf("age read %q, %v", v, err)
		}
	}
	if _, err := WrapX25519(key, make([]byte, 31)); err == nil {
		t.Fatal("a short public key was accepted")
	}
	bad := Encode(&age.Stanza{Type: "scrypt", Args: []string{"x"}, Body: make([]byte, 32)})
	if _, err := UnwrapX25519(bad, priv0); !errors.Is(err, ErrNotX25519) {
		t.Fatalf("a non-X25519 stanza: %v", err)
	}
}

// ecdhKey returns the crypto/ecdh form of an age X25519 identity.
func ecdhKey(t testing.TB, id *age.X25519Identity) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(bech32Bytes(t, id.String()))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recipientBytes decodes an age1... recipient to its 32-byte public key.
func recipientBytes(t testing.TB, r string) []byte { t.Helper(); return bech32Bytes(t, r) }

// bech32Bytes decodes the 32 bytes of a Bech32 string (an age recipient or identity; checksum dropped).
func bech32Bytes(t testing.TB, r string) []byte {
	t.Helper()
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	r = strings.ToLower(r)
	data := r[strings.LastIndexByte(r, '1')+1 : len(r)-6]
	var out []byte
	acc, bits := 0, 0
	for _, c := range data {
		acc = acc<<5 | strings.IndexRune(charset, c)
		if bits += 5; bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if len(out) != 32 {
		t.Fatalf("%s decodes to %d bytes", r, len(out))
	}
	return out
}
