package vault

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
)

// Finding is one result of Check.
type Finding struct {
	Level   string `json:"level"` // "error" or "warning"
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// Report is the result of Check.
type Report struct {
	VaultID  string    `json:"vault_id"`
	Version  uint64    `json:"version"`
	Role     string    `json:"role"`
	Secrets  int       `json:"secrets"`
	Agents   int       `json:"agents"`
	Findings []Finding `json:"findings"`
}

// Errors counts the findings of level "error".
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == "error" {
			n++
		}
	}
	return n
}

type reporter struct {
	mu sync.Mutex
	r  *Report
}

func (rp *reporter) add(level, path, format string, args ...any) {
	rp.mu.Lock()
	rp.r.Findings = append(rp.r.Findings, Finding{Level: level, Path: path, Message: fmt.Sprintf(format, args...)})
	rp.mu.Unlock()
}

// Check verifies the whole vault as s's key sees it: every hash the signed state vouches for, every
// file the state does not vouch for, expiries within soon, agents without access and the permissions of
// the key files in the agent-vault home. As the owner it also checks every escrow and that every
// ciphertext's recipients are exactly the policy's. Opening the snapshot already verified the signature
// and the high-water mark.
func (s *Snapshot) Check(soon time.Duration) *Report {
	rp := &reporter{r: &Report{VaultID: s.Root.VaultID, Version: s.Root.Version, Role: s.Role.String(), Agents: len(s.Root.Agents), Findings: []Finding{}}}
	dir := s.Vault.Dir
	if exists(dir, pendingDir) {
		rp.add("error", pendingDir, "%s", pendingHint)
	}
	for rel, want := range s.Root.Files {
		data, err := readVouched(dir, rel, LimitOther, want)
		if err != nil {
			rp.add("error", rel, "%v", err)
			continue
		}
		if rel == ownerPubFile && strings.TrimSpace(string(data)) != s.Root.Owner.Recipient {
			rp.add("error", rel, "does not hold the signed owner recipient")
		}
	}
	agentIDs := s.checkAgents(rp)
	vouched := map[string]bool{}
	for _, g := range sortedKeys(s.Root.Groups) {
		vouched[indexFile(g)] = true
		ix, err := s.Index(g)
		if err != nil {
			rp.add("error", indexFile(g), "%v", err)
			continue
		}
		s.checkGroup(rp, g, ix, agentIDs, soon, vouched)
	}
	for name := range s.Root.Agents {
		vouched[agentPubFile(name)], vouched[escrowFile(name)] = true, true
		if len(s.Root.AgentGroups(name)) == 0 && !s.hasExtraGrant(name) {
			rp.add("warning", "agents/"+name, "agent %s has access to no secret", name)
		}
	}
	s.checkUnvouched(rp, vouched)
	checkHomeKeys(rp)
	slices.SortStableFunc(rp.r.Findings, func(a, b Finding) int { return strings.Compare(a.Level, b.Level) })
	return rp.r
}

// checkAgents verifies agents' public keys and, as the owner, their escrows; it returns the escrowed
// identities for the recipient check.
func (s *Snapshot) checkAgents(rp *reporter) map[string]age.Identity {
	ids := map[string]age.Identity{}
	for _, name := range sortedKeys(s.Root.Agents) {
		a := s.Root.Agents[name]
		pub, err := readVouched(s.Vault.Dir, agentPubFile(name), LimitOther, a.PublicKeySHA256)
		if err != nil {
			rp.add("error", agentPubFile(name), "%v", err)
		} else if strings.TrimSpace(string(pub)) != a.Recipient {
			rp.add("error", agentPubFile(name), "does not hold the signed recipient of agent %s", name)
		}
		esc, err := readVouched(s.Vault.Dir, escrowFile(name), LimitOther, a.EscrowSHA256)
		if err != nil {
			rp.add("error", escrowFile(name), "%v", err)
			continue
		}
		if !s.Role.Owner {
			continue
		}
		keyFile, err := decrypt(esc, s.Key.Identity)
		if err != nil {
			rp.add("error", escrowFile(name), "does not decrypt with the owner key")
			continue
		}
		k, err := ParseKeyFile(keyFile, escrowFile(name))
		if err != nil || k.Recipient != a.Recipient {
			rp.add("error", escrowFile(name), "holds a key that is not agent %s's signed recipient", name)
			continue
		}
		ids[name] = k.Identity
	}
	return ids
}

