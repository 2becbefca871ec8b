package vault

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age/plugin"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/testplugin"
	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
)

// pluginEnv builds age-plugin-avtest (a real plugin binary, speaking the age plugin protocol) onto PATH
// and returns the file its operations are logged to.
func pluginEnv(t *testing.T) (log string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	bin := t.TempDir()
	if err := testplugin.Build(bin); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	log = filepath.Join(t.TempDir(), "avtest.log")
	t.Setenv("AVTEST_LOG", log)
	t.Setenv("AVTEST_FAIL", "")
	t.Setenv("AVTEST_MESSAGE", "")
	return log
}

func pluginOps(t *testing.T, log, op string) int {
	data, _ := os.ReadFile(log)
	return strings.Count(string(data), op+"\n")
}

// newPluginIdentityFile runs the plugin's keygen and returns the identity file.
func newPluginIdentityFile(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command("age-plugin-avtest", "--generate").Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newPluginOwnedVault is a vault whose owner key is held by the avtest plugin, with the agent "ci".
func newPluginOwnedVault(t *testing.T) *testVault {
	t.Helper()
	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", home)
	t.Setenv("AGENT_VAULT_KEY", "")
	p := filepath.Join(home, "owner.key")
	if err := fsutil.WriteNewPrivateFile(p, newPluginIdentityFile(t)); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeyFile(p, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !k.NeedsSigningKey() {
		t.Fatal("a fresh plugin key has a signing key")
	}
	if _, err := AddSigningKey(p, quiet); err != nil {
		t.Fatal(err)
	}
	owner, err := ResolveKey("", quiet)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Init(t.TempDir(), owner)
	if err != nil {
		t.Fatal(err)
	}
	tv := &testVault{t: t, home: home, v: v, owner: owner}
	keyFile := tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, "ci") })
	if tv.ci, err = ParseKeyFile(keyFile, "ci.key", quiet); err != nil {
		t.Fatal(err)
	}
	return tv
}

func TestPluginOwner(t *testing.T) {
	log := pluginEnv(t)
	tv := newPluginOwnedVault(t)
	if !strings.HasPrefix(tv.owner.Recipient, "age1avtest1") || tv.owner.Plugin == nil {
		t.Fatalf("owner key %+v", tv.owner)
	}
	// The root names the plugin recipient and the verify key of the sealed signing key.
	s, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root.Owner.Recipient != tv.owner.Recipient || s.Root.Owner.VerifyKey != tv.owner.sealedSigner.verifyKey {
		t.Fatalf("root owner %+v", s.Root.Owner)
	}
	tv.set("stripe/api-key", "sk_live", SetOptions{})
	enc := tv.read("secrets/stripe/api-key.enc")
	if !bytes.Contains(enc, []byte("\n-> avtest ")) {
		t.Fatal("the owner's stanza is not the plugin's")
	}
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live")

	// grant re-wraps through the plugin: the payload stays, ci gets a stanza.
	before := pluginOps(t, log, "unwrap")
	tv.grant("ci", "stripe")
	after := tv.read("secrets/stripe/api-key.enc")
	f0, _ := agehdr.Parse(enc)
	f1, _ := agehdr.Parse(after)
	if !bytes.Equal(f0.Payload, f1.Payload) || len(f1.Stanzas) != 2 {
		t.Fatal("grant did not re-wrap the file key")
	}
	// One unwrap for the file key: this Key unsealed its signing key at the first change already.
	if n := pluginOps(t, log, "unwrap") - before; n != 1 {
		t.Fatalf("grant made %d plugin unwraps, want 1", n)
	}
	tv.mustGet(tv.ci, "stripe/api-key", "sk_live")
	// An owner read does not unseal the signing key: one unwrap, for the value.
	before = pluginOps(t, log, "unwrap")
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live")
	if n := pluginOps(t, log, "unwrap") - before; n != 1 {
		t.Fatalf("an owner read made %d plugin unwraps, want 1", n)
	}
	// The escrow is encrypted to the plugin recipient and opens through it.
	o, err := tv.v.OpenOwner(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	esc, err := o.Escrow("ci")
	o.Close()
	if err != nil || !bytes.Contains(esc, []byte(tv.ci.Recipient)) {
		t.Fatalf("escrow: %v", err)
	}
	// revoke drops ci's stanza, still through the plugin.
	tv.owned(func(o *Owner) ([]byte, error) { _, err := o.Revoke("ci", "stripe", RevokeOptions{}); return nil, err })
	if _, kind := tv.get(tv.ci, "stripe/api-key"); kind != KindNotAuthorized {
		t.Fatalf("revoked agent: kind %v", kind)
	}
}

// Every way a plugin-held key fails is "key not usable" (exit 3), and changes nothing.
func TestPluginOwnerFailures(t *testing.T) {
	pluginEnv(t)
	tv := newPluginOwnedVault(t)
	tv.set("stripe/api-key", "sk_live", SetOptions{})
	root := tv.read("state/root")
	fresh := func() *Key {
		k, err := LoadKeyFile(filepath.Join(tv.home, "owner.key"), quiet)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	t.Run("device fails", func(t *testing.T) {
		t.Setenv("AVTEST_FAIL", "1")
		if _, err := tv.v.OpenOwner(fresh()); KindOf(err) != KindVaultNotFound {
			t.Fatalf("open owner: %v", err)
		}
		if _, kind := tv.get(fresh(), "stripe/api-key"); kind != KindVaultNotFound {
			t.Fatalf("get: kind %v", kind)
		}
	})
	t.Run("plugin missing", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := tv.v.OpenOwner(fresh())
		if KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "age-plugin-avtest is not installed") {
			t.Fatalf("open owner: %v", err)
		}
	})
	if !bytes.Equal(tv.read("state/root"), root) {
		t.Fatal("a failed owner command changed the vault")
	}

	keyFile, _ := os.ReadFile(filepath.Join(tv.home, "owner.key"))
	lines := strings.Split(string(keyFile), "\n")
	var idLine, sealLine, rcptLine string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "AGE-PLUGIN-"):
			idLine = l
		case strings.HasPrefix(l, "# agent-vault-owner-signing-key: "):
			sealLine = l
		case strings.HasPrefix(l, "# public key: "):
			rcptLine = l
		}
	}
	other := newPluginIdentityFile(t)
	otherSeal := ""
	{
		p := filepath.Join(t.TempDir(), "other.key")
		fsutil.WriteNewPrivateFile(p, other)
		k, err := AddSigningKey(p, quiet)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(p)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "# agent-vault-owner-signing-key: ") {
				otherSeal = l
			}
		}
		_ = k
	}
	fields := strings.Fields(sealLine)
	otherFields := strings.Fields(otherSeal)
	for _, c := range []struct{ name, file, want string }{
		{"no recipient comment", idLine + "\n" + sealLine + "\n", "needs its recipient"},
		{"bad recipient comment", "# public key: age1nope\n" + idLine + "\n", "does not hold an age recipient"},
		{"no signing key", rcptLine + "\n" + idLine + "\n", "no agent-vault-owner-signing-key line"},
		{"two signing keys", rcptLine + "\n" + idLine + "\n" + sealLine + "\n" + sealLine + "\n", "more than one"},
		{"bad verify key", rcptLine + "\n" + idLine + "\n# agent-vault-owner-signing-key: ed25519:xx " + fields[3] + "\n", "malformed"},
		{"bad sealed key", rcptLine + "\n" + idLine + "\n# agent-vault-owner-signing-key: " + fields[2] + " !!\n", "malformed"},
		// Another key's seal with this key's verify key: the plugin cannot open it.
		{"sealed to another key", rcptLine + "\n" + idLine + "\n# agent-vault-owner-signing-key: " + fields[2] + " " + otherFields[3] + "\n", "could not unseal"},
		// Another seal that this identity opens, beside the wrong verify key.
		{"verify key mismatch", rcptLine + "\n" + idLine + "\n# agent-vault-owner-signing-key: " + otherFields[2] + " " + fields[3] + "\n", "does not match the verify key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseKeyFile([]byte(c.file), "k", quiet)
			if err == nil {
				k.IsOwner = true
				_, err = tv.v.OpenOwner(k)
			}
			if KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want kind vault_not_found and %q", err, c.want)
			}
		})
	}
	if !bytes.Equal(tv.read("state/root"), root) {
		t.Fatal("a failed owner command changed the vault")
	}
}

