package cli

import (
	"fmt"
	"slices"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	type ref struct {
		path string
		line int
		text string
	}
	tests := []struct {
		in   string
		refs []ref
		errs []string // "line: text"
	}{
		{"", nil, nil},
		{"no references", nil, nil},
		{"{{ av://a/b }}", []ref{{"a/b", 1, "{{ av://a/b }}"}}, nil},
		{"{{av://a}}", []ref{{"a", 1, "{{av://a}}"}}, nil},
		{"x{{ \t av://a.b_c-d/E9 \t }}y", []ref{{"a.b_c-d/E9", 1, "{{ \t av://a.b_c-d/E9 \t }}"}}, nil},
		{"1\n2\n{{ av://a }}\n{{ av://b }}{{ av://c }}", []ref{{"a", 3, "{{ av://a }}"}, {"b", 4, "{{ av://b }}"}, {"c", 4, "{{ av://c }}"}}, nil},
		{"{{{ av://a }}}", []ref{{"a", 1, "{{ av://a }}"}}, nil},
		// Not references.
		{"{{ .Values.x }} {{ }} av://a {{ AV://a }} {{ x av://a }} { av://a }", nil, nil},
		// Malformed.
		{"{{ av:// }}", nil, []string{"1: {{ av:// }}"}},
		{"{{ av://a b }}", nil, []string{"1: {{ av://a b }}"}},
		{"{{ av://a }", nil, []string{"1: {{ av://a }"}},
		{"{{ av://a\n}}", nil, []string{"1: {{ av://a"}},
		{"{{ av://a/ }}", nil, []string{"1: {{ av://a/ }}"}},
		{"{{ av:///a }}", nil, []string{"1: {{ av:///a }}"}},
		{"{{ av://a/../b }}", nil, []string{"1: {{ av://a/../b }}"}},
		{"{{ av://a{b }}", nil, []string{"1: {{ av://a{b }}"}},
		{"ok {{ av://x }}\nbad {{ av:// }} then {{ av://y }}", []ref{{"x", 1, "{{ av://x }}"}, {"y", 2, "{{ av://y }}"}}, []string{"2: {{ av:// }}"}},
	}
	for _, tt := range tests {
		refs, errs := parseTemplate([]byte(tt.in))
		var gotRefs []ref
		for _, r := range refs {
			if got := tt.in[r.start:r.end]; got != r.text {
				t.Errorf("%q: ref %q spans %q", tt.in, r.text, got)
			}
			gotRefs = append(gotRefs, ref{r.path, r.line, r.text})
		}
		var gotErrs []string
		for _, e := range errs {
			gotErrs = append(gotErrs, fmt.Sprintf("%d: %s", e.line, e.text))
		}
		if !slices.Equal(gotRefs, tt.refs) || !slices.Equal(gotErrs, tt.errs) {
			t.Errorf("parseTemplate(%q) = %v, %q; want %v, %q", tt.in, gotRefs, gotErrs, tt.refs, tt.errs)
		}
	}
}
