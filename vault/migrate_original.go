package vault

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"gopkg.in/yaml.v3"
)

// The layout of a vault written by the original agent-vault 0.1 (the Rust CLI), docs/format.md section
// 11.2: the single home of every rule about it. Such a vault has no signed state: config.yaml says
// `version: 1` and `encryption: {format: age}`, manifest.yaml lists agents (with their groups) and groups
// (with their secrets), agents/<name>/ holds public.key (the recipient, no newline) and
// private.key.escrow (the bare identity, age-encrypted to the owner), and secrets/<path>.enc/.meta hold
// each value and its metadata (times with nanoseconds, authorized_agents = group members plus the
// agents given with --agents). Readers only recognise it, to send the owner to `agent-vault migrate`;
// the owner's migration reads all of it here.

// errOriginal marks a vault of the original agent-vault 0.1, which readers ask to have converted.
var errOriginal = errorString("the owner converts it with 'agent-vault migrate' (docs/format.md section 11.2) and pushes the change")

type errorString string

func (e errorString) Error() string { return string(e) }

// isOriginalConfig reports whether data is the original's config.yaml: a YAML mapping with `version`
// and `encryption` and none of this project's fields (`format`, `vault_id`, `owner_verify_key`).
func isOriginalConfig(data []byte) bool {
	var m map[string]any
	if yaml.Unmarshal(data, &m) != nil || m == nil {
		return false
	}
	for _, ours := range []string{"format", "vault_id", "owner_verify_key"} {
		if _, ok := m[ours]; ok {
			return false
		}
	}
	_, hasVersion := m["version"]
	_, hasEncryption := m["encryption"]
	return hasVersion && hasEncryption
}

// IsOriginal reports whether v holds a vault of the original agent-vault 0.1 that has not been
// converted: no state/ directory, no change in progress (.pending/root), and the original's config.yaml.
// A format 2 (or format 1) vault whose state was deleted keeps its own config.yaml and is not one.
func (v *Vault) IsOriginal() bool {
	if exists(v.Dir, "state") || exists(v.Dir, pendingDir+"/root") {
		return false
	}
	data, err := readRepoFile(v.Dir, configFile, LimitOther)
	return err == nil && isOriginalConfig(data)
}

// refuseOriginal returns nil unless v holds the original's layout. Then it returns the error a reader
// reports: vault_not_found naming `agent-vault migrate`; or, when this machine knows v's directory as a
// vault of this project (a known_vaults repo line, or the owner's vault_paths), an integrity error: the
// signed state that was read there is gone.
func (v *Vault) refuseOriginal(home string) error {
	if !v.IsOriginal() {
		return nil
	}
	dirs := []string{v.trustDir(), v.recordDir(), canonicalDir(v.recordDir())}
	if k, err := loadKnownVaults(home); err == nil {
		for dir, id := range k.repos {
			if slices.Contains(dirs, dir) {
				return newErr(KindIntegrity, "%s held vault %s when this machine last read it, but now has no signed state (its files are those of an unconverted agent-vault 0.1 vault)", v.recordDir(), id)
			}
		}
	}
	data, _ := os.ReadFile(filepath.Join(home, "vault_paths"))
	for _, line := range strings.Split(string(data), "\n") {
		if id, dir, ok := strings.Cut(line, " "); ok && slices.Contains(dirs, dir) {
			return newErr(KindIntegrity, "%s held vault %s when its owner last used it, but now has no signed state (its files are those of an unconverted agent-vault 0.1 vault)", v.recordDir(), id)
		}
	}
	return wrapErr(KindVaultNotFound, errOriginal, "%s is a vault of the original agent-vault 0.1, which this version reads only once it is converted", v.Dir)
}

// originalVault is everything an original vault holds, read and checked with the owner's key.
type originalVault struct {
	agents  map[string]*originalAgent
	groups  map[string][]string // group → sorted members
	secrets map[string]*originalSecret
}

type originalAgent struct {
	identity *age.X25519Identity
	// keyFile is the agent's key file under <home>/agents/ that holds this identity, "" if none.
	keyFile string
	// escrowRecreated is set when the vault had no escrow and keyFile supplied the identity.
	escrowRecreated bool
}

type originalSecret struct {
	group            string
	value            []byte
	created, rotated time.Time
	expires          *time.Time
	extra            []string // authorized agents that are not members of the group: --agents
}

type originalManifest struct {
	Agents []struct {
		Name   string   `yaml:"name"`
		Groups []string `yaml:"groups"`
	} `yaml:"agents"`
	Groups []struct {
		Name    string   `yaml:"name"`
		Secrets []string `yaml:"secrets"`
	} `yaml:"groups"`
}

type originalMeta struct {
	Name             string   `yaml:"name"`
	Group            string   `yaml:"group"`
	Created          string   `yaml:"created"`
	Rotated          string   `yaml:"rotated"`
	Expires          string   `yaml:"expires"`
	AuthorizedAgents []string `yaml:"authorized_agents"`
}

