package vault

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// Plugin-held keys (docs/format.md section 3.7): an identity AGE-PLUGIN-NAME-1… whose secret never leaves
// a device (age-plugin-yubikey, age-plugin-tpm, age-plugin-se, …), used through the age plugin protocol by
// running age-plugin-NAME from PATH; and recipients age1NAME1… of such plugins.

// pluginUI is how age plugins talk to the user (a PIN prompt, "touch your key"): o's PluginUI, else one
// that shows messages through o's Warn and refuses questions.
func (o *KeyOptions) pluginUI() *plugin.ClientUI {
	if o != nil && o.PluginUI != nil {
		return o.PluginUI
	}
	return &plugin.ClientUI{
		DisplayMessage: func(name, msg string) error { o.warn(name + " plugin: " + msg); return nil },
		RequestValue: func(name, prompt string, _ bool) (string, error) {
			return "", fmt.Errorf("the %s plugin asks %q and there is no terminal to answer", name, prompt)
		},
		Confirm: func(name, prompt, _, _ string) (bool, error) {
			return false, fmt.Errorf("the %s plugin asks %q and there is no terminal to answer", name, prompt)
		},
		WaitTimer: func(name string) { o.warn("waiting for the " + name + " plugin (touch the device if it blinks)") },
	}
}

var (
	// recipientComment is where plugin identity files state their recipient: "# public key: age1…"
	// (age-keygen, age-plugin-se) or "#    Recipient: age1…" (age-plugin-yubikey, age-plugin-tpm).
	// Compiled on first use: only plugin key files need them.
	recipientComment = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^#\s*(?i:public key|recipient):\s*(age1\S+)\s*$`)
	})
	// signingKeyLine is a plugin-held owner's sealed signing key (section 3.7).
	signingKeyLine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^# agent-vault-owner-signing-key: (\S+) (\S+)\s*$`)
	})
)

// maxPluginRecipient bounds a plugin recipient's length.
const maxPluginRecipient = 1024

// validPluginRecipient reports whether s is an age plugin recipient as the repository must spell it:
// lower case, Bech32 with the human-readable part "age1" and a plugin name, at most 1024 characters. The
// name "pq" is not a plugin: age1pq1… is age's own hybrid post-quantum recipient.
func validPluginRecipient(s string) bool {
	if len(s) > maxPluginRecipient || strings.ToLower(s) != s {
		return false
	}
	name, _, err := plugin.ParseRecipient(s)
	return err == nil && name != "pq"
}

// pluginIdentity is a plugin identity whose unwraps run one at a time: a device serves one request at once.
type pluginIdentity struct{ *plugin.Identity }

var pluginMu sync.Mutex

func (p pluginIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	pluginMu.Lock()
	defer pluginMu.Unlock()
	fk, err := p.Identity.Unwrap(stanzas)
	var nf *plugin.NotFoundError
	if errors.As(err, &nf) {
		return nil, newErr(KindVaultNotFound, "the age plugin age-plugin-%s is not installed (not on PATH)", nf.Name)
	}
	if err != nil && !errors.Is(err, age.ErrIncorrectIdentity) {
		// The plugin or its device failed (unplugged, wrong PIN): the key cannot be used right now.
		return nil, wrapErr(KindVaultNotFound, err, "the %s plugin cannot use its key", p.Name())
	}
	return fk, err
}

