package vault

import (
	"bytes"
	"crypto/ecdh"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"filippo.io/age"

	"github.com/agent-vault/agent-vault/vault/internal/agehdr"
)

// ageCLI runs the stock age CLI to decrypt data with the identity in keyFile.
func ageCLI(t *testing.T, data []byte, identity age.Identity) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("age"); err != nil {
		t.Fatal("the stock age CLI is needed (make deps installs it):", err)
	}
	dir := t.TempDir()
	key, in := filepath.Join(dir, "key"), filepath.Join(dir, "in.age")
	if err := os.WriteFile(key, []byte(secretLine(identity)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("age", "-d", "-i", key, in).Output()
	return string(out), err
}

func payloadOf(t *testing.T, data []byte) []byte {
	t.Helper()
	f, err := agehdr.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f.Payload
}

// Grant re-wraps and revoke drops stanzas: the payload stays, the stock age CLI decrypts the result with
// each remaining key and with no removed key, and refuses a tampered header. revoke --reencrypt gives a
// fresh file key.
func TestGrantRevokeRewrap(t *testing.T) {
	tv := newTestVault(t)
	other := tv.addAgent("other")
	tv.set("stripe/api-key", "sk_live_rewrap", SetOptions{})
	before := tv.read(encFile("stripe/api-key"))
	// A new value's file, written with this package's X25519 stanzas, is one the stock age CLI reads.
	if v, err := ageCLI(t, before, tv.owner.Identity); err != nil || v != "sk_live_rewrap" {
		t.Fatalf("age -d of a value set: %q, %v", v, err)
	}

	tv.grant("ci", "stripe")
	tv.grant("other", "stripe")
	granted := tv.read(encFile("stripe/api-key"))
	if !bytes.Equal(payloadOf(t, granted), payloadOf(t, before)) {
		t.Fatal("grant changed the payload")
	}
	for name, id := range map[string]age.Identity{"owner": tv.owner.Identity, "ci": tv.ci.Identity, "other": other.Identity} {
		if v, err := ageCLI(t, granted, id); err != nil || v != "sk_live_rewrap" {
			t.Errorf("age -d with the %s key after grant: %q, %v", name, v, err)
		}
	}
	tv.mustGet(tv.ci, "stripe/api-key", "sk_live_rewrap")
	tv.mustGet(other, "stripe/api-key", "sk_live_rewrap")

	tv.owned(func(o *Owner) ([]byte, error) { _, err := o.Revoke("ci", "stripe", RevokeOptions{}); return nil, err })
	revoked := tv.read(encFile("stripe/api-key"))
	if !bytes.Equal(payloadOf(t, revoked), payloadOf(t, before)) {
		t.Fatal("revoke changed the payload")
	}
	if f, _ := agehdr.Parse(revoked); len(f.Stanzas) != 2 {
		t.Fatalf("%d stanzas after revoke, want other's and the owner's", len(f.Stanzas))
	}
	if _, err := ageCLI(t, revoked, tv.ci.Identity); err == nil {
		t.Error("the revoked key still decrypts the file")
	}
	for _, s := range mustParse(t, revoked).Stanzas {
		if _, err := agehdr.UnwrapX25519(s, ecdhOf(t, tv.ci)); err == nil {
			t.Error("a stanza of the revoked agent remains")
		}
	}
	if v, err := ageCLI(t, revoked, other.Identity); err != nil || v != "sk_live_rewrap" {
		t.Errorf("age -d with the remaining agent's key: %q, %v", v, err)
	}
	header := len(revoked) - len(payloadOf(t, revoked))
	bad := bytes.Clone(revoked)
	bad[header-5] ^= 1 // inside the MAC
	if _, err := ageCLI(t, bad, other.Identity); err == nil {
		t.Error("age decrypts a file whose header MAC was changed")
	}

	tv.grant("ci", "stripe")
	tv.owned(func(o *Owner) ([]byte, error) {
		_, err := o.Revoke("ci", "stripe", RevokeOptions{Reencrypt: true})
		return nil, err
	})
	fresh := tv.read(encFile("stripe/api-key"))
	if bytes.Equal(payloadOf(t, fresh), payloadOf(t, before)) {
		t.Error("revoke --reencrypt kept the payload")
	}
	tv.mustGet(other, "stripe/api-key", "sk_live_rewrap")
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live_rewrap")
}

func mustParse(t *testing.T, data []byte) *agehdr.File {
	t.Helper()
	f, err := agehdr.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// After any sequence of changes, the stanzas of every file follow docs/format.md section 5.1: stanza i
// belongs to the i-th authorized agent by name, the owner's comes last, and there are no others.
func TestStanzaLayoutHolds(t *testing.T) {
	tv := newTestVault(t)
	keys := map[string]*Key{"ci": tv.ci}
	for _, a := range []string{"amy", "zed", "mid"} {
		keys[a] = tv.addAgent(a)
	}
	agents := []string{"amy", "ci", "mid", "zed"}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 60 {
		agent, group := agents[rng.IntN(len(agents))], []string{"g1", "g2"}[rng.IntN(2)]
		path := group + "/s" + string(rune('a'+rng.IntN(4)))
		switch rng.IntN(5) {
		case 0:
			tv.set(path, "v"+string(rune('0'+step%10)), SetOptions{})
		case 1: // new extra agents, same value
			tv.owned(func(o *Owner) ([]byte, error) {
				err := o.Set(path, nil, SetOptions{Agents: []string{agent}})
				if KindOf(err) == KindNotFound {
					err = nil
				}
				return nil, err
			})
		case 2:
			tv.owned(func(o *Owner) ([]byte, error) { _, _, err := o.Grant(agent, group); return nil, err })
		case 3:
			tv.owned(func(o *Owner) ([]byte, error) {
				_, err := o.Revoke(agent, group, RevokeOptions{})
				if KindOf(err) == KindNotFound {
					err = nil
				}
				return nil, err
			})
		case 4:
			key := tv.owned(func(o *Owner) ([]byte, error) { return recoverAgent(o, agent) })
			k, err := ParseKeyFile(key, agent, quiet)
			if err != nil {
				t.Fatal(err)
			}
			keys[agent] = k
		}
	}
	s, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = s.entries(func(p string, e *Entry) {
		f := mustParse(t, tv.read(encFile(p)))
		want := authorizedAgents(s.Root, e)
		if len(f.Stanzas) != len(want)+1 {
			t.Errorf("%s: %d stanzas for agents %v and the owner", p, len(f.Stanzas), want)
			return
		}
		for i, a := range append(slices.Clone(want), "") {
			k := tv.owner
			if a != "" {
				k = keys[a]
			}
			if _, err := agehdr.UnwrapX25519(f.Stanzas[i], ecdhOf(t, k)); err != nil {
				t.Errorf("%s: stanza %d is not %q's", p, i, a)
			}
		}
		checked++
	})
	if err != nil || checked == 0 {
		t.Fatalf("checked %d secrets: %v", checked, err)
	}
}

// A file whose stanzas do not have the layout the state describes (here written by a foreign tool with
// the owner's stanza first) is re-encrypted under a fresh key instead of re-wrapped, and stays readable.
func TestRewrapFallsBackOnForeignLayout(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/api-key", "sk_live_foreign", SetOptions{})
	o, err := tv.v.OpenOwner(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var e Entry
	o.entries(func(p string, x *Entry) { e = *x })
	foreign := sealTo(t, "sk_live_foreign", x25519Of(tv.ci).Recipient(), x25519Of(tv.owner).Recipient())
	// The state says: the owner alone. The file has two stanzas: layout mismatch.
	ownerKey, err := newKeyring(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	out, ok, err := rewrap(foreign, recipientList(o.Root, &e), recipientList(o.Root, &e), ownerKey)
	if err != nil || ok || out != nil {
		t.Fatalf("rewrap of a foreign layout = %v, %v; want a fallback", ok, err)
	}
	swapped := sealTo(t, "x", x25519Of(tv.owner).Recipient(), x25519Of(tv.ci).Recipient())
	old := []string{tv.ci.Recipient, tv.owner.Recipient}
	if _, ok, err := rewrap(swapped, old, old[1:], ownerKey); ok || err != nil {
		t.Fatalf("rewrap with the owner's stanza not last = %v, %v; want a fallback", ok, err)
	}
}

// addAgent adds an agent and returns its key.
func (tv *testVault) addAgent(name string) *Key {
	tv.t.Helper()
	kf := tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, name) })
	k, err := ParseKeyFile(kf, name+".key", quiet)
	if err != nil {
		tv.t.Fatal(err)
	}
	return k
}

func sealTo(t *testing.T, value string, rs ...age.Recipient) []byte {
	t.Helper()
	out, err := encrypt([]byte(value), rs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ecdhOf is k's identity in the form agehdr's stanza functions take.
func ecdhOf(t *testing.T, k *Key) *ecdh.PrivateKey {
	t.Helper()
	priv, err := ecdhIdentity(k)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}
