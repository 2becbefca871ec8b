package vault

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/agent-vault/agent-vault/internal/fsutil"
)

// The chain of admin changes (docs/format.md section 4.1), as a reader follows it from its anchor.

const adminChainDir = "state/admins"

// adminChainFile is where the root of version v, which changed the admin set, is kept.
func adminChainFile(v uint64) string { return adminChainDir + "/" + strconv.FormatUint(v, 10) }

// chainLink is one verified admin change.
type chainLink struct {
	version uint64
	sha     string // hash of the whole file
	admins  *RootAdmins
}

// adminChain is the verified chain of a vault's admin changes. keys is the admin set after the last link
// (the anchor alone when there is none): the keys that may sign the current root. ever holds every key
// that was an admin at some point, which may have signed a root of the history.
type adminChain struct {
	links []chainLink
	keys  []ed25519.PublicKey
	ever  []ed25519.PublicKey
}

// readAdminChain reads state/admins/ and verifies each kept root in order of version: each is signed by an
// admin of the set before it (the anchor's key for the first), belongs to the anchor's vault and names the
// anchor as founding owner, made its own admin set (admins.since is its version) and links to the link
// before it by hash. A vault without admin changes has no chain. Failures are vouching failures (section
// 6.6): a writer adds a link just before the root that names it.
func readAdminChain(dir string, a anchor) (*adminChain, error) {
	ents, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(adminChainDir)))
	if err != nil {
		if errNotExist(err) {
			return verifyChain(nil, a, nil)
		}
		return nil, classifyRead(err, adminChainDir)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return verifyChain(names, a, func(rel string) ([]byte, error) {
		raw, err := readRepoFile(dir, rel, LimitRoot)
		if err != nil {
			return nil, classifyRead(err, rel)
		}
		return raw, nil
	})
}