// parsePluginKey completes a key whose identity line is a plugin identity: its recipient comes from the
// file's recipient comment, its sealed signing key from its signing-key line, if any.
func parsePluginKey(k *Key, idLine string, lines []string) error {
	id, err := plugin.NewIdentity(idLine, k.opts.pluginUI())
	if err != nil {
		return newErr(KindVaultNotFound, "key %s: malformed age plugin identity", k.Source)
	}
	k.Plugin, k.Identity = id, pluginIdentity{id}
	for _, line := range lines {
		if m := recipientComment().FindStringSubmatch(line); m != nil && k.Recipient == "" {
			k.Recipient = strings.ToLower(m[1])
		}
		if m := signingKeyLine().FindStringSubmatch(line); m != nil {
			if k.sealedSigner != nil {
				return newErr(KindVaultNotFound, "key %s: more than one agent-vault-owner-signing-key line", k.Source)
			}
			if _, err := ParseVerifyKey(m[1]); err != nil {
				return newErr(KindVaultNotFound, "key %s: malformed agent-vault-owner-signing-key line", k.Source)
			}
			sealed, err := base64.StdEncoding.Strict().DecodeString(m[2])
			if err != nil {
				return newErr(KindVaultNotFound, "key %s: malformed agent-vault-owner-signing-key line", k.Source)
			}
			k.sealedSigner = &sealedSigner{verifyKey: m[1], sealed: sealed}
		}
	}
	if k.Recipient == "" {
		return newErr(KindVaultNotFound, "key %s: a plugin identity needs its recipient on a comment line '# public key: age1…' (the plugin prints it when it makes the key)", k.Source)
	}
	if _, ok := validRecipientOf(k.Recipient); !ok {
		return newErr(KindVaultNotFound, "key %s: the recipient comment does not hold an age recipient", k.Source)
	}
	return nil
}

// sealedSigner is a plugin-held owner's signing key: its verify key and its Ed25519 seed, age-encrypted to
// the owner's recipient.
type sealedSigner struct {
	verifyKey string
	sealed    []byte
	once      sync.Once
	key       ed25519.PrivateKey
	err       error
}

// SigningKey returns the owner's Ed25519 signing key for k: derived from its identity (section 3.4), or, for a plugin identity, decrypted through the plugin from the key file's sealed signing key
// and checked against the verify key beside it (section 3.7). It is unsealed once per Key.
func (k *Key) SigningKey() (ed25519.PrivateKey, error) {
	if k.Plugin == nil {
		return DeriveSigningKey(k.Identity)
	}
	s := k.sealedSigner
	if s == nil {
		return nil, newErr(KindVaultNotFound, "it is held by the %s plugin and has no agent-vault-owner-signing-key line (run 'agent-vault init' with it as <home>/owner.key to create one)", k.Plugin.Name())
	}
	s.once.Do(func() { s.key, s.err = s.unseal(k) })
	return s.key, s.err
}

func (s *sealedSigner) unseal(k *Key) (ed25519.PrivateKey, error) {
	seed, err := decrypt(s.sealed, k.Identity)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "the %s plugin could not unseal the owner signing key", k.Plugin.Name())
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, newErr(KindVaultNotFound, "the sealed owner signing key is not an Ed25519 seed")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if FormatVerifyKey(priv.Public().(ed25519.PublicKey)) != s.verifyKey {
		return nil, newErr(KindVaultNotFound, "the sealed owner signing key does not match the verify key beside it")
	}
	return priv, nil
}

// ownerVerifyKey returns the verify key of k as an owner without unsealing anything: derived from its
// identity, or the verify key of a plugin key's signing-key line.
func (k *Key) ownerVerifyKey() (string, error) {
	if k.Plugin != nil && k.sealedSigner != nil {
		return k.sealedSigner.verifyKey, nil
	}
	priv, err := k.SigningKey()
	if err != nil {
		return "", err
	}
	return FormatVerifyKey(priv.Public().(ed25519.PublicKey)), nil
}

// NeedsSigningKey reports whether k is a plugin-held key without a sealed signing key, which
// AddSigningKey gives it.
func (k *Key) NeedsSigningKey() bool { return k.Plugin != nil && k.sealedSigner == nil }

