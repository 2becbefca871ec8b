package vault

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// Table tests for the parsers of names, key files and signed files (Bech32: internal/bech32).

func TestCheckSegment(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a", true},
		{"stripe", true},
		{"A-Z_a-z.0-9", true},
		{"-", true},
		{"_", true},
		{"...", true},
		{".hidden", true},
		{"trailing.", true},
		{strings.Repeat("x", MaxSegmentLen), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", MaxSegmentLen+1), false},
		{"a/b", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"é", false},
		{"a:b", false},
		{"a\\b", false},
		{"~", false},
		{"a\n", false},
	} {
		err := CheckSegment(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("CheckSegment(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestCheckPath(t *testing.T) {
	seg := strings.Repeat("s", MaxSegmentLen)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a", true},
		{"stripe/api-key", true},
		{"a/b/c/d/e/f/g/h", true},
		{"a/.b/c..", true},
		{strings.Join([]string{seg, seg, seg, seg}, "/"), false},      // valid segments, 259 bytes
		{strings.Join([]string{seg, seg, seg, seg[:61]}, "/"), true},  // 256 bytes
		{strings.Join([]string{seg, seg, seg, seg[:62]}, "/"), false}, // 257 bytes
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a/./b", false},
		{"a/../b", false},
		{"../a", false},
		{"..", false},
		{".", false},
		{"a/b/c/d/e/f/g/h/i", false},
		{"a\\b", false},
		{"a/b c", false},
		{"a/" + strings.Repeat("x", MaxSegmentLen+1), false},
		{"a/\x00", false},
	} {
		err := CheckPath(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	// A user's bad path is a usage error; the message names the path.
	if err := CheckUserPath("a/../b"); KindOf(err) != KindUsage || !strings.Contains(err.Error(), "a/../b") {
		t.Errorf("userPath: %v", err)
	}
}

func TestDefaultGroup(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "a/b": "a", "stripe/x/y": "stripe"} {
		if got := DefaultGroup(in); got != want {
			t.Errorf("DefaultGroup(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"api.stripe.com", true},
		{"localhost", true},
		{"a-b.example", true},
		{"xn--bcher-kva.example", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"[::1]", true},
		{"2001:db8::1", true},
		{strings.Repeat("a", 63) + ".com", true},
		{strings.Repeat("a.", 126) + "a", true}, // 253 bytes
		{"", false},
		{strings.Repeat("a.", 126) + "ab", false}, // 254 bytes
		{strings.Repeat("a", 64) + ".com", false},
		{"API.stripe.com", false},
		{"https://api.stripe.com", false},
		{"api.stripe.com:443", false},
		{"api.stripe.com/v1", false},
		{"1.2.3.4:80", false},
		{"-a.com", false},
		{"a-.com", false},
		{"a..b", false},
		{".a", false},
		{"a.", false},
		{"a_b.com", false},
		{"a b", false},
		{"*.example.com", false},
		{"bücher.example", false},
	} {
		err := CheckHost(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("CheckHost(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

// testKeyFile returns a pinned agent key file and its parts.
func testKeyFile(t *testing.T) ([]byte, *age.X25519Identity, string, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	vk := FormatVerifyKey(pub)
	const vaultID = "0123456789abcdef0123456789abcdef"
	return agentKeyFile(id, "ci", vaultID, vk), id, vaultID, vk
}

func TestParseKeyFile(t *testing.T) {
	pinned, id, vaultID, vk := testKeyFile(t)
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	vk2 := FormatVerifyKey(pub2)
	idLine := id.String()
	crlf := bytes.ReplaceAll(pinned, []byte("\n"), []byte("\r\n"))
	var reordered []string
	lines := strings.Split(strings.TrimSuffix(string(pinned), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		reordered = append(reordered, lines[i])
	}
	for _, tc := range []struct {
		name   string
		data   string
		ok     bool
		pinned bool
	}{
		{"identity only", idLine + "\n", true, false},
		{"identity without final newline", idLine, true, false},
		{"identity with spaces around", "  " + idLine + " \t\n", true, false},
		{"comments and blank lines", "# hello\n\n   \n# public key: age1xyz\n" + idLine + "\n\n", true, false},
		{"age-keygen style", "# created: 2026-11-29T13:50:00Z\n# public key: " + id.Recipient().String() + "\n" + idLine + "\n", true, false},
		{"pinned", string(pinned), true, true},
		{"pinned with CRLF", string(crlf), true, true},
		{"pinned in reverse order", strings.Join(reordered, "\n"), true, true},
		{"pins repeated with the same value", string(pinned) + "# agent-vault-vault-id: " + vaultID + "\n", true, true},
		{"pin with trailing spaces", "# agent-vault-vault-id: " + vaultID + "   \n# agent-vault-owner-verify-key: " + vk + "\t\n" + idLine + "\n", true, true},
		{"pin-like line with two values is a comment", "# agent-vault-vault-id: a b\n" + idLine + "\n", true, false},
		{"indented pin-like line is a comment", " # agent-vault-vault-id: " + vaultID + "\n" + idLine + "\n", true, false},
		{"CRLF identity only", idLine + "\r\n", true, false},
		{"only the vault-id pin", "# agent-vault-vault-id: " + vaultID + "\n" + idLine + "\n", false, false},
		{"only the verify-key pin", "# agent-vault-owner-verify-key: " + vk + "\n" + idLine + "\n", false, false},
		{"conflicting vault ids", string(pinned) + "# agent-vault-vault-id: ffffffffffffffffffffffffffffffff\n", false, false},
		{"conflicting verify keys", string(pinned) + "# agent-vault-owner-verify-key: " + vk2 + "\n", false, false},
		{"conflicting agent names", string(pinned) + "# agent-vault-agent: other\n", false, false},
		{"bad verify key pin", "# agent-vault-vault-id: " + vaultID + "\n# agent-vault-owner-verify-key: ssh-ed25519:AAAA\n" + idLine + "\n", false, false},
		{"short verify key pin", "# agent-vault-vault-id: " + vaultID + "\n# agent-vault-owner-verify-key: ed25519:AAAA\n" + idLine + "\n", false, false},
		{"two identities", idLine + "\n" + other.String() + "\n", false, false},
		{"the same identity twice", idLine + "\n" + idLine + "\n", false, false},
		{"no identity", "# just a comment\n", false, false},
		{"empty", "", false, false},
		{"garbage line", "hello\n" + idLine + "\n", false, false},
		{"lower-case identity", strings.ToLower(idLine) + "\n", false, false},
		{"bad checksum", idLine[:len(idLine)-1] + map[bool]string{true: "Q", false: "P"}[idLine[len(idLine)-1] != 'Q'] + "\n", false, false},
		{"truncated identity", idLine[:40] + "\n", false, false},
		{"plugin identity", "AGE-PLUGIN-YUBIKEY-1QQQQQQ\n", false, false},
		{"recipient instead of identity", id.Recipient().String() + "\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeyFile([]byte(tc.data), "test.key", quiet)
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				if KindOf(err) != KindVaultNotFound {
					t.Errorf("kind %s, want vault_not_found", KindOf(err))
				}
				if strings.Contains(strings.ToUpper(err.Error()), idLine[16:40]) {
					t.Errorf("the error message quotes key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if x25519Of(k).String() != idLine || k.Recipient != id.Recipient().String() {
				t.Errorf("wrong identity")
			}
			if k.Pinned() != tc.pinned {
				t.Errorf("pinned = %v, want %v", k.Pinned(), tc.pinned)
			}
			if tc.pinned && (k.PinVaultID != vaultID || k.PinVerifyKey != vk || k.AgentName != "ci" && strings.Contains(tc.data, "agent-vault-agent")) {
				t.Errorf("pins %q %q %q", k.PinVaultID, k.PinVerifyKey, k.AgentName)
			}
			if k.Source != "test.key" || k.IsOwner {
				t.Errorf("source %q, owner %v", k.Source, k.IsOwner)
			}
		})
	}
}

func TestLoadAndResolveKey(t *testing.T) {
	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", home)
	t.Setenv("AGENT_VAULT_KEY", "")
	pinned, id, _, _ := testKeyFile(t)
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.key", pinned, 0o600)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		p := write("open.key", pinned, mode)
		if _, err := LoadKeyFile(p, quiet); KindOf(err) != KindVaultNotFound || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		p := write("closed.key", pinned, mode)
		if _, err := LoadKeyFile(p, quiet); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
		os.Chmod(p, 0o600)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing.key"), quiet); KindOf(err) != KindVaultNotFound {
		t.Errorf("missing key file: %v", err)
	}
	// No key anywhere.
	if _, err := ResolveKey("", quiet); KindOf(err) != KindVaultNotFound {
		t.Errorf("no key: %v", err)
	}
	// Explicit path.
	if k, err := ResolveKey(good, quiet); err != nil || x25519Of(k).String() != id.String() || k.IsOwner {
		t.Errorf("explicit: %v", err)
	}
	// AGENT_VAULT_KEY as content (multi-line, with CRLF, or the identity line alone) and as a path.
	for _, env := range []string{string(pinned), strings.ReplaceAll(string(pinned), "\n", "\r\n"), id.String(), good} {
		t.Setenv("AGENT_VAULT_KEY", env)
		k, err := ResolveKey("", quiet)
		if err != nil || x25519Of(k).String() != id.String() {
			t.Errorf("AGENT_VAULT_KEY=%.20q…: %v", env, err)
		}
	}
	// The explicit key wins over the environment.
	other, _ := age.GenerateX25519Identity()
	otherPath := write("other.key", []byte(other.String()+"\n"), 0o600)
	if k, err := ResolveKey(otherPath, quiet); err != nil || x25519Of(k).String() != other.String() {
		t.Errorf("explicit over env: %v", err)
	}
	// The home's owner key, found by fallback or given explicitly, is the owner key; a pinned key never is.
	t.Setenv("AGENT_VAULT_KEY", "")
	if err := fsutil.WriteNewPrivateFile(filepath.Join(home, "owner.key"), []byte(other.String()+"\n")); err != nil {
		t.Fatal(err)
	}
	for _, explicit := range []string{"", otherPath} {
		if k, err := ResolveKey(explicit, quiet); err != nil || !k.IsOwner || x25519Of(k).String() != other.String() {
			t.Errorf("owner key via %q: %v", explicit, err)
		}
	}
	if k, err := ResolveKey(good, quiet); err != nil || k.IsOwner {
		t.Errorf("pinned key taken for the owner's: %v", err)
	}
}

func TestSplitSigned(t *testing.T) {
	body := []byte("{\n  \"type\": \"agent-vault-root\"\n}\n")
	// A key whose signature has a '+' or '/' in its base64, so that the URL-alphabet case differs from
	// the standard one (about one signature in sixteen has neither).
	var pub ed25519.PublicKey
	var priv ed25519.PrivateKey
	var signed, sigLine []byte
	var b64 string
	for b64 == "" || !strings.ContainsAny(b64, "+/") {
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
		pub = priv.Public().(ed25519.PublicKey)
		signed = SignRoot(priv, body)
		sigLine = signed[len(body):]
		b64 = strings.TrimSuffix(strings.TrimPrefix(string(sigLine), sigLinePrefix), "\n")
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 63))
	for _, tc := range []struct {
		name string
		file string
		ok   bool
	}{
		{"signed", string(signed), true},
		{"one-line body", "x\n" + string(sigLine), true},
		{"empty body line", "\n" + string(sigLine), true},
		{"empty", "", false},
		{"no final newline", strings.TrimSuffix(string(signed), "\n"), false},
		{"signature line only", string(sigLine), false},
		{"body only", string(body), false},
		{"extra blank line", string(signed) + "\n", false},
		{"CRLF signature line", string(body) + strings.TrimSuffix(string(sigLine), "\n") + "\r\n", false},
		{"CR inside the signature", string(body) + sigLinePrefix + b64[:40] + "\r" + b64[40:] + "\n", false},
		{"other algorithm", string(body) + "signature: ed448 " + b64 + "\n", false},
		{"no space after prefix", string(body) + "signature: ed25519" + b64 + "\n", false},
		{"two spaces", string(body) + "signature: ed25519  " + b64 + "\n", false},
		{"trailing space", string(body) + sigLinePrefix + b64 + " \n", false},
		{"unpadded base64", string(body) + sigLinePrefix + strings.TrimRight(b64, "=") + "\n", false},
		{"URL base64", string(body) + sigLinePrefix + strings.NewReplacer("+", "-", "/", "_").Replace(b64) + "\n", false},
		{"short signature", string(body) + sigLinePrefix + short + "\n", false},
		{"not base64", string(body) + sigLinePrefix + "!!!!\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotBody, sig, err := splitSigned([]byte(tc.file))
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				if KindOf(err) != KindIntegrity {
					t.Errorf("kind %s", KindOf(err))
				}
				if _, err := VerifyRoot([]byte(tc.file), pub); KindOf(err) != KindIntegrity {
					t.Errorf("VerifyRoot: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != ed25519.SignatureSize || !bytes.HasPrefix([]byte(tc.file), gotBody) || gotBody[len(gotBody)-1] != '\n' {
				t.Errorf("body %q, %d-byte signature", gotBody, len(sig))
			}
		})
	}
	if got, err := VerifyRoot(signed, pub); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("VerifyRoot: %q, %v", got, err)
	}
	// Any change of a body byte, another key, or a signature without the domain prefix fails.
	for i := range body {
		changed := bytes.Clone(signed)
		changed[i] ^= 0x20
		if _, err := VerifyRoot(changed, pub); err == nil {
			t.Fatalf("a change at byte %d verified", i)
		}
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := VerifyRoot(signed, otherPub); KindOf(err) != KindIntegrity {
		t.Fatalf("another key: %v", err)
	}
	noDomain := append(bytes.Clone(body), sigLinePrefix+base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body))+"\n"...)
	if _, err := VerifyRoot(noDomain, pub); KindOf(err) != KindIntegrity {
		t.Fatalf("a signature without the domain prefix: %v", err)
	}
}

func TestVerifyKeyFormat(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	s := FormatVerifyKey(pub)
	if got, err := ParseVerifyKey(s); err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:" + base64.StdEncoding.EncodeToString(pub[:31]),
		"ed25519:" + base64.RawStdEncoding.EncodeToString(pub), "ED25519:" + s[8:], "ssh-ed25519:" + s[8:], s + "=", " " + s,
		s[:20] + "\n" + s[20:], s + "\r", s[:20] + "\r\n" + s[20:]} {
		if _, err := ParseVerifyKey(bad); err == nil {
			t.Errorf("ParseVerifyKey(%q) accepted", bad)
		}
	}
	// The derivation of format.md section 3.4 is stable for a given identity.
	id, _ := age.GenerateX25519Identity()
	a, err := DeriveSigningKey(id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveSigningKey(id)
	other, _ := age.GenerateX25519Identity()
	c, _ := DeriveSigningKey(other)
	if !a.Equal(b) || a.Equal(c) {
		t.Fatal("the signing key derivation is not a function of the identity")
	}
}

// Recipients for the parser tables: valid lower-case X25519 recipients; and a well-formed hash.
var (
	tableHash  = `"` + strings.Repeat("a", 64) + `"`
	tableOwner = mustRecipient()
	tableCI    = mustRecipient()
)

func mustRecipient() string {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		panic(err)
	}
	return id.Recipient().String()
}

func TestParseRootTable(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	base := func(extra string) string {
		return `{"type":"agent-vault-root","format":2,"vault_id":"` + id + `","version":3,"prev_sha256":"","time":"2026-11-29T13:50:00Z",
"owner":{"recipient":"` + tableOwner + `","verify_key":"ed25519:x"},"files":{"config.yaml":{"sha256":` + tableHash + `,"size":3}},
"agents":{"ci":{"recipient":"` + tableCI + `","public_key_sha256":"","escrow_sha256":""}},
"groups":{"stripe":{"members":["ci"],"secrets":1}},"index":{"3f":{"sha256":` + tableHash + `,"size":10,"secrets":1}}` + extra + "}\n"
	}
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"minimal", base(""), true},
		{"unknown fields are ignored", base(`,"future":{"x":1}`), true},
		{"empty maps may be absent", `{"type":"agent-vault-root","format":2,"vault_id":"` + id + `","version":1,"owner":{"recipient":"` + tableOwner + `"}}` + "\n", true},
		{"wrong type", strings.Replace(base(""), "agent-vault-root", "agent-vault-index", 1), false},
		{"format 1", strings.Replace(base(""), `"format":2`, `"format":1`, 1), false},
		{"format 3", strings.Replace(base(""), `"format":2`, `"format":3`, 1), false},
		{"format as string", strings.Replace(base(""), `"format":2`, `"format":"2"`, 1), false},
		{"upper-case vault id", strings.Replace(base(""), id, strings.ToUpper(id), 1), false},
		{"short vault id", strings.Replace(base(""), id, id[:30], 1), false},
		{"version 0", strings.Replace(base(""), `"version":3`, `"version":0`, 1), false},
		{"negative version", strings.Replace(base(""), `"version":3`, `"version":-1`, 1), false},
		{"bad agent name", strings.Replace(base(""), `"agents":{"ci"`, `"agents":{"c i"`, 1), false},
		{"agent without recipient", strings.Replace(base(""), tableCI, "", 1), false},
		{"upper-case recipient", strings.Replace(base(""), tableCI, strings.ToUpper(tableCI), 1), false},
		{"recipient with a bad checksum", strings.Replace(base(""), tableCI, tableCI[:61]+map[bool]string{true: "q", false: "p"}[tableCI[61] != 'q'], 1), false},
		{"owner recipient malformed", strings.Replace(base(""), tableOwner, "age1x", 1), false},
		{"agent sharing the owner's recipient", strings.Replace(base(""), tableCI, tableOwner, 1), false},
		{"two agents sharing a recipient", strings.Replace(base(""), `"agents":{`, `"agents":{"ci2":{"recipient":"`+tableCI+`"},`, 1), false},
		{"bad group name", strings.Replace(base(""), `"groups":{"stripe"`, `"groups":{"../x"`, 1), false},
		{"member not an agent", strings.Replace(base(""), `"members":["ci"]`, `"members":["ci","ghost"]`, 1), false},
		{"bad shard id", strings.Replace(base(""), `"3f":`, `"3F":`, 1), false},
		{"empty shard", strings.Replace(base(""), `"size":10,"secrets":1`, `"size":10,"secrets":0`, 1), false},
		{"negative size", strings.Replace(base(""), `"size":3`, `"size":-3`, 1), false},
		{"malformed file hash", strings.Replace(base(""), `"sha256":`+tableHash+`,"size":3`, `"sha256":"AA","size":3`, 1), false},
		{"not JSON", "signature: ed25519 x\n", false},
		{"truncated", base("")[:50], false},
		{"an array", "[]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRoot([]byte(tc.body))
			if tc.ok != (err == nil) {
				t.Fatalf("parseRoot: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && KindOf(err) != KindIntegrity {
				t.Errorf("kind %s", KindOf(err))
			}
			if err == nil && (r.Agents == nil || r.Groups == nil || r.Index == nil || r.Files == nil) {
				t.Error("nil maps")
			}
		})
	}
}

func TestParseShardTable(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	sid := ShardOf("stripe/api-key")
	root, err := parseRoot([]byte(`{"type":"agent-vault-root","format":2,"vault_id":"` + id + `","version":3,
"owner":{"recipient":"` + tableOwner + `"},"agents":{"ci":{"recipient":"` + tableCI + `"}},"groups":{"stripe":{"members":["ci"]},"legacy":{"members":[]}},
"index":{"` + sid + `":{"sha256":` + tableHash + `,"size":1,"secrets":1}}}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	shard := func(shardID, secrets string) string {
		return `{"type":"agent-vault-index-shard","format":2,"vault_id":"` + id + `","shard":"` + shardID + `","secrets":{` + secrets + "}}\n"
	}
	entry := func(group, extra string) string {
		return `{"group":"` + group + `","version":2,"enc_sha256":` + tableHash + `,"enc_size":3,"meta_sha256":` + tableHash + `,"meta_size":3,"created":"2026-11-29T13:50:00Z","rotated":"2026-11-29T13:50:00Z","expires":""` + extra + `,"extra_agents":[],"allow_hosts":[]}`
	}
	key := `"stripe/api-key":`
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"entry", shard(sid, key+entry("stripe", "")), true},
		{"placed in another group", shard(sid, key+entry("legacy", "")), true},
		{"extra agent", shard(sid, key+strings.Replace(entry("stripe", ""), `"extra_agents":[]`, `"extra_agents":["ci"]`, 1)), true},
		{"count differs from the root", shard(sid, ""), false},
		{"entry of another shard", shard(sid, `"stripe/other-key-0":`+entry("stripe", "")+","+key+entry("stripe", "")), false},
		{"unknown group", shard(sid, key+entry("ghost", "")), false},
		{"bad secret name", shard(sid, `"stripe/../x":`+entry("stripe", "")), false},
		{"unknown extra agent", shard(sid, key+strings.Replace(entry("stripe", ""), `"extra_agents":[]`, `"extra_agents":["ghost"]`, 1)), false},
		{"bad created time", shard(sid, key+strings.Replace(entry("stripe", ""), "2026-11-29T13:50:00Z", "yesterday", 1)), false},
		{"bad expires time", shard(sid, key+strings.Replace(entry("stripe", ""), `"expires":""`, `"expires":"never"`, 1)), false},
		{"version 0", shard(sid, key+strings.Replace(entry("stripe", ""), `"version":2`, `"version":0`, 1)), false},
		{"negative size", shard(sid, key+strings.Replace(entry("stripe", ""), `"enc_size":3`, `"enc_size":-3`, 1)), false},
		{"no meta hash", shard(sid, key+strings.Replace(entry("stripe", ""), `"meta_sha256":`+tableHash+`,`, ``, 1)), false},
		{"shard id mismatch", shard("00", key+entry("stripe", "")), false},
		{"vault mismatch", strings.Replace(shard(sid, key+entry("stripe", "")), id, "ffffffffffffffffffffffffffffffff", 1), false},
		{"wrong type", strings.Replace(shard(sid, key+entry("stripe", "")), "index-shard", "root", 1), false},
		{"format 1", strings.Replace(shard(sid, key+entry("stripe", "")), `"format":2`, `"format":1`, 1), false},
		{"not JSON", "stripe\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseShard([]byte(tc.data), root, sid)
			if tc.ok != (err == nil) {
				t.Fatalf("parseShard: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && KindOf(err) != KindIntegrity {
				t.Errorf("kind %s", KindOf(err))
			}
			if err == nil && got.Secrets == nil {
				t.Error("nil secrets")
			}
		})
	}
}

func TestParseMetaAndConfigTable(t *testing.T) {
	good := "name: \"stripe/api-key\"\ngroup: \"stripe\"\ncreated: \"2026-11-29T13:50:00Z\"\nrotated: \"2026-11-30T13:50:00Z\"\nexpires: \"2027-02-27T13:50:00Z\"\nauthorized_agents: [\"ci\", \"deployer\"]\n"
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"written form", good, true},
		{"no expiry, no agents", "name: \"stripe/api-key\"\ngroup: \"stripe\"\ncreated: \"2026-11-29T13:50:00Z\"\nrotated: \"2026-11-29T13:50:00Z\"\nauthorized_agents: []\n", true},
		{"block list and plain scalars", "name: stripe/api-key\ngroup: stripe\ncreated: 2026-11-29T13:50:00Z\nrotated: 2026-11-29T13:50:00Z\nauthorized_agents:\n  - ci\n", true},
		{"other name", strings.Replace(good, "stripe/api-key", "stripe/other", 1), false},
		{"other group", strings.Replace(good, `group: "stripe"`, `group: "legacy"`, 1), false},
		{"bad created", strings.Replace(good, "2026-11-29T13:50:00Z", "yesterday", 1), false},
		{"bad rotated", strings.Replace(good, "2026-11-30T13:50:00Z", "2026-13-30T13:50:00Z", 1), false},
		{"bad expires", strings.Replace(good, "2027-02-27T13:50:00Z", "never", 1), false},
		{"not YAML", "name: [\n", false},
		{"empty", "", false},
	} {
		t.Run("meta/"+tc.name, func(t *testing.T) {
			m, err := parseMeta([]byte(tc.data), "stripe/api-key", "stripe")
			if tc.ok != (err == nil) {
				t.Fatalf("parseMeta: %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if KindOf(err) != KindIntegrity {
					t.Errorf("kind %s", KindOf(err))
				}
				return
			}
			again, err := parseMeta(encodeMeta(m), "stripe/api-key", "stripe")
			if err != nil || !again.Created.Equal(m.Created) || (m.Expires == nil) != (again.Expires == nil) {
				t.Errorf("round trip: %v", err)
			}
		})
	}
	cfg := "format: 2\nvault_id: \"0123456789abcdef0123456789abcdef\"\nowner_verify_key: \"ed25519:x\"\ncreated: \"2026-11-29T13:50:00Z\"\n"
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"written form", cfg, true},
		{"comments", "# hello\n" + cfg + "# bye\n", true},
		{"format 1, read to ask for a migration", strings.Replace(cfg, "format: 2", "format: 1", 1), true},
		{"format 3", strings.Replace(cfg, "format: 2", "format: 3", 1), false},
		{"no format", strings.Replace(cfg, "format: 2\n", "", 1), false},
		{"bad vault id", strings.Replace(cfg, "0123456789abcdef0123456789abcdef", "0123", 1), false},
		{"upper-case vault id", strings.Replace(cfg, "0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF", 1), false},
		{"not YAML", "format: [\n", false},
	} {
		t.Run("config/"+tc.name, func(t *testing.T) {
			c, err := parseConfig([]byte(tc.data))
			if tc.ok != (err == nil) {
				t.Fatalf("parseConfig: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && KindOf(err) != KindIntegrity {
				t.Errorf("kind %s", KindOf(err))
			}
			if err == nil {
				if again, err := parseConfig(encodeConfig(c)); err != nil || *again != *c {
					t.Errorf("round trip: %+v, %v", again, err)
				}
			}
		})
	}
}
