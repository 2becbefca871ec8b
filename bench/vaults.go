package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recipe names how the benchmark vaults are built; change it when populate changes, so that cached
// vaults built the old way are not reused.
const recipe = "r1"

// Every vault holds one group, bulk, of n secrets; agent ci is a member, agent deployer is not (the
// benchmark grants and revokes it).
const (
	group    = "bulk"
	reader   = "ci"
	newAgent = "deployer"
)

func secretPath(i int) string  { return fmt.Sprintf("%s/s%05d", group, i) }
func secretValue(i int) string { return fmt.Sprintf("value-%05d-0123456789abcdef", i) }

// gitconfig is the Git configuration of every benchmark run (GIT_CONFIG_GLOBAL, and ~/.gitconfig for
// the original, which uses libgit2). Automatic gc and maintenance are off, so that the loose-object
// count after a change is what the change wrote and no run pays for a repack.
const gitconfig = `[user]
	name = bench
	email = bench@example.com
[init]
	defaultBranch = main
[gc]
	auto = 0
[maintenance]
	auto = false
[advice]
	detachedHead = false
`

// An impl is one agent-vault program under test, driven through its command line only.
type impl struct {
	name  string // "ours", "original": cache and directory names
	label string // for the table
	bin   string // absolute path
	hash  string // hex SHA-256 of bin: cached vaults are reused only by the binary that built them
	// Commands, run with the vault's environment.
	get    func(v *vaultDir, path string) *exec.Cmd
	list   func(v *vaultDir) *exec.Cmd
	set    func(v *vaultDir, path, value string) *exec.Cmd
	change func(v *vaultDir, op, agent, group string) *exec.Cmd // grant or revoke
	// importFile stores the secrets of a dotenv file in repo in one change; nil when the program has no
	// bulk import.
	importFile func(v *vaultDir, repo, file string) *exec.Cmd
	// build makes a vault of n secrets in v (an empty directory), reporting progress.
	build func(v *vaultDir, n int, progress func(done int)) error
}

// A vaultDir is one impl's vault of n secrets: a home directory (keys) and a repository.
type vaultDir struct {
	impl  *impl
	n     int
	root  string
	home  string
	repo  string
	env   []string
	setup time.Duration // how long building it took (possibly in an earlier, cached run)
	// cached is where it was copied from, if it came from the cache.
	cached string
}

func newVaultDir(im *impl, n int, root string) *vaultDir {
	v := &vaultDir{impl: im, n: n, root: root, home: filepath.Join(root, "home"), repo: filepath.Join(root, "repo")}
	v.env = benchEnv(v.home)
	return v
}

// agentKey is the path of agent's key file.
func (v *vaultDir) agentKey(agent string) string {
	return filepath.Join(v.home, ".agent-vault", "agents", agent+".key")
}

