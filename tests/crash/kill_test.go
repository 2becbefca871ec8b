package crash_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillAnyOwnerChange kills owner commands at random instants and checks that the next owner command
// or `agent-vault repair` returns the vault to a verified state with the old or the new change fully in
// place, nothing lost and no human step (docs/format.md section 9, the transaction and its commit point;
// section 9.1, repair; section 9.4, sync).
//
// Each trial copies a prepared vault (owner, agents ci, dep and spare, a group of 100 secrets), starts one
// changing command in its own process group and SIGKILLs the process alone (its Git child lives on) or
// the whole group (as a container or OOM kill does) at a random instant within the command's measured
// duration. Then it runs repair, or the next owner command, and checks that:
//   - repair (or the next command) succeeds;
//   - the signed state is exactly the old one or exactly the new one (version, agents, groups, secrets),
//     the new one if and only if the kill came after the commit point;
//   - every secret decrypts for the owner to its value in that state;
//   - every agent's key file ~/.agent-vault/agents/NAME.key is the key the state names, and decrypts
//     exactly the secrets the state grants it (after recover-agent, the old key opens nothing); list and
//     get through the CLI agree;
//   - agent-vault check exits 0; git status is clean; git fsck is clean; no lock file of Git's (index.lock
//     and the like), no .pending and no pending key file is left; Git has exactly one commit per change,
//     touching only .agent-vault/;
//   - a command whose kill undid it can simply be run again (add-agent, init).
//
// Files a kill leaves that block nothing (a private Git index in .git, a half-written key file in the
// agent-vault home) are counted and reported as junk in the summary, not as failures.
func TestKillAnyOwnerChange(t *testing.T) {
	k := newKiller(t)
	// Two trials of each command by default.
	trials := envInt("AGENT_VAULT_CRASH_TRIALS", 2*len(k.kinds))
	if testing.Short() {
		trials = min(trials, 2*len(k.kinds))
	}
	// The small sample of `make test` draws the same commands and kill fractions every run, so that a CI
	// failure names a case anyone can rerun; `make test-crash` (AGENT_VAULT_CRASH_TRIALS set) explores a new
	// seed each time.
	defaultSeed := 20261203
	if os.Getenv("AGENT_VAULT_CRASH_TRIALS") != "" {
		defaultSeed = int(time.Now().UnixNano() % 1_000_000_000)
	}
	seed := int64(envInt("AGENT_VAULT_CRASH_SEED", defaultSeed))
	only := envInt("AGENT_VAULT_CRASH_TRIAL", -1)
	t.Logf("kill trials: seed %d (reproduce with AGENT_VAULT_CRASH_SEED=%d AGENT_VAULT_CRASH_TRIAL=N go test ./tests/crash -run KillAny -v)", seed, seed)
	fmt.Printf("tests/crash: kill trials with seed %d\n", seed)

	start := time.Now()
	for n := 0; n < trials; n++ {
		if only >= 0 && n != only {
			continue
		}
		p := k.plan(seed, n)
		tr := k.run(p)
		if !tr.killed && tr.cmdRes.code == 0 && tr.cmdRes.dur < p.kind.dur {
			p.kind.dur = tr.cmdRes.dur
		}
		k.record(tr)
		if len(tr.problems) > 0 {
			msg := fmt.Sprintf("trial %d (seed %d): %s\n\t%s", n, seed, tr.describe(), strings.Join(tr.problems, "\n\t"))
			t.Error(msg)
		} else if testing.Verbose() && (only >= 0 || os.Getenv("AGENT_VAULT_CRASH_LOG") != "") {
			t.Logf("trial %d: %s", n, tr.describe())
		}
	}
	k.summary(time.Since(start), seed)
}

// kind is one changing command.
type kind struct {
	name  string
	args  []string // after "agent-vault"; init gets its directory appended
	value bool     // the command reads a value on standard input
	// input, when set, makes standard input from the trial's value (default: the value itself).
	input func(value string) string
	// change edits the template's values into the values after the change, for the given trial value.
	change func(values map[string]string, value string)
	// tmpl is the prepared vault the command runs on (nil: the killer's main template).
	tmpl *tmpl
	// sync marks agent-vault sync: its commit point is its push, its next command is sync again, and
	// its Git history is checked as a fast-forward or a merge (sync_test.go).
	sync bool
	// merge marks a sync that merges diverged histories (its push comes before its local commit point).
	merge bool
	// measured on an uninterrupted run
	dur        time.Duration
	newPolicy  string
	newAdmins  map[string]string
	newVersion uint64
}

// tmpl is a prepared vault that trials copy: its directory (home, vault and, for sync, the bare remote
// remote.git), its signed state and values, its HEAD and, with a remote, the remote branch's commit.
type tmpl struct {
	dir      string
	state    *vstate
	values   map[string]string
	head     string
	upstream string // "" without a remote
}

