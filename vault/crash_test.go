package vault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// Crash safety (docs/format.md section 9; README "Crash safety"): after a crash at any point the owner
// can still decrypt every secret, readers fail loudly or return the right value, and Repair returns the
// vault to a verified state with the old or the new policy fully applied and nothing lost.

// crashVault is a test vault with agents ci (member of group bulk) and dep (not yet a member), and n
// secrets in group bulk.
type crashVault struct {
	*testVault
	dep    *Key
	values map[string]string
}

func newCrashVault(t *testing.T, n int) *crashVault {
	t.Helper()
	tv := newTestVault(t)
	depFile := tv.owned(func(o *Owner) ([]byte, error) { return addAgent(o, "dep") })
	dep, err := ParseKeyFile(depFile, "dep.key", quiet)
	if err != nil {
		t.Fatal(err)
	}
	tv.grant("ci", "bulk")
	cv := &crashVault{testVault: tv, dep: dep, values: map[string]string{}}
	paths := make([]string, n)
	vals := make([][]byte, n)
	for i := range n {
		paths[i] = fmt.Sprintf("bulk/secret-%03d", i)
		cv.values[paths[i]] = fmt.Sprintf("bulk-value-%03d-%s", i, strings.Repeat("v", i%23))
		vals[i] = []byte(cv.values[paths[i]])
	}
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.SetMany(paths, vals, SetOptions{}) })
	return cv
}

// crashed is the sentinel a crash hook panics with.
type crashed struct{ step string }