// benchEnv is the environment of every command on a vault: the process's own without anything that
// could point at a real vault, key or Git identity, and with HOME and the Git configuration set.
func benchEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AGENT_VAULT_") || strings.HasPrefix(name, "GIT_") || name == "HOME" || name == "EMAIL" || name == "XDG_CONFIG_HOME" {
			continue
		}
		env = append(env, kv)
	}
	// Git looks for a repository no higher than the vault's directory.
	return append(env, "HOME="+home, "GIT_CONFIG_GLOBAL="+filepath.Join(home, ".gitconfig"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_CEILING_DIRECTORIES="+filepath.Dir(home))
}

func (v *vaultDir) command(dir string, argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = v.env
	return cmd
}

// run runs a setup command and fails with its output.
func (v *vaultDir) run(cmd *exec.Cmd) error {
	_, _, _, err := runOnce(cmd, true)
	return err
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ours is this repository's agent-vault.
func ours(bin string) *impl {
	im := &impl{name: "ours", label: "agent-vault", bin: bin}
	im.get = func(v *vaultDir, path string) *exec.Cmd {
		return v.command(v.root, bin, "-C", v.repo, "get", "--no-pull", "--key", v.agentKey(reader), path)
	}
	im.list = func(v *vaultDir) *exec.Cmd {
		return v.command(v.root, bin, "-C", v.repo, "list", "--no-pull", "--key", v.agentKey(reader))
	}
	im.set = func(v *vaultDir, path, value string) *exec.Cmd {
		cmd := v.command(v.root, bin, "-C", v.repo, "set", path) // the value on standard input
		cmd.Stdin = strings.NewReader(value)
		return cmd
	}
	im.change = func(v *vaultDir, op, agent, group string) *exec.Cmd {
		return v.command(v.root, bin, "-C", v.repo, op, agent, group)
	}
	im.build = func(v *vaultDir, n int, progress func(int)) error {
		for _, argv := range [][]string{
			{bin, "init", v.repo}, {bin, "-C", v.repo, "add-agent", reader}, {bin, "-C", v.repo, "add-agent", newAgent},
			{bin, "-C", v.repo, "grant", reader, group, "--create"},
		} {
			if err := v.run(v.command(v.root, argv...)); err != nil {
				return err
			}
		}
		// Every secret in one import, as a user moving secrets in would do.
		file := filepath.Join(v.root, "secrets.env")
		if err := writeDotenv(file, n); err != nil {
			return err
		}
		if err := v.run(im.importFile(v, v.repo, file)); err != nil {
			return err
		}
		progress(n)
		return nil
	}
	im.importFile = func(v *vaultDir, repo, file string) *exec.Cmd {
		return v.command(v.root, bin, "-C", repo, "import", file, "--prefix", group+"/")
	}
	return im
}

// writeDotenv writes the n secrets of a benchmark vault as a dotenv file, named as secretPath names them
// below the group.
func writeDotenv(file string, n int) error {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s=%s\n", strings.TrimPrefix(secretPath(i), group+"/"), secretValue(i))
	}
	return os.WriteFile(file, []byte(b.String()), 0o600)
}

// original is the original agent-vault (the Rust crate agent-vault 0.1.0), run by absolute path. It
// works in the current directory, takes values as arguments, reads keys from ~/.agent-vault and
// commits with libgit2; its list reads every secret's metadata and takes no key.
func original(bin string) *impl {
	im := &impl{name: "original", label: "original agent-vault", bin: bin}
	im.get = func(v *vaultDir, path string) *exec.Cmd {
		return v.command(v.repo, bin, "get", "--key", v.agentKey(reader), path)
	}
	im.list = func(v *vaultDir) *exec.Cmd {
		cmd := v.command(v.repo, bin, "list")
		cmd.Env = append(cmd.Env, "AGENT_VAULT_KEY="+v.agentKey(reader))
		return cmd
	}
	im.set = func(v *vaultDir, path, value string) *exec.Cmd {
		return v.command(v.repo, bin, "set", path, value)
	}
	im.change = func(v *vaultDir, op, agent, group string) *exec.Cmd {
		return v.command(v.repo, bin, op, agent, group)
	}
	im.build = func(v *vaultDir, n int, progress func(int)) error {
		if err := os.MkdirAll(v.repo, 0o755); err != nil {
			return err
		}
		if err := v.run(v.command(v.repo, "git", "init", "-q")); err != nil {
			return err
		}
		for _, argv := range [][]string{{bin, "init"}, {bin, "add-agent", reader}, {bin, "add-agent", newAgent}} {
			if err := v.run(v.command(v.repo, argv...)); err != nil {
				return err
			}
		}
		// Its grant needs the group to exist: the first secret, then the grant, then the rest.
		for i := 0; i < n; i++ {
			if err := v.run(im.set(v, secretPath(i), secretValue(i))); err != nil {
				return err
			}
			if i == 0 {
				if err := v.run(im.change(v, "grant", reader, group)); err != nil {
					return err
				}
			}
			if err := packEvery(v, i+1); err != nil {
				return err
			}
			progress(i + 1)
		}
		return nil
	}
	return im
}

// packEvery packs the repository after every 1,000 secrets set one commit at a time, as Git's automatic
// gc would (it is off in the benchmark's configuration): 10,000 commits of loose objects slow every
// later commit down.
func packEvery(v *vaultDir, done int) error {
	if done%1000 != 0 {
		return nil
	}
	return v.run(v.command(v.repo, "git", "gc", "-q", "--prune=now"))
}

// findOriginal looks for the original agent-vault: $ORIGINAL_AGENT_VAULT, .original/bin/agent-vault
// (scripts/install-original.sh), /opt/original/bin/agent-vault. It returns "" when there is none.
func findOriginal(flagPath string) string {
	candidates := []string{flagPath, os.Getenv("ORIGINAL_AGENT_VAULT"), filepath.Join(".original", "bin", "agent-vault"), "/opt/original/bin/agent-vault"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
			abs, err := filepath.Abs(c)
			if err == nil {
				return abs
			}
		}
	}
	return ""
}