// tmplOf is the template a kind runs on.
func (k *killer) tmplOf(kd *kind) *tmpl {
	if kd.tmpl != nil {
		return kd.tmpl
	}
	return k.main
}

func killKinds() []*kind {
	return []*kind{
		{name: "set-new", args: []string{"set", "bulk/added"}, value: true,
			change: func(m map[string]string, v string) { m["bulk/added"] = v }},
		{name: "set-existing", args: []string{"set", "bulk/secret-007"}, value: true,
			change: func(m map[string]string, v string) { m["bulk/secret-007"] = v }},
		{name: "rm", args: []string{"rm", "bulk/secret-013"},
			change: func(m map[string]string, v string) { delete(m, "bulk/secret-013") }},
		{name: "import", args: []string{"import", "-", "--prefix", "bulk/", "--overwrite"}, value: true,
			input: importInput, change: func(m map[string]string, v string) {
				for _, key := range importKeys() {
					m["bulk/"+key] = v
				}
			}},
		{name: "grant", args: []string{"grant", "dep", "bulk"}},
		{name: "revoke", args: []string{"revoke", "ci", "bulk"}},
		{name: "revoke-reencrypt", args: []string{"revoke", "ci", "bulk", "--reencrypt"}},
		{name: "add-agent", args: []string{"add-agent", "newbie"}},
		{name: "remove-agent", args: []string{"remove-agent", "ci"}},
		{name: "recover-agent", args: []string{"recover-agent", "ci"}},
		{name: "init", args: []string{"init"}},
	}
}

// importKeys are the keys the import kind writes under bulk/: a third of the existing secrets, and new ones.
func importKeys() []string {
	var keys []string
	for i := 0; i < 100; i += 3 {
		keys = append(keys, fmt.Sprintf("secret-%03d", i))
	}
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("imported-%02d", i))
	}
	return keys
}

// importInput is the dotenv file the import kind reads: every key of importKeys set to value.
func importInput(value string) string {
	var b strings.Builder
	for _, key := range importKeys() {
		fmt.Fprintf(&b, "%s=%s\n", key, value)
	}
	return b.String()
}

// killer holds the prepared template and the tallies.
type killer struct {
	t        *testing.T
	base     string
	main     *tmpl // template: main.dir/home and main.dir/vault
	kinds    []*kind
	ciOld    string // the template's ci key file, to tell a recovered key from the old one
	tally    map[string]*tally
	junkSeen map[string]int
	failures []string
	long     bool
	admins   []*adminKey // other admins' keys (admins_test.go)
}

type tally struct {
	trials, finished, before, after, groupKills, procKills, next, failed, locked, junk, preReads, preWaited int
	outcomes                                                                                                map[string]int
}

func newKiller(t *testing.T) *killer {
	t.Helper()
	k := &killer{t: t, base: t.TempDir(), kinds: killKinds(), tally: map[string]*tally{}, junkSeen: map[string]int{}}
	k.long = envInt("AGENT_VAULT_CRASH_TRIALS", 18) > 50 && !testing.Short()
	k.main = &tmpl{dir: filepath.Join(k.base, "template")}
	u := user{home: filepath.Join(k.main.dir, "home")}
	top := filepath.Join(k.main.dir, "vault")
	newVault(t, u, top, "ci", "dep", "spare")
	paths, values := bulkPaths(100)
	for i := range 4 {
		paths = append(paths, fmt.Sprintf("ops/key-%d", i))
		values = append(values, fmt.Sprintf("ops-value-%d", i))
	}
	setMany(t, u, top, paths, values)
	u.mustAV(t, top, "", "grant", "ci", "bulk")
	u.mustAV(t, top, "", "grant", "dep", "ops")
	u.mustAV(t, top, "shared-db-value", "set", "shared/db", "--agents", "ci,dep")
	k.main.values = map[string]string{"shared/db": "shared-db-value"}
	for i, p := range paths {
		k.main.values[p] = values[i]
	}
	var err error
	if k.main.state, err = readState(filepath.Join(top, ".agent-vault")); err != nil {
		t.Fatal(err)
	}
	k.main.head = strings.TrimSpace(u.mustGit(t, top, "rev-parse", "HEAD"))
	ci, err := os.ReadFile(u.agentKey("ci"))
	if err != nil {
		t.Fatal(err)
	}
	k.ciOld = string(ci)
	// Check the template itself, then time every command on an uninterrupted run and record the state
	// it arrives at. (Trials whose command ends before the kill check an uninterrupted run in full.)
	if probs := k.verify(&trial{plan: plan{kind: &kind{name: "template"}}, dir: k.main.dir, u: u, top: top}); len(probs) > 0 {
		t.Fatalf("the template does not verify: %s", strings.Join(probs, "; "))
	}
	// sync's kinds run on vaults with a bare remote that another machine pushed to (sync_test.go).
	k.kinds = append(k.kinds, k.syncKinds()...)
	// admin add and remove, and sync with admin changes on both sides (admins_test.go).
	k.kinds = append(k.kinds, k.adminKinds()...)
	if only := os.Getenv("AGENT_VAULT_CRASH_KINDS"); only != "" {
		names := strings.Split(only, ",")
		k.kinds = slices.DeleteFunc(k.kinds, func(kd *kind) bool { return !slices.Contains(names, kd.name) })
		if len(k.kinds) == 0 {
			t.Fatalf("AGENT_VAULT_CRASH_KINDS=%s names no kind", only)
		}
	}
	for _, kd := range k.kinds {
		// One uninterrupted run gives the duration and the new state; trials whose command ends before
		// the kill shorten the duration (a busy machine may have slowed the measuring run).
		tr := k.run(plan{n: -1, kind: kd, frac: -1, measure: true})
		if len(tr.problems) > 0 {
			t.Fatalf("uninterrupted %s: %s", kd.name, strings.Join(tr.problems, "; "))
		}
		kd.dur = tr.cmdRes.dur
		kd.newVersion = tr.newVersion
		t.Logf("uninterrupted %-16s takes %v", kd.name, kd.dur.Round(time.Millisecond))
	}
	return k
}

