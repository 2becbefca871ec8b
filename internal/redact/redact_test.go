package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func redactAll(t testing.TB, needles []Needle, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := New(&out, needles)
	for _, c := range chunks {
		n, err := w.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func nd(value, label string) Needle { return Needle{Value: []byte(value), Label: label} }

func TestWriter(t *testing.T) {
	tests := []struct {
		name    string
		needles []Needle
		in      string
		want    string
	}{
		{"no needles", nil, "plain text", "plain text"},
		{"empty needle ignored", []Needle{nd("", "<E>")}, "plain text", "plain text"},
		{"empty input", []Needle{nd("secret", "<S>")}, "", ""},
		{"one occurrence", []Needle{nd("secret", "<S>")}, "a secret here", "a <S> here"},
		{"whole input", []Needle{nd("secret", "<S>")}, "secret", "<S>"},
		{"several occurrences", []Needle{nd("secret", "<S>")}, "secret,secret;secret", "<S>,<S>;<S>"},
		{"back to back", []Needle{nd("KEY1", "<K>")}, "KEY1KEY1", "<K><K>"},
		{"prefix only at end", []Needle{nd("secret", "<S>")}, "a secr", "a secr"},
		{"near miss", []Needle{nd("secret", "<S>")}, "secreT secre secrets", "secreT secre <S>s"},
		{"two needles", []Needle{nd("alpha", "<A>"), nd("bravo", "<B>")}, "alpha bravo alpha", "<A> <B> <A>"},
		{"longest at a position wins", []Needle{nd("sk_live", "<short>"), nd("sk_live_abc", "<long>")}, "x sk_live_abc sk_live_x", "x <long> <short>_x"},
		{"longest wins whatever the order", []Needle{nd("sk_live_abc", "<long>"), nd("sk_live", "<short>")}, "sk_live_abc sk_live", "<long> <short>"},
		{"same value: first given wins", []Needle{nd("same", "<1>"), nd("same", "<2>")}, "same", "<1>"},
		{"nested needle inside a longer occurrence", []Needle{nd("pass", "<P>"), nd("user:pass@host", "<URL>")}, "db user:pass@host pass", "db <URL> <P>"},
		{"overlap: later needle extends the span", []Needle{nd("xxab", "<A>"), nd("abyy", "<B>")}, "-xxabyy-", "-<A><B>-"},
		{"overlap: later needle inside the span adds nothing", []Needle{nd("xxabyy", "<A>"), nd("ab", "<B>")}, "-xxabyy-", "-<A>-"},
		{"self-overlap is one span", []Needle{nd("aa", "<A>")}, "aaaa", "<A>"},
		{"self-overlap then a gap", []Needle{nd("aba", "<A>")}, "ababa.aba", "<A>.<A>"},
		{"chain of different needles", []Needle{nd("abc", "<1>"), nd("cde", "<2>"), nd("efg", "<3>")}, "abcdefg", "<1><2><3>"},
		{"binary needle", []Needle{nd("\x00\xff\x00\xff", "<BIN>")}, "a\x00\xff\x00\xffb", "a<BIN>b"},
		{"label is written as given", []Needle{nd("secret", "")}, "a secret b", "a  b"},
		{"multi-line needle", []Needle{nd("line1\nline2\n", "<M>")}, "x line1\nline2\n y", "x <M> y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactAll(t, tt.needles, tt.in); got != tt.want {
				t.Errorf("one write: got %q, want %q", got, tt.want)
			}
			// Every split into two writes, and one byte per write, give the same output.
			for i := 0; i <= len(tt.in); i++ {
				if got := redactAll(t, tt.needles, tt.in[:i], tt.in[i:]); got != tt.want {
					t.Errorf("split at %d: got %q, want %q", i, got, tt.want)
				}
			}
			var bytesOf []string
			for i := range len(tt.in) {
				bytesOf = append(bytesOf, tt.in[i:i+1])
			}
			if got := redactAll(t, tt.needles, bytesOf...); got != tt.want {
				t.Errorf("byte by byte: got %q, want %q", got, tt.want)
			}
		})
	}
}

