package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Label is the label that replaces the value of the secret at path: <redacted:PATH>.
func Label(path string) string { return "<redacted:" + path + ">" }

// Secret returns the needles that redact the value of the secret at path, all labelled Label(path):
// every form of Forms and, for each form, its common escapings (Escaped), without duplicates, longest
// first. It is the one redaction policy of the project: `agent-vault run` redacts a command's output
// and the HTTP broker a server's response with it. Errors are Forms': an empty value has no needle,
// a value shorter than MinLen is ErrTooShort.
func Secret(path string, value []byte) ([]Needle, error) {
	forms, err := Forms(value)
	if err != nil || len(forms) == 0 {
		return nil, err
	}
	var all [][]byte
	for _, f := range forms {
		all = appendNew(all, f)
		for _, v := range Escaped(f) {
			all = appendNew(all, v)
		}
	}
	slices.SortStableFunc(all, func(a, b []byte) int { return len(b) - len(a) })
	label := Label(path)
	needles := make([]Needle, len(all))
	for i, f := range all {
		needles[i] = Needle{Value: f, Label: label}
	}
	return needles, nil
}

// Escaped returns the common escapings of f that a program or a server may print instead of its
// bytes: as a JSON string (Go's encoder with and without HTML escaping, and the ASCII-only escaping of
// Python's json.dumps and others) and percent-encoded (query and path). Each is returned only when it
// differs from f, and none for f that is not UTF-8. An encoding that changes the value as a whole
// (base64, hashing, compression, a partial echo) is not caught; docs/use-without-seeing.md says so.
func Escaped(f []byte) [][]byte {
	if !utf8.Valid(f) {
		return nil
	}
	s := string(f)
	var out [][]byte
	add := func(v string) {
		if v != s {
			out = appendNew(out, []byte(v))
		}
	}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			j := strings.TrimSuffix(b.String(), "\n")
			add(j[1 : len(j)-1])
		}
	}
	add(asciiJSON(s))
	add(url.QueryEscape(s))
	add(url.PathEscape(s))
	return out
}

// asciiJSON is s escaped as the inside of a JSON string with every non-ASCII character as \uXXXX (UTF-16).
func asciiJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString("\\n")
		case r == '\r':
			b.WriteString("\\r")
		case r == '\t':
			b.WriteString("\\t")
		case r < 0x20 || r >= 0x7f && r < 0x10000:
			fmt.Fprintf(&b, "\\u%04x", r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, "\\u%04x\\u%04x", r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func appendNew(list [][]byte, v []byte) [][]byte {
	for _, x := range list {
		if bytes.Equal(x, v) {
			return list
		}
	}
	return append(list, v)
}
