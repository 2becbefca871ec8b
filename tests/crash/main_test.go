// Package crash_test runs the real agent-vault binary against real Git to hold two promises of the
// design (docs/format.md sections 6.6 and 9): a reader never reports tampering because a change or a
// pull was under way, and an owner change killed at any instant is finished or undone by the next
// owner command or by `agent-vault repair`, with nothing lost and no human step.
//
// The binary is built once per test run into a temporary directory. Every vault, home and Git
// configuration lives in temporary directories; Git's identity comes from a private global config file.
//
// Knobs (environment variables; -short keeps the default counts whatever they say):
//
//	AGENT_VAULT_CRASH_TRIALS       kill trials (default: two of each command; make test-crash runs 200)
//	AGENT_VAULT_CRASH_SEED         seed of the kill trials (default: a fixed seed for the default sample,
//	                               the time when AGENT_VAULT_CRASH_TRIALS is set); printed by every run
//	AGENT_VAULT_CRASH_TRIAL        run only this trial number of the seed (a reproduction)
//	AGENT_VAULT_CRASH_KINDS        only these commands, comma-separated (e.g. sync-ff,sync-merge,admin-add)
//	AGENT_VAULT_CRASH_READ_CYCLES  grant/set/revoke/set cycles the owner makes under the readers (default 1)
//	AGENT_VAULT_CRASH_LOG          log every kill trial, not only the failed ones (with -v)
//	AGENT_VAULT_CRASH_KEEP         directory where the trees of failed trials are kept
package crash_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

var (
	// avBin is the agent-vault binary built for this run.
	avBin string
	// gitConfig is the global Git configuration every Git run of the tests uses.
	gitConfig string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Println("tests/crash: git is not installed; skipping")
		return 0
	}
	tmp, err := os.MkdirTemp("", "agent-vault-crash-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	avBin = filepath.Join(tmp, "agent-vault")
	// go test puts the go command that runs it first on the PATH.
	build := exec.Command("go", "build", "-trimpath", "-o", avBin, "./cmd/agent-vault")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tests/crash: building agent-vault: %v\n%s", err, out)
		return 1
	}
	gitConfig = filepath.Join(tmp, "gitconfig")
	cfg := "[user]\n\tname = Crash Test\n\temail = crash@example.com\n[init]\n\tdefaultBranch = main\n" +
		"[gc]\n\tauto = 0\n[advice]\n\tdetachedHead = false\n"
	if err := os.WriteFile(gitConfig, []byte(cfg), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("tests/crash: no go.mod above the working directory")
		}
		d = filepath.Dir(d)
	}
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// user is one machine user: a HOME whose agent-vault home is HOME/.agent-vault.
type user struct {
	home string
}

func (u user) avHome() string              { return filepath.Join(u.home, ".agent-vault") }
func (u user) agentKey(name string) string { return filepath.Join(u.avHome(), "agents", name+".key") }
func (u user) ownerKey() string            { return filepath.Join(u.avHome(), "owner.key") }

// environ is the whole environment of the processes the user runs: nothing of the test's own
// environment leaks in but PATH and TMPDIR.
func (u user) environ() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + u.home,
		"AGENT_VAULT_HOME=" + u.avHome(),
		"GIT_CONFIG_GLOBAL=" + gitConfig,
		"GIT_CONFIG_NOSYSTEM=1",
		"LC_ALL=C",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}

// result is how a process ended.
type result struct {
	code     int // exit status; -1 when killed by a signal
	stdout   string
	stderr   string
	dur      time.Duration
	signaled bool
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v; stdout %q; stderr %q", r.code, r.dur.Round(time.Millisecond), clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		s = s[:300] + " … " + s[len(s)-300:]
	}
	return s
}

func (u user) command(dir, stdin, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = u.environ()
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd
}

func runCmd(cmd *exec.Cmd) result {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	return finish(cmd, err, start, &out, &errb)
}

func finish(cmd *exec.Cmd, err error, start time.Time, out, errb *bytes.Buffer) result {
	r := result{dur: time.Since(start), stdout: out.String(), stderr: errb.String()}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			r.code, r.stderr = -2, r.stderr+"\n"+err.Error()
			return r
		}
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signaled = true
		}
	}
	return r
}

// av runs agent-vault in dir.
func (u user) av(dir, stdin string, args ...string) result {
	return runCmd(u.command(dir, stdin, avBin, args...))
}

// git runs git in dir.
func (u user) git(dir string, args ...string) result {
	return runCmd(u.command(dir, "", "git", args...))
}

