package cli

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"api-key", "api-key", 0}, {"api-kye", "api-key", 1},
		{"stirpe", "stripe", 1}, {"strpe", "stripe", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"ca", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
		if got := editDistance(tc.b, tc.a); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetric)", tc.b, tc.a, got, tc.d)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"stripe/api-key", "stripe/api-keys", "stripe/webhook", "github/token", "ci", "deployer", "db/api-key"}
	for _, tc := range []struct{ missing, want string }{
		{"stripe/api-kye", "did you mean stripe/api-key?"},
		{"stripe/api-ke", "did you mean stripe/api-key?"},
		{"api-key", "did you mean db/api-key or stripe/api-key?"},
		{"STRIPE/WEBHOOK", "did you mean stripe/webhook?"},
		{"cii", "did you mean ci?"},
		{"c", "did you mean ci?"},
		{"x", ""},
		{"deployr", "did you mean deployer?"},
		{"zzz/qqq", ""},
		{"stripe/api-keyz", "did you mean stripe/api-key or stripe/api-keys?"},
	} {
		if got := didYouMean(tc.missing, names); got != tc.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tc.missing, got, tc.want)
		}
	}
	if got := didYouMean("a", []string{"b", "c", "d", "e"}); got != "did you mean b, c or d?" {
		t.Errorf("at most three: %q", got)
	}
	if got := didYouMean("ci", []string{"ci", "cd"}); got != "did you mean cd?" {
		t.Errorf("the name itself is never suggested: %q", got)
	}
	if got := didYouMean("anything", nil); got != "" {
		t.Errorf("no candidates: %q", got)
	}
}
