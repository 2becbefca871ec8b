package vault

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestKeyValueNeverEchoed is issue 10 item 7: a --key or AGENT_VAULT_KEY value that is neither key
// content nor an existing file (a base64 key file, a mangled or post-quantum prefix, raw bytes) is
// refused as a missing key without being repeated in the error.
func TestKeyValueNeverEchoed(t *testing.T) {
	tv := newTestVault(t)
	secret := x25519Of(tv.ci).String()
	values := map[string]string{
		"base64 of a key file": base64.StdEncoding.EncodeToString([]byte("# agent-vault agent key\n" + secret + "\n")),
		"base64 of the line":   base64.StdEncoding.EncodeToString([]byte(secret)),
		"mangled prefix":       "AGE-SECRET-KEY_1" + secret[len("AGE-SECRET-KEY-1"):],
		"post-quantum prefix":  "AGE-SECRET-KEY-PQ-1" + secret[len("AGE-SECRET-KEY-1"):],
		"lower case":           strings.ToLower(secret) + "x",
		"raw bytes":            "\x01\x02" + secret[16:] + "\xff",
	}
	for name, value := range values {
		for _, viaEnv := range []bool{false, true} {
			explicit := value
			if viaEnv {
				t.Setenv("AGENT_VAULT_KEY", value)
				explicit = ""
			}
			_, err := ResolveKey(explicit, quiet)
			if KindOf(err) != KindVaultNotFound {
				t.Errorf("%s (env %v): want vault_not_found, got %v", name, viaEnv, err)
				continue
			}
			msg := err.Error()
			for _, piece := range []string{value, secret[16:40], strings.ToLower(secret[16:40])} {
				if strings.Contains(msg, piece) {
					t.Errorf("%s (env %v): the error repeats the value: %s", name, viaEnv, msg)
				}
			}
		}
		t.Setenv("AGENT_VAULT_KEY", "")
	}
}

// TestIsKeyContent pins the one rule that tells key content from a path; the SDKs' tests hold the same
// table.
func TestIsKeyContent(t *testing.T) {
	for value, want := range map[string]bool{
		"AGE-SECRET-KEY-1ABC":      true,
		"age-secret-key-1abc":      true,
		"Age-Secret-Key-PQ-1abc":   true,
		"# comment\nsomething":     true,
		"line\r":                   true,
		"~/.agent-vault/agents/ci": false,
		"/tmp/AGE-SECRET-KEY":      false,
		"QUdFLVNFQ1JFVC1LRVktMQ==": false,
		"":                         false,
	} {
		if got := isKeyContent(value); got != want {
			t.Errorf("isKeyContent(%q) = %v, want %v", value, got, want)
		}
	}
}