// recorder records each write separately.
type recorder struct{ writes []string }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func TestHoldsBackOnlyAPossiblePrefix(t *testing.T) {
	var r recorder
	w := New(&r, []Needle{nd("sk_live_0123", "<S>")})
	write := func(s string) {
		t.Helper()
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// A prompt that cannot begin the needle is written at once.
	write("Password: ")
	if got := strings.Join(r.writes, ""); got != "Password: " {
		t.Fatalf("after a prompt: written %q", got)
	}
	// A possible beginning is held back, and only that.
	write("ok sk_li")
	if got := strings.Join(r.writes, ""); got != "Password: ok " {
		t.Fatalf("after a partial needle: written %q", got)
	}
	// The rest of the needle completes it.
	write("ve_0123 done")
	if got := strings.Join(r.writes, ""); got != "Password: ok <S> done" {
		t.Fatalf("after the rest: written %q", got)
	}
	// A partial needle that turns out not to be one is released when the next byte arrives...
	write("sk_live_01")
	write("x")
	if got := strings.Join(r.writes, ""); got != "Password: ok <S> donesk_live_01x" {
		t.Fatalf("after a near miss: written %q", got)
	}
	// ...or by Close.
	write(" sk_")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.writes, ""); got != "Password: ok <S> donesk_live_01x sk_" {
		t.Fatalf("after Close: written %q", got)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestHoldBackIsBounded(t *testing.T) {
	// However the input is split, the bytes held back never exceed the longest needle minus one.
	needles := []Needle{nd("abcabcabd", "<1>"), nd("bcab", "<2>"), nd("aaaa", "<3>")}
	var out bytes.Buffer
	w := New(&out, needles)
	in := strings.Repeat("abcabcab aaa", 50)
	for i := range len(in) {
		if _, err := w.Write([]byte(in[i : i+1])); err != nil {
			t.Fatal(err)
		}
		if len(w.buf) > 8 {
			t.Fatalf("after %d bytes, %d held back", i+1, len(w.buf))
		}
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriteErrorIsSticky(t *testing.T) {
	w := New(&failingWriter{n: 1}, []Needle{nd("secret", "<S>")})
	if _, err := w.Write([]byte("one ")); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write([]byte("two ")); err == nil || n != 0 {
		t.Fatalf("Write = %d, %v; want the underlying error", n, err)
	}
	if _, err := w.Write([]byte("three")); err == nil {
		t.Fatal("the error is not sticky")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close does not report the error")
	}
}

func TestNeedlesAreCopied(t *testing.T) {
	v := []byte("secret")
	var out bytes.Buffer
	w := New(&out, []Needle{{Value: v, Label: "<S>"}})
	copy(v, "xxxxxx")
	w.Write([]byte("secret"))
	w.Close()
	if out.String() != "<S>" {
		t.Fatalf("got %q", out.String())
	}
}

func TestForms(t *testing.T) {
	tests := []struct {
		value string
		want  []string
		err   error
	}{
		{"", nil, nil},
		{"abc", nil, ErrTooShort},
		{"a", nil, ErrTooShort},
		{"ab\n", nil, ErrTooShort},
		{"   \n", nil, ErrTooShort},
		{"\n\n\n\n\n", nil, ErrTooShort},
		{"abcd", []string{"abcd"}, nil},
		{"sk_live_1\n", []string{"sk_live_1\n", "sk_live_1"}, nil},
		{" tok en \r\n", []string{" tok en \r\n", "tok en"}, nil},
		{
			"-----BEGIN KEY-----\nMIIEabc\nxyz\nQUJD==\n-----END KEY-----\n",
			[]string{
				"-----BEGIN KEY-----\nMIIEabc\nxyz\nQUJD==\n-----END KEY-----\n",
				"-----BEGIN KEY-----\nMIIEabc\nxyz\nQUJD==\n-----END KEY-----",
				"-----BEGIN KEY-----", "-----END KEY-----", "MIIEabc", "QUJD==",
			},
			nil,
		},
		{"line\r\nline\r\n", []string{"line\r\nline\r\n", "line\r\nline", "line"}, nil},
	}
	for _, tt := range tests {
		got, err := Forms([]byte(tt.value))
		if !errors.Is(err, tt.err) {
			t.Errorf("Forms(%q) error = %v, want %v", tt.value, err, tt.err)
			continue
		}
		var gotS []string
		for _, f := range got {
			gotS = append(gotS, string(f))
		}
		if !slices.Equal(gotS, tt.want) {
			t.Errorf("Forms(%q) = %q, want %q", tt.value, gotS, tt.want)
		}
	}
}

func TestFormsRedactATrimmedValue(t *testing.T) {
	forms, err := Forms([]byte("-----BEGIN KEY-----\nMIIEabcd\n-----END KEY-----\n"))
	if err != nil {
		t.Fatal(err)
	}
	var needles []Needle
	for _, f := range forms {
		needles = append(needles, Needle{Value: f, Label: "<K>"})
	}
	in := `printed: -----BEGIN KEY-----\nMIIEabcd\n-----END KEY----- and "MIIEabcd"`
	want := `printed: <K>\n<K>\n<K> and "<K>"`
	if got := redactAll(t, needles, in); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzRedactor checks, for any needles, input and split of the input into writes, that:
//   - the output never contains a needle (labels are made of bytes that needles never hold);
//   - the output without its labels is the input without the bytes inside an occurrence of a needle
//     (found here by brute force), so nothing else is lost, reordered or invented;
//   - the output does not depend on how the input is split into writes, nor does it with raw bytes.
func FuzzRedactor(f *testing.F) {
	f.Add([]byte("ab"), []byte("bcd"), []byte("abcdabcd"), []byte{3, 1}, false)
	f.Add([]byte("secret"), []byte("cret"), []byte("a secret secr et secret"), []byte{7, 2, 9}, false)
	f.Add([]byte("aa"), []byte("a"), []byte("aaaaaaa"), []byte{1}, true)
	f.Add([]byte("xxab"), []byte("abyy"), []byte("-xxabyy-xxab-abyy"), []byte{5, 5, 0, 1}, false)
	f.Fuzz(func(t *testing.T, n1, n2, in, splits []byte, raw bool) {
		if len(n1) > 64 || len(n2) > 64 || len(in) > 4096 {
			return
		}
		if !raw {
			// A four-letter alphabet makes occurrences and overlaps frequent.
			for _, b := range [][]byte{n1, n2, in} {
				for i := range b {
					b[i] = 'a' + b[i]%4
				}
			}
		}
		needles := []Needle{{Value: n1, Label: "<1>"}, {Value: n2, Label: "<2>"}}

		var whole bytes.Buffer
		w := New(&whole, needles)
		w.Write(in)
		w.Close()

		var split bytes.Buffer
		w = New(&split, needles)
		rest := in
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(splits) > 0 {
				n = min(n, 1+int(splits[i%len(splits)])%8)
			}
			w.Write(rest[:n])
			rest = rest[n:]
		}
		w.Close()
		if !bytes.Equal(whole.Bytes(), split.Bytes()) {
			t.Fatalf("output depends on the split: %q vs %q", whole.Bytes(), split.Bytes())
		}
		if raw {
			return
		}

		out := whole.Bytes()
		for _, n := range needles {
			if len(n.Value) > 0 && bytes.Contains(out, n.Value) {
				t.Fatalf("output %q contains needle %q", out, n.Value)
			}
		}
		covered := make([]bool, len(in))
		for _, n := range needles {
			if len(n.Value) == 0 {
				continue
			}
			for i := 0; i+len(n.Value) <= len(in); i++ {
				if bytes.Equal(in[i:i+len(n.Value)], n.Value) {
					for j := i; j < i+len(n.Value); j++ {
						covered[j] = true
					}
				}
			}
		}
		var kept []byte
		for i, c := range covered {
			if !c {
				kept = append(kept, in[i])
			}
		}
		stripped := bytes.ReplaceAll(bytes.ReplaceAll(out, []byte("<1>"), nil), []byte("<2>"), nil)
		if !bytes.Equal(stripped, kept) {
			t.Fatalf("needles %q %q, input %q: output %q keeps %q, want %q", n1, n2, in, out, stripped, kept)
		}
	})
}

// BenchmarkWriter measures throughput on log-like output, with needles shaped like API keys; in the
// near-miss data every line holds a string that shares the needles' first 8 bytes.
func BenchmarkWriter(b *testing.B) {
	lines := map[string][]byte{
		"plain":     []byte("2026-01-31T12:00:00Z info request handled path=/v1/charges status=200 duration=12ms\n"),
		"near-miss": []byte("2026-01-31T12:00:00Z info charge created key=sk_live_XXXXXXXXXXXXXXXX status=200\n"),
	}
	for _, data := range []string{"plain", "near-miss"} {
		input := bytes.Repeat(lines[data], 1<<14) // ~1.4 MB
		for _, k := range []int{0, 1, 10, 100} {
			var needles []Needle
			for i := range k {
				needles = append(needles, Needle{Value: fmt.Appendf(nil, "sk_live_%032d", i), Label: fmt.Sprintf("<redacted:s/%d>", i)})
			}
			for _, chunk := range []int{512, 32 << 10} {
				b.Run(fmt.Sprintf("%s/needles=%d/write=%d", data, k, chunk), func(b *testing.B) {
					b.SetBytes(int64(len(input)))
					for b.Loop() {
						w := New(io.Discard, needles)
						for rest := input; len(rest) > 0; {
							n := min(chunk, len(rest))
							w.Write(rest[:n])
							rest = rest[n:]
						}
						w.Close()
					}
				})
			}
		}
	}
}

// TestSecret: the one policy redacts every form of a value and their JSON and percent escapings, under
// the label <redacted:PATH>, and refuses what Forms refuses.
func TestSecret(t *testing.T) {
	value := []byte("p\"ss/wörd é\n")
	needles, err := Secret("db/pass", value)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range needles {
		if n.Label != "<redacted:db/pass>" {
			t.Errorf("label %q", n.Label)
		}
		if i > 0 && len(n.Value) > len(needles[i-1].Value) {
			t.Errorf("needles not longest first: %q after %q", n.Value, needles[i-1].Value)
		}
	}
	for _, printed := range []string{
		"p\"ss/wörd é\n",              // the value
		`p\"ss/wörd é`,                // JSON (Go, encoding/json)
		`p\"ss/w\u00f6rd \u00e9`,      // JSON, ASCII only (Python's json.dumps)
		`p\"ss/w\u00f6rd \u00e9\n`,    // the same, with the newline
		"p%22ss%2Fw%C3%B6rd+%C3%A9",   // a query parameter
		"p%22ss%2Fw%C3%B6rd%20%C3%A9", // a path segment
	} {
		var out bytes.Buffer
		w := New(&out, needles)
		w.Write([]byte("{" + printed + "}"))
		w.Close()
		if got := out.String(); got != "{<redacted:db/pass>}" {
			t.Errorf("%q printed as %q", printed, got)
		}
	}
	if n, err := Secret("a", nil); n != nil || err != nil {
		t.Errorf("empty value: %v, %v", n, err)
	}
	if _, err := Secret("a", []byte(" ab\n")); !errors.Is(err, ErrTooShort) {
		t.Errorf("short value: %v", err)
	}
}
