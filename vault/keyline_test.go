package vault

import (
	"regexp"
	"testing"
)

// What the hand-written key-file line matchers of keys.go stand for.
var (
	pinRE      = regexp.MustCompile(`^# agent-vault-(agent|vault-id|owner-verify-key): (\S+)\s*$`)
	identityRE = regexp.MustCompile(`^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$`)
	pluginRE   = regexp.MustCompile(`^AGE-PLUGIN-[0-9A-Z+._-]+-1[0-9A-Z]+$`)
)

func checkKeyLine(t *testing.T, l string) {
	m := pinRE.FindStringSubmatch(l)
	name, value, ok := pinLine(l)
	if ok != (m != nil) || ok && (name != m[1] || value != m[2]) {
		t.Errorf("pinLine(%q) = %q, %q, %v; the regular expression gives %q", l, name, value, ok, m)
	}
	if got, want := identityLine(l), identityRE.MatchString(l); got != want {
		t.Errorf("identityLine(%q) = %v, want %v", l, got, want)
	}
	if got, want := pluginIdentityLine(l), pluginRE.MatchString(l); got != want {
		t.Errorf("pluginIdentityLine(%q) = %v, want %v", l, got, want)
	}
}

var keyLineSamples = []string{
	"", "#", "# agent-vault-agent: ci", "# agent-vault-agent: ci  \t", "# agent-vault-agent:  ci",
	"# agent-vault-agent: c i", "# agent-vault-agent: ", "# agent-vault-agent:ci", "#  agent-vault-agent: ci",
	"# agent-vault-vault-id: 0fc81cc1b9d1b91545c10d426345a942", "# agent-vault-vault-idx: 1",
	"# agent-vault-owner-verify-key: ed25519:MQlTkwb8P+ljx1DOY2N/YJquj9xXAbqH/yi42cIkcBo=",
	"# agent-vault-owner-verify-key: a: b", "# agent-vault-agent: ci\r", "# agent-vault-agent: ci\v",
	"# agent-vault-agent: ci: x", "x# agent-vault-agent: ci",
	"AGE-SECRET-KEY-1QQQ", "AGE-SECRET-KEY-PQ-1QQQ", "AGE-SECRET-KEY-1", "AGE-SECRET-KEY-PQ-1",
	"AGE-SECRET-KEY-PQ-PQ-1QQ", "AGE-SECRET-KEY-1qqq", "AGE-SECRET-KEY-1QQ Q", "AGE-SECRET-KEY-2QQ",
	"AGE-SECRET-KEY-1QQ-", " AGE-SECRET-KEY-1QQ",
	"AGE-PLUGIN-YUBIKEY-1QQQ", "AGE-PLUGIN-A-B-1QQ", "AGE-PLUGIN-A.B_C+D-1QQ", "AGE-PLUGIN--1QQ",
	"AGE-PLUGIN-X-1", "AGE-PLUGIN-X-1Q-1Q", "AGE-PLUGIN-X1Q", "AGE-PLUGIN-X-2QQ", "AGE-PLUGIN-x-1QQ",
	"AGE-PLUGIN-X-1qq", "AGE-PLUGIN--", "AGE-PLUGIN-", "AGE-PLUGIN-1-1Q", "AGE-PLUGIN-X--1Q",
}

func TestKeyLineMatchers(t *testing.T) {
	for _, l := range keyLineSamples {
		checkKeyLine(t, l)
	}
}

func FuzzKeyLineMatchers(f *testing.F) {
	for _, l := range keyLineSamples {
		f.Add(l)
	}
	f.Fuzz(checkKeyLine)
}
