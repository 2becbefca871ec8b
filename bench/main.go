// Command bench measures agent-vault on this machine against the stock age CLI, the original agent-vault
// (the Rust crate agent-vault 0.1.0, when installed: scripts/install-original.sh) and the crypto-only
// floor, on vaults of 10 and 10,000 secrets in one group, and prints a table of medians and ratios with
// the targets they check. Run it with `make bench` (or `make bench-quick`: 10 and 1,000 secrets, fewer
// runs).
//
// Every program is driven through its command line only, with its own HOME, so the benchmark does not
// depend on either on-disk format. Commands that are compared run interleaved (one run of each in turn),
// so that all see the same machine load. agent-vault's vaults are built with one import; the original's
// take one set per secret (it has no bulk set), several minutes at 10,000: with -cache DIR a built vault
// is kept and copied for later runs, as long as the same binary is measured.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type config struct {
	bin, original, cache, work string
	sizes                      []int
	runs, listRuns, setRuns    int
	repeat                     int
	pqSize                     int  // secrets of the post-quantum comparison (pq.go); 0: none
	pqOnly                     bool // only the post-quantum comparison
}

func main() {
	var c config
	var sizes string
	flag.StringVar(&c.bin, "bin", "bin/agent-vault", "the agent-vault binary to measure")
	flag.StringVar(&c.original, "original", "", "the original agent-vault binary (default: $ORIGINAL_AGENT_VAULT, .original/bin/agent-vault, /opt/original/bin/agent-vault)")
	flag.StringVar(&sizes, "sizes", "10,10000", "vault sizes (secrets in the group), comma-separated")
	flag.IntVar(&c.runs, "runs", 300, "timed runs of each get command")
	flag.IntVar(&c.listRuns, "list-runs", 30, "timed runs of each list command (fewer when one run is slow)")
	flag.IntVar(&c.setRuns, "set-runs", 15, "timed runs of each set command")
	flag.IntVar(&c.repeat, "repeat", 3, "grant/revoke pairs per program on vaults of 1,000 secrets or more (at least 7 below)")
	flag.StringVar(&c.cache, "cache", "", "keep built vaults in `DIR` and reuse them while the binaries are unchanged")
	flag.StringVar(&c.work, "work", "", "work in `DIR` and keep it (default: a temporary directory, removed)")
	flag.IntVar(&c.pqSize, "pq-size", 10000, "secrets of the classic and post-quantum vaults compared (0: no comparison)")
	flag.BoolVar(&c.pqOnly, "pq-only", false, "run only the post-quantum comparison")
	flag.Parse()
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: bad size %q\n", f)
			os.Exit(2)
		}
		c.sizes = append(c.sizes, n)
	}
	slices.Sort(c.sizes)
	c.sizes = slices.Compact(c.sizes)
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pairedSizes is this agent-vault's get and set at the small and the large size, measured in the same
// rounds: the targets that compare two sizes use them, so that a change of the machine's speed between the
// sections of the two sizes (seen as 20% and more on a shared machine) cannot decide them.
type pairedSizes struct {
	small, large       int
	getSmall, getLarge *result
	setSmall, setLarge *result
}

// measurePaired times get and set on the small and the large vault, alternately. The sets add secrets
// to the group, after every other measurement of these vaults.
func measurePaired(c config, small, large *vaultDir) *pairedSizes {
	p := &pairedSizes{small: small.n, large: large.n}
	fmt.Fprintf(os.Stderr, "measuring get and set at %d and %d secrets, paired\n", small.n, large.n)
	getSpec := func(v *vaultDir) *spec {
		path, want := secretPath(v.n/2), []byte(secretValue(v.n/2))
		return &spec{label: "ours", check: func(out []byte) error {
			if !bytes.Equal(out, want) {
				return fmt.Errorf("printed %q, want %q", firstLine(string(out)), want)
			}
			return nil
		}, cmd: func(int) *exec.Cmd { return v.impl.get(v, path) }}
	}
	res := interleave([]*spec{getSpec(small), getSpec(large)}, 20, c.runs)
	p.getSmall, p.getLarge = res[0], res[1]
	setSpec := func(v *vaultDir) *spec {
		return &spec{label: "ours", cmd: func(i int) *exec.Cmd {
			return v.impl.set(v, fmt.Sprintf("%s/paired-%04d", group, i), secretValue(200000+i))
		}}
	}
	res = interleave([]*spec{setSpec(small), setSpec(large)}, 1, c.setRuns)
	p.setSmall, p.setLarge = res[0], res[1]
	return p
}

