package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/home"
)

// KeyOptions are how the package reaches the person running the program while it loads and uses a key:
// the passphrase of a protected key file, an age plugin's messages and questions, and one-line notices.
// A Key keeps the KeyOptions it was loaded with, and what is done with the key speaks through them:
// loading it, opening a vault with it (the notice of trust on first use), decrypting through its plugin,
// and an owner's encrypting to plugin recipients. A nil *KeyOptions, or a nil field, gives the default
// that the field states.
type KeyOptions struct {
	// Warn receives one-line notices meant for a human (trust on first use, an age plugin's messages). It
	// is never given a secret. Default: each notice is written to standard error as "agent-vault: " + msg.
	Warn func(msg string)
	// Passphrase returns the passphrase of the passphrase-protected key file named source (a path,
	// "--key" or "AGENT_VAULT_KEY"); the package clears the returned slice after use. Default: none, and
	// loading a protected key fails with KindVaultNotFound.
	Passphrase func(source string) ([]byte, error)
	// PluginUI is how age plugins talk to the user (a PIN prompt, "touch your key"). Default: messages
	// go to Warn, and questions are refused.
	PluginUI *plugin.ClientUI
}

// warn gives msg to o's Warn, or writes it to standard error.
func (o *KeyOptions) warn(msg string) {
	if o != nil && o.Warn != nil {
		o.Warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, "agent-vault: "+msg)
}

// Key is an age identity loaded from a key file, with the trust anchors the file pins, if any, and the
// KeyOptions it was loaded with.
type Key struct {
	// Identity is an *age.X25519Identity (classic) or an *age.HybridIdentity (ML-KEM-768 + X25519,
	// docs/format.md section 3.1).
	Identity  age.Identity
	Recipient string // the identity's age1… or age1pq1… recipient
	Source    string // where the key came from, for messages: a path, "AGENT_VAULT_KEY" or "--key"
	// Pinned anchors (docs/format.md section 3.2); both empty for an unpinned key.
	PinVaultID   string
	PinVerifyKey string
	AgentName    string // the agent the file says it belongs to, "" if unsaid
	// IsOwner is true when the key is this machine's owner key (<home>/owner.key).
	IsOwner bool
	// Plugin is set for an identity held by an age plugin (AGE-PLUGIN-NAME-1…, docs/format.md section
	// 3.7); Identity then decrypts through the plugin.
	Plugin *plugin.Identity
	// Protected is true when the key file was passphrase-protected (section 3.6).
	Protected bool
	// sealedSigner is a plugin-held owner's signing key (section 3.7), nil otherwise.
	sealedSigner *sealedSigner
	// opts is what the key was loaded with; nil for the defaults.
	opts *KeyOptions
}

// Pinned reports whether the key file carries a vault id and owner verify key.
func (k *Key) Pinned() bool { return k.PinVaultID != "" }

// Key files are parsed on every read, so their lines are matched by hand: compiling regular expressions
// at start-up was a measurable part of a get. keyline_test.go checks each matcher against the regular
// expression it stands for.

// asciiSpace is what RE2's \s matches.
const asciiSpace = " \t\n\f\r"

// pinLine matches `^# agent-vault-(agent|vault-id|owner-verify-key): (\S+)\s*$`.
func pinLine(line string) (name, value string, ok bool) {
	rest, ok := strings.CutPrefix(line, "# agent-vault-")
	if !ok {
		return "", "", false
	}
	name, rest, ok = strings.Cut(rest, ": ")
	if !ok || (name != "agent" && name != "vault-id" && name != "owner-verify-key") {
		return "", "", false
	}
	value = strings.TrimRight(rest, asciiSpace)
	if value == "" || strings.ContainsAny(value, asciiSpace) {
		return "", "", false
	}
	return name, value, true
}

// identityLine matches `^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$`.
func identityLine(t string) bool {
	rest, ok := strings.CutPrefix(t, "AGE-SECRET-KEY-")
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(strings.TrimPrefix(rest, "PQ-"), "1")
	return ok && rest != "" && allIn(rest, isUpperAlnum)
}

// pluginIdentityLine matches `^AGE-PLUGIN-[0-9A-Z+._-]+-1[0-9A-Z]+$`: the data part has no "-", so the
// separator is the last "-".
func pluginIdentityLine(t string) bool {
	rest, ok := strings.CutPrefix(t, "AGE-PLUGIN-")
	i := strings.LastIndexByte(rest, '-')
	if !ok || i <= 0 {
		return false
	}
	name, data, ok := rest[:i], rest[i+1:], true
	data, ok = strings.CutPrefix(data, "1")
	return ok && data != "" && allIn(data, isUpperAlnum) &&
		allIn(name, func(c byte) bool { return isUpperAlnum(c) || strings.IndexByte("+._-", c) >= 0 })
}

func isUpperAlnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' }

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// ParseKeyFile parses key file content (docs/format.md section 3.2). source names it in messages. A
// passphrase-protected file is decrypted with the passphrase opts gives (section 3.6); nil opts are the
// defaults of KeyOptions.
func ParseKeyFile(data []byte, source string, opts *KeyOptions) (*Key, error) {
	if IsProtectedKeyFile(data) {
		return parseProtectedKeyFile(data, source, opts)
	}
	k := &Key{Source: source, opts: opts}
	var idLine string
	pins := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if name, value, ok := pinLine(line); ok {
			if old, ok := pins[name]; ok && old != value {
				return nil, newErr(KindVaultNotFound, "key %s: conflicting %q lines", source, name)
			}
			pins[name] = value
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if !identityLine(t) && !pluginIdentityLine(t) {
			return nil, newErr(KindVaultNotFound, "key %s: a line is neither a comment nor an age identity", source)
		}
		if idLine != "" {
			return nil, newErr(KindVaultNotFound, "key %s: more than one identity", source)
		}
		idLine = t
	}
	if idLine == "" {
		return nil, newErr(KindVaultNotFound, "key %s: no AGE-SECRET-KEY-1 or AGE-SECRET-KEY-PQ-1 identity found", source)
	}
	var err error
	if pluginIdentityLine(idLine) {
		if err := parsePluginKey(k, idLine, lines); err != nil {
			return nil, err
		}
	} else if k.Identity, k.Recipient, err = parseIdentity(idLine); err != nil {
		return nil, newErr(KindVaultNotFound, "key %s: malformed age identity", source)
	}
	k.PinVaultID, k.PinVerifyKey, k.AgentName = pins["vault-id"], pins["owner-verify-key"], pins["agent"]
	if (k.PinVaultID == "") != (k.PinVerifyKey == "") {
		return nil, newErr(KindVaultNotFound, "key %s: has only one of the vault-id and owner-verify-key pins", source)
	}
	if k.PinVerifyKey != "" {
		if _, err := ParseVerifyKey(k.PinVerifyKey); err != nil {
			return nil, wrapErr(KindVaultNotFound, err, "key %s: bad owner-verify-key pin", source)
		}
	}
	return k, nil
}

// LoadKeyFile reads and parses a key file (ParseKeyFile), refusing one that group or others can read or
// write, and one that is not a regular file (a FIFO or a device fails at once instead of blocking). A
// leading "~/" is the user's home directory.
func LoadKeyFile(path string, opts *KeyOptions) (*Key, error) {
	path = expandHome(path)
	data, err := readKeyPath(path, path)
	if err != nil {
		return nil, err
	}
	return ParseKeyFile(data, path, opts)
}

// maxKeyFile bounds a key file.
const maxKeyFile = 64 << 10

// readKeyPath reads the key file at path; name is how messages call it.
func readKeyPath(path, name string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newErr(KindVaultNotFound, "key file %s does not exist", name)
		}
		return nil, wrapErr(KindVaultNotFound, err, "cannot read key file %s", name)
	}
	if !fi.Mode().IsRegular() {
		return nil, newErr(KindVaultNotFound, "key file %s is not a regular file", name)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, newErr(KindVaultNotFound, "key file %s is accessible by others (mode %04o); run: chmod 600 %s", name, fi.Mode().Perm(), name)
	}
	// Opened without blocking and checked again: the path may have been replaced by a FIFO meanwhile.
	f, err := fsutil.OpenNoBlock(path)
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "cannot read key file %s", name)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, newErr(KindVaultNotFound, "key file %s changed while it was read", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, wrapErr(KindVaultNotFound, err, "cannot read key file %s", name)
	}
	if len(data) > maxKeyFile {
		return nil, newErr(KindVaultNotFound, "key file %s is larger than %d bytes", name, maxKeyFile)
	}
	return data, nil
}

// isKeyContent reports whether a key value given as a string (--key, AGENT_VAULT_KEY, the SDKs' key_str)
// is key-file content rather than a path (docs/format.md section 3.2): it holds "AGE-SECRET-KEY-" in any
// letter case, or a line break. The Python and Node SDKs apply the same rule.
func isKeyContent(s string) bool {
	return strings.Contains(strings.ToUpper(s), "AGE-SECRET-KEY-") || strings.ContainsAny(s, "\r\n")
}

