package cli

import "testing"

func TestGroupEnvName(t *testing.T) {
	for path, want := range map[string]string{
		"stripe/api-key":        "STRIPE_API_KEY",
		"stripe/webhook.secret": "STRIPE_WEBHOOK_SECRET",
		"db/Url_2":              "DB_URL_2",
		"a/b/c":                 "A_B_C",
		"3scale/key":            "3SCALE_KEY", // not valid: run refuses it
	} {
		if got := groupEnvName(path); got != want {
			t.Errorf("groupEnvName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestValidEnvName(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "_": true, "STRIPE_KEY": true, "a1": true, "_9": true,
		"": false, "1A": false, "A-B": false, "A.B": false, "A=B": false, "É": false, "A B": false,
	} {
		if got := validEnvName(name); got != want {
			t.Errorf("validEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}
