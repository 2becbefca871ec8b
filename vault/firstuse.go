package vault

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// First-use trust bound to the key and to the repository (docs/format.md section 6.2).
//
// <home>/known_vaults holds three kinds of lines, each appended once and never rewritten:
//
//	<vault_id> <verify_key>                     the vault's owner key, trusted on first use
//	key <recipient> <vault_id> <verify_key>     the one vault a key without pins trusts
//	repo <vault_id> <directory>                 the vault a repository's .agent-vault directory held
//
// A pushed vault with a new id is therefore not a new first use: the key's line names another vault
// (a configuration error, exit 3), and the directory's line another vault (an integrity error, exit 6).

// keyBinding is the vault a key without pins trusts.
type keyBinding struct{ vaultID, verifyKey string }

// knownVaults is the parsed content of known_vaults. Unknown and malformed lines are ignored, so that
// a newer line kind never breaks an older reader; for a repeated key the first line counts.
type knownVaults struct {
	owners map[string]string     // vault id -> verify key
	keys   map[string]keyBinding // recipient -> vault
	repos  map[string]string     // directory -> vault id
}

// parseKnownVaults parses known_vaults content. It never fails: the file is the reader's own.
func parseKnownVaults(data []byte) *knownVaults {
	k := &knownVaults{owners: map[string]string{}, keys: map[string]keyBinding{}, repos: map[string]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if rest, ok := strings.CutPrefix(line, "repo "); ok {
			id, dir, ok := strings.Cut(rest, " ")
			if ok && validVaultID(id) && filepath.IsAbs(dir) {
				if _, seen := k.repos[dir]; !seen {
					k.repos[dir] = id
				}
			}
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "key" && validVaultID(f[2]):
			if _, seen := k.keys[f[1]]; !seen {
				k.keys[f[1]] = keyBinding{f[2], f[3]}
			}
		case len(f) == 2 && validVaultID(f[0]):
			if _, seen := k.owners[f[0]]; !seen {
				k.owners[f[0]] = f[1]
			}
		}
	}
	return k
}

func knownVaultsPath(home string) string { return filepath.Join(home, "known_vaults") }

func loadKnownVaults(home string) (*knownVaults, error) {
	data, err := os.ReadFile(knownVaultsPath(home))
	if err != nil && !errNotExist(err) {
		return nil, wrapErr(KindError, err, "cannot read known_vaults")
	}
	return parseKnownVaults(data), nil
}

// dirsOf returns the directories known to have held vaultID: the repo lines of known_vaults and the
// owner's vault_paths.
func dirsOf(home, vaultID string, k *knownVaults) []string {
	var out []string
	for dir, id := range k.repos {
		if id == vaultID {
			out = append(out, dir)
		}
	}
	data, _ := os.ReadFile(filepath.Join(home, "vault_paths"))
	for _, line := range strings.Split(string(data), "\n") {
		if id, dir, ok := strings.Cut(line, " "); ok && id == vaultID {
			out = append(out, dir)
		}
	}
	return out
}

// canonicalDir is the form in which trust records name a vault directory: absolute, symbolic links
// resolved (every reader writes the same form).
func canonicalDir(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	}
	if a, err := filepath.Abs(dir); err == nil {
		dir = a
	}
	return dir
}

// trustDir is the directory trust records name for v: its Origin when it reads a copy.
func (v *Vault) trustDir() string {
	if v.Origin != "" {
		return canonicalDir(v.Origin)
	}
	return canonicalDir(v.Dir)
}

// firstUse is what a key without pins may trust in a repository: the vault id and owner verify key that
// config.yaml publishes, unless this machine's records say otherwise. It returns whether this is the
// first use of that vault on this machine (nothing recorded for it yet).
func firstUse(home, dir, recipient, vaultID, verifyKey string) (first bool, err error) {
	k, err := loadKnownVaults(home)
	if err != nil {
		return false, err
	}
	if known, ok := k.owners[vaultID]; ok && known != verifyKey {
		return false, newErr(KindIntegrity, "vault %s now publishes owner verify key %s, but %s was trusted on first use; refusing", vaultID, verifyKey, known)
	}
	if held, ok := k.repos[dir]; ok && held != vaultID {
		return false, newErr(KindIntegrity, "%s held vault %s when this machine first trusted it, but now holds vault %s: the repository was replaced; "+
			"if its owner re-created the vault deliberately, delete the lines naming %s from %s and read again, or use a pinned key file (agent-vault pins)",
			dir, held, vaultID, dir, knownVaultsPath(home))
	}
	if b, ok := k.keys[recipient]; ok && (b.vaultID != vaultID || b.verifyKey != verifyKey) {
		where := "a directory this machine does not know"
		if dirs := dirsOf(home, b.vaultID, k); len(dirs) > 0 {
			where = strings.Join(dirs, ", ")
		}
		if b.vaultID == vaultID {
			return false, newErr(KindIntegrity, "vault %s now publishes owner verify key %s, but this key trusted %s on first use; refusing", vaultID, verifyKey, b.verifyKey)
		}
		return false, newErr(KindVaultNotFound, "this key (%s) belongs to vault %s (%s), but %s holds vault %s; use that vault's key, or read vault %s there. "+
			"To trust vault %s with this key deliberately, delete the line 'key %s ...' from %s",
			recipient, b.vaultID, where, dir, vaultID, b.vaultID, vaultID, recipient, knownVaultsPath(home))
	}
	_, known := k.owners[vaultID]
	return !known, nil
}

// recordFirstUse appends the lines of known_vaults that trusting vaultID with recipient in dir needs
// and that are not there yet.
func recordFirstUse(home, dir, recipient, vaultID, verifyKey string) error {
	k, err := loadKnownVaults(home)
	if err != nil {
		return err
	}
	var add bytes.Buffer
	if _, ok := k.owners[vaultID]; !ok {
		fmt.Fprintf(&add, "%s %s\n", vaultID, verifyKey)
	}
	if _, ok := k.keys[recipient]; !ok && recipient != "" {
		fmt.Fprintf(&add, "key %s %s %s\n", recipient, vaultID, verifyKey)
	}
	if _, ok := k.repos[dir]; !ok && !strings.ContainsAny(dir, "\r\n") {
		fmt.Fprintf(&add, "repo %s %s\n", vaultID, dir)
	}
	if add.Len() == 0 {
		return nil
	}
	return appendKnownVaults(home, add.Bytes())
}

func appendKnownVaults(home string, lines []byte) error {
	if err := fsutil.MkdirPrivate(home); err != nil {
		return err
	}
	f, err := os.OpenFile(knownVaultsPath(home), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// wrongVault is the error for a key pinned to (or trusting) vault want used on a directory dir that
// holds another, self-consistent vault got: a configuration mistake (exit 3) that names the key's vault
// and its directory when this machine knows it, unless this machine knows dir as the key's own vault,
// which was then replaced (an integrity error).
func wrongVault(home, dir, want, got string) error {
	k, err := loadKnownVaults(home)
	if err != nil {
		return err
	}
	dirs := dirsOf(home, want, k)
	for _, d := range dirs {
		if canonicalDir(d) == dir {
			return newErr(KindIntegrity, "%s held vault %s, the vault this key is pinned to, but its signed state now belongs to vault %s: the repository was replaced", dir, want, got)
		}
	}
	where := "its directory is not known on this machine"
	if len(dirs) > 0 {
		where = "at " + strings.Join(dirs, ", ")
	}
	return newErr(KindVaultNotFound, "this key belongs to vault %s (%s), but %s holds vault %s: use the key of vault %s here, or read vault %s where it is", want, where, dir, got, got, want)
}
