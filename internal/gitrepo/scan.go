package gitrepo

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

// keyPattern is one kind of private key material and the pattern that finds
// it.
//
// ERE is written in the common subset of POSIX extended regular expressions
// (grep -E) and Go's RE2 syntax in which both mean the same thing: literal
// characters, bracket expressions without classes or ranges that depend on
// the locale, `+`, `?`, `{m,}`/`{m,n}`, and `( | )` groups. It must not
// contain a single quote (the hook quotes it with single quotes), cannot match
// a newline (grep matches lines; ScanPrivateKey relies on it), and is written
// so that it does not match its own source text (e.g. `-{5}` rather than five
// dashes), so that this file and the generated hook are not themselves
// flagged. TestKeyPatternsPortable enforces this.
type keyPattern struct {
	Kind string
	ERE  string
}

// bech32Upper is the bech32 data alphabet in upper case. age identities are
// upper case (their human-readable part must be, and bech32 forbids mixed
// case).
const bech32Upper = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"

func pemBegin(label string) string { return "-{5}BEGIN " + label + "-{5}" }

// keyPatterns is the single list of private key material that must never be
// committed. ScanPrivateKey and the pre-commit hook are both generated from
// it. More specific kinds come before the generic PEM pattern, so a match is
// reported with the most precise kind. Every pattern starts with a literal of
// at least 8 characters.
var keyPatterns = append([]keyPattern{
	// 32-byte X25519 or hybrid (ML-KEM) seeds: 58 data characters in
	// practice; 40 keeps placeholders such as "AGE-SECRET-KEY-1..." out.
	{"age secret key", "AGE-SECRET-KEY-(PQ-)?1[" + bech32Upper + "]{40,}"},
	// The same in lower case, mixed case, or with any of its characters
	// written as a JSON \u escape.
	{"age secret key (other case or JSON-escaped)", escapedAgeKey()},
	{"age plugin identity", "AGE-PLUGIN-[A-Z0-9._+-]{1,64}-1[" + bech32Upper + "]{10,}"},
	{"encrypted PKCS#8 private key", pemBegin("ENCRYPTED PRIVATE KEY")},
	{"RSA private key", pemBegin("RSA PRIVATE KEY")},
	{"EC private key", pemBegin("EC PRIVATE KEY")},
	{"DSA private key", pemBegin("DSA PRIVATE KEY")},
	{"OpenSSH private key", pemBegin("OPENSSH PRIVATE KEY")},
	{"PKCS#8 private key", pemBegin("PRIVATE KEY")},
	{"PGP private key block", pemBegin("PGP PRIVATE KEY BLOCK")},
	{"PEM private key", "-{5}BEGIN [A-Z0-9 ]+ PRIVATE KEY-{5}"},
	{"SSH2 private key", "-{4} BEGIN SSH2 (ENCRYPTED )?PRIVATE KEY -{4}"},
	{"PuTTY private key", "PuTTY-User-Key-File-[0-9]+:"},
	{"OpenVPN static key", pemBegin("OpenVPN Static key V1")},
}, encodedAgeKeys()...)

// ageKeyMarker is what every age identity starts with, X25519 or hybrid.
const ageKeyMarker = "AGE-SECRET-KEY-"

// escapedAgeKey matches an age identity in which each character may be in
// either case or written as a JSON escape \u00XX (hex digits in either
// case), followed by at least 40 such bech32 characters. A backslash is
// written [\\], which means a backslash in both POSIX EREs and RE2.
func escapedAgeKey() string {
	char := func(c byte) string {
		alts := []string{}
		lower, upper := strings.ToLower(string(c)), strings.ToUpper(string(c))
		if lower != upper {
			alts = append(alts, "["+upper+lower+"]")
		} else {
			alts = append(alts, string(c))
		}
		codes := []string{hexCI(upper)}
		if lower != upper {
			codes = append(codes, hexCI(lower))
		}
		return "(" + strings.Join(alts, "|") + "|[\\\\]u00(" + strings.Join(codes, "|") + "))"
	}
	word := func(w string) string {
		var b strings.Builder
		for i := 0; i < len(w); i++ {
			b.WriteString(char(w[i]))
		}
		return b.String()
	}
	data := "([" + bech32Upper + strings.ToLower(bech32Upper) + "]|[\\\\]u00[0-9A-Fa-f]{2}){40,}"
	return word(ageKeyMarker) + "(" + word("PQ-") + ")?" + char('1') + data
}

// hexCI is the hex code of the one-byte string c as a pattern that takes hex
// digits in either case.
func hexCI(c string) string {
	var b strings.Builder
	for _, d := range hex.EncodeToString([]byte(c)) {
		if d >= 'a' && d <= 'f' {
			fmt.Fprintf(&b, "[%c%c]", d-'a'+'A', d)
		} else {
			b.WriteRune(d)
		}
	}
	return b.String()
}