// loadKeyValue loads the key file named by a string value from source (--key or AGENT_VAULT_KEY). A value
// that names no file is never repeated in the error: it may be a mangled key.
func loadKeyValue(value, source string, opts *KeyOptions) (*Key, error) {
	path := expandHome(value)
	if _, err := os.Stat(path); err != nil {
		return nil, newErr(KindVaultNotFound, "%s is neither age key content nor the path of an existing key file (the value is not shown: it may be key material)", source)
	}
	data, err := readKeyPath(path, path)
	if err != nil {
		return nil, err
	}
	return ParseKeyFile(data, path, opts)
}

// ResolveKey finds the key to use: explicit, then $AGENT_VAULT_KEY, then <home>/owner.key. explicit and
// $AGENT_VAULT_KEY are key file content when they hold "AGE-SECRET-KEY-" in any letter case or a line
// break, and the path of a key file otherwise (docs/format.md section 3.2); no error repeats a value that
// names no file. It marks the key IsOwner when it is this machine's owner key. The key is loaded with
// opts (nil: the defaults of KeyOptions).
func ResolveKey(explicit string, opts *KeyOptions) (*Key, error) {
	var k *Key
	var err error
	switch env := os.Getenv("AGENT_VAULT_KEY"); {
	case explicit != "" && isKeyContent(explicit):
		k, err = ParseKeyFile([]byte(explicit), "--key", opts)
	case explicit != "":
		k, err = loadKeyValue(explicit, "--key", opts)
	case isKeyContent(env):
		k, err = ParseKeyFile([]byte(env), "AGENT_VAULT_KEY", opts)
	case env != "":
		k, err = loadKeyValue(env, "AGENT_VAULT_KEY", opts)
	default:
		home, herr := homeDir()
		if herr != nil {
			return nil, herr
		}
		p := filepath.Join(home, "owner.key")
		if _, serr := os.Stat(p); serr != nil {
			return nil, newErr(KindVaultNotFound, "no key: pass --key, set AGENT_VAULT_KEY, or create the owner key with 'agent-vault init'")
		}
		k, err = LoadKeyFile(p, opts)
		if err == nil {
			k.IsOwner = true
		}
		return k, err
	}
	if err != nil {
		return nil, err
	}
	k.IsOwner = isMachineOwnerKey(k)
	return k, nil
}

// isMachineOwnerKey reports whether k is the identity stored in <home>/owner.key.
func isMachineOwnerKey(k *Key) bool {
	if k.Pinned() {
		return false
	}
	home, err := homeDir()
	if err != nil {
		return false
	}
	p := filepath.Join(home, "owner.key")
	if data, err := os.ReadFile(p); err == nil && IsProtectedKeyFile(data) {
		// Not decrypted (that would ask for its passphrase): the owner key only when given by its path.
		a, errA := os.Stat(p)
		b, errB := os.Stat(expandHome(k.Source))
		return errA == nil && errB == nil && os.SameFile(a, b)
	}
	owner, err := LoadKeyFile(p, k.opts)
	return err == nil && owner.Recipient == k.Recipient
}

// homeDir is the agent-vault home (home.Dir); a user without one has no key (KindVaultNotFound).
func homeDir() (string, error) {
	h, err := home.Dir()
	if errors.As(err, new(*home.NoHomeError)) {
		return "", &Error{Kind: KindVaultNotFound, Err: err}
	}
	return h, err
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if uh, err := os.UserHomeDir(); err == nil {
			return filepath.Join(uh, rest)
		}
	}
	return p
}

// NewOwnerKeyFile returns the content of a fresh classic (X25519) owner key file.
func NewOwnerKeyFile() ([]byte, error) { return NewOwnerKeyFileOf(KeyX25519) }

// NewOwnerKeyFileOf returns the content of a fresh owner key file of the given kind.
func NewOwnerKeyFileOf(kind KeyKind) ([]byte, error) {
	id, err := generateIdentity(kind)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# agent-vault owner key: decrypts every secret and signs every vault it owns. Back it up.\n")
	fmt.Fprintf(&b, "# created: %s\n# public key: %s\n%s\n", now(), id.recipient, id.secret)
	return b.Bytes(), nil
}

// agentKeyFile returns the content of an agent key file with its pins, for an *age.X25519Identity or an
// *age.HybridIdentity.
func agentKeyFile(id age.Identity, agent, vaultID, verifyKey string) []byte {
	secret, recipient := identityStrings(id)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# agent-vault agent key\n# created: %s\n# public key: %s\n", now(), recipient)
	fmt.Fprintf(&b, "# agent-vault-agent: %s\n# agent-vault-vault-id: %s\n# agent-vault-owner-verify-key: %s\n", agent, vaultID, verifyKey)
	fmt.Fprintf(&b, "%s\n", secret)
	return b.Bytes()
}

// now is the current time in the format's time syntax; tests may replace it.
var now = func() string { return time.Now().UTC().Format(time.RFC3339) }