func (s *Snapshot) hasExtraGrant(agent string) bool {
	for g := range s.Root.Groups {
		if ix, err := s.Index(g); err == nil {
			for _, e := range ix.Secrets {
				if slices.Contains(e.ExtraAgents, agent) {
					return true
				}
			}
		}
	}
	return false
}

func (s *Snapshot) checkGroup(rp *reporter, g string, ix *Index, ids map[string]age.Identity, soon time.Duration, vouched map[string]bool) {
	if s.Root.Groups[g].Secrets != len(ix.Secrets) {
		rp.add("error", indexFile(g), "holds %d secrets, the signed root says %d", len(ix.Secrets), s.Root.Groups[g].Secrets)
	}
	paths := sortedKeys(ix.Secrets)
	for _, p := range paths {
		vouched[encFile(p)], vouched[metaFile(p)] = true, true
	}
	parallel(len(paths), func(i int) error {
		s.checkSecret(rp, g, paths[i], ix.Secrets[paths[i]], ids, soon)
		return nil
	})
	rp.mu.Lock()
	rp.r.Secrets += len(paths)
	rp.mu.Unlock()
}

func (s *Snapshot) checkSecret(rp *reporter, g, p string, e IndexEntry, ids map[string]age.Identity, soon time.Duration) {
	metaBytes, err := readVouched(s.Vault.Dir, metaFile(p), LimitOther, e.MetaSHA256)
	if err != nil {
		rp.add("error", metaFile(p), "%v", err)
	} else if m, err := parseMeta(metaBytes, p, g); err != nil {
		rp.add("error", metaFile(p), "%v", err)
	} else if m.Expires != nil {
		switch left := time.Until(*m.Expires); {
		case left <= 0:
			rp.add("error", p, "expired on %s", fmtTime(*m.Expires))
		case left <= soon:
			rp.add("warning", p, "expires on %s (in %d days)", fmtTime(*m.Expires), int(left.Hours()/24)+1)
		}
	}
	enc, err := readVouched(s.Vault.Dir, encFile(p), LimitEnc, e.EncSHA256)
	if err != nil {
		rp.add("error", encFile(p), "%v", err)
		return
	}
	if !s.Role.Owner {
		return
	}
	if _, err := decrypt(enc, s.Key.Identity); err != nil {
		rp.add("error", encFile(p), "does not decrypt with the owner key")
	}
	_, want, err := recipients(s.Root, g, e.ExtraAgents)
	if err != nil {
		rp.add("error", p, "%v", err)
		return
	}
	if n := countStanzas(enc); n != len(want)+1 {
		rp.add("error", encFile(p), "is encrypted to %d recipients, the policy names %d (owner and %s)", n, len(want)+1, strings.Join(want, ", "))
	}
	for _, a := range want {
		id, ok := ids[a]
		if !ok {
			continue // its escrow was already reported
		}
		if _, err := age.Decrypt(bytes.NewReader(enc), id); err != nil {
			rp.add("error", encFile(p), "agent %s is granted it but cannot decrypt it", a)
		}
	}
}

// countStanzas counts the recipient stanzas in an age header.
func countStanzas(enc []byte) int {
	end := bytes.Index(enc, []byte("\n---"))
	if end < 0 {
		return 0
	}
	return bytes.Count(enc[:end+1], []byte("\n-> "))
}

// checkUnvouched reports every file below the vault directory that the signed state does not vouch for,
// and every symbolic link.
func (s *Snapshot) checkUnvouched(rp *reporter, vouched map[string]bool) {
	dir := s.Vault.Dir
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if err != nil {
			rp.add("error", rel, "cannot read: %v", err)
			return nil
		}
		if rel == pendingDir {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			rp.add("error", rel, "is a symbolic link, which a vault never contains")
			return nil
		}
		if d.IsDir() || rel == rootFile || rel == ".lock" || s.Root.Files[rel] != "" || vouched[rel] {
			return nil
		}
		rp.add("error", rel, "is not in the signed state (orphaned or planted file)")
		return nil
	})
}

// checkHomeKeys reports key files in the agent-vault home that others can read.
func checkHomeKeys(rp *reporter) {
	home, err := Home()
	if err != nil {
		return
	}
	keys, _ := filepath.Glob(filepath.Join(home, "agents", "*.key"))
	for _, p := range append([]string{filepath.Join(home, "owner.key")}, keys...) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			rp.add("error", p, "key file is accessible by others (mode %04o); run: chmod 600 %s", fi.Mode().Perm(), p)
		}
	}
}
