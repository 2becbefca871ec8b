// Package bech32 decodes the Bech32 strings age writes its keys in (BIP 173 checksum, no length limit),
// and encodes them again for tests and tools.
package bech32

import (
	"errors"
	"strings"
)

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

func polymod(values []byte) uint32 {
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

// Decode decodes a Bech32 string (BIP 173 checksum, no length limit, as age uses it) and returns its
// human-readable part in lower case and its data as bytes. A string of mixed case, a bad checksum or
// non-zero padding is an error.
func Decode(s string) (string, []byte, error) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("mixed case")
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errors.New("separator misplaced")
	}
	hrp := s[:pos]
	data := make([]byte, 0, len(s)-pos-1)
	for _, c := range s[pos+1:] {
		d := strings.IndexRune(charset, c)
		if d < 0 {
			return "", nil, errors.New("invalid character")
		}
		data = append(data, byte(d))
	}
	if polymod(append(hrpValues(hrp), data...)) != 1 {
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

// hrpValues is the expansion of a human-readable part that the checksum covers.
func hrpValues(hrp string) []byte {
	var values []byte
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]>>5)
	}
	values = append(values, 0)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]&31)
	}
	return values
}

// Encode returns the lower-case Bech32 string of hrp (lower case) and data, the form Decode reads: data
// in 5-bit groups with zero padding, then the checksum. age writes identities in upper case.
func Encode(hrp string, data []byte) string {
	return encodeGroups(hrp, toGroups(data))
}

// encodeGroups encodes 5-bit groups as they are, so that tests can build strings age never writes (bad
// padding, other lengths).
func encodeGroups(hrp string, groups []byte) string {
	values := append(hrpValues(hrp), groups...)
	mod := polymod(append(values, 0, 0, 0, 0, 0, 0)) ^ 1
	out := []byte(hrp + "1")
	for _, g := range groups {
		out = append(out, charset[g])
	}
	for i := 0; i < 6; i++ {
		out = append(out, charset[(mod>>uint(5*(5-i)))&31])
	}
	return string(out)
}

// toGroups regroups bytes into 5-bit groups with zero padding.
func toGroups(b []byte) []byte {
	var out []byte
	acc, bits := uint32(0), uint(0)
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		out = append(out, byte(acc<<(5-bits))&31)
	}
	return out
}