func (u user) mustAV(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	r := u.av(dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("agent-vault %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

func (u user) mustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := u.git(dir, args...)
	if r.code != 0 {
		t.Fatalf("git %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// copyTree copies a directory tree, keeping file modes and symbolic links. Files for which link returns
// true are hard-linked instead of copied: only files that are never written in place may be.
func copyTree(src, dst string, link func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			dest, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(dest, target)
		case link != nil && link(filepath.ToSlash(rel)):
			return os.Link(p, target)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Chmod(target, info.Mode().Perm())
	})
}

// gitObject reports whether rel is a Git object file: Git writes each once, under a temporary name, and
// never changes it, so trees copied from one template can share them.
func gitObject(rel string) bool {
	return strings.Contains(rel, ".git/objects/") && !strings.HasSuffix(rel, "/") && !strings.Contains(rel, "/tmp_")
}

// The signed state as this test reads it, without verifying signatures (agent-vault check does that):
// enough to know who may read what.

type vstate struct {
	Version  uint64
	RootHash string
	Owner    string              // the founding owner's recipient
	Admins   map[string]string   // admin → recipient; empty in a vault whose admin set never changed
	Agents   map[string]string   // agent → recipient
	Members  map[string][]string // group → members
	Secrets  map[string]ventry   // path → entry
}

// adminRecipients returns the recipients of the state's admins: the founding owner's alone in a vault
// whose admin set never changed.
func (st *vstate) adminRecipients() map[string]bool {
	out := map[string]bool{}
	for _, r := range st.Admins {
		out[r] = true
	}
	if len(st.Admins) == 0 {
		out[st.Owner] = true
	}
	return out
}

type ventry struct {
	Group       string   `json:"group"`
	ExtraAgents []string `json:"extra_agents"`
	EncSHA256   string   `json:"enc_sha256"`
}

func readState(vaultDir string) (*vstate, error) {
	raw, err := os.ReadFile(filepath.Join(vaultDir, "state", "root"))
	if err != nil {
		return nil, err
	}
	body := raw
	if i := bytes.LastIndexByte(bytes.TrimSuffix(raw, []byte("\n")), '\n'); i >= 0 {
		body = raw[:i+1]
	}
	var root struct {
		Version uint64 `json:"version"`
		Owner   struct {
			Recipient string `json:"recipient"`
		} `json:"owner"`
		Admins *struct {
			Members map[string]struct {
				Recipient string `json:"recipient"`
			} `json:"members"`
		} `json:"admins"`
		Agents map[string]struct {
			Recipient string `json:"recipient"`
		} `json:"agents"`
		Groups map[string]struct {
			Members []string `json:"members"`
		} `json:"groups"`
		Index map[string]json.RawMessage `json:"index"`
	}
	if err := json.Unmarshal(body, &root); err != nil {
		return nil, fmt.Errorf("state/root: %v", err)
	}
	st := &vstate{Version: root.Version, RootHash: hashOf(raw), Owner: root.Owner.Recipient, Admins: map[string]string{},
		Agents: map[string]string{}, Members: map[string][]string{}, Secrets: map[string]ventry{}}
	if root.Admins != nil {
		for name, a := range root.Admins.Members {
			st.Admins[name] = a.Recipient
		}
	}
	for name, a := range root.Agents {
		st.Agents[name] = a.Recipient
	}
	for g, rg := range root.Groups {
		st.Members[g] = rg.Members
	}
	for id := range root.Index {
		data, err := os.ReadFile(filepath.Join(vaultDir, "state", "index", id+".json"))
		if err != nil {
			return nil, err
		}
		var sh struct {
			Secrets map[string]ventry `json:"secrets"`
		}
		if err := json.Unmarshal(data, &sh); err != nil {
			return nil, fmt.Errorf("shard %s: %v", id, err)
		}
		for p, e := range sh.Secrets {
			st.Secrets[p] = e
		}
	}
	return st, nil
}

// grants reports whether agent may read the secret at path under the state.
func (st *vstate) grants(agent, path string) bool {
	e := st.Secrets[path]
	for _, m := range st.Members[e.Group] {
		if m == agent {
			return true
		}
	}
	for _, m := range e.ExtraAgents {
		if m == agent {
			return true
		}
	}
	return false
}

// policy is the state without versions, hashes or recipients: who is there and who may read what.
func (st *vstate) policy(skipGroup string) string {
	var b strings.Builder
	for _, name := range sortedKeys(st.Agents) {
		fmt.Fprintf(&b, "agent %s\n", name)
	}
	for _, g := range sortedKeys(st.Members) {
		if g != skipGroup {
			fmt.Fprintf(&b, "group %s %v\n", g, st.Members[g])
		}
	}
	for _, p := range sortedKeys(st.Secrets) {
		if e := st.Secrets[p]; e.Group != skipGroup {
			fmt.Fprintf(&b, "secret %s %s %v\n", p, e.Group, e.ExtraAgents)
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loadIdentity reads the identity line of an age key file.
func loadIdentity(path string) (*age.X25519Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var id *age.X25519Identity
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			if id != nil {
				return nil, fmt.Errorf("%s holds two identities", path)
			}
			if id, err = age.ParseX25519Identity(line); err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
		}
	}
	if id == nil {
		return nil, fmt.Errorf("%s holds no identity (%d bytes)", path, len(data))
	}
	return id, nil
}

// decryptFile decrypts an .enc file with id; ok is false when id is not a recipient.
func decryptFile(path string, id age.Identity) (string, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, err
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s: %v", path, err)
	}
	val, err := io.ReadAll(r)
	if err != nil {
		return "", false, fmt.Errorf("%s: %v", path, err)
	}
	return string(val), true, nil
}

func hashOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func encPath(vaultDir, secret string) string {
	return filepath.Join(vaultDir, "secrets", filepath.FromSlash(secret)+".enc")
}
