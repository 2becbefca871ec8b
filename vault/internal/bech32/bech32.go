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
	out, ok := regroup(data[:len(data)-6], 5, 8, false)
	if !ok {
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
	groups, _ := regroup(data, 8, 5, true)
	return encodeGroups(hrp, groups)
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

// regroup regroups values of from bits into values of to bits (BIP 173's convertbits). With pad, the
// bits left at the end are padded with zeros into one more value; without, they must be fewer than from
// and zero, or ok is false.
func regroup(in []byte, from, to uint, pad bool) (out []byte, ok bool) {
	acc, bits, mask := uint32(0), uint(0), uint32(1)<<to-1
	for _, v := range in {
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&mask))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&mask))
		}
		return out, true
	}
	return out, bits < from && acc&(1<<bits-1) == 0
}