// bad is the error for a file of an original vault that cannot be carried over: nothing is converted.
func bad(format string, args ...any) error {
	return newErr(KindIntegrity, "cannot convert the agent-vault 0.1 vault: "+format+"; nothing was changed", args...)
}

// readOriginal reads the original vault in v and checks it with the owner's key: owner.pub names the key,
// every name is valid, every agent's public key is a recipient and its escrow (or its key file under
// home/agents/, when the escrow is missing) holds the matching identity, every secret decrypts with the
// owner key and has metadata that names it, its group and known agents, and the manifest lists exactly
// the secrets there are. The first failure is returned; no value appears in it.
func readOriginal(v *Vault, key *Key, home string) (*originalVault, error) {
	pub, err := readRepoFile(v.Dir, ownerPubFile, LimitOther)
	if err != nil {
		return nil, bad("%s: %v", ownerPubFile, err)
	}
	if owner := strings.TrimSpace(string(pub)); owner != key.Recipient {
		return nil, newErr(KindNotAuthorized, "key %s is not the owner key of this agent-vault 0.1 vault (owner.pub names %s); nothing was changed", key.Source, owner)
	}
	mdata, err := readRepoFile(v.Dir, manifestFile, LimitOther*16)
	if err != nil {
		return nil, bad("%s: %v", manifestFile, err)
	}
	var man originalManifest
	if err := yaml.Unmarshal(mdata, &man); err != nil {
		return nil, bad("%s is not valid YAML", manifestFile)
	}
	ov := &originalVault{agents: map[string]*originalAgent{}, groups: map[string][]string{}, secrets: map[string]*originalSecret{}}
	seen := map[string]string{key.Recipient: "the owner"}
	for _, a := range man.Agents {
		if err := CheckSegment(a.Name); err != nil {
			return nil, bad("%s: agent %q: %v", manifestFile, a.Name, err)
		}
		if ov.agents[a.Name] != nil {
			return nil, bad("%s names agent %s twice", manifestFile, a.Name)
		}
		ag, err := readOriginalAgent(v, key, home, a.Name)
		if err != nil {
			return nil, err
		}
		rcpt := ag.identity.Recipient().String()
		if other, ok := seen[rcpt]; ok {
			return nil, bad("agent %s has the same key as %s", a.Name, other)
		}
		seen[rcpt] = "agent " + a.Name
		ov.agents[a.Name] = ag
		for _, g := range a.Groups {
			if err := CheckSegment(g); err != nil {
				return nil, bad("%s: group %q of agent %s: %v", manifestFile, g, a.Name, err)
			}
			if !slices.Contains(ov.groups[g], a.Name) {
				ov.groups[g] = append(ov.groups[g], a.Name)
			}
		}
	}
	if err := checkAgentDirs(v, ov); err != nil {
		return nil, err
	}
	listed := map[string]string{} // secret → group, as the manifest lists it
	for _, g := range man.Groups {
		if err := CheckSegment(g.Name); err != nil {
			return nil, bad("%s: group %q: %v", manifestFile, g.Name, err)
		}
		if _, ok := ov.groups[g.Name]; !ok {
			ov.groups[g.Name] = nil
		}
		for _, p := range g.Secrets {
			if other, ok := listed[p]; ok {
				return nil, bad("%s lists secret %s in groups %s and %s", manifestFile, p, other, g.Name)
			}
			listed[p] = g.Name
		}
	}
	for g := range ov.groups {
		slices.Sort(ov.groups[g])
	}
	paths, err := originalSecretPaths(v)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		s, err := readOriginalSecret(v, key, ov, p)
		if err != nil {
			return nil, err
		}
		if g, ok := listed[p]; !ok || g != s.group {
			return nil, bad("secret %s is in group %s, but %s lists it in %q", p, s.group, manifestFile, g)
		}
		delete(listed, p)
		ov.secrets[p] = s
	}
	for p := range listed {
		return nil, bad("%s lists secret %s, but secrets/%s.enc is missing", manifestFile, p, p)
	}
	return ov, nil
}

// readOriginalAgent reads agent name's public key and the identity of its escrow, which must match; a
// missing escrow is re-created from the agent's key file under home/agents/ when that holds the key.
func readOriginalAgent(v *Vault, owner *Key, home, name string) (*originalAgent, error) {
	pub, err := readRepoFile(v.Dir, agentPubFile(name), LimitOther)
	if err != nil {
		return nil, bad("%s: %v", agentPubFile(name), err)
	}
	rcpt := strings.ToLower(strings.TrimSpace(string(pub)))
	if !validRecipient(rcpt) {
		return nil, bad("%s is not an age recipient", agentPubFile(name))
	}
	ag := &originalAgent{}
	local := filepath.Join(home, "agents", name+".key")
	if k, err := LoadKeyFile(local, owner.opts); err == nil && k.Recipient == rcpt {
		ag.keyFile = local
		ag.identity, _ = k.Identity.(*age.X25519Identity)
	}
	enc, err := readRepoFile(v.Dir, escrowFile(name), LimitOther)
	switch {
	case errNotExist(err) && ag.identity != nil:
		ag.escrowRecreated = true
		return ag, nil
	case errNotExist(err):
		return nil, bad("%s is missing and no key file at %s holds agent %s's key (give the agent's key file there to re-create the escrow)", escrowFile(name), local, name)
	case err != nil:
		return nil, bad("%s: %v", escrowFile(name), err)
	}
	plain, err := decrypt(enc, owner.Identity)
	if err != nil {
		return nil, bad("%s does not decrypt with the owner key", escrowFile(name))
	}
	k, err := ParseKeyFile(plain, escrowFile(name), owner.opts)
	if err != nil || k.Recipient != rcpt {
		return nil, bad("%s does not hold the key of %s (%s)", escrowFile(name), agentPubFile(name), rcpt)
	}
	ag.identity, _ = k.Identity.(*age.X25519Identity)
	return ag, nil
}

