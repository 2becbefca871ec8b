// Package agehdr splits an age file (age-encryption.org/v1) into its recipient stanzas and its
// payload, and writes a new header for the same file key, so that a file key can be given to more
// recipients, or taken from some, without touching the payload.
//
// Stanzas are kept as the exact bytes they were written with: a stanza that is kept is copied, never
// re-encoded. Every header this package writes carries a MAC computed from the file key, as age
// requires, so the stock age tools read the result like any other age file.
package agehdr

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"filippo.io/age"
)

const (
	intro      = "age-encryption.org/v1\n"
	stanzaMark = "-> "
	macMark    = "---"
	// columns is the width of a stanza body line; a shorter line ends the body.
	columns = 64
)

var b64 = base64.RawStdEncoding.Strict()

// File is an age file split at its header.
type File struct {
	// Stanzas are the recipient stanzas, each as written: its "-> " line and its body lines.
	Stanzas [][]byte
	// MAC is the header MAC.
	MAC []byte
	// Payload is everything after the header: the nonce and the encrypted chunks.
	Payload []byte
}

// ErrMalformed is returned for data that is not an age file this package can read.
var ErrMalformed = errors.New("malformed age header")

// Parse splits data, an age file in the binary format, into its stanzas, MAC and payload.
func Parse(data []byte) (*File, error) {
	rest, ok := bytes.CutPrefix(data, []byte(intro))
	if !ok {
		return nil, ErrMalformed
	}
	f := &File{}
	for {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		// Go's base64 decoder skips carriage returns, which no age header holds.
		if !ok || bytes.IndexByte(line, '\r') >= 0 {
			return nil, ErrMalformed
		}
		if mac, isMAC := bytes.CutPrefix(line, []byte(macMark+" ")); isMAC {
			m, err := b64.DecodeString(string(mac))
			if err != nil || len(m) != sha256.Size {
				return nil, ErrMalformed
			}
			f.MAC, f.Payload = m, after
			return f, nil
		}
		if !bytes.HasPrefix(line, []byte(stanzaMark)) || len(bytes.Fields(line[len(stanzaMark):])) == 0 {
			return nil, ErrMalformed
		}
		start := len(data) - len(rest)
		var end int // set by the loop below, which reads at least one body line
		// The body: full lines, then one shorter line (possibly empty) that ends it.
		for {
			body, next, ok := bytes.Cut(after, []byte("\n"))
			if !ok || len(body) > columns || bytes.IndexByte(body, '\r') >= 0 {
				return nil, ErrMalformed
			}
			end, after = len(data)-len(next), next
			if len(body) < columns {
				break
			}
		}
		f.Stanzas = append(f.Stanzas, data[start:end])
		rest = after
	}
}

// Decode returns stanza s in the form age's Identity.Unwrap takes.
func Decode(s []byte) (*age.Stanza, error) {
	head, body, _ := bytes.Cut(s, []byte("\n"))
	fields := strings.Fields(string(head[len(stanzaMark):]))
	joined := string(bytes.ReplaceAll(body, []byte("\n"), nil))
	b, err := b64.DecodeString(joined)
	if err != nil {
		return nil, ErrMalformed
	}
	return &age.Stanza{Type: fields[0], Args: fields[1:], Body: b}, nil
}

// Encode writes stanza s in the header's text form.
func Encode(s *age.Stanza) []byte {
	var b bytes.Buffer
	b.WriteString(stanzaMark + s.Type)
	for _, a := range s.Args {
		b.WriteString(" " + a)
	}
	b.WriteByte('\n')
	body := b64.EncodeToString(s.Body)
	for len(body) >= columns {
		b.WriteString(body[:columns] + "\n")
		body = body[columns:]
	}
	b.WriteString(body + "\n") // shorter than a full line, possibly empty: it ends the body
	return b.Bytes()
}

// CheckMAC reports whether f's header MAC is the one fileKey gives: whether fileKey is f's file key
// and f's stanzas are the ones it was written with.
func (f *File) CheckMAC(fileKey []byte) bool {
	mac, err := headerMAC(fileKey, f.Stanzas)
	return err == nil && hmac.Equal(mac, f.MAC)
}

// Marshal writes an age file with stanzas, a MAC computed from fileKey, and payload.
func Marshal(fileKey []byte, stanzas [][]byte, payload []byte) ([]byte, error) {
	mac, err := headerMAC(fileKey, stanzas)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	writeHeaderWithoutMAC(&b, stanzas)
	b.WriteString(" " + b64.EncodeToString(mac) + "\n")
	b.Write(payload)
	return b.Bytes(), nil
}

func writeHeaderWithoutMAC(b *bytes.Buffer, stanzas [][]byte) {
	b.WriteString(intro)
	for _, s := range stanzas {
		b.Write(s)
	}
	b.WriteString(macMark)
}

// headerMAC is HMAC-SHA-256 of the header up to and including "---", keyed with HKDF-SHA-256 of the
// file key (info "header"), as the age format defines it.
func headerMAC(fileKey []byte, stanzas [][]byte) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, fileKey, nil, "header", sha256.Size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	writeHeaderWithoutMAC(&b, stanzas)
	h := hmac.New(sha256.New, key)
	h.Write(b.Bytes())
	return h.Sum(nil), nil
}

// Type returns the type of stanza s as written (the first word after "-> "), without decoding its body.
func Type(s []byte) string {
	head, _, _ := bytes.Cut(s, []byte("\n"))
	rest, ok := bytes.CutPrefix(head, []byte(stanzaMark))
	if !ok {
		return ""
	}
	typ, _, _ := bytes.Cut(rest, []byte(" "))
	return string(typ)
}
