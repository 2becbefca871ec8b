package dotenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := "# a comment\n" +
		"\n" +
		"PLAIN=value\n" +
		"export EXPORTED=exported\n" +
		"  SPACED = spaced value   \n" +
		"INLINE=abc # a comment\n" +
		"HASH=abc#def\n" +
		"EMPTY=\n" +
		"SINGLE='lit $HOME \\n \"x\"' # comment\n" +
		"DOUBLE=\"a\\nb\\t\\\"q\\\" \\\\ \\$x \\`c\\` \\z\"\n" +
		"MULTI=\"line one\n" +
		"line two\"\n" +
		"CRLF=windows\r\n" +
		"dotted.key-name=ok\n" +
		"URL=https://x.example/?a=b&c=d\n"
	pairs, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{
		{"PLAIN", "value", 3}, {"EXPORTED", "exported", 4}, {"SPACED", "spaced value", 5},
		{"INLINE", "abc", 6}, {"HASH", "abc#def", 7}, {"EMPTY", "", 8},
		{"SINGLE", `lit $HOME \n "x"`, 9}, {"DOUBLE", "a\nb\t\"q\" \\ $x `c` \\z", 10},
		{"MULTI", "line one\nline two", 11}, {"CRLF", "windows", 13}, {"dotted.key-name", "ok", 14},
		{"URL", "https://x.example/?a=b&c=d", 15},
	}
	if len(pairs) != len(want) {
		t.Fatalf("got %d pairs: %+v", len(pairs), pairs)
	}
	for i := range want {
		if pairs[i] != want[i] {
			t.Errorf("pair %d = %+v, want %+v", i, pairs[i], want[i])
		}
	}
}

// Errors name the line, never the content.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"KEY=ok\nsk_live_secret\n", "line 2: expected KEY=value"},
		{"=sk_live_secret\n", "line 1: expected KEY=value"},
		{"A=1\nB=2\nA=sk_live_secret\n", "line 3: A is already set on line 1"},
		{"KEY=\"sk_live_secret\n", "line 1: the quote opened here is never closed"},
		{"KEY='sk_live_secret' trailing\n", "line 1: unexpected text after the closing quote"},
		{"KEY WITH SPACE=sk_live_secret\n", "line 1: expected KEY=value"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "sk_live") {
			t.Errorf("%q: error quotes the content: %v", tc.in, err)
		}
	}
}

var roundTripValues = []string{
	"plain", "", "with space", "it's", `dq "x"`, "back\\slash", "$HOME and `cmd`", "multi\nline\n",
	"tab\there", "carriage\r\nreturn", "'both' \"kinds\" $x", "#not a comment", "trailing space ",
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, v := range roundTripValues {
		pairs, err := Parse([]byte("K=" + Quote(v) + "\n"))
		if err != nil || len(pairs) != 1 || pairs[0].Value != v {
			t.Errorf("%q: quoted as %s, read back %+v, %v", v, Quote(v), pairs, err)
		}
	}
}

// A POSIX shell reads what Quote writes back to the same value.
func TestQuoteShell(t *testing.T) {
	var file strings.Builder
	for i, v := range roundTripValues {
		file.WriteString("V" + string(rune('A'+i)) + "=" + Quote(v) + "\n")
	}
	path := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, v := range roundTripValues {
		name := "V" + string(rune('A'+i))
		out, err := exec.Command("sh", "-c", `. "$1" && printf '%s' "$`+name+`"`, "sh", path).Output()
		if err != nil || string(out) != v {
			t.Errorf("%q: the shell read %q, %v", v, out, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("A=1\nexport B='2'\nC=\"3\\n\"\n# c\n"))
	f.Add([]byte("K=\"multi\nline\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses, written back with Quote, parses to the same pairs.
		var b strings.Builder
		for _, p := range pairs {
			b.WriteString(p.Key + "=" + Quote(p.Value) + "\n")
		}
		again, err := Parse([]byte(b.String()))
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		for i := range pairs {
			if again[i].Key != pairs[i].Key || again[i].Value != pairs[i].Value {
				t.Fatalf("pair %d: %+v became %+v", i, pairs[i], again[i])
			}
		}
	})
}