// plan is what one trial does; everything in it follows from the seed and the trial number.
type plan struct {
	n           int
	kind        *kind
	frac        float64 // kill at frac of the measured duration; < 0: never
	group       bool    // kill the whole process group, not the process alone
	waitOrphans bool    // after a process-only kill, let its Git child finish before repairing
	next        bool    // recover with the next owner command instead of repair
	readFirst   bool    // read the vault before recovering
	measure     bool    // an uninterrupted run that times the command and records the new state
	atPush      bool    // sync-merge: kill the moment the remote's branch moves (its push), not at frac
}

func (k *killer) plan(seed int64, n int) plan {
	round := n / len(k.kinds)
	perm := rand.New(rand.NewSource(seed + int64(round))).Perm(len(k.kinds))
	rng := rand.New(rand.NewSource(seed*7919 + int64(n)))
	p := plan{n: n, kind: k.kinds[perm[n%len(k.kinds)]], frac: rng.Float64()}
	p.group = rng.Intn(2) == 0
	p.waitOrphans = rng.Intn(2) == 0
	p.next = rng.Intn(4) == 0
	// A read that meets an interrupted change waits up to 10 s before it says so: only in long runs.
	p.readFirst = k.long && rng.Intn(8) == 0
	// Most of a sync's time goes to fetching and verifying; half of its kills come in its last fifth
	// (the push, the commit point and the adoption of the commit).
	if p.kind.sync && rng.Intn(2) == 0 {
		p.frac = 0.8 + 0.25*rng.Float64()
	}
	// A third of sync-merge's trials are killed right when its push lands, between the push and the
	// commit point: the window that only repair's look at the upstream closes.
	p.atPush = p.kind.merge && rng.Intn(3) == 0
	return p
}

type trial struct {
	plan
	dir, top string
	u        user
	value    string
	dur      time.Duration // the kind's duration when the trial ran
	delay    time.Duration
	cmdRes   result
	killed   bool
	phase    string // finished, before-commit, after-commit
	recovery []string
	outcome  string // old or new
	// preReads are the reads made before recovery; preWaited those that met the interrupted change,
	// waited for it and then said that the owner must run repair.
	preReads, preWaited int
	// nextApplied is set when the next owner command (set extra/after) recovered the vault and ran.
	nextApplied bool
	repair      string // how repair ended
	problems    []string
	// gitLocksAtKill are Git's lock files in .git right after the kill (its index, refs, config...).
	gitLocksAtKill []string
	// junk are files the killed command left that block nothing and that nobody removes: the private
	// index of its Git commit (and its lock) in .git, a half-written pending key file in the home.
	junk []string
	// newVersion is the state's version after an uninterrupted measuring run.
	newVersion uint64
}

func (tr *trial) describe() string {
	mode := "process"
	if tr.group {
		mode = "group"
	} else if tr.waitOrphans {
		mode = "process, orphans awaited"
	}
	if tr.atPush {
		mode += ", the moment its push landed"
	}
	rec := "repair"
	if tr.next {
		rec = "next command"
	}
	return fmt.Sprintf("%s killed (%s) at %v (%.2f of %v): %s; recovery by %s: %s; outcome %s",
		tr.kind.name, mode, tr.delay.Round(time.Millisecond), tr.frac, tr.dur.Round(time.Millisecond),
		tr.phase, rec, strings.Join(tr.recovery, " | "), tr.outcome)
}

