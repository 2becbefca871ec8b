package broker

import (
	"strings"
	"testing"

	"github.com/agent-vault/agent-vault/vault"
)

func TestParseTemplate(t *testing.T) {
	cases := []struct {
		in    string
		paths []string
		err   string
	}{
		{"", nil, ""},
		{"plain {{text}} {secret:x} {{secret", nil, ""},
		{"Bearer {{secret:a/b}}", []string{"a/b"}, ""},
		{"{{secret:a}}{{secret:b.c/d-e_f}}x{{secret:a}}", []string{"a", "b.c/d-e_f", "a"}, ""},
		{"{{{secret:a}}}", []string{"a"}, ""},
		{"{{secret:a}", nil, "malformed"},
		{"{{secret: a}}", nil, "malformed"},
		{"{{secret:a }}", nil, "malformed"},
		{"{{Secret:a}}", nil, "malformed"},
		{"{{\tsecret:a}}", nil, "malformed"},
		{"{{secret:/a}}", nil, "malformed"},
		{"{{secret:a//b}}", nil, "malformed"},
		{"{{secret:a/../b}}", nil, "malformed"},
		{"{{secret:a b}}", nil, "malformed"},
		{"{{secret:" + strings.Repeat("x/", 20) + "x}}", nil, "malformed"},
	}
	for _, c := range cases {
		tpl, err := parseTemplate(c.in, "the body")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || vault.KindOf(err) != vault.KindUsage {
				t.Errorf("parseTemplate(%q) = %v, want a usage error %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", c.in, err)
			continue
		}
		if strings.Join(tpl.paths(), ",") != strings.Join(c.paths, ",") {
			t.Errorf("parseTemplate(%q) paths = %v, want %v", c.in, tpl.paths(), c.paths)
		}
		if back := string(tpl.expand(func(p string) []byte { return []byte("{{secret:" + p + "}}") })); back != c.in {
			t.Errorf("parseTemplate(%q) round trip = %q", c.in, back)
		}
	}
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"Bearer {{secret:a/b}}", "{{secret:a}", "{{ secret:x}}", "{{{{secret:a}}}}", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := parseTemplate(s, "the body")
		if err != nil {
			return
		}
		for _, p := range tpl.paths() {
			if vault.CheckPath(p) != nil {
				t.Fatalf("accepted an invalid path %q", p)
			}
		}
		if back := string(tpl.expand(func(p string) []byte { return []byte("{{secret:" + p + "}}") })); back != s {
			t.Fatalf("round trip %q -> %q", s, back)
		}
		// Literal text never holds anything that looks like a placeholder.
		for _, seg := range tpl {
			if seg.path == "" && placeholderAttempt.MatchString(seg.text) {
				t.Fatalf("literal %q looks like a placeholder", seg.text)
			}
		}
	})
}

func TestHostAllowed(t *testing.T) {
	cases := []struct {
		host  string
		allow []string
		want  bool
	}{
		{"api.stripe.com", []string{"api.stripe.com"}, true},
		{"api.stripe.com", []string{"stripe.com"}, false},
		{"evil-api.stripe.com", []string{"api.stripe.com"}, false},
		{"api.stripe.com.evil.example", []string{"api.stripe.com"}, false},
		{"api.stripe.com", nil, false},
		{"::1", []string{"[::1]"}, true},
		{"::1", []string{"0:0::1"}, true},
		{"127.0.0.1", []string{"127.0.0.2"}, false},
		{"localhost", []string{"127.0.0.1"}, false},
	}
	for _, c := range cases {
		if got := hostAllowed(c.host, c.allow); got != c.want {
			t.Errorf("hostAllowed(%q, %v) = %v", c.host, c.allow, got)
		}
	}
}