// encodedAgeKeys are the patterns of age identities hidden by an encoding
// that changes every byte: base64 at each of the three alignments (a key in a
// Kubernetes Secret manifest, or a base64'd key file), and hex in either case,
// of the marker in upper and lower case. Each is the marker's encoding alone:
// what follows it depends on the key. One character is written as a bracket
// expression, so that a pattern (in this package's tests, or the hook) never
// matches its own text. Base64 wrapped into lines (base64(1) without -w0)
// splits the marker at some alignments and is then missed.
func encodedAgeKeys() []keyPattern {
	var out []keyPattern
	bracket := func(s string) string { return s[:8] + "[" + s[8:9] + "]" + s[9:] }
	for _, marker := range []string{ageKeyMarker, strings.ToLower(ageKeyMarker)} {
		for align := 0; align < 3; align++ {
			data := append(make([]byte, align), marker...)
			first, last := (align+2)/3*3, len(data)/3*3
			enc := base64.StdEncoding.EncodeToString(data)[first/3*4 : last/3*4]
			out = append(out, keyPattern{fmt.Sprintf("base64 age secret key (%s, offset %d)", caseName(marker), align), bracket(enc)})
		}
		h := hex.EncodeToString([]byte(marker))
		out = append(out,
			keyPattern{"hex age secret key (" + caseName(marker) + ")", bracket(h)},
			keyPattern{"upper-case hex age secret key (" + caseName(marker) + ")", bracket(strings.ToUpper(h))})
	}
	return out
}

func caseName(marker string) string {
	if marker == ageKeyMarker {
		return "upper case"
	}
	return "lower case"
}

// compiledPattern is a keyPattern ready for ScanPrivateKey: the literal every
// match starts with, found with a fast substring search, and the pattern
// anchored at the start, run only from each occurrence of that literal to the
// end of its line (no pattern matches a newline).
type compiledPattern struct {
	prefix   []byte
	anchored *regexp.Regexp
	// whole, for a pattern with no literal prefix of 8 characters (it may
	// start in several ways), is the pattern run over all the data, but only
	// when the data passes need: a check that every match implies, far cheaper
	// than the pattern (most data scanned is ciphertext that matches nothing).
	whole *regexp.Regexp
	need  func(data []byte) bool
}

// compiledPatterns is built on first use, keeping start-up of every command fast.
var compiledPatterns = sync.OnceValue(compileKeyPatterns)

func compileKeyPatterns() []compiledPattern {
	out := make([]compiledPattern, len(keyPatterns))
	for i, p := range keyPatterns {
		re := regexp.MustCompile(p.ERE)
		prefix, _ := re.LiteralPrefix()
		if len(prefix) < 8 {
			out[i] = compiledPattern{whole: re, need: mustContain(p.ERE)}
			continue
		}
		out[i] = compiledPattern{prefix: []byte(prefix), anchored: regexp.MustCompile("^(?:" + p.ERE + ")")}
	}
	return out
}

// mustContain returns the cheap check every match of the pattern ere implies:
// that the data contain the longest literal that the pattern's top-level
// sequence always has; for the escaped age key, which has none, that the data
// contain the marker in some letter case or a JSON \u escape. Without either,
// every data passes.
func mustContain(ere string) func([]byte) bool {
	if ere == escapedAgeKey() {
		marker := []byte(strings.ToLower(ageKeyMarker))
		return func(data []byte) bool {
			return bytes.Contains(data, []byte(`\u00`)) || bytes.Contains(bytes.ToLower(data), marker)
		}
	}
	re, err := syntax.Parse(ere, syntax.Perl)
	if err != nil {
		return func([]byte) bool { return true }
	}
	var literal string
	if re.Op == syntax.OpConcat {
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 && len(sub.Rune) > len(literal) {
				literal = string(sub.Rune)
			}
		}
	}
	if len(literal) < 4 {
		return func([]byte) bool { return true }
	}
	lit := []byte(literal)
	return func(data []byte) bool { return bytes.Contains(data, lit) }
}

// ScanPrivateKey reports whether data contains private key material, and
// which kind ("age secret key", "RSA private key", ...). It looks for:
//
//   - age identities: AGE-SECRET-KEY-1… and AGE-SECRET-KEY-PQ-1… followed by
//     bech32 characters, in any letter case and with characters written as
//     JSON \u escapes; their marker AGE-SECRET-KEY- (upper or lower case)
//     base64-encoded at any alignment or hex-encoded; and plugin identities
//     AGE-PLUGIN-<NAME>-1…;
//   - PEM private keys: PKCS#8 "PRIVATE KEY" and "ENCRYPTED PRIVATE KEY",
//     RSA, EC, DSA and OPENSSH private keys, any other "… PRIVATE KEY"
//     label, and PGP private key blocks;
//   - SSH2 (RFC 4716-style) private keys, PuTTY private key files
//     ("PuTTY-User-Key-File-<n>:") and OpenVPN static keys.
//
// Detection is by these markers anywhere in data (text or binary, including
// inside a JSON string), not by validating the key, so it errs towards
// refusing. Public keys (age1…, ssh-ed25519 …, "BEGIN PUBLIC KEY"),
// certificates, age ciphertext (binary or armored) and vault metadata do not
// match. When several kinds occur, the first in the list above is reported.
// kind never contains the key itself. The cost is linear in len(data).
func ScanPrivateKey(data []byte) (kind string, found bool) {
	for i, p := range compiledPatterns() {
		if p.whole != nil {
			if p.need(data) && p.whole.Match(data) {
				return keyPatterns[i].Kind, true
			}
			continue
		}
		rest := data
		for {
			j := bytes.Index(rest, p.prefix)
			if j < 0 {
				break
			}
			line := rest[j:]
			if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
				line = line[:nl]
			}
			if p.anchored.Match(line) {
				return keyPatterns[i].Kind, true
			}
			rest = rest[j+1:]
		}
	}
	return "", false
}