// AddSigningKey gives the plugin-held key file at path a random owner signing key, sealed to the key's
// recipient through its plugin (section 3.7): it checks that the plugin unseals it again, then appends
// the signing-key line to the file atomically (mode 0600). It returns the key as now loaded, with opts.
func AddSigningKey(path string, opts *KeyOptions) (*Key, error) {
	real, data, err := readKeyForRewrite(path)
	if err != nil {
		return nil, err
	}
	if IsProtectedKeyFile(data) {
		return nil, newErr(KindUsage, "key %s is passphrase-protected; a plugin-held key needs no passphrase", path)
	}
	k, err := ParseKeyFile(data, path, opts)
	if err != nil {
		return nil, err
	}
	if !k.NeedsSigningKey() {
		return k, nil
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	defer clear(seed)
	rcpt, err := parseRecipient(k.Recipient, opts)
	if err != nil {
		return nil, err
	}
	sealed, err := encrypt(seed, []age.Recipient{rcpt})
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s: cannot seal a signing key to %s", path, k.Recipient)
	}
	verifyKey := FormatVerifyKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	k.sealedSigner = &sealedSigner{verifyKey: verifyKey, sealed: sealed}
	if _, err := k.SigningKey(); err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "key %s: the signing key sealed to the plugin does not unseal; nothing was changed", path)
	}
	var b bytes.Buffer
	b.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "# agent-vault owner signing key, sealed to the key above (the verify key, then the sealed Ed25519 seed):\n")
	fmt.Fprintf(&b, "# agent-vault-owner-signing-key: %s %s\n", verifyKey, base64.StdEncoding.EncodeToString(sealed))
	if err := fsutil.WriteFileAtomic(real, b.Bytes(), 0o600); err != nil {
		return nil, wrapErr(KindError, err, "cannot write %s; nothing was changed", path)
	}
	return k, nil
}

// newPluginRecipient returns the age.Recipient of a plugin recipient, which encrypts through its plugin,
// talking to the user through opts.
func newPluginRecipient(r string, opts *KeyOptions) (age.Recipient, error) {
	rc, err := plugin.NewRecipient(r, opts.pluginUI())
	if err != nil {
		return nil, newErr(KindIntegrity, "malformed plugin recipient %s", r)
	}
	return pluginRecipient{rc}, nil
}

// pluginRecipient names a missing plugin in its error.
type pluginRecipient struct{ *plugin.Recipient }

func (p pluginRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, err := p.Recipient.Wrap(fileKey)
	var nf *plugin.NotFoundError
	if errors.As(err, &nf) {
		return nil, newErr(KindVaultNotFound, "the age plugin age-plugin-%s is not installed (not on PATH); it is needed to encrypt to %s", nf.Name, p.Recipient.String())
	}
	return s, err
}

// checkOwnerCustody warns when <home>/owner.key is a plain key file (neither passphrase-protected nor held
// by a plugin) on a machine where a better option is configured (README, "Where to keep keys"):
//
//   - an age plugin is installed: an executable file named age-plugin-* in a directory of PATH;
//   - a passphrase source is configured: AGENT_VAULT_PASSPHRASE_FD is set;
//   - another key file of the home (agents/*.key, agents/*/*.key) is passphrase-protected or plugin-held.
//
// It reads the key file's bytes only: nothing is decrypted and no plugin is run.
func checkOwnerCustody(rp *reporter, home string) {
	p := filepath.Join(home, "owner.key")
	data, err := os.ReadFile(p)
	if err != nil || IsProtectedKeyFile(data) || hasPluginIdentity(data) {
		return
	}
	clear(data)
	if why := custodyConfigured(home); why != "" {
		rp.add("warning", p, "the owner key is a plain file, but %s: protect it with 'agent-vault key protect' (see README, Where to keep keys)", why)
	}
}

// custodyConfigured says which custody option this machine has configured, or "".
func custodyConfigured(home string) string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "age-plugin-*"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return "the age plugin " + filepath.Base(m) + " is installed"
			}
		}
	}
	if os.Getenv("AGENT_VAULT_PASSPHRASE_FD") != "" {
		return "AGENT_VAULT_PASSPHRASE_FD is set"
	}
	keys, _ := filepath.Glob(filepath.Join(home, "agents", "*.key"))
	more, _ := filepath.Glob(filepath.Join(home, "agents", "*", "*.key"))
	for _, k := range append(keys, more...) {
		data, err := os.ReadFile(k)
		if err == nil && (IsProtectedKeyFile(data) || hasPluginIdentity(data)) {
			return "the key file " + k + " is protected or held by a plugin"
		}
		clear(data)
	}
	return ""
}

// hasPluginIdentity reports whether key file content has a plugin identity line.
func hasPluginIdentity(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if pluginIdentityLine(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}