func (tr *trial) problem(format string, args ...any) {
	tr.problems = append(tr.problems, fmt.Sprintf(format, args...))
}

// run carries out one trial (n < 0: an uninterrupted measuring run).
func (k *killer) run(p plan) *trial {
	t := k.t
	tr := &trial{plan: p, dir: filepath.Join(k.base, fmt.Sprintf("trial-%03d", p.n))}
	if p.n < 0 {
		tr.dir = filepath.Join(k.base, fmt.Sprintf("measure-%s%d", p.kind.name, -p.n))
	}
	tm := k.tmplOf(p.kind)
	if err := copyTree(tm.dir, tr.dir, gitObject); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if len(tr.problems) > 0 {
			if keep := os.Getenv("AGENT_VAULT_CRASH_KEEP"); keep != "" {
				dst := filepath.Join(keep, filepath.Base(tr.dir)+"-"+strconv.FormatInt(time.Now().Unix(), 10))
				if err := copyTree(tr.dir, dst, nil); err == nil {
					tr.problem("(the trial's trees are kept in %s)", dst)
				}
			}
		}
		os.RemoveAll(tr.dir)
	}()
	tr.u = user{home: filepath.Join(tr.dir, "home")}
	tr.top = filepath.Join(tr.dir, "vault")
	if tm.upstream != "" {
		tr.u.mustGit(t, tr.top, "remote", "set-url", "origin", filepath.Join(tr.dir, "remote.git"))
	}
	args := slices.Clone(p.kind.args)
	cwd := tr.top
	if p.kind.name == "init" {
		tr.top = filepath.Join(tr.dir, "fresh")
		args = append(args, tr.top)
		cwd = tr.dir
	}
	stdin := ""
	if p.kind.value {
		tr.value = fmt.Sprintf("value-of-trial-%d", p.n)
		stdin = tr.value
		if p.kind.input != nil {
			stdin = p.kind.input(tr.value)
		}
	}
	tr.dur = p.kind.dur
	if p.frac >= 0 {
		tr.delay = time.Duration(p.frac * float64(tr.dur))
	}

	cmd := tr.u.command(cwd, stdin, avBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	kill := func() {
		if p.group {
			syscall.Kill(-pgid, syscall.SIGKILL)
		} else {
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	var timer *time.Timer
	stopWatch := func() {}
	switch {
	case p.atPush:
		stopWatch = watchRef(filepath.Join(tr.dir, "remote.git"), tm.upstream, kill)
	case p.frac >= 0:
		timer = time.AfterFunc(tr.delay, kill)
	}
	err := cmd.Wait()
	stopWatch()
	if timer != nil {
		timer.Stop()
	}
	tr.cmdRes = finish(cmd, err, began, &out, &errb)
	tr.killed = tr.cmdRes.signaled
	if p.measure {
		if tr.cmdRes.code != 0 {
			tr.problem("%s failed: %s", p.kind.name, tr.cmdRes)
		} else if st, err := readState(filepath.Join(tr.top, ".agent-vault")); err != nil {
			tr.problem("%v", err)
		} else {
			p.kind.newPolicy = st.policy("extra")
			p.kind.newAdmins = st.Admins
			tr.newVersion = st.Version
		}
		return tr
	}
	if !tr.killed && tr.cmdRes.code != 0 {
		tr.problem("%s was not killed but failed: %s", p.kind.name, tr.cmdRes)
		return tr
	}
	if p.group || p.waitOrphans || !tr.killed {
		if !waitForGroup(pgid, 20*time.Second) {
			tr.problem("processes of group %d still run 20 s after the kill", pgid)
		}
	}
	tr.phase = k.phase(tr)
	tr.gitLocksAtKill = gitLocks(tr.top)
	if p.readFirst && tr.killed {
		k.readBeforeRepair(tr)
	}
	k.recover(tr)
	// Whatever was left running must be gone before the checks look at Git.
	if !waitForGroup(pgid, 20*time.Second) {
		tr.problem("processes of group %d still run 20 s after the kill", pgid)
	}
	if len(tr.problems) == 0 {
		tr.problems = append(tr.problems, k.verify(tr)...)
	}
	return tr
}

// phase says where the kill came: before the commit point (.pending/root), after it, or after the command
// finished.
func (k *killer) phase(tr *trial) string {
	if !tr.killed {
		return "finished"
	}
	vdir := filepath.Join(tr.top, ".agent-vault")
	if _, err := os.Stat(filepath.Join(vdir, ".pending", "root")); err == nil {
		return "after-commit"
	}
	raw, err := os.ReadFile(filepath.Join(vdir, "state", "root"))
	if err == nil && (tr.kind.name == "init" || hashOf(raw) != k.tmplOf(tr.kind).state.RootHash) {
		return "after-commit"
	}
	if tr.kind.sync && k.remoteHead(tr) != k.tmplOf(tr.kind).upstream {
		return "pushed" // sync's merge reached the remote: its real commit point (sync_test.go)
	}
	return "before-commit"
}

// readBeforeRepair reads an unaffected secret with agent dep's key and lists as the owner before
// anything is repaired: a read may wait and say the owner must run repair (exit 1), never exit 6.
func (k *killer) readBeforeRepair(tr *trial) {
	if tr.kind.name == "init" {
		return
	}
	checks := [][]string{
		{"get", "--no-pull", "--key", tr.u.agentKey("dep"), "ops/key-1"},
		{"list", "--no-pull", "--json"},
	}
	for _, args := range checks {
		r := tr.u.av(tr.top, "", args...)
		tr.preReads++
		switch {
		case r.code == 0 && args[0] == "get" && r.stdout != k.tmplOf(tr.kind).values["ops/key-1"]:
			tr.problem("before repair, %s returned a wrong value", strings.Join(args, " "))
		case r.code == 0:
		case r.code == 1 && strings.Contains(r.stderr, "repair"):
			tr.preWaited++
			tr.recovery = append(tr.recovery, "read before repair: waited, then asked for repair")
		default:
			tr.problem("before repair, %s: %s", strings.Join(args, " "), r)
		}
	}
}

// recover runs repair or the next owner command.
func (k *killer) recover(tr *trial) {
	u, top := tr.u, tr.top
	if tr.kind.name == "init" {
		if _, err := os.Lstat(filepath.Join(top, ".agent-vault")); err != nil {
			r := u.av(tr.dir, "", "init", top)
			tr.recovery = append(tr.recovery, "no .agent-vault yet; init again: "+summarize(r))
			tr.repair = "init again"
			if r.code != 0 {
				tr.problem("init killed before it made .agent-vault; init again: %s", r)
			}
			return
		}
	}
	var r result
	if tr.kind.sync {
		k.recoverSync(tr)
		return
	}
	if tr.next {
		r = u.av(top, "after-value", "set", "extra/after")
		tr.recovery = append(tr.recovery, "set extra/after: "+summarize(r))
		tr.repair = "next command"
		tr.nextApplied = r.code == 0
	} else {
		r = u.av(top, "", "repair")
		tr.recovery = append(tr.recovery, "repair: "+summarize(r))
		tr.repair = repairOutcome(r)
	}
	if r.code == 0 {
		return
	}
	if tr.kind.name == "init" {
		// Running init again is the natural next step when the first one was cut before its commit point.
		r2 := u.av(tr.dir, "", "init", top)
		tr.recovery = append(tr.recovery, "init again: "+summarize(r2))
		if r2.code == 0 {
			tr.repair = "init again"
			return
		}
		tr.problem("init killed (%s): neither the recovery (%s) nor init again (%s) works", tr.phase, r, r2)
		return
	}
	tr.problem("recovery failed: %s", r)
}

func summarize(r result) string {
	if r.code == 0 {
		return firstLine(r.stdout)
	}
	return fmt.Sprintf("exit %d: %s", r.code, firstLine(r.stderr))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func repairOutcome(r result) string {
	s := r.stdout
	var kind string
	switch {
	case r.code != 0:
		return "failed"
	case strings.Contains(s, "discarded"):
		kind = "discarded"
	case strings.Contains(s, "recorded an interrupted change"):
		kind = "recorded"
	case strings.Contains(s, "finished an interrupted change"):
		kind = "finished"
	case strings.Contains(s, "nothing to repair"):
		kind = "nothing to repair"
	default:
		kind = "other: " + firstLine(s)
	}
	if strings.Contains(s, "index.lock") {
		kind += " + stale index.lock removed"
	}
	return kind
}

// verify checks the vault after recovery and returns the problems found.
func (k *killer) verify(tr *trial) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	u, top := tr.u, tr.top
	vdir := filepath.Join(top, ".agent-vault")
	isInit := tr.kind.name == "init"

	for _, left := range []string{filepath.Join(vdir, ".pending"), filepath.Join(vdir, ".pending.done")} {
		if _, err := os.Lstat(left); err == nil {
			bad("%s is left after recovery", left)
		}
	}
	if locks := gitLocks(top); len(locks) > 0 {
		bad("Git lock files are left after recovery: %v (locks at the kill: %v)", locks, tr.gitLocksAtKill)
	}
	tr.junk = gitLeftovers(top, "fast_import_crash_")
	if r := u.av(top, "", "check", "--no-pull"); r.code != 0 {
		bad("check: %s", r)
	}
	if r := u.git(top, "status", "--porcelain"); r.code != 0 || r.stdout != "" {
		bad("git status --porcelain: %s", r)
	}
	if r := u.git(top, "fsck", "--no-dangling", "--no-progress"); r.code != 0 || strings.TrimSpace(r.stdout+r.stderr) != "" {
		bad("git fsck: %s", r)
	}
	st, err := readState(vdir)
	if err != nil {
		bad("cannot read the state: %v", err)
		return probs
	}

	// Old or new: the version says which; it must agree with where the kill came.
	extra := 0
	if tr.nextApplied {
		extra = 1
	}
	tm := k.tmplOf(tr.kind)
	base := tm.state.Version
	if isInit {
		base = 0
	}
	newVersion := base + 1
	if tr.kind.sync {
		newVersion = tr.kind.newVersion
	}
	switch st.Version - uint64(extra) {
	case base:
		tr.outcome = "old"
	case newVersion:
		tr.outcome = "new"
	default:
		bad("the state has version %d; the old state had %d, the new one %d", st.Version, base, newVersion)
		return probs
	}
	if tr.kind.name == "template" {
		tr.outcome = "old"
	}
	if tr.kind.sync {
		probs = append(probs, k.syncOutcome(tr)...)
	} else if tr.phase == "before-commit" && tr.outcome != "old" || (tr.phase == "after-commit" || tr.phase == "finished") && tr.outcome != "new" {
		if !(isInit && tr.repair == "init again") {
			bad("killed %s, but recovery arrived at the %s state", tr.phase, tr.outcome)
		}
	}
	// One commit per change, touching nothing outside the vault.
	if isInit {
		if r := u.git(top, "rev-list", "--count", "HEAD"); strings.TrimSpace(r.stdout) != strconv.FormatUint(st.Version, 10) {
			bad("Git has %s commits for vault version %d: %s", strings.TrimSpace(r.stdout), st.Version, r)
		}
	} else if !tr.kind.sync {
		want := st.Version - tm.state.Version
		if r := u.git(top, "rev-list", "--count", tm.head+"..HEAD"); strings.TrimSpace(r.stdout) != strconv.FormatUint(want, 10) {
			bad("Git has %s commits for %d changes: %s", strings.TrimSpace(r.stdout), want, r)
		}
		r := u.git(top, "diff", "--name-only", tm.head, "HEAD")
		for _, f := range strings.Fields(r.stdout) {
			if !strings.HasPrefix(f, ".agent-vault/") {
				bad("the change committed %s, outside the vault", f)
			}
		}
	}
	if isInit {
		if len(st.Agents) != 0 || len(st.Secrets) != len(tr.expectedExtra()) {
			bad("a new vault holds agents %v and %d secrets", sortedKeys(st.Agents), len(st.Secrets))
		}
		return probs
	}

	// The policy, the admins and the values of that state.
	wantPolicy := tm.state.policy("extra")
	wantAdmins := tm.state.Admins
	wantValues := maps(tm.values)
	if tr.outcome == "new" {
		wantPolicy = tr.kind.newPolicy
		wantAdmins = tr.kind.newAdmins
		if tr.kind.change != nil {
			tr.kind.change(wantValues, tr.value)
		}
	}
	if got := st.policy("extra"); got != wantPolicy {
		bad("the %s state has the wrong policy:\n%s\nwant:\n%s", tr.outcome, got, wantPolicy)
	}
	for p, v := range tr.expectedExtra() {
		wantValues[p] = v
	}
	ownerID, err := loadIdentity(u.ownerKey())
	if err != nil {
		bad("owner key: %v", err)
		return probs
	}
	for _, p := range sortedKeys(st.Secrets) {
		want, ok := wantValues[p]
		if !ok {
			bad("secret %s is in the %s state but should not be", p, tr.outcome)
			continue
		}
		got, ok, err := decryptFile(encPath(vdir, p), ownerID)
		if err != nil || !ok || got != want {
			bad("the owner cannot read %s back (ok %v, err %v, right value %v)", p, ok, err, got == want)
		}
	}
	for p := range wantValues {
		if _, ok := st.Secrets[p]; !ok {
			bad("secret %s is missing from the %s state", p, tr.outcome)
		}
	}
	probs = append(probs, k.checkAdmins(tr, st, wantAdmins)...)

	// Agents: the key file in place is the signed key and opens exactly what the state grants.
	entries, _ := os.ReadDir(filepath.Join(u.avHome(), "agents"))
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".pending"):
			bad("a pending key file is left: %s", e.Name())
		case strings.Contains(e.Name(), ".tmp"):
			tr.junk = append(tr.junk, "home/agents/"+e.Name())
		}
	}
	if _, ok := st.Agents["newbie"]; !ok {
		if _, err := os.Lstat(u.agentKey("newbie")); err == nil {
			bad("newbie.key exists but the state has no agent newbie")
		}
	}
	rng := rand.New(rand.NewSource(int64(tr.n)))
	for _, name := range sortedKeys(st.Agents) {
		keyPath := u.agentKey(name)
		if fi, err := os.Stat(keyPath); err != nil {
			bad("agent %s has no key file: %v", name, err)
			continue
		} else if fi.Mode().Perm() != 0o600 {
			bad("key file of %s has mode %v", name, fi.Mode().Perm())
		}
		id, err := loadIdentity(keyPath)
		if err != nil {
			bad("key file of %s: %v", name, err)
			continue
		}
		if id.Recipient().String() != st.Agents[name] {
			bad("the key file of %s is not the key the signed state names (it holds %s, the state %s)", name, id.Recipient(), st.Agents[name])
			continue
		}
		var granted, denied []string
		for _, p := range sortedKeys(st.Secrets) {
			got, ok, err := decryptFile(encPath(vdir, p), id)
			if err != nil {
				bad("agent %s, %s: %v", name, p, err)
				continue
			}
			if ok != st.grants(name, p) {
				bad("agent %s can decrypt %s: %v; the state grants it: %v", name, p, ok, st.grants(name, p))
			}
			if ok && got != wantValues[p] {
				bad("agent %s reads a wrong value of %s", name, p)
			}
			if st.grants(name, p) {
				granted = append(granted, p)
			} else {
				denied = append(denied, p)
			}
		}
		// The CLI agrees.
		r := u.av(top, "", "list", "--no-pull", "--json", "--key", keyPath)
		var listed []struct {
			Name string `json:"name"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &listed) != nil {
			bad("list --key %s: %s", name, r)
		} else {
			names := make([]string, len(listed))
			for i, l := range listed {
				names[i] = l.Name
			}
			sort.Strings(names)
			if !slices.Equal(names, granted) {
				bad("list --key %s shows %d secrets, the state grants %d", name, len(names), len(granted))
			}
		}
		if len(granted) > 0 {
			p := granted[rng.Intn(len(granted))]
			if r := u.av(top, "", "get", "--no-pull", "--key", keyPath, p); r.code != 0 || r.stdout != wantValues[p] {
				bad("get %s --key %s: %s", p, name, r)
			}
		}
		if len(denied) > 0 && name == "dep" {
			p := denied[rng.Intn(len(denied))]
			if r := u.av(top, "", "get", "--no-pull", "--key", keyPath, p); r.code != 5 || r.stdout != "" {
				bad("get %s --key %s (not granted): %s, want exit 5", p, name, r)
			}
		}
	}
	if tr.kind.name == "recover-agent" && tr.outcome == "new" {
		cur, _ := os.ReadFile(u.agentKey("ci"))
		if string(cur) == k.ciOld {
			bad("after recover-agent, ci.key is still the old key")
		}
		old, err := os.CreateTemp(tr.dir, "old-ci-*.key")
		if err == nil {
			old.WriteString(k.ciOld)
			old.Close()
			oldID, err := loadIdentity(old.Name())
			if err == nil {
				for p := range st.Secrets {
					if _, ok, _ := decryptFile(encPath(vdir, p), oldID); ok {
						bad("the old key of recovered agent ci still decrypts %s", p)
					}
				}
			}
		}
	}
	for _, p := range []string{"bulk/secret-007", "bulk/added"} {
		if want, ok := wantValues[p]; ok {
			if r := u.av(top, "", "get", "--no-pull", p); r.code != 0 || r.stdout != want {
				bad("owner get %s: %s", p, r)
			}
		}
	}
	if len(probs) > 0 {
		return probs
	}
	// A command that the kill undid can be run again.
	if (tr.kind.name == "add-agent" || strings.HasPrefix(tr.kind.name, "admin-")) && tr.outcome == "old" {
		if r := u.av(top, "", tr.kind.args...); r.code != 0 {
			bad("%s again after the kill undid it: %s", strings.Join(tr.kind.args, " "), r)
		}
	}
	return probs
}

// expectedExtra is what the next owner command of the trial added.
func (tr *trial) expectedExtra() map[string]string {
	if tr.nextApplied {
		return map[string]string{"extra/after": "after-value"}
	}
	return nil
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (k *killer) record(tr *trial) {
	ta := k.tally[tr.kind.name]
	if ta == nil {
		ta = &tally{outcomes: map[string]int{}}
		k.tally[tr.kind.name] = ta
	}
	ta.trials++
	switch tr.phase {
	case "finished":
		ta.finished++
	case "before-commit":
		ta.before++
	case "after-commit", "pushed":
		ta.after++
	}
	if tr.group {
		ta.groupKills++
	} else {
		ta.procKills++
	}
	if tr.next {
		ta.next++
	}
	ta.outcomes[tr.repair]++
	ta.preReads += tr.preReads
	ta.preWaited += tr.preWaited
	if len(tr.gitLocksAtKill) > 0 {
		ta.locked++
	}
	if len(tr.junk) > 0 {
		ta.junk++
		for _, j := range tr.junk {
			k.junkSeen[strings.TrimRight(strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return 'N'
				}
				return r
			}, j), "N")]++
		}
	}
	if len(tr.problems) > 0 {
		ta.failed++
		k.failures = append(k.failures, fmt.Sprintf("trial %d %s", tr.n, tr.kind.name))
	}
}

func (k *killer) summary(elapsed time.Duration, seed int64) {
	var b strings.Builder
	fmt.Fprintf(&b, "kill trials (seed %d) in %v:\n", seed, elapsed.Round(time.Second))
	fmt.Fprintf(&b, "  %-16s %6s %6s %6s %6s %6s %6s %5s %6s %6s %6s  %s\n", "command", "trials", "before", "after", "unkill", "group", "proc", "next", "locked", "junk", "failed", "recovery")
	total := tally{outcomes: map[string]int{}}
	for _, kd := range k.kinds {
		ta := k.tally[kd.name]
		if ta == nil {
			continue
		}
		var outs []string
		for _, o := range sortedKeys(ta.outcomes) {
			outs = append(outs, fmt.Sprintf("%s %d", o, ta.outcomes[o]))
			total.outcomes[o] += ta.outcomes[o]
		}
		fmt.Fprintf(&b, "  %-16s %6d %6d %6d %6d %6d %6d %5d %6d %6d %6d  %s\n", kd.name, ta.trials, ta.before, ta.after, ta.finished, ta.groupKills, ta.procKills, ta.next, ta.locked, ta.junk, ta.failed, strings.Join(outs, ", "))
		total.trials += ta.trials
		total.before += ta.before
		total.after += ta.after
		total.finished += ta.finished
		total.failed += ta.failed
		total.locked += ta.locked
		total.preReads += ta.preReads
		total.preWaited += ta.preWaited
		total.junk += ta.junk
	}
	fmt.Fprintf(&b, "  %-16s %6d %6d %6d %6d %20s %6d %6d %6d\n", "total", total.trials, total.before, total.after, total.finished, "", total.locked, total.junk, total.failed)
	var outs []string
	for _, o := range sortedKeys(total.outcomes) {
		outs = append(outs, fmt.Sprintf("%s: %d", o, total.outcomes[o]))
	}
	fmt.Fprintf(&b, "  recoveries: %s\n", strings.Join(outs, ", "))
	if total.preReads > 0 {
		fmt.Fprintf(&b, "  reads before recovery: %d (an exit 6 would be a failure); %d met the interrupted change, waited and asked for repair\n", total.preReads, total.preWaited)
	}
	fmt.Fprintf(&b, "  (before/after: killed before/after the commit point; unkill: the command finished before the kill;\n")
	fmt.Fprintf(&b, "   locked: the kill left one of Git's lock files in .git; junk: the killed command left a file that blocks\n")
	fmt.Fprintf(&b, "   nothing and that nobody removes: a crash report of git fast-import in .git, or a half-written key file in the home;\n")
	fmt.Fprintf(&b, "   or a sync's scratch directory in .git/agent-vault that a Git child of the killed sync wrote after repair: the next\n")
	fmt.Fprintf(&b, "   sync, owner change or repair removes it; a sync killed after its push landed is counted as after the commit point)")
	if len(k.junkSeen) > 0 {
		var js []string
		for _, j := range sortedKeys(k.junkSeen) {
			js = append(js, fmt.Sprintf("%s (%d)", j, k.junkSeen[j]))
		}
		fmt.Fprintf(&b, "\n  junk left: %s", strings.Join(js, ", "))
	}
	if len(k.failures) > 0 {
		fmt.Fprintf(&b, "\n  FAILED: %s", strings.Join(k.failures, ", "))
	}
	k.t.Log(b.String())
}

// gitLocks lists Git's own lock files below top/.git: any of them left behind stops later Git commands.
func gitLocks(top string) []string { return gitLeftovers(top, ".lock") }

// gitLeftovers lists the files below top/.git whose name ends in suffix (".lock") or starts with it.
func gitLeftovers(top, pattern string) []string {
	var out []string
	gitDir := filepath.Join(top, ".git")
	filepath.WalkDir(gitDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == "objects" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(d.Name(), pattern) || strings.HasPrefix(d.Name(), pattern)) {
			rel, _ := filepath.Rel(gitDir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// waitForGroup waits until no live (non-zombie) process is in process group pgid.
func waitForGroup(pgid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !groupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); err == syscall.ESRCH {
		return false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid pgrp ...
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
