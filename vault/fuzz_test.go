package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for every parser of repository bytes and of key files (run them with
// go test -run='^$' -fuzz=FuzzName ./vault). Seeds are the real files of the shared test vectors. Each
// target asserts that nothing panics, that a refusal has the right kind, and that what is accepted
// satisfies the invariants the rest of the package relies on.

// vectorFiles returns the contents of the regular files matching pattern below testdata/vectors.
func vectorFiles(f *testing.F, pattern string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(vectorsDir, filepath.FromSlash(pattern)))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, p := range paths {
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		f.Fatalf("no seed matches %s (generate the vectors first)", pattern)
	}
	return out
}

// vectorsSigner is the signing key derived from the vectors' owner key: it signed their roots.
func vectorsSigner(f *testing.F) ed25519.PrivateKey {
	f.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir, "keys", "owner.key"))
	if err != nil {
		f.Fatal(err)
	}
	k, err := ParseKeyFile(data, "owner.key", quiet)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := DeriveSigningKey(k.Identity)
	if err != nil {
		f.Fatal(err)
	}
	return signer
}

// vectorsRoot is the parsed root of the basic vector vault.
func vectorsRoot(f *testing.F) *Root {
	f.Helper()
	raw := vectorFiles(f, "vaults/basic/.agent-vault/state/root")[0]
	body, err := VerifyRoot(raw, vectorsSigner(f).Public().(ed25519.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	r, err := parseRoot(body)
	if err != nil {
		f.Fatal(err)
	}
	return r
}

func FuzzVerifyRoot(f *testing.F) {
	signer := vectorsSigner(f)
	pub := signer.Public().(ed25519.PublicKey)
	for _, b := range vectorFiles(f, "vaults/*/.agent-vault/state/root") {
		f.Add(b)
	}
	f.Add(SignRoot(signer, []byte("{}\n")))
	f.Add(SignRoot(signer, []byte("\n")))
	f.Add([]byte("x\nsignature: ed25519 " + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		body, sig, err := splitSigned(data)
		if err != nil {
			if KindOf(err) != KindIntegrity {
				t.Fatalf("splitSigned: %s error %v", KindOf(err), err)
			}
		} else {
			// The split is exact: body, then one canonical signature line, nothing else.
			want := append(append([]byte{}, body...), sigLinePrefix+base64.StdEncoding.EncodeToString(sig)+"\n"...)
			if !bytes.Equal(want, data) || len(body) == 0 || body[len(body)-1] != '\n' {
				t.Fatalf("splitSigned(%q) = %q, %x", data, body, sig)
			}
		}
		vbody, err := VerifyRoot(data, pub)
		if err != nil {
			if KindOf(err) != KindIntegrity {
				t.Fatalf("VerifyRoot: %s error %v", KindOf(err), err)
			}
			return
		}
		// Whatever verifies is byte for byte the owner's signed form of its body: no second encoding of
		// a signed state exists (its hash is what the high-water marks compare).
		if !bytes.Equal(SignRoot(signer, vbody), data) {
			t.Fatalf("VerifyRoot accepted %q, which is not the signed form of its body", data)
		}
	})
}

func checkRootInvariants(t *testing.T, r *Root) {
	t.Helper()
	if r.Type != rootType || r.Format != FormatVersion || !validVaultID(r.VaultID) || r.Version == 0 {
		t.Fatalf("accepted a root with type %q, format %d, vault id %q, version %d", r.Type, r.Format, r.VaultID, r.Version)
	}
	if r.Agents == nil || r.Groups == nil || r.Index == nil || r.Files == nil {
		t.Fatal("a map of the root is nil")
	}
	kind, ok := validRecipientOf(r.Owner.Recipient)
	if !ok {
		t.Fatalf("accepted owner recipient %q", r.Owner.Recipient)
	}
	for name, a := range r.Agents {
		if k, ok := validRecipientOf(a.Recipient); CheckSegment(name) != nil || !ok || k != kind || a.Recipient == r.Owner.Recipient {
			t.Fatalf("accepted agent %q with recipient %q", name, a.Recipient)
		}
		if got, ok := r.AgentByRecipient(a.Recipient); !ok || r.Agents[got].Recipient != a.Recipient {
			t.Fatalf("AgentByRecipient(%q) = %q, %v", a.Recipient, got, ok)
		}
	}
	for name, g := range r.Groups {
		if CheckSegment(name) != nil {
			t.Fatalf("accepted group %q", name)
		}
		for _, m := range g.Members {
			if _, ok := r.Agents[m]; !ok {
				t.Fatalf("group %q names unknown agent %q", name, m)
			}
		}
	}
	for id, ref := range r.Index {
		if !validShardID(id) || ref.Secrets <= 0 || ref.Size < 0 {
			t.Fatalf("accepted index entry %q: %+v", id, ref)
		}
	}
}

func FuzzParseRoot(f *testing.F) {
	for _, b := range vectorFiles(f, "vaults/*/.agent-vault/state/root") {
		if body, _, err := splitSigned(b); err == nil {
			f.Add(body)
		} else {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"agent-vault-root","format":2,"vault_id":"0123456789abcdef0123456789abcdef","version":1}`))
	f.Add([]byte(`{"type":"agent-vault-root","format":2,"vault_id":"0123456789abcdef0123456789abcdef","version":18446744073709551615,"agents":{"a":{"recipient":"x"}},"groups":{"g":{"members":["a","a"]}},"index":{"0g":{"sha256":"","size":-1,"secrets":0}}}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRoot(data)
		if err != nil {
			if KindOf(err) != KindIntegrity {
				t.Fatalf("parseRoot: %s error %v", KindOf(err), err)
			}
			return
		}
		checkRootInvariants(t, r)
	})
}

func FuzzParseShard(f *testing.F) {
	root := vectorsRoot(f)
	for _, b := range vectorFiles(f, "vaults/basic/.agent-vault/state/index/*.json") {
		var sh struct {
			Shard string `json:"shard"`
		}
		json.Unmarshal(b, &sh)
		f.Add(b, sh.Shard)
	}
	id := ShardOf("legacy/db-password")
	f.Add([]byte(`{"type":"agent-vault-index-shard","format":2,"vault_id":"`+root.VaultID+`","shard":"`+id+`","secrets":{"legacy/db-password":{"group":"stripe","version":1,"created":"2026-11-29T13:50:00Z","rotated":"2026-11-29T13:50:00Z","extra_agents":["other"]}}}`), id)
	f.Add([]byte(`{}`), "00")
	f.Fuzz(func(t *testing.T, data []byte, id string) {
		if _, ok := root.Index[id]; !ok {
			return // parseShard is only reached through a shard of the root
		}
		sh, err := parseShard(data, root, id)
		if err != nil {
			if KindOf(err) != KindIntegrity {
				t.Fatalf("parseShard: %s error %v", KindOf(err), err)
			}
			return
		}
		if sh.Type != shardType || sh.Format != FormatVersion || sh.VaultID != root.VaultID || sh.Shard != id || sh.Secrets == nil || len(sh.Secrets) != root.Index[id].Secrets {
			t.Fatalf("accepted shard %+v", sh)
		}
		for p, e := range sh.Secrets {
			if CheckPath(p) != nil || ShardOf(p) != id {
				t.Fatalf("accepted entry %q in shard %q", p, id)
			}
			if _, ok := root.Groups[e.Group]; !ok {
				t.Fatalf("entry %q names unknown group %q", p, e.Group)
			}
			for _, a := range e.ExtraAgents {
				if _, ok := root.Agents[a]; !ok {
					t.Fatalf("entry %q names unknown agent %q", p, a)
				}
			}
		}
	})
}

func FuzzParseMeta(f *testing.F) {
	for _, b := range vectorFiles(f, "vaults/basic/.agent-vault/secrets/*/*.meta") {
		f.Add(b, "stripe/api-key", "stripe")
	}
	f.Add([]byte("name: \"a/b\"\ngroup: \"a\"\ncreated: \"2026-11-29T13:50:00Z\"\nrotated: \"2026-11-29T13:50:00+02:00\"\nexpires: \"2027-02-27T13:50:00.5Z\"\nauthorized_agents: [\"x\"]\n"), "a/b", "a")
	f.Add([]byte("name: a/b\ngroup: a\ncreated: 2026-11-29T13:50:00Z\nrotated: 2026-11-29T13:50:00Z\nauthorized_agents:\n - x\n"), "a/b", "a")
	f.Add([]byte("&a [*a]"), "a", "a")
	f.Fuzz(func(t *testing.T, data []byte, path, group string) {
		if CheckPath(path) != nil || CheckSegment(group) != nil {
			return // parseMeta is only called with a checked path and group
		}
		m, err := parseMeta(data, path, group)
		if err != nil {
			if KindOf(err) != KindIntegrity {
				t.Fatalf("parseMeta: %s error %v", KindOf(err), err)
			}
			return
		}
		if m.Name != path || m.Group != group || m.AuthorizedAgents == nil {
			t.Fatalf("accepted meta %+v for %s in %s", m, path, group)
		}
		// What the owner reads back it can write again (its times at the format's second precision).
		writable := func(tm time.Time) bool { y := tm.UTC().Year(); return y >= 0 && y <= 9999 }
		if !writable(m.Created) || !writable(m.Rotated) || m.Expires != nil && !writable(*m.Expires) {
			return
		}
		if slices.ContainsFunc(m.AuthorizedAgents, func(a string) bool { return CheckSegment(a) != nil }) {
			return // never written: agent names are checked segments
		}
		again, err := parseMeta(encodeMeta(m), path, group)
		if err != nil {
			t.Fatalf("the re-encoded meta does not parse: %v\n%s", err, encodeMeta(m))
		}
		same := func(a, b time.Time) bool { return a.Truncate(time.Second).Equal(b) }
		if !same(m.Created, again.Created) || !same(m.Rotated, again.Rotated) || (m.Expires == nil) != (again.Expires == nil) ||
			m.Expires != nil && !same(*m.Expires, *again.Expires) || !slices.Equal(m.AuthorizedAgents, again.AuthorizedAgents) {
			t.Fatalf("round trip changed the meta: %+v -> %+v", m, again)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, b := range vectorFiles(f, "vaults/basic/.agent-vault/config.yaml") {
		f.Add(b)
	}
	f.Add([]byte("format: 1\nvault_id: 0123456789abcdef0123456789abcdef\n"))
	f.Add([]byte("format: 1\nvault_id: \"0123456789abcdef0123456789abcdef\"\nowner_verify_key: \"ed25519:\\n\"\nunknown: [1, 2]\n"))
	f.Add([]byte("format: !!str 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > LimitOther {
			return // readers refuse it unread
		}
		c, err := parseConfig(data)
		if err != nil {
			if KindOf(err) != KindIntegrity {
				t.Fatalf("parseConfig: %s error %v", KindOf(err), err)
			}
			return
		}
		if c.Format != FormatVersion && c.Format != formatV1 || !validVaultID(c.VaultID) {
			t.Fatalf("accepted config %+v", c)
		}
		// A config the owner could have written survives a round trip.
		if _, err := ParseVerifyKey(c.OwnerVerifyKey); err != nil {
			return
		}
		if _, err := time.Parse(time.RFC3339, c.Created); err != nil || !utf8.ValidString(c.Created) {
			return
		}
		again, err := parseConfig(encodeConfig(c))
		if err != nil || *again != *c {
			t.Fatalf("round trip: %+v -> %+v, %v", c, again, err)
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	for _, b := range vectorFiles(f, "keys/*.key") {
		f.Add(b)
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	f.Add([]byte("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"))
	f.Add([]byte("# agent-vault-vault-id: x\n# agent-vault-owner-verify-key: ed25519:AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyFile(data, "fuzz.key", quiet)
		if err != nil {
			if KindOf(err) != KindVaultNotFound {
				t.Fatalf("ParseKeyFile: %s error %v", KindOf(err), err)
			}
			// A refusal never quotes key material.
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if i := strings.Index(line, "AGE-SECRET-KEY-1"); i >= 0 && len(line) > i+24 && strings.Contains(err.Error(), line[i+16:i+24]) {
					t.Fatalf("the message quotes the identity: %v", err)
				}
			}
			return
		}
		secret, recipient := identityStrings(k.Identity)
		if k.Plugin != nil {
			secret, recipient = k.Plugin.String(), k.Recipient
		}
		if k.Identity == nil || secret == "" || k.Recipient != recipient || k.Source != "fuzz.key" || k.IsOwner {
			t.Fatalf("accepted key %+v", k)
		}
		if !bytes.Contains(data, []byte(secret)) {
			t.Fatal("the identity is not the one in the file")
		}
		if (k.PinVaultID == "") != (k.PinVerifyKey == "") || k.Pinned() != (k.PinVaultID != "") {
			t.Fatalf("half-pinned key accepted: %q %q", k.PinVaultID, k.PinVerifyKey)
		}
		if k.Pinned() {
			if _, err := ParseVerifyKey(k.PinVerifyKey); err != nil {
				t.Fatalf("accepted verify key pin %q", k.PinVerifyKey)
			}
			// The file the owner writes for these pins parses back to the same key and pins.
			if k.Plugin != nil {
				return // the owner writes key files for keys it made, never for a plugin's
			}
			again, err := ParseKeyFile(agentKeyFile(k.Identity, k.AgentName, k.PinVaultID, k.PinVerifyKey), "again", quiet)
			if err != nil || again.Recipient != k.Recipient || again.PinVaultID != k.PinVaultID || again.PinVerifyKey != k.PinVerifyKey || again.AgentName != k.AgentName {
				t.Fatalf("round trip: %+v, %v", again, err)
			}
		}
	})
}
