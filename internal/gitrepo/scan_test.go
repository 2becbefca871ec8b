package gitrepo

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
)

// The key material below is generated at run time, and PEM markers are
// assembled from pieces, so that this file holds no private key and does not
// trip the very scanners it tests.
var dashes = strings.Repeat("-", 5)

type sample struct {
	name string
	data []byte
	kind string // "" for a negative sample
}

type sampleSet struct {
	pos, neg []sample
}

// negative returns the negative sample called name.
func (s *sampleSet) negative(name string) []byte {
	for _, x := range s.neg {
		if x.name == name {
			return x.data
		}
	}
	panic("no negative sample " + name)
}

var (
	samplesOnce sync.Once
	samplesVal  *sampleSet
	samplesErr  error
)

// samples returns the positive and negative samples, built once.
func samples(t testing.TB) *sampleSet {
	t.Helper()
	samplesOnce.Do(func() { samplesVal, samplesErr = buildSamples() })
	if samplesErr != nil {
		t.Fatal(samplesErr)
	}
	return samplesVal
}

func pemText(label string, body []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: label, Bytes: body})
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// sshWire encodes an SSH public key blob.
func sshWire(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func ageEncrypt(plaintext []byte, armored bool, recipients ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	var dst interface {
		Write([]byte) (int, error)
		Close() error
	}
	var aw interface{ Close() error }
	if armored {
		a := armor.NewWriter(&buf)
		aw = a
		w, err := age.Encrypt(a, recipients...)
		if err != nil {
			return nil, err
		}
		dst = w
	} else {
		w, err := age.Encrypt(&buf, recipients...)
		if err != nil {
			return nil, err
		}
		dst = w
	}
	if _, err := dst.Write(plaintext); err != nil {
		return nil, err
	}
	if err := dst.Close(); err != nil {
		return nil, err
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func buildSamples() (*sampleSet, error) {
	s := &sampleSet{}
	pos := func(name, kind string, data []byte) { s.pos = append(s.pos, sample{name, data, kind}) }
	neg := func(name string, data []byte) { s.neg = append(s.neg, sample{name: name, data: data}) }

	// age identities.
	owner, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	agent, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, err
	}
	pos("age X25519 identity", "age secret key", []byte(agent.String()+"\n"))
	keyFile := "# created: 2026-11-29T13:50:00Z\n" +
		"# public key: " + agent.Recipient().String() + "\n" +
		"# agent-vault-agent: bot\n" +
		"# agent-vault-vault-id: 3f0c9a\n" +
		"# agent-vault-owner-verify-key: ed25519:" + base64.StdEncoding.EncodeToString(randBytes(32)) + "\n" +
		agent.String() + "\n"
	pos("agent key file with pins", "age secret key", []byte(keyFile))
	pos("age key file with CRLF", "age secret key", []byte(strings.ReplaceAll(keyFile, "\n", "\r\n")))
	pos("age hybrid identity", "age secret key", []byte(hybrid.String()+"\n"))
	pos("age plugin identity", "age plugin identity", []byte(plugin.EncodeIdentity("yubikey", randBytes(20))+"\n"))
	pos("age plugin identity with odd name", "age plugin identity", []byte(plugin.EncodeIdentity("my.se_cure+1", randBytes(40))+"\n"))
	pos("age key in env file", "age secret key", []byte("AGENT_VAULT_KEY="+agent.String()+"\n"))
	// Encoded and re-cased forms (issue 10 item 6).
	low := strings.ToLower(agent.String())
	pos("age key in lower case", "age secret key (other case or JSON-escaped)", []byte(low+"\n"))
	pos("hybrid key in lower case", "age secret key (other case or JSON-escaped)", []byte(strings.ToLower(hybrid.String())+"\n"))
	var esc strings.Builder
	for _, c := range agent.String() {
		fmt.Fprintf(&esc, "\\u%04x", c)
	}
	pos("age key JSON-escaped", "age secret key (other case or JSON-escaped)", []byte(`{"key": "`+esc.String()+`"}`))
	pos("age key partly JSON-escaped", "age secret key (other case or JSON-escaped)", []byte(`"`+strings.Replace(agent.String(), "-", "\\u002D", -1)+`"`))
	for _, kf := range []string{keyFile, low + "\n"} {
		for align := 0; align < 3; align++ {
			data := []byte(strings.Repeat("#", align) + kf)
			b64 := base64.StdEncoding.EncodeToString(data)
			at := strings.Index(strings.ToUpper(string(data)), "AGE-SECRET-KEY-")
			kind := fmt.Sprintf("base64 age secret key (%s, offset %d)", map[bool]string{true: "upper case", false: "lower case"}[kf == keyFile], at%3)
			pos("base64 key file at offset "+strconv.Itoa(align)+" "+kind, kind,
				[]byte("apiVersion: v1\nkind: Secret\ndata:\n  key: "+b64+"\n"))
		}
		h := hex.EncodeToString([]byte(kf))
		c := map[bool]string{true: "upper case", false: "lower case"}[kf == keyFile]
		pos("hex "+c, "hex age secret key ("+c+")", []byte(h))
		pos("upper-case hex "+c, "upper-case hex age secret key ("+c+")", []byte(strings.ToUpper(h)))
	}
	bin := append(randBytes(300), []byte(agent.String())...)
	bin = append(bin, randBytes(300)...)
	pos("age key inside binary data", "age secret key", bin)

	// PEM private keys.
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		return nil, err
	}
	pkcs8PEM := pemText("PRIVATE KEY", pkcs8)
	pos("PKCS#8 private key", "PKCS#8 private key", pkcs8PEM)
	pos("PKCS#8 with CRLF", "PKCS#8 private key", bytes.ReplaceAll(pkcs8PEM, []byte("\n"), []byte("\r\n")))
	jsonKey := `{"type":"service_account","private_key":"` + strings.ReplaceAll(string(pkcs8PEM), "\n", `\n`) + `"}`
	pos("PEM key in a JSON string", "PKCS#8 private key", []byte(jsonKey))
	pos("encrypted PKCS#8 private key", "encrypted PKCS#8 private key", pemText("ENCRYPTED PRIVATE KEY", randBytes(300)))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		return nil, err
	}
	pos("RSA private key", "RSA private key", pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		return nil, err
	}
	pos("EC private key", "EC private key", pemText("EC PRIVATE KEY", ecDER))
	pos("DSA private key", "DSA private key", pemText("DSA PRIVATE KEY", randBytes(400)))
	openssh := append([]byte("openssh-key-v1\x00"), sshWire([]byte("none"), []byte("none"), nil)...)
	openssh = append(openssh, randBytes(200)...)
	pos("OpenSSH private key", "OpenSSH private key", pemText("OPENSSH PRIVATE KEY", openssh))
	pgp := dashes + "BEGIN PGP PRIVATE KEY BLOCK" + dashes + "\n\n" +
		base64.StdEncoding.EncodeToString(randBytes(600)) + "\n=abcd\n" +
		dashes + "END PGP PRIVATE KEY BLOCK" + dashes + "\n"
	pos("PGP private key block", "PGP private key block", []byte(pgp))
	pos("other PEM private key label", "PEM private key", pemText("ANY PRIVATE KEY", randBytes(100)))
	ssh2 := strings.Repeat("-", 4) + " BEGIN SSH2 ENCRYPTED PRIVATE KEY " + strings.Repeat("-", 4) + "\n" +
		"Comment: \"rsa-key\"\n" + base64.StdEncoding.EncodeToString(randBytes(300)) + "\n"
	pos("SSH2 private key", "SSH2 private key", []byte(ssh2))
	for _, v := range []string{"2", "3"} {
		putty := "PuTTY-User-Key-File-" + v + ": ssh-ed25519\nEncryption: none\nComment: eddsa-key\n" +
			"Public-Lines: 2\n" + base64.StdEncoding.EncodeToString(randBytes(51)) + "\n" +
			"Private-Lines: 1\n" + base64.StdEncoding.EncodeToString(randBytes(48)) + "\n" +
			"Private-MAC: " + strings.Repeat("ab", 32) + "\n"
		pos("PuTTY v"+v+" private key", "PuTTY private key", []byte(putty))
	}
	pos("OpenVPN static key", "OpenVPN static key", []byte("#\n# 2048 bit OpenVPN static key\n#\n"+
		dashes+"BEGIN OpenVPN Static key V1"+dashes+"\n"+strings.Repeat("0123456789abcdef0123456789abcdef\n", 4)))

	// Negatives: age ciphertext and escrow.
	ct, err := ageEncrypt(randBytes(48), false, owner.Recipient(), agent.Recipient())
	if err != nil {
		return nil, err
	}
	neg("age ciphertext", ct)
	escrow, err := ageEncrypt([]byte(keyFile), false, owner.Recipient())
	if err != nil {
		return nil, err
	}
	neg("escrow", escrow)
	armored, err := ageEncrypt([]byte(keyFile), true, owner.Recipient())
	if err != nil {
		return nil, err
	}
	neg("armored age ciphertext of a key file", armored)
	pqct, err := ageEncrypt([]byte("s3cret"), false, hybrid.Recipient())
	if err != nil {
		return nil, err
	}
	neg("age ciphertext to a hybrid recipient", pqct)

	// Negatives: public keys and certificates.
	neg("owner.pub", []byte(owner.Recipient().String()+"\n"))
	neg("age hybrid recipient", []byte(hybrid.Recipient().String()+"\n"))
	neg("age-keygen public key comment", []byte("# public key: "+agent.Recipient().String()+"\n"))
	edPub := edPriv.Public().(ed25519.PublicKey)
	neg("ssh-ed25519 public key", []byte("ssh-ed25519 "+base64.StdEncoding.EncodeToString(sshWire([]byte("ssh-ed25519"), edPub))+" bot@example\n"))
	pkix, err := x509.MarshalPKIXPublicKey(edPub)
	if err != nil {
		return nil, err
	}
	neg("PEM public key", pemText("PUBLIC KEY", pkix))
	neg("RSA public key", pemText("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)))
	neg("certificate", pemText("CERTIFICATE", randBytes(500)))
	neg("PGP public key block", []byte(dashes+"BEGIN PGP PUBLIC KEY BLOCK"+dashes+"\n\n"+
		base64.StdEncoding.EncodeToString(randBytes(300))+"\n"+dashes+"END PGP PUBLIC KEY BLOCK"+dashes+"\n"))

	// Negatives: vault metadata and documentation.
	neg("config.yaml", []byte("format: 1\nvault_id: \"3f0c9a2b\"\nowner_verify_key: \"ed25519:"+
		base64.StdEncoding.EncodeToString(randBytes(32))+"\"\ncreated: \"2026-11-29T13:50:00Z\"\n"))
	neg("meta yaml", []byte("name: \"prod/db\"\ngroup: \"prod\"\ncreated: \"2026-11-29T13:50:00Z\"\n"+
		"rotated: \"2026-11-29T13:50:00Z\"\nexpires: \"\"\nauthorized_agents:\n  - \"bot\"\n  - \"deployer\"\n"))
	neg("manifest.yaml", []byte("agents:\n  bot:\n    groups: [prod]\n    public_key: \""+agent.Recipient().String()+"\"\n"))
	neg("group index json", []byte(`{"format":1,"group":"prod","version":3,"secrets":{"prod/db":{"enc_sha256":"`+
		strings.Repeat("ab", 32)+`","meta_sha256":"`+strings.Repeat("cd", 32)+`","version":2}}}`+"\n"))
	neg("signed root", []byte(`{"format":1,"vault_id":"3f0c","version":7,"owner":{"recipient":"`+
		owner.Recipient().String()+`","verify_key":"ed25519:AAAA"}}`+"\nsig: "+
		base64.StdEncoding.EncodeToString(randBytes(64))+"\n"))
	neg(".gitignore", []byte("*.key\n*.pem\n**/private.*\n!**/private.key.escrow\n.lock\n.pending/\n"))
	neg("docs mentioning key prefixes", []byte("A key file holds one line AGE-SECRET-KEY-1… (or AGE-SECRET-KEY-1...),\n"+
		"plugin identities look like AGE-PLUGIN-NAME-1..., and PuTTY files start with a version line.\n"+
		"Short: AGE-SECRET-KEY-1QPZRY9X8GF2\n"))
	neg("empty", nil)
	noise := make([]byte, 64<<10)
	mrand.NewChaCha8([32]byte{1, 2, 3}).Read(noise)
	neg("random binary", noise)
	// Inputs that would make a naive scan quadratic.
	neg("repeated prefixes", []byte(strings.Repeat("AGE-PLUGIN-", 1<<14)+strings.Repeat("AGE-SECRET-KEY-1QPZRY", 1<<13)+
		strings.Repeat(dashes+"BEGIN ", 1<<13)+strings.Repeat("PuTTY-User-Key-File-", 1<<13)))
	return s, nil
}

func TestScanPrivateKey(t *testing.T) {
	s := samples(t)
	for _, x := range s.pos {
		t.Run("positive/"+x.name, func(t *testing.T) {
			kind, found := ScanPrivateKey(x.data)
			if !found || kind != x.kind {
				t.Errorf("ScanPrivateKey = %q, %v; want %q, true", kind, found, x.kind)
			}
		})
	}
	for _, x := range s.neg {
		t.Run("negative/"+x.name, func(t *testing.T) {
			if kind, found := ScanPrivateKey(x.data); found {
				t.Errorf("ScanPrivateKey = %q, true; want no match", kind)
			}
		})
	}
}

// TestScanPrivateKeyEveryKind checks that every pattern has a positive
// sample, so that no kind goes untested (here and through the hook).
func TestScanPrivateKeyEveryKind(t *testing.T) {
	covered := map[string]bool{}
	for _, x := range samples(t).pos {
		covered[x.kind] = true
	}
	for _, p := range keyPatterns {
		if !covered[p.Kind] {
			t.Errorf("no positive sample for %q", p.Kind)
		}
	}
}

// TestKeyPatternsPortable enforces the rules of keyPattern: the portable
// subset of syntax, shell-quotable, and not matching its own source, the
// generated hook, or any file of this package.
func TestKeyPatternsPortable(t *testing.T) {
	allowed := regexp.MustCompile(`^[A-Za-z0-9 #:._+\-{},()|?\[\]]+$`)
	seen := map[string]bool{}
	for _, p := range keyPatterns {
		// A backslash only as [\\], which is a backslash in both syntaxes.
		if !allowed.MatchString(strings.ReplaceAll(p.ERE, `[\\]`, "[]")) {
			t.Errorf("%s: pattern %q uses syntax outside the POSIX ERE / RE2 common subset", p.Kind, p.ERE)
		}
		if strings.ContainsAny(p.Kind, "'\n") || p.Kind == "" {
			t.Errorf("kind %q cannot be shell-quoted", p.Kind)
		}
		if seen[p.Kind] {
			t.Errorf("duplicate kind %q", p.Kind)
		}
		seen[p.Kind] = true
		if _, err := regexp.Compile(p.ERE); err != nil {
			t.Errorf("%s: %v", p.Kind, err)
		}
		if kind, found := ScanPrivateKey([]byte(p.ERE)); found {
			t.Errorf("pattern %q matches itself (as %s)", p.ERE, kind)
		}
	}
	if kind, found := ScanPrivateKey(hookScript(ChainedHookName)); found {
		t.Errorf("the generated hook is flagged as %s", kind)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if kind, found := ScanPrivateKey(data); found {
			t.Errorf("source file %s is flagged as %s", f, kind)
		}
	}
}

// TestKeyPatternsAgreeWithGrep runs the patterns through the system's
// grep -E, as the hook does, and checks it agrees with ScanPrivateKey on
// every sample, pattern by pattern for the positive ones.
func TestKeyPatternsAgreeWithGrep(t *testing.T) {
	if _, err := exec.LookPath("grep"); err != nil {
		t.Fatal("grep is not installed; the pre-commit hook needs it")
	}
	dir := t.TempDir()
	grep := func(file string, patterns ...string) bool {
		args := []string{"-E", "-q"}
		for _, p := range patterns {
			args = append(args, "-e", p)
		}
		cmd := exec.Command("grep", append(args, file)...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		err := cmd.Run()
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 1 {
			return false
		}
		if err != nil {
			t.Fatalf("grep: %v", err)
		}
		return true
	}
	var all []string
	ere := map[string]string{}
	for _, p := range keyPatterns {
		all = append(all, p.ERE)
		ere[p.Kind] = p.ERE
	}
	s := samples(t)
	for i, x := range append(append([]sample(nil), s.pos...), s.neg...) {
		f := filepath.Join(dir, "sample"+strconv.Itoa(i))
		if err := os.WriteFile(f, x.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, goFound := ScanPrivateKey(x.data)
		if got := grep(f, all...); got != goFound {
			t.Errorf("%s: grep found=%v, ScanPrivateKey found=%v", x.name, got, goFound)
		}
		if x.kind != "" && !grep(f, ere[x.kind]) {
			t.Errorf("%s: grep -E %q does not match", x.name, ere[x.kind])
		}
	}
}

func FuzzScanPrivateKey(f *testing.F) {
	s := samples(f)
	for _, x := range append(append([]sample(nil), s.pos...), s.neg...) {
		if len(x.data) < 4096 {
			f.Add(x.data)
		}
	}
	single := make([]*regexp.Regexp, len(keyPatterns))
	for i, p := range keyPatterns {
		single[i] = regexp.MustCompile(p.ERE)
	}
	kinds := map[string]bool{}
	for _, p := range keyPatterns {
		kinds[p.Kind] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, found := ScanPrivateKey(data)
		if found != (kind != "") {
			t.Fatalf("found=%v with kind %q", found, kind)
		}
		if found && !kinds[kind] {
			t.Fatalf("unknown kind %q", kind)
		}
		any := false
		for _, re := range single {
			if re.Match(data) {
				any = true
				break
			}
		}
		if any != found {
			t.Fatalf("combined pattern found=%v, individual patterns found=%v", found, any)
		}
	})
}