// checkAgentDirs refuses an agents/<name> directory the manifest does not name.
func checkAgentDirs(v *Vault, ov *originalVault) error {
	entries, err := os.ReadDir(filepath.Join(v.Dir, "agents"))
	if err != nil && !errNotExist(err) {
		return bad("cannot read agents/: %v", err)
	}
	for _, e := range entries {
		if ov.agents[e.Name()] == nil {
			return bad("agents/%s is not an agent of %s", e.Name(), manifestFile)
		}
	}
	return nil
}

// originalSecretPaths lists the secrets under secrets/, sorted: each needs its .enc and its .meta.
func originalSecretPaths(v *Vault) ([]string, error) {
	root := filepath.Join(v.Dir, "secrets")
	files := map[string]int{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errNotExist(err) && p == root {
				return filepath.SkipDir
			}
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return bad("secrets/%s is a symbolic link", rel)
		case d.IsDir():
			return nil
		case strings.HasSuffix(rel, ".enc"):
			files[strings.TrimSuffix(rel, ".enc")] |= 1
		case strings.HasSuffix(rel, ".meta"):
			files[strings.TrimSuffix(rel, ".meta")] |= 2
		default:
			return bad("secrets/%s is neither a .enc nor a .meta file", rel)
		}
		return nil
	})
	if err != nil {
		if KindOf(err) != KindError {
			return nil, err
		}
		return nil, bad("cannot read secrets/: %v", err)
	}
	var out []string
	for p, has := range files {
		if err := CheckPath(p); err != nil {
			return nil, bad("secrets/%s: %v", p, err)
		}
		switch has {
		case 1:
			return nil, bad("%s has no %s", encFile(p), metaFile(p))
		case 2:
			return nil, bad("%s has no %s", metaFile(p), encFile(p))
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// readOriginalSecret reads and checks secret p: its metadata, and its value decrypted with the owner key.
func readOriginalSecret(v *Vault, owner *Key, ov *originalVault, p string) (*originalSecret, error) {
	mdata, err := readRepoFile(v.Dir, metaFile(p), LimitOther)
	if err != nil {
		return nil, bad("%s: %v", metaFile(p), err)
	}
	var m originalMeta
	if err := yaml.Unmarshal(mdata, &m); err != nil {
		return nil, bad("%s is not valid YAML", metaFile(p))
	}
	if m.Name != p {
		return nil, bad("%s names secret %q", metaFile(p), m.Name)
	}
	if err := CheckSegment(m.Group); err != nil {
		return nil, bad("%s: group %q: %v", metaFile(p), m.Group, err)
	}
	s := &originalSecret{group: m.Group}
	for _, t := range []struct {
		field, text string
		into        *time.Time
	}{{"created", m.Created, &s.created}, {"rotated", m.Rotated, &s.rotated}} {
		if *t.into, err = parseOriginalTime(t.text); err != nil {
			return nil, bad("%s: %s %q is not an RFC 3339 time", metaFile(p), t.field, t.text)
		}
	}
	if m.Expires != "" {
		e, err := parseOriginalTime(m.Expires)
		if err != nil {
			return nil, bad("%s: expires %q is not an RFC 3339 time", metaFile(p), m.Expires)
		}
		s.expires = &e
	}
	for _, a := range m.AuthorizedAgents {
		if ov.agents[a] == nil {
			return nil, bad("%s authorizes %q, which is not an agent of %s", metaFile(p), a, manifestFile)
		}
		if !slices.Contains(ov.groups[m.Group], a) && !slices.Contains(s.extra, a) {
			s.extra = append(s.extra, a)
		}
	}
	slices.Sort(s.extra)
	enc, err := readRepoFile(v.Dir, encFile(p), 2*MaxValueSize+int64(len(ov.agents)+1)*256)
	if err != nil {
		return nil, bad("%s: %v", encFile(p), err)
	}
	if s.value, err = decrypt(enc, owner.Identity); err != nil {
		return nil, bad("%s does not decrypt with the owner key (it was changed, or not written for this owner)", encFile(p))
	}
	return s, nil
}

// parseOriginalTime parses the original's times (RFC 3339 with up to nanoseconds), in UTC and truncated
// to the second, the precision of format 2.
func parseOriginalTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC().Truncate(time.Second), err
}