// installCopy copies the program at path into dir, executable, and returns the copy's path.
func installCopy(path, dir string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(path))
	return dst, os.WriteFile(dst, data, 0o755)
}

// sizeResult is everything measured at one size, for the targets.
type sizeResult struct {
	n                      int
	age, get, origGet      *result
	list, origList         *result
	set, origSet           *result
	change                 map[string]*changeResult // "ours grant", "original revoke", ...
	imp                    *changeResult            // import of n secrets into a new vault (ours)
	floor                  floors
	floorErr               error
	oursErr, origErr       error
	oursSetup, origSetup   time.Duration
	oursCached, origCached bool
}

type changeResult struct {
	times []time.Duration
	rss   []int64
	loose []int
	err   error
}

func (c *changeResult) ok() bool { return c != nil && c.err == nil && len(c.times) > 0 }

func run(c config) error {
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build)", bin, err)
	}
	agePath, err := exec.LookPath("age")
	if err != nil {
		return fmt.Errorf("the stock age CLI is needed (apt-get install age): %w", err)
	}
	if c.cache != "" {
		if c.cache, err = filepath.Abs(c.cache); err != nil {
			return err
		}
		if err := os.MkdirAll(c.cache, 0o755); err != nil {
			return err
		}
	}
	work := c.work
	if work == "" {
		if work, err = os.MkdirTemp("", "agent-vault-bench"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	} else {
		if work, err = filepath.Abs(work); err != nil {
			return err
		}
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
	}

	// The programs are measured as installed: a copy, as make install and the release archives put them.
	// A binary the Go linker has just written starts about 1 ms slower than a copy of it (measured on the
	// development machine: 5.8 against 4.8 ms for the same get), which is not what a user runs.
	built := bin
	if bin, err = installCopy(bin, filepath.Join(work, "bin")); err != nil {
		return err
	}
	if c.pqOnly {
		measurePQ(c, bin, work, max(c.pqSize, 10))
		return nil
	}
	o := ours(bin)
	if o.hash, err = hashFile(bin); err != nil {
		return err
	}
	impls := []*impl{o}
	var orig *impl
	if p := findOriginal(c.original); p != "" {
		orig = original(p)
		if orig.hash, err = hashFile(p); err != nil {
			return err
		}
		impls = append(impls, orig)
	}

	fmt.Printf("agent-vault benchmark: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("  agent-vault:          %s (measured as installed: a copy, in the work directory)\n", built)
	fmt.Printf("  stock age CLI:        %s (%s)\n", agePath, versionOf(agePath, "--version"))
	if orig != nil {
		fmt.Printf("  original agent-vault: %s (%s)\n", orig.bin, originalVersion(orig.bin))
	} else {
		fmt.Printf("  original agent-vault not installed (scripts/install-original.sh)\n")
	}
	getOnly := filepath.Join(work, "getonly")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", getOnly, "./bench/getonly")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("  bench/getonly does not build (its row is left out): %s\n", firstLine(string(out)))
		getOnly = ""
	} else if getOnly, err = installCopy(getOnly, filepath.Join(work, "bin")); err != nil {
		return err
	}
	fmt.Println()

	// Build (or copy from the cache) every vault first, so that no measurement runs beside a build. The
	// programs build side by side; each builds its sizes one after the other.
	fmt.Fprintf(os.Stderr, "preparing vaults of %s secrets (-cache keeps them)\n", joinInts(c.sizes))
	vaults := map[string]*vaultDir{}
	verrs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	plog := &progressLog{}
	for _, im := range impls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range c.sizes {
				v, err := prepare(im, n, work, c.cache, plog)
				mu.Lock()
				key := fmt.Sprintf("%s-%d", im.name, n)
				vaults[key], verrs[key] = v, err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	var results []*sizeResult
	for _, n := range c.sizes {
		r := &sizeResult{n: n, change: map[string]*changeResult{}}
		results = append(results, r)
		ov, oerr := vaults[fmt.Sprintf("ours-%d", n)], verrs[fmt.Sprintf("ours-%d", n)]
		var gv *vaultDir
		var gerr error
		if orig != nil {
			gv, gerr = vaults[fmt.Sprintf("original-%d", n)], verrs[fmt.Sprintf("original-%d", n)]
		}
		r.oursErr, r.origErr = oerr, gerr
		if ov != nil {
			r.oursSetup, r.oursCached = ov.setup, ov.cached != ""
		}
		if gv != nil {
			r.origSetup, r.origCached = gv.setup, gv.cached != ""
		}
		measureSize(c, r, agePath, getOnly, ov, gv)
		printSize(c, r, orig != nil)
	}
	var paired *pairedSizes
	if len(results) > 1 {
		small, large := vaults[fmt.Sprintf("ours-%d", c.sizes[0])], vaults[fmt.Sprintf("ours-%d", c.sizes[len(c.sizes)-1])]
		if small != nil && large != nil {
			paired = measurePaired(c, small, large)
			printPaired(paired)
		}
	}
	if c.work == "" {
		for _, v := range vaults {
			if v != nil {
				os.RemoveAll(v.root)
			}
		}
	}
	printTargets(results, paired, orig != nil)
	if c.pqSize > 0 {
		measurePQ(c, bin, work, c.pqSize)
	}
	return nil
}

func measureSize(c config, r *sizeResult, agePath, getOnly string, ov, gv *vaultDir) {
	n := r.n
	fmt.Fprintf(os.Stderr, "measuring at %d secrets\n", n)
	mid := n / 2
	path, want := secretPath(mid), []byte(secretValue(mid))
	checkValue := func(out []byte) error {
		if !bytes.Equal(out, want) {
			return fmt.Errorf("printed %q, want %q", firstLine(string(out)), want)
		}
		return nil
	}

	// get: the stock age CLI on our ciphertext (the original's when ours is missing), ours, the original,
	// and the read path alone.
	var specs []*spec
	var slots []**result
	ageVault := ov
	if ageVault == nil {
		ageVault = gv
	}
	if ageVault != nil {
		file, err := findCiphertext(ageVault.repo, path)
		if err != nil {
			r.age = &result{err: err}
		} else {
			key := ageVault.agentKey(reader)
			specs = append(specs, &spec{label: "age", check: checkValue, cmd: func(int) *exec.Cmd {
				return ageVault.command(ageVault.root, agePath, "-d", "-i", key, file)
			}})
			slots = append(slots, &r.age)
		}
	}
	if ov != nil {
		specs = append(specs, &spec{label: "ours", check: checkValue, cmd: func(int) *exec.Cmd { return ov.impl.get(ov, path) }})
		slots = append(slots, &r.get)
	}
	if gv != nil {
		specs = append(specs, &spec{label: "original", check: checkValue, cmd: func(int) *exec.Cmd { return gv.impl.get(gv, path) }})
		slots = append(slots, &r.origGet)
	}
	var getOnlyRes *result
	if ov != nil && getOnly != "" {
		specs = append(specs, &spec{label: "getonly", check: checkValue, cmd: func(int) *exec.Cmd {
			return ov.command(ov.root, getOnly, ov.repo, ov.agentKey(reader), path)
		}})
		slots = append(slots, &getOnlyRes)
	}
	for j, res := range interleave(specs, 20, c.runs) {
		*slots[j] = res
	}
	getOnlyResults[n] = getOnlyRes

	// list with the agent key.
	specs, slots = nil, nil
	last := []byte(secretPath(n - 1))
	checkList := func(out []byte) error {
		if !bytes.Contains(out, last) {
			return fmt.Errorf("the listing does not name %s", last)
		}
		return nil
	}
	if ov != nil {
		specs = append(specs, &spec{label: "ours", check: checkList, cmd: func(int) *exec.Cmd { return ov.impl.list(ov) }})
		slots = append(slots, &r.list)
	}
	if gv != nil {
		specs = append(specs, &spec{label: "original", check: checkList, cmd: func(int) *exec.Cmd { return gv.impl.list(gv) }})
		slots = append(slots, &r.origList)
	}
	for j, res := range interleave(specs, 2, budgetRuns(specs, c.listRuns, 60*time.Second)) {
		*slots[j] = res
	}

	// grant and revoke of one agent on the whole group, in turn.
	repeat := c.repeat
	if n < 1000 {
		repeat = max(repeat, 7)
	}
	for range repeat {
		for _, op := range []string{"grant", "revoke"} {
			for _, v := range []*vaultDir{ov, gv} {
				if v == nil {
					continue
				}
				key := v.impl.name + " " + op
				cr := r.change[key]
				if cr == nil {
					cr = &changeResult{}
					r.change[key] = cr
				}
				if cr.err != nil {
					continue
				}
				before, err := looseObjects(v.repo, v.env)
				if err != nil {
					cr.err = err
					continue
				}
				d, rss, _, err := runOnce(v.impl.change(v, op, newAgent, group), true)
				if err != nil {
					cr.err = err
					continue
				}
				after, err := looseObjects(v.repo, v.env)
				if err != nil {
					cr.err = err
					continue
				}
				cr.times, cr.rss, cr.loose = append(cr.times, d), append(cr.rss, rss), append(cr.loose, after-before)
			}
		}
	}

	// import of n secrets from one dotenv file into a new vault: ours only, the original has no import.
	if ov != nil && ov.impl.importFile != nil {
		r.imp = measureImport(ov, n, min(repeat, 3))
	}

	// set of a new secret, last, so that grant and revoke run on exactly n secrets (the vault grows by
	// one secret per set).
	specs, slots = nil, nil
	if ov != nil {
		specs = append(specs, &spec{label: "ours", cmd: func(i int) *exec.Cmd {
			return ov.impl.set(ov, fmt.Sprintf("%s/new-%04d", group, i), secretValue(100000+i))
		}})
		slots = append(slots, &r.set)
	}
	if gv != nil {
		specs = append(specs, &spec{label: "original", cmd: func(i int) *exec.Cmd {
			return gv.impl.set(gv, fmt.Sprintf("%s/new-%04d", group, i), secretValue(100000+i))
		}})
		slots = append(slots, &r.origSet)
	}
	for j, res := range interleave(specs, 1, c.setRuns) {
		*slots[j] = res
	}

	r.floor, r.floorErr = measureFloor(n, min(repeat, 3))
}

// measureImport times importing the n secrets of v's size into a new vault, in v's home (whose owner key
// it reuses), runs times.
func measureImport(v *vaultDir, n, runs int) *changeResult {
	cr := &changeResult{}
	file := filepath.Join(v.root, "import.env")
	if cr.err = writeDotenv(file, n); cr.err != nil {
		return cr
	}
	defer os.Remove(file)
	// The new vaults are removed only after the last run: on file systems that delay the reuse of freed
	// inodes (ext4 without a journal), creating 20,000 files right after 20,000 were deleted costs several
	// times as much, which would measure the harness, not import.
	var repos []string
	defer func() {
		for _, r := range repos {
			os.RemoveAll(r)
		}
	}()
	for i := range runs {
		repo := filepath.Join(v.root, fmt.Sprintf("import-%d", i))
		repos = append(repos, repo)
		if cr.err = v.run(v.command(v.root, v.impl.bin, "init", repo)); cr.err != nil {
			return cr
		}
		before, err := looseObjects(repo, v.env)
		if err != nil {
			cr.err = err
			return cr
		}
		d, rss, _, err := runOnce(v.impl.importFile(v, repo, file), true)
		if err != nil {
			cr.err = err
			return cr
		}
		after, err := looseObjects(repo, v.env)
		if err != nil {
			cr.err = err
			return cr
		}
		cr.times, cr.rss, cr.loose = append(cr.times, d), append(cr.rss, rss), append(cr.loose, after-before)
	}
	return cr
}

// getOnlyResults keeps bench/getonly's get times by size, for the table.
var getOnlyResults = map[int]*result{}

// budgetRuns lowers runs so that each spec's timed runs take about budget at most, from one probe run
// of each (at least 3 runs).
func budgetRuns(specs []*spec, runs int, budget time.Duration) int {
	var slowest time.Duration
	for _, s := range specs {
		if d, _, _, err := runOnce(s.cmd(-1), false); err == nil {
			slowest = max(slowest, d)
		}
	}
	if slowest > 0 && time.Duration(runs)*slowest > budget {
		runs = max(3, int(budget/slowest))
	}
	return runs
}

// findCiphertext is the age file of secret path: .agent-vault/secrets/<path>.enc, which every format
// keeps as a plain age file (found by name anywhere under .agent-vault if it has moved).
func findCiphertext(repo, path string) (string, error) {
	p := filepath.Join(repo, ".agent-vault", "secrets", filepath.FromSlash(path)+".enc")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	base := filepath.Base(path) + ".enc"
	var found string
	filepath.WalkDir(filepath.Join(repo, ".agent-vault"), func(q string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == base && found == "" {
			found = q
		}
		return nil
	})
	if found == "" {
		return "", errors.New("cannot find the age file of " + path + " under .agent-vault")
	}
	return found, nil
}

func versionOf(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(firstLine(string(out)))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, " and ")
}