// An agent whose key is held by a plugin: added by its recipient, it reads through the plugin.
func TestPluginAgent(t *testing.T) {
	log := pluginEnv(t)
	tv := newTestVault(t)
	file := newPluginIdentityFile(t)
	agent, err := ParseKeyFile(file, "hw.key", quiet)
	if err != nil {
		t.Fatal(err)
	}
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.AddAgentRecipient("hw", agent.Recipient) })
	tv.set("stripe/api-key", "sk_live", SetOptions{})
	tv.grant("hw", "stripe")
	tv.mustGet(agent, "stripe/api-key", "sk_live")
	if pluginOps(t, log, "wrap") == 0 || pluginOps(t, log, "unwrap") == 0 {
		t.Fatal("the plugin was not used")
	}
	// The owner's fast path keeps re-wrapping a file that holds a plugin stanza.
	enc := tv.read("secrets/stripe/api-key.enc")
	tv.grant("ci", "stripe")
	f0, _ := agehdr.Parse(enc)
	f1, _ := agehdr.Parse(tv.read("secrets/stripe/api-key.enc"))
	if !bytes.Equal(f0.Payload, f1.Payload) {
		t.Fatal("grant re-encrypted instead of re-wrapping")
	}
	tv.mustGet(agent, "stripe/api-key", "sk_live")
	tv.mustGet(tv.ci, "stripe/api-key", "sk_live")
}

func TestValidPluginRecipient(t *testing.T) {
	x := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	yk := plugin.EncodeRecipient("yubikey", bytes.Repeat([]byte{7}, 33))
	for _, c := range []struct {
		s    string
		want bool
	}{
		{yk, true},
		{yk[:len(yk)-1] + "q", false}, // bad checksum
		{strings.ToUpper(yk), false},
		{plugin.EncodeRecipient("pq", []byte{1}), false},
		{x, false}, // X25519: human-readable part "age", no plugin name
		{"age1pq1" + strings.Repeat("q", 60), false},
		{"age1yubikey1" + strings.Repeat("q", 1100), false},
		{"", false},
	} {
		if got := validPluginRecipient(c.s); got != c.want {
			t.Errorf("validPluginRecipient(%.30q) = %v, want %v", c.s, got, c.want)
		}
	}
}
