package vault

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// Trust records kept in the agent-vault home (docs/format.md sections 6.2 and 6.3).

// knownVaultKey returns the verify key recorded for vaultID in <home>/known_vaults, or "".
func knownVaultKey(home, vaultID string) (string, error) {
	f, err := os.Open(filepath.Join(home, "known_vaults"))
	if err != nil {
		if errNotExist(err) {
			return "", nil
		}
		return "", wrapErr(KindError, err, "cannot read known_vaults")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == vaultID {
			return fields[1], nil
		}
	}
	return "", sc.Err()
}

// rememberVault appends vaultID's verify key to known_vaults unless it is already there.
func rememberVault(home, vaultID, verifyKey string) error {
	known, err := knownVaultKey(home, vaultID)
	if err != nil || known == verifyKey {
		return err
	}
	if known != "" {
		return newErr(KindIntegrity, "vault %s is recorded in %s with another owner key", vaultID, filepath.Join(home, "known_vaults"))
	}
	if err := fsutil.MkdirPrivate(home); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(home, "known_vaults"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %s\n", vaultID, verifyKey)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// markFile is the high-water-mark file of one vault.
type markFile struct {
	Version    uint64            `json:"version"`
	RootSHA256 string            `json:"root_sha256"`
	Secrets    map[string]uint64 `json:"secrets"`
	Verified   *verifiedRoot     `json:"verified,omitempty"`
	// Admins is the last admin change this machine verified (docs/format.md sections 4.1 and 6.3).
	Admins *chainMark `json:"admins,omitempty"`
}

// verifiedRoot records that a reader on this machine checked the signature of the root with hash
// RootSHA256 against the verify key VerifyKey (docs/format.md section 6.3).
type verifiedRoot struct {
	RootSHA256 string `json:"root_sha256"`
	VerifyKey  string `json:"verify_key"`
}

// verified reports whether this machine already checked the signature of the root with hash rootSHA
// against verifyKey. The marks file is as trusted as the key files beside it: whoever can write it can
// write those.
func (m *markFile) verified(rootSHA, verifyKey string) bool {
	return m.Verified != nil && m.Verified.RootSHA256 == rootSHA && m.Verified.VerifyKey == verifyKey
}

func marksPath(home, vaultID string) string {
	return filepath.Join(home, "state", vaultID+".json")
}

func loadMarks(home, vaultID string) (*markFile, error) {
	data, err := os.ReadFile(marksPath(home, vaultID))
	m := &markFile{Secrets: map[string]uint64{}}
	if err != nil {
		if errNotExist(err) {
			return m, nil
		}
		return nil, wrapErr(KindError, err, "cannot read the high-water mark of vault %s", vaultID)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(m); err != nil {
		return nil, wrapErr(KindError, err, "high-water mark file %s is corrupt", marksPath(home, vaultID))
	}
	if m.Secrets == nil {
		m.Secrets = map[string]uint64{}
	}
	return m, nil
}

// checkRoot applies the vault-wide mark to a verified root.
func (m *markFile) checkRoot(version uint64, rootSHA string) error {
	switch {
	case version < m.Version:
		return &Error{Kind: KindIntegrity, belowMark: true, Msg: fmt.Sprintf("rollback: the vault's signed state is version %d, but version %d was already seen on this machine", version, m.Version)}
	case version == m.Version && rootSHA != m.RootSHA256:
		return &Error{Kind: KindIntegrity, belowMark: true, Msg: fmt.Sprintf("fork: this machine already saw a different signed state with the same version %d", version)}
	}
	return nil
}

func (m *markFile) checkSecret(path string, version uint64) error {
	if seen := m.Secrets[path]; version < seen {
		return newErr(KindIntegrity, "rollback: %s is at version %d, but version %d was already seen on this machine", path, version, seen)
	}
	return nil
}

// raise records the root and the given secret versions, writing the file only when a mark rises or
// when verifyKey (not "") is recorded as the key that verified the current root. It re-reads the file
// first so that it never lowers a mark another process wrote meanwhile.
func raiseMarks(home, vaultID string, version uint64, rootSHA, verifyKey string, secrets map[string]uint64) error {
	cur, err := loadMarks(home, vaultID)
	if err != nil {
		return err
	}
	changed := false
	if version > cur.Version {
		cur.Version, cur.RootSHA256, cur.Verified, changed = version, rootSHA, nil, true
	}
	if verifyKey != "" && version == cur.Version && rootSHA == cur.RootSHA256 && !cur.verified(rootSHA, verifyKey) {
		cur.Verified, changed = &verifiedRoot{RootSHA256: rootSHA, VerifyKey: verifyKey}, true
	}
	for p, v := range secrets {
		if v > cur.Secrets[p] {
			cur.Secrets[p], changed = v, true
		}
	}
	if !changed {
		return nil
	}
	if err := fsutil.MkdirPrivate(filepath.Join(home, "state")); err != nil {
		return err
	}
	return writeMarks(home, vaultID, cur)
}

func writeMarks(home, vaultID string, m *markFile) error {
	b, _ := json.Marshal(m)
	return fsutil.WriteAtomic(marksPath(home, vaultID), append(b, '\n'), 0o600, false)
}

// bindOwnedPath ties a vault directory to the vault id its owner found there, so that the owner's tools
// notice another of the owner's vaults copied in its place (an owner key verifies every vault it owns).
// replace is set by init, which is authoritative for its directory.
func bindOwnedPath(home, dir, vaultID string, replace bool) error {
	file := filepath.Join(home, "vault_paths")
	data, err := os.ReadFile(file)
	if err != nil && !errNotExist(err) {
		return wrapErr(KindError, err, "cannot read %s", file)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		id, path, ok := strings.Cut(line, " ")
		if !ok || path != dir {
			if line != "" {
				kept = append(kept, line)
			}
			continue
		}
		if id == vaultID {
			return nil
		}
		if !replace {
			return newErr(KindIntegrity, "%s held vault %s when its owner last used it, but now holds vault %s: another vault's state was copied in", dir, id, vaultID)
		}
	}
	if err := fsutil.MkdirPrivate(home); err != nil {
		return err
	}
	kept = append(kept, vaultID+" "+dir)
	return fsutil.WriteAtomic(file, []byte(strings.Join(kept, "\n")+"\n"), 0o600, false)
}
