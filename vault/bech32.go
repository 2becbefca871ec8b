package vault

import (
	"errors"
	"strings"
)

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// bech32Decode decodes a Bech32 string (BIP 173 checksum, no length limit, as age uses it) and returns its
// human-readable part in lower case and its data as bytes.
func bech32Decode(s string) (string, []byte, error) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("mixed case")
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errors.New("separator misplaced")
	}
	hrp := s[:pos]
	var values []byte
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]>>5)
	}
	values = append(values, 0)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]&31)
	}
	data := make([]byte, 0, len(s)-pos-1)
	for _, c := range s[pos+1:] {
		d := strings.IndexRune(bech32Charset, c)
		if d < 0 {
			return "", nil, errors.New("invalid character")
		}
		data = append(data, byte(d))
	}
	if bech32Polymod(append(values, data...)) != 1 {
		return "", nil, errors.New("bad checksum")
	}
	data = data[:len(data)-6]
	// Regroup 5-bit values into bytes, refusing non-zero padding.
	var out []byte
	acc, bits := uint32(0), uint(0)
	for _, v := range data {
		acc = acc<<5 | uint32(v)
		bits += 5
		for bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return "", nil, errors.New("bad padding")
	}
	return hrp, out, nil
}

// ValidRecipient reports whether s is an X25519 recipient as the repository must spell it: "age1" and 58
// lower-case Bech32 characters that decode to 32 bytes (docs/format.md section 3.1).
func ValidRecipient(s string) bool {
	if len(s) != 62 || strings.ToLower(s) != s {
		return false
	}
	hrp, data, err := bech32Decode(s)
	return err == nil && hrp == "age" && len(data) == 32
}