// verifyChain verifies the links named (the entries of state/admins) as readAdminChain says, reading each
// with read (a relative path like state/admins/7).
func verifyChain(names []string, a anchor, read func(rel string) ([]byte, error)) (*adminChain, error) {
	c := &adminChain{keys: []ed25519.PublicKey{a.pub}, ever: []ed25519.PublicKey{a.pub}}
	var versions []uint64
	for _, name := range names {
		v, err := strconv.ParseUint(name, 10, 64)
		if err != nil || v == 0 || strconv.FormatUint(v, 10) != name {
			return nil, newErr(KindIntegrity, "%s/%s is not a link of the admin chain (planted file)", adminChainDir, name)
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	vaultID := a.vaultID
	prev := ""
	for _, v := range versions {
		rel := adminChainFile(v)
		raw, err := read(rel)
		if err != nil {
			return nil, err
		}
		body, _, err := verifyWithAny(raw, c.keys)
		if err != nil {
			return nil, vouchErr("%s is not signed by an admin of the admin set before it", rel)
		}
		r, err := parseRoot(body)
		if err != nil {
			return nil, err
		}
		switch {
		case r.Version != v || r.Admins == nil || r.Admins.Since != v:
			return nil, vouchErr("%s is not the root that made an admin set at version %d", rel, v)
		case vaultID != "" && r.VaultID != vaultID, r.Owner.VerifyKey != a.verifyKey:
			return nil, newErr(KindIntegrity, "%s belongs to another vault", rel)
		case r.Admins.PrevSHA256 != prev:
			return nil, vouchErr("%s does not follow the admin change before it (a link of the admin chain is missing or replaced)", rel)
		}
		vaultID = r.VaultID
		prev = Hash(raw)
		c.links = append(c.links, chainLink{version: v, sha: prev, admins: r.Admins})
		c.keys = c.keys[:0:0]
		for _, vk := range adminVerifyKeys(r.Admins.Members) {
			pub, _ := ParseVerifyKey(vk) // checked by parseRoot
			c.keys = append(c.keys, pub)
			if !slices.ContainsFunc(c.ever, func(k ed25519.PublicKey) bool { return k.Equal(pub) }) {
				c.ever = append(c.ever, pub)
			}
		}
	}
	return c, nil
}

// verifyWithAny verifies a signed root with whichever of keys signed it and returns its body and that key.
func verifyWithAny(raw []byte, keys []ed25519.PublicKey) ([]byte, ed25519.PublicKey, error) {
	var err error
	for _, k := range keys {
		var body []byte
		if body, err = VerifyRoot(raw, k); err == nil {
			return body, k, nil
		}
	}
	if err == nil {
		err = newErr(KindIntegrity, "state/root: no key may sign it")
	}
	return nil, nil, err
}

// verify checks the current root's signature with the chain's admin set.
func (c *adminChain) verify(raw []byte) ([]byte, error) {
	if len(c.links) == 0 {
		return VerifyRoot(raw, c.keys[0])
	}
	body, _, err := verifyWithAny(raw, c.keys)
	if err != nil {
		return nil, vouchErr("state/root: signature does not verify with the key of any current admin (a removed admin's signature, or a forgery)")
	}
	return body, nil
}

// check requires the parsed current root to carry exactly the admin set of the chain's last link: no
// admin set without a chain, no chain without an admin set.
func (c *adminChain) check(root *Root) error {
	if len(c.links) == 0 {
		if root.Admins != nil {
			return vouchErr("state/root names admins, but %s holds no chain of admin changes", adminChainDir)
		}
		return nil
	}
	last := c.links[len(c.links)-1]
	if !sameAdmins(root.Admins, last.admins) {
		return vouchErr("state/root does not name the admin set of the last admin change (%s)", adminChainFile(last.version))
	}
	return nil
}

// head is the last link, or nil.
func (c *adminChain) head() *chainLink {
	if c == nil || len(c.links) == 0 {
		return nil
	}
	return &c.links[len(c.links)-1]
}

// chainMark is the last admin change this machine verified (docs/format.md section 6.3).
type chainMark struct {
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256"`
}

// checkChain holds a verified state to the admin chain this machine saw: the link it recorded must still
// be in the chain, byte for byte, so that an admin removed there cannot sign a history without the removal
// for this machine, and a root without admins is refused once an admin change was seen.
func (m *markFile) checkChain(c *adminChain, root *Root) error {
	if m.Admins == nil {
		return nil
	}
	if root.Admins == nil {
		return newErr(KindIntegrity, "rollback: the vault's signed state has no admin set, but admin change %d was already seen on this machine", m.Admins.Version)
	}
	if c == nil { // the root's bytes were verified with their chain on this machine before
		return nil
	}
	for _, l := range c.links {
		if l.version == m.Admins.Version {
			if l.sha != m.Admins.SHA256 {
				return newErr(KindIntegrity, "fork: admin change %d differs from the one this machine already saw (%s)", l.version, adminChainFile(l.version))
			}
			return nil
		}
	}
	return newErr(KindIntegrity, "rollback: admin change %d, already seen on this machine, is missing from %s", m.Admins.Version, adminChainDir)
}

// raiseChainMark records l as the last admin change seen for vaultID when it is newer than the recorded one.
func raiseChainMark(home, vaultID string, l *chainLink) error {
	cur, err := loadMarks(home, vaultID)
	if err != nil {
		return err
	}
	if cur.Admins != nil && cur.Admins.Version >= l.version {
		return nil
	}
	cur.Admins = &chainMark{Version: l.version, SHA256: l.sha}
	if err := fsutil.MkdirPrivate(filepath.Join(home, "state")); err != nil {
		return err
	}
	return writeMarks(home, vaultID, cur)
}

// chainFiles returns the files of the verified admin chain of s's state (state/admins/<v>), which the
// chain itself vouches for: every one verifies from the anchor and the root names the last.
func (s *Snapshot) chainFiles() ([]string, error) {
	if s.Root.Admins == nil {
		return nil, nil
	}
	c, err := s.verifiedChain()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range c.links {
		out = append(out, adminChainFile(l.version))
	}
	return out, nil
}

// everKeys returns every key that may have signed a root of s's history: the anchor's, and every admin's
// of s's verified admin chain (an admin removed later signed honest states before its removal).
func (s *Snapshot) everKeys() ([]ed25519.PublicKey, error) {
	if s.Root.Admins == nil {
		return []ed25519.PublicKey{s.anchor.pub}, nil
	}
	c, err := s.verifiedChain()
	if err != nil {
		return nil, err
	}
	return c.ever, nil
}

// verifiedChain returns the admin chain of s's state: the one its load verified, or, when the root's bytes
// were verified on this machine before (section 6.3) and the chain was not read, the chain read and checked
// against s's root now.
func (s *Snapshot) verifiedChain() (*adminChain, error) {
	if s.chain != nil {
		return s.chain, nil
	}
	c, err := readAdminChain(s.Vault.Dir, s.anchor)
	if err != nil {
		return nil, err
	}
	if err := c.check(s.Root); err != nil {
		return nil, err
	}
	return c, nil
}