// grantCrashingAt runs Grant(dep, bulk) with the crash hook stopping it at step, as a crash would, and
// releases the lock as the death of the process would.
func (cv *crashVault) grantCrashingAt(step string) {
	t := cv.t
	t.Helper()
	crashHook = func(s string) {
		if s == step {
			panic(crashed{s})
		}
	}
	defer func() { crashHook = func(string) {} }()
	o, err := cv.v.OpenOwner(cv.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	func() {
		defer func() {
			r := recover()
			if c, ok := r.(crashed); !ok || c.step != step {
				t.Fatalf("the grant did not stop at step %q (recovered %v)", step, r)
			}
		}()
		o.Grant("dep", "bulk")
	}()
}

// ownerDecryptsEverything checks that no value is lost, decrypting with the owner's identity directly
// (no verification): each secret's .enc decrypts to its value, or, once an interrupted change is past
// its commit point, the change's staged copy does (a file being rewritten in place may be torn until
// repair writes that copy; docs/format.md section 9.1). Every staged copy of a complete change must
// decrypt too. The old and the new ciphertext hold the same value here.
func ownerDecryptsEverything(t *testing.T, dir string, owner age.Identity, values map[string]string) {
	t.Helper()
	var staged map[string][]byte
	if exists(dir, pendingDir+"/root") {
		var err error
		if staged, err = readStaged(filepath.Join(dir, pendingDir)); err != nil {
			t.Fatalf("a complete change's staged files cannot be read: %v", err)
		}
	}
	decrypt := func(enc []byte, want string) error {
		r, err := age.Decrypt(bytes.NewReader(enc), owner)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if string(got) != want {
			return errors.New("a wrong value")
		}
		return nil
	}
	for path, want := range values {
		rel := encFile(path)
		copy, isStaged := staged[rel]
		if isStaged {
			if err := decrypt(copy, want); err != nil {
				t.Fatalf("the staged copy of %s does not decrypt to its value: %v", rel, err)
			}
		}
		enc, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err == nil {
			err = decrypt(enc, want)
		}
		if err != nil && !isStaged {
			t.Fatalf("the owner cannot decrypt %s, and no complete change holds it: %v", rel, err)
		}
	}
}

// readersNeverLie reads paths with key: each read returns the right value or fails loudly with an
// integrity or not-authorized error. It returns how many reads succeeded.
func readersNeverLie(t *testing.T, v *Vault, key *Key, values map[string]string, paths []string) int {
	t.Helper()
	// An interrupted change is never reported as tampering (docs/format.md section 6.6): a read that
	// meets it either succeeds or says that the owner must run repair.
	interrupted := func(err error) bool { return KindOf(err) == KindError && strings.Contains(err.Error(), "repair") }
	s, err := v.Open(key)
	if err != nil {
		if !interrupted(err) {
			t.Fatalf("open: %s error %v", KindOf(err), err)
		}
		return 0
	}
	ok := 0
	for _, p := range paths {
		got, err := s.Get(p)
		switch {
		case err == nil:
			if string(got) != values[p] {
				t.Fatalf("%s read %s: wrong value", key.Source, p)
			}
			ok++
		case KindOf(err) == KindNotAuthorized || interrupted(err):
			if strings.Contains(err.Error(), values[p]) {
				t.Fatalf("the error message contains the value: %v", err)
			}
		default:
			t.Fatalf("%s read %s: %s error %v", key.Source, p, KindOf(err), err)
		}
	}
	return ok
}

// verifyRepaired repairs the vault and checks it verifies with the old or the new policy fully applied
// and nothing lost. It returns whether the new policy (dep a member of bulk) won.
func verifyRepaired(t *testing.T, v *Vault, owner, ci, dep *Key, values map[string]string, samplePaths []string) bool {
	t.Helper()
	if _, err := v.Repair(owner); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if exists(v.Dir, pendingDir) || exists(v.Dir, doneDir) {
		t.Fatal("repair left .pending behind")
	}
	s, err := v.Open(owner)
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	if rep := s.Check(time.Hour); rep.Errors() != 0 {
		t.Fatalf("check after repair: %+v", rep.Findings)
	}
	members := s.Root.Groups["bulk"].Members
	newPolicy := slices.Equal(members, []string{"ci", "dep"})
	if !newPolicy && !slices.Equal(members, []string{"ci"}) {
		t.Fatalf("group bulk has members %v: neither the old nor the new policy", members)
	}
	listed, err := s.List("bulk")
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(values) {
		t.Fatalf("%d secrets after repair, want %d", len(listed), len(values))
	}
	// Check verified every hash and that the owner decrypts every file; the values are the right ones.
	ownerDecryptsEverything(t, v.Dir, owner.Identity, values)
	if n := readersNeverLie(t, v, ci, values, samplePaths); n != len(samplePaths) {
		t.Fatalf("ci reads %d of %d secrets after repair", n, len(samplePaths))
	}
	n := readersNeverLie(t, v, dep, values, samplePaths)
	if newPolicy && n != len(samplePaths) || !newPolicy && n != 0 {
		t.Fatalf("dep reads %d of %d secrets after repair under the %v policy", n, len(samplePaths), map[bool]string{true: "new", false: "old"}[newPolicy])
	}
	return newPolicy
}

func TestCrashDuringGrant(t *testing.T) {
	for _, tc := range []struct {
		step      string
		newPolicy bool // what repair must arrive at
		ciReads   bool // whether ci's reads before repair all succeed
		live      bool // whether the new policy is in place before repair
	}{
		{"staged", false, true, false},
		{"marked", true, true, false},
		{"half-applied", true, false, false},
		{"applied", true, false, false},
		{"rooted", true, true, true},
		{"keyed", true, true, true},
		{"recorded", true, true, true},
		{"cleaning", true, true, true},
	} {
		t.Run(tc.step, func(t *testing.T) {
			cv := newCrashVault(t, 50)
			paths := sortedKeys(cv.values)
			cv.grantCrashingAt(tc.step)
			if !exists(cv.v.Dir, pendingDir) && !exists(cv.v.Dir, doneDir) {
				t.Fatal("the crash left no pending change")
			}
			ownerDecryptsEverything(t, cv.v.Dir, cv.owner.Identity, cv.values)
			n := readersNeverLie(t, cv.v, cv.ci, cv.values, paths)
			if tc.ciReads && n != len(paths) || !tc.ciReads && n == len(paths) {
				t.Errorf("ci read %d of %d secrets before repair", n, len(paths))
			}
			if n := readersNeverLie(t, cv.v, cv.dep, cv.values, paths); !tc.live && n != 0 || tc.live && n != len(paths) {
				t.Errorf("dep read %d of %d secrets before repair (new policy in place: %v)", n, len(paths), tc.live)
			}
			if got := verifyRepaired(t, cv.v, cv.owner, cv.ci, cv.dep, cv.values, paths); got != tc.newPolicy {
				t.Fatalf("repair arrived at the new policy: %v, want %v", got, tc.newPolicy)
			}
			// The vault is usable again.
			cv.set("bulk/after-repair", "value-after-repair", SetOptions{})
		})
	}
}

// linkDir recreates a directory tree with hard links to its files, leaving out the lock file (a flock is
// on the shared inode). It is a cheap copy for trees that are only ever replaced by renames, never
// written in place, as the transaction protocol does.
func linkDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case d.Name() == ".lock":
			return nil
		}
		return os.Link(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMain runs the test binary as the child of TestCrashSubprocess when the parent asks for it, and the
// tests otherwise.
func TestMain(m *testing.M) {
	if dir := os.Getenv("AGENT_VAULT_TEST_CRASH_CHILD"); dir != "" {
		crashChild(dir)
	}
	// Readers wait for a writer at most this long in tests, so that reads of an interrupted change
	// report it quickly.
	writerWait = 200 * time.Millisecond
	staleGitLockWait = 200 * time.Millisecond
	os.Exit(m.Run())
}

// crashChild grants dep the group bulk of the vault in dir; the parent kills it at some point.
func crashChild(dir string) {
	if step := os.Getenv("AGENT_VAULT_TEST_CRASH_STEP"); step != "" {
		// Die at the named step, all goroutines at once, as a crash would.
		crashHook = func(s string) {
			if s == step {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	key, err := ResolveKey("", quiet)
	if err != nil {
		fail(err)
	}
	v, err := Find(dir)
	if err != nil {
		fail(err)
	}
	o, err := v.OpenOwner(key)
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	if _, _, err := o.Grant("dep", "bulk"); err != nil {
		fail(err)
	}
	o.Close()
	os.Exit(0)
}

func TestCrashSubprocess(t *testing.T) {
	budget := time.Now().Add(12 * time.Second)
	cv := newCrashVault(t, 320)
	paths := sortedKeys(cv.values)
	var sample []string
	for i := 0; i < len(paths); i += 16 {
		sample = append(sample, paths[i])
	}
	template := t.TempDir()
	copyDir(t, cv.v.Top, filepath.Join(template, "top"))
	copyDir(t, cv.home, filepath.Join(template, "home"))

	// run copies the template and starts a child granting dep the group. The child kills itself at step
	// when step is set; otherwise the parent kills it delay after it is ready (never, when delay < 0).
	// run returns the vault, how long the child ran after being ready and whether it died by SIGKILL.
	run := func(delay time.Duration, step string) (*Vault, time.Duration, bool) {
		t.Helper()
		top, home := t.TempDir(), t.TempDir()
		linkDir(t, filepath.Join(template, "top"), top)
		copyDir(t, filepath.Join(template, "home"), home)
		keys, _ := filepath.Glob(filepath.Join(home, "agents", "*.key"))
		for _, k := range append(keys, filepath.Join(home, "owner.key")) {
			if err := os.Chmod(k, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("AGENT_VAULT_HOME", home)
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "AGENT_VAULT_TEST_CRASH_CHILD="+top, "AGENT_VAULT_TEST_CRASH_STEP="+step,
			"AGENT_VAULT_HOME="+home, "AGENT_VAULT_KEY=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				cmd.Wait()
				t.Fatalf("the child never got ready: %v; stderr: %s", err, stderr.String())
			}
			if strings.TrimSpace(line) == "ready" {
				break
			}
		}
		start := time.Now()
		go io.Copy(io.Discard, br)
		if step == "" && delay >= 0 {
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL) // may come after the child finished
		}
		err = cmd.Wait()
		ran := time.Since(start)
		killed := false
		if err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child: %v; stderr: %s", err, stderr.String())
			}
			killed = true
		}
		if step != "" && !killed {
			t.Fatalf("the child did not die at step %s", step)
		}
		v, err := Find(top)
		if err != nil {
			t.Fatal(err)
		}
		return v, ran, killed
	}
	check := func(v *Vault) bool {
		t.Helper()
		ownerDecryptsEverything(t, v.Dir, cv.owner.Identity, cv.values)
		readersNeverLie(t, v, cv.ci, cv.values, sample)
		readersNeverLie(t, v, cv.dep, cv.values, sample)
		return verifyRepaired(t, v, cv.owner, cv.ci, cv.dep, cv.values, sample)
	}

	// A full run, to learn how long the grant takes and to check the child works.
	v, full, _ := run(-1, "")
	if !check(v) {
		t.Fatal("the uninterrupted grant did not apply the new policy")
	}
	t.Logf("an uninterrupted grant of %d secrets took %v", len(paths), full)

	// A real crash (all goroutines die at once) at each named step of the transaction.
	for _, step := range []struct {
		name      string
		newPolicy bool
	}{{"staged", false}, {"marked", true}, {"half-applied", true}, {"applied", true}} {
		v, _, _ := run(0, step.name)
		if got := check(v); got != step.newPolicy {
			t.Fatalf("killed at %s: repair arrived at the new policy: %v, want %v", step.name, got, step.newPolicy)
		}
	}

	// Kills at times spread over the whole grant, with some jitter, the last ones near its end.
	outcomes := map[bool]int{}
	kills := 0
	for i, frac := range []float64{0.15, 0.5, 0.8, 0.95} {
		if i > 0 && time.Now().After(budget) {
			t.Logf("time budget spent after %d timed kills", i)
			break
		}
		delay := time.Duration(frac * float64(full))
		delay += time.Duration(time.Now().UnixNano() % int64(5*time.Millisecond))
		v, _, killed := run(delay, "")
		if killed {
			kills++
		}
		outcomes[check(v)]++
	}
	t.Logf("%d children killed by timer; repair arrived at the old policy %d times, the new one %d times", kills, outcomes[false], outcomes[true])
	if kills == 0 {
		t.Log("every timed kill came after the grant had finished (a slow machine); the step kills above still ran")
	}
}
