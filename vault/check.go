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
	Level   string `json:"level"`          // "error" or "warning"
	Path    string `json:"path,omitempty"` // the file or secret it is about, "" for the vault
	Message string `json:"message"`        // what is wrong, for people
	// Summary is the finding in one line as agent-vault 0.1's check worded it where it had the same
	// finding ("Secret 'stripe/old' expired 3 days ago"), else "path: message". It fills the errors and
	// warnings arrays of the JSON report.
	Summary string `json:"-"`
}

// Report is the result of Check. Its JSON form carries agent-vault 0.1's two arrays of one-line
// strings, "errors" and "warnings" (every finding is in one of them), beside the detailed findings.
type Report struct {
	VaultID     string    `json:"vault_id"`
	Version     uint64    `json:"version"`  // of the signed state checked
	Role        string    `json:"role"`     // who the key is (Role.String)
	Secrets     int       `json:"secrets"`  // how many the vault holds
	Agents      int       `json:"agents"`   // how many the vault has
	ErrorList   []string  `json:"errors"`   // the Summary of every finding of level "error"
	WarningList []string  `json:"warnings"` // the Summary of every finding of level "warning"
	Findings    []Finding `json:"findings"`
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
	rp.addSummarized(level, path, "", format, args...)
}

// addSummarized adds a finding whose one-line summary is summary (agent-vault 0.1's wording); an empty
// summary is "path: message".
func (rp *reporter) addSummarized(level, path, summary, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if summary == "" {
		summary = msg
		if path != "" && !strings.HasPrefix(msg, path) {
			summary = path + ": " + msg
		}
	}
	rp.mu.Lock()
	rp.r.Findings = append(rp.r.Findings, Finding{Level: level, Path: path, Message: msg, Summary: summary})
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
		rp.add("error", pendingDir, "an interrupted change is waiting in .agent-vault/.pending; the owner runs 'agent-vault repair'")
	}
	for rel, want := range s.Root.Files {
		data, err := readVouched(dir, rel, want)
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
	if links, err := s.chainFiles(); err != nil {
		rp.add("error", adminChainDir, "%v", err)
	} else {
		for _, rel := range links {
			vouched[rel] = true
		}
	}
	type item struct {
		path string
		e    Entry
	}
	var items []item
	counts := map[string]int{}
	extra := map[string]bool{}
	for _, id := range sortedKeys(s.Root.Index) {
		vouched[shardFile(id)] = true
		sh, err := s.shard(id)
		if err != nil {
			rp.add("error", shardFile(id), "%v", err)
			continue
		}
		for p, e := range sh.Secrets {
			items = append(items, item{p, e})
			counts[e.Group]++
			for _, a := range e.ExtraAgents {
				extra[a] = true
			}
			vouched[encFile(p)], vouched[metaFile(p)] = true, true
		}
	}
	for _, g := range sortedKeys(s.Root.Groups) {
		if counts[g] != s.Root.Groups[g].Secrets {
			rp.add("error", "state/root", "group %s has %d secrets in the index, the signed root says %d", g, counts[g], s.Root.Groups[g].Secrets)
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.path, b.path) })
	parallel(len(items), func(i int) error {
		s.checkSecret(rp, items[i].path, &items[i].e, agentIDs, soon)
		return nil
	})
	rp.r.Secrets = len(items)
	for name := range s.Root.Agents {
		vouched[agentPubFile(name)] = true
		if s.Root.Agents[name].HasEscrow() {
			vouched[escrowFile(name)] = true
		}
		if len(s.Root.AgentGroups(name)) == 0 && !extra[name] {
			rp.addSummarized("warning", "agents/"+name, fmt.Sprintf("Agent '%s' has no group access", name),
				"agent %s has no group access and can read no secret", name)
		}
	}
	s.checkUnvouched(rp, vouched)
	checkHomeKeys(rp)
	// Errors first, then warnings; by path and message within a level, whatever order the workers took.
	slices.SortStableFunc(rp.r.Findings, func(a, b Finding) int {
		if c := strings.Compare(a.Level, b.Level); c != 0 {
			return c
		}
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	rp.r.ErrorList, rp.r.WarningList = []string{}, []string{}
	for _, f := range rp.r.Findings {
		if f.Level == "error" {
			rp.r.ErrorList = append(rp.r.ErrorList, f.Summary)
		} else {
			rp.r.WarningList = append(rp.r.WarningList, f.Summary)
		}
	}
	return rp.r
}

// checkAgents verifies agents' public keys and, as the owner, their escrows; it returns the escrowed
// identities for the recipient check.
func (s *Snapshot) checkAgents(rp *reporter) map[string]age.Identity {
	ids := map[string]age.Identity{}
	for _, name := range sortedKeys(s.Root.Agents) {
		a := s.Root.Agents[name]
		pub, err := readVouchedHash(s.Vault.Dir, agentPubFile(name), LimitOther, a.PublicKeySHA256)
		if err != nil {
			rp.add("error", agentPubFile(name), "%v", err)
		} else if strings.TrimSpace(string(pub)) != a.Recipient {
			rp.add("error", agentPubFile(name), "does not hold the signed recipient of agent %s", name)
		}
		if !a.HasEscrow() {
			continue // the agent brought its own key: nothing to check
		}
		esc, err := readVouchedHash(s.Vault.Dir, escrowFile(name), LimitOther, a.EscrowSHA256)
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
		k, err := ParseKeyFile(keyFile, escrowFile(name), s.Key.opts)
		if err != nil || k.Recipient != a.Recipient {
			rp.add("error", escrowFile(name), "holds a key that is not agent %s's signed recipient", name)
			continue
		}
		ids[name] = k.Identity
	}
	return ids
}

// checkSecret checks one secret's files: the .meta view against its entry, the expiry, and as the owner
// that the ciphertext decrypts and is encrypted to exactly the policy's recipients.
func (s *Snapshot) checkSecret(rp *reporter, p string, e *Entry, ids map[string]age.Identity, soon time.Duration) {
	want := metaOf(s.Root, p, e)
	metaBytes, err := readVouched(s.Vault.Dir, metaFile(p), e.meta())
	if err != nil {
		rp.add("error", metaFile(p), "%v", err)
	} else if m, err := parseMeta(metaBytes, p, e.Group); err != nil {
		rp.add("error", metaFile(p), "%v", err)
	} else if !bytes.Equal(encodeMeta(m), encodeMeta(want)) {
		rp.add("error", metaFile(p), "does not agree with the signed index entry (the entry is what readers use)")
	}
	if want.Expires != nil {
		switch left := time.Until(*want.Expires); {
		case left <= 0:
			ago := int(-left.Hours() / 24)
			rp.addSummarized("error", p, fmt.Sprintf("Secret '%s' expired %d days ago", p, ago),
				"expired on %s (%d days ago)", fmtTime(*want.Expires), ago)
		case left <= soon:
			in := int(left.Hours()/24) + 1
			rp.addSummarized("warning", p, fmt.Sprintf("Secret '%s' expires in %d days", p, in),
				"expires in %d days (on %s)", in, fmtTime(*want.Expires))
		}
	}
	enc, err := readVouched(s.Vault.Dir, encFile(p), e.enc())
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
	agents := want.AuthorizedAgents
	if n, admins := countStanzas(enc), len(adminRecipients(s.Root)); n != len(agents)+admins {
		who := "owner"
		if s.Root.Admins != nil {
			who = plural(admins, "admin")
		}
		rp.add("error", encFile(p), "is encrypted to %d recipients, the policy names %d (%s and %s)", n, len(agents)+admins, who, strings.Join(agents, ", "))
	}
	for _, a := range agents {
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
		if rel == pendingDir || rel == doneDir {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			rp.add("error", rel, "is a symbolic link, which a vault never contains")
			return nil
		}
		if _, ok := s.Root.Files[rel]; d.IsDir() || rel == rootFile || rel == ".lock" || ok || vouched[rel] {
			return nil
		}
		rp.add("error", rel, "is not in the signed state (orphaned or planted file): agent-vault never writes or commits it; remove it with: git rm -q --cached --ignore-unmatch -- %s && rm -f -- %s", shellQuote(".agent-vault/"+rel), shellQuote(".agent-vault/"+rel))
		return nil
	})
}

// checkHomeKeys reports key files in the agent-vault home that others can read.
func checkHomeKeys(rp *reporter) {
	home, err := homeDir()
	if err != nil {
		return
	}
	checkOwnerCustody(rp, home)
	keys, _ := filepath.Glob(filepath.Join(home, "agents", "*.key"))
	for _, p := range append([]string{filepath.Join(home, "owner.key")}, keys...) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			rp.add("error", p, "key file is accessible by others (mode %04o); run: chmod 600 %s", fi.Mode().Perm(), p)
		}
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
