package crash_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadersNeverRaiseFalseAlarm runs readers in a loop while the vault changes under them
// (docs/format.md section 6.6, "a snapshot or nothing"): in the owner's working tree while the owner
// grants and revokes an agent on a 300-secret group and sets values, and in a second clone while
// `git pull --ff-only` brings in every change the owner pushes. No read may exit 6 (integrity) or fail
// otherwise, and every value read must be one that was set for its path. The readers in the owner's tree
// share the owner's agent-vault home, so their high-water marks rise with the owner's changes and with
// each other's reads, as on one machine.
func TestReadersNeverRaiseFalseAlarm(t *testing.T) {
	cycles := envInt("AGENT_VAULT_CRASH_READ_CYCLES", 1)
	if testing.Short() {
		cycles = 1
	}
	const nSecrets = 300
	setupStart := time.Now()
	base := t.TempDir()
	owner := user{home: filepath.Join(base, "owner")}
	top := filepath.Join(base, "work")
	newVault(t, owner, top, "ci", "dep")
	paths, values := bulkPaths(nSecrets)
	setMany(t, owner, top, paths, values)
	owner.mustAV(t, top, "", "grant", "ci", "bulk")
	bare := filepath.Join(base, "remote.git")
	owner.mustGit(t, base, "init", "-q", "--bare", bare)
	owner.mustGit(t, top, "remote", "add", "origin", bare)
	owner.mustGit(t, top, "push", "-q", "-u", "origin", "main")

	// The agents' machine: its own home (and so its own high-water marks) and a clone of the remote.
	agent := user{home: filepath.Join(base, "agent")}
	clone := filepath.Join(base, "clone")
	if err := os.MkdirAll(filepath.Join(agent.avHome(), "agents"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ci", "dep"} {
		data, err := os.ReadFile(owner.agentKey(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(agent.agentKey(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	agent.mustGit(t, base, "clone", "-q", bare, clone)

	setupTime := time.Since(setupStart)
	allowed := newAllowed()
	for i, p := range paths {
		allowed.add(p, values[i])
	}
	hot := paths[:8] // the secrets the owner rotates; readers read them half of the time

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		failMu   sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		failMu.Lock()
		defer failMu.Unlock()
		if len(failures) < 50 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	pick := func(rng *rand.Rand) string {
		if rng.Intn(2) == 0 {
			return hot[rng.Intn(len(hot))]
		}
		return paths[rng.Intn(len(paths))]
	}
	// getChecks checks one get: exit 0 with an allowed value, or exit 5 when mayBeDenied.
	getChecks := func(who, p string, r result, mayBeDenied bool) {
		switch {
		case r.code == 0 && allowed.has(p, r.stdout):
		case r.code == 0:
			fail("%s: get %s returned a value never set for it (%d bytes)", who, p, len(r.stdout))
		case r.code == 5 && mayBeDenied:
		default:
			fail("%s: get %s: %s", who, p, r)
		}
	}
	listChecks := func(who string, r result) {
		if r.code != 0 {
			fail("%s: list: %s", who, r)
			return
		}
		var entries []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
			fail("%s: list printed no JSON array: %v", who, err)
			return
		}
		if len(entries) != nSecrets {
			fail("%s: list showed %d secrets, want %d", who, len(entries), nSecrets)
		}
	}

	type readerLoop struct {
		name string
		read func(i int, rng *rand.Rand) result
	}
	readers := []readerLoop{
		{"work: get --key ci", func(i int, rng *rand.Rand) result {
			p := pick(rng)
			r := owner.av(top, "", "get", "--no-pull", "--key", owner.agentKey("ci"), p)
			getChecks("work reader ci", p, r, false)
			return r
		}},
		{"work: list (owner) / get --key dep", func(i int, rng *rand.Rand) result {
			if i%2 == 0 {
				r := owner.av(top, "", "list", "--no-pull", "--json")
				listChecks("work reader owner", r)
				return r
			}
			p := pick(rng)
			r := owner.av(top, "", "get", "--no-pull", "--key", owner.agentKey("dep"), p)
			getChecks("work reader dep", p, r, true)
			return r
		}},
		{"clone: get --key ci", func(i int, rng *rand.Rand) result {
			p := pick(rng)
			r := agent.av(clone, "", "get", "--no-pull", "--key", agent.agentKey("ci"), p)
			getChecks("clone reader ci", p, r, false)
			return r
		}},
		{"clone: list --key ci (pulls first) / get --key dep", func(i int, rng *rand.Rand) result {
			if i%2 == 0 {
				r := agent.av(clone, "", "list", "--json", "--key", agent.agentKey("ci"))
				listChecks("clone reader ci (list)", r)
				return r
			}
			p := pick(rng)
			r := agent.av(clone, "", "get", "--no-pull", "--key", agent.agentKey("dep"), p)
			getChecks("clone reader dep", p, r, true)
			return r
		}},
	}
	type stats struct {
		reads, slow, exit6 int
		max                time.Duration
	}
	st := make([]stats, len(readers))
	for ri, rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(ri) + 1))
			for i := 0; !stop.Load(); i++ {
				r := rd.read(i, rng)
				s := &st[ri]
				s.reads++
				if r.code == 6 {
					s.exit6++
				}
				if r.dur > 100*time.Millisecond {
					s.slow++
				}
				s.max = max(s.max, r.dur)
			}
		}()
	}
	var pulls, pullFailures atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if r := agent.git(clone, "pull", "--ff-only", "-q"); r.code != 0 {
				pullFailures.Add(1) // another pull (the list reader's) held the lock: not a reader's concern
			}
			pulls.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	stopReaders := func() {
		if !stop.Swap(true) {
			wg.Wait()
		}
	}
	defer stopReaders()

	start := time.Now()
	changes := 0
	changeTime := map[string]time.Duration{}
	changeCount := map[string]int{}
	change := func(stdin string, args ...string) {
		t0 := time.Now()
		owner.mustAV(t, top, stdin, args...)
		changeTime[args[0]] += time.Since(t0)
		changeCount[args[0]]++
		owner.mustGit(t, top, "push", "-q", "origin", "main")
		changes++
	}
	setHot := func(c, k int) {
		p := hot[(2*c+k)%len(hot)]
		v := fmt.Sprintf("rotated-%s-%d-%d", p, c, k)
		allowed.add(p, v) // before the change: a reader may see it as soon as it is applied
		change(v, "set", p)
	}
	for c := range cycles {
		change("", "grant", "dep", "bulk")
		setHot(c, 0)
		change("", "revoke", "dep", "bulk")
		setHot(c, 1)
	}
	// Let the clone catch up, then stop.
	head := strings.TrimSpace(owner.mustGit(t, top, "rev-parse", "HEAD"))
	for deadline := time.Now().Add(20 * time.Second); ; {
		if strings.TrimSpace(agent.git(clone, "rev-parse", "HEAD").stdout) == head {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the clone never caught up with the owner's pushes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	stopReaders()
	elapsed := time.Since(start)

	total, exit6 := 0, 0
	for ri, rd := range readers {
		s := st[ri]
		total += s.reads
		exit6 += s.exit6
		t.Logf("reader %-50s %5d reads, %3d over 100 ms, slowest %v", rd.name, s.reads, s.slow, s.max.Round(time.Millisecond))
	}
	t.Logf("%d reads in %v during %d owner changes (%d cycles of grant/set/revoke/set on %d secrets) and %d pulls (%d failed on a concurrent pull); %d exits 6",
		total, elapsed.Round(time.Millisecond), changes, cycles, nSecrets, pulls.Load(), pullFailures.Load(), exit6)
	var times []string
	for _, c := range sortedKeys(changeCount) {
		times = append(times, fmt.Sprintf("%d %s in %v on average", changeCount[c], c, (changeTime[c]/time.Duration(changeCount[c])).Round(time.Millisecond)))
	}
	t.Logf("owner changes under the readers: %s; setup took %v", strings.Join(times, ", "), setupTime.Round(time.Millisecond))
	sort.Strings(failures)
	for _, f := range failures {
		t.Error(f)
	}

	// After the dust settles, both trees hold the last values.
	for _, p := range hot {
		want := allowed.latest(p)
		for _, where := range []struct {
			u   user
			dir string
		}{{owner, top}, {agent, clone}} {
			r := where.u.av(where.dir, "", "get", "--no-pull", "--key", where.u.agentKey("ci"), p)
			if r.code != 0 || r.stdout != want {
				t.Errorf("after the changes, get %s in %s: %s (want the last value set)", p, where.dir, r)
			}
		}
	}
	if r := owner.av(top, "", "check", "--no-pull"); r.code != 0 {
		t.Errorf("check after the changes: %s", r)
	}
}

// allowedValues is every value set for each path, and the last one.
type allowedValues struct {
	mu   sync.Mutex
	m    map[string]map[string]bool
	last map[string]string
}

func newAllowed() *allowedValues {
	return &allowedValues{m: map[string]map[string]bool{}, last: map[string]string{}}
}

func (a *allowedValues) add(p, v string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m[p] == nil {
		a.m[p] = map[string]bool{}
	}
	a.m[p][v] = true
	a.last[p] = v
}

func (a *allowedValues) has(p, v string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[p][v]
}

func (a *allowedValues) latest(p string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last[p]
}