// originalVersion says which version bin is, from the VERSION file scripts/install-original.sh writes
// or from cargo's install log beside bin/.
func originalVersion(bin string) string {
	dir := filepath.Dir(filepath.Dir(bin))
	if b, err := os.ReadFile(filepath.Join(dir, "VERSION")); err == nil {
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	if b, err := os.ReadFile(filepath.Join(dir, "install.log")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// Installed package `agent-vault v0.1.0` (executable `agent-vault`)
			if _, rest, ok := strings.Cut(line, "Installed package `"); ok {
				pkg, _, _ := strings.Cut(rest, "`")
				return pkg + " (from cargo's install log)"
			}
		}
	}
	return "version unknown"
}

// prepare returns im's vault of n secrets in work: copied from the cache when the cache holds one built
// by the same binary, else built (and then stored in the cache, when there is one).
func prepare(im *impl, n int, work, cache string, log *progressLog) (*vaultDir, error) {
	dst := filepath.Join(work, fmt.Sprintf("%s-%d", im.name, n))
	var entry string
	if cache != "" {
		entry = filepath.Join(cache, fmt.Sprintf("%s-%d-%s-%s", im.name, n, recipe, im.hash[:16]))
		if d, err := readSetupTime(entry); err == nil {
			if err := copyTree(entry, dst); err != nil {
				return nil, err
			}
			v := newVaultDir(im, n, dst)
			v.setup, v.cached = d, entry
			return v, nil
		}
	}
	buildDir := dst
	if entry != "" {
		buildDir = entry + ".partial"
		os.RemoveAll(buildDir)
	}
	v := newVaultDir(im, n, buildDir)
	if err := os.MkdirAll(v.home, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(v.home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := im.build(v, n, func(done int) { log.report(im.label, n, done, start) }); err != nil {
		if entry != "" {
			os.RemoveAll(buildDir)
		}
		return nil, fmt.Errorf("building %s's vault of %d secrets: %w", im.label, n, err)
	}
	// Pack what the build wrote, so that each measured change starts from no loose objects.
	if err := v.run(v.command(v.repo, "git", "gc", "-q", "--prune=now")); err != nil {
		if entry != "" {
			os.RemoveAll(buildDir)
		}
		return nil, err
	}
	v.setup = time.Since(start)
	log.done(im.label, n, v.setup)
	if entry == "" {
		return v, nil
	}
	if err := os.WriteFile(filepath.Join(buildDir, "setup-seconds"), []byte(strconv.FormatFloat(v.setup.Seconds(), 'f', 1, 64)), 0o644); err != nil {
		return nil, err
	}
	// Older vaults of this impl and size (built by another binary) are not needed any more.
	if old, _ := filepath.Glob(filepath.Join(cache, fmt.Sprintf("%s-%d-*", im.name, n))); len(old) > 0 {
		for _, o := range old {
			if o != buildDir {
				os.RemoveAll(o)
			}
		}
	}
	if err := os.Rename(buildDir, entry); err != nil {
		return nil, err
	}
	if err := copyTree(entry, dst); err != nil {
		return nil, err
	}
	built := newVaultDir(im, n, dst)
	built.setup = v.setup
	return built, nil
}

func readSetupTime(entry string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(entry, "setup-seconds"))
	if err != nil {
		return 0, err
	}
	s, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(s * float64(time.Second)), nil
}

// copyTree copies the directory src to dst (which must not exist) with cp -a, keeping modes.
func copyTree(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errb bytes.Buffer
	cmd := exec.Command("cp", "-a", src, dst)
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, errb.String())
	}
	return nil
}

// progressLog prints building progress to standard error, at most every few seconds per vault.
type progressLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *progressLog) report(label string, n, done int, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := fmt.Sprintf("%s-%d", label, n)
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	if _, ok := p.last[key]; !ok {
		p.last[key] = start
	}
	if time.Since(p.last[key]) < 15*time.Second || done == n {
		return
	}
	p.last[key] = time.Now()
	el := time.Since(start)
	eta := time.Duration(float64(el) / float64(done) * float64(n-done))
	fmt.Fprintf(os.Stderr, "  building %s's vault of %d secrets: %d done in %s, about %s to go\n", label, n, done, el.Round(time.Second), eta.Round(time.Second))
}

func (p *progressLog) done(label string, n int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(os.Stderr, "  built %s's vault of %d secrets in %s\n", label, n, d.Round(100*time.Millisecond))
}
