//go:build unix

package cli_test

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/cli"
	"github.com/agent-vault/agent-vault/internal/cli/mcpserve"
	"github.com/agent-vault/agent-vault/internal/testplugin"
)

// The CLI's behaviour is specified by the scripts in testdata/script: each reads like a terminal session
// (see github.com/rogpeppe/go-internal/testscript). Run one with
//
//	go test ./internal/cli -run TestScript/get
//
// Environment of every script: AVTEST_DIR=the directory of age-plugin-avtest (internal/testplugin), not on
// PATH; HOME=$WORK/home (so ~/.agent-vault is $WORK/home/.agent-vault),
// AGENT_VAULT_HOME and AGENT_VAULT_KEY unset, GIT_CONFIG_GLOBAL=$WORK/.gitconfig holding a Git identity
// (init.defaultBranch main), GIT_CONFIG_NOSYSTEM=1, FIXTURES=the absolute path of testdata/, and umask
// 022 for agent-vault.
//
// The scripts use sh, git, sed, grep, printf, head and, when installed, the age CLI; they run on Unix.
//
// Commands beyond plain testscript:
//
//	agent-vault ARGS...  runs cli.Main in a subprocess (as the installed binary would run).
//	agent-vault-mcp ARGS...  runs the agent-vault-mcp program (mcpserve.Main) in a subprocess; it is
//	                     installed beside agent-vault, where `agent-vault mcp` finds it.
//	status N             asserts that the last agent-vault or agent-vault-mcp command exited with status
//	                     N (testscript itself only tells zero from non-zero); meaningless after
//	                     background (&) runs.
//	umask MODE           sets the umask of the following agent-vault commands (octal, e.g. 077 or 000).
//	perm FILE MODE       asserts FILE's permission bits (octal, e.g. 0600); FILE is not followed if it
//	                     is a symbolic link.
//	tamper FILE          flips one bit of the byte in the middle of FILE.
//	envfile VAR FILE     sets the environment variable VAR to the content of FILE (as the shell's
//	                     VAR="$(cat FILE)" would, but keeping a trailing newline).
func TestMain(m *testing.M) {
	syscall.Umask(0o022)
	// The scripts spend their time waiting for fsync and git, not on the CPU: run 8 at a time unless
	// -parallel says otherwise (the command line is parsed after this default is set).
	if f := flag.Lookup("test.parallel"); f != nil && f.Value.String() == strconv.Itoa(runtime.GOMAXPROCS(0)) {
		f.Value.Set(strconv.Itoa(max(8, runtime.GOMAXPROCS(0))))
	}
	testscript.Main(m, map[string]func(){
		"agent-vault":     func() { runCommand(func() int { return cli.Main(os.Args[1:], cli.System()) }) },
		"agent-vault-mcp": func() { runCommand(func() int { return mcpserve.Main(os.Args[1:], cli.System()) }) },
	})
}

// runCommand runs one of the scripts' programs in its subprocess: with the umask of AV_TEST_UMASK, and
// recording the exit status in AV_TEST_STATUS. `agent-vault mcp` replaces the agent-vault process with
// agent-vault-mcp (installed beside it, as testscript installs both), which then records the status.
func runCommand(main func() int) {
	if s := os.Getenv("AV_TEST_UMASK"); s != "" {
		u, err := strconv.ParseUint(s, 8, 32)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad AV_TEST_UMASK %q\n", s)
			os.Exit(100)
		}
		syscall.Umask(int(u))
	}
	code := main()
	if f := os.Getenv("AV_TEST_STATUS"); f != "" {
		if err := os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "cannot record the exit status: %v\n", err)
			os.Exit(100)
		}
	}
	os.Exit(code)
}

func TestScript(t *testing.T) {
	// age-plugin-avtest, a real age plugin for the scripts that use hardware-held keys; it is not on PATH
	// unless a script puts $AVTEST_DIR there (an age plugin on PATH changes what check reports).
	avtestDir = t.TempDir()
	if err := testplugin.Build(avtestDir); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                filepath.Join("testdata", "script"),
		RequireUniqueNames: true,
		Setup:              setup,
		Cmds:               scriptCmds,
	})
}

// TestEveryCommandHasExamples backs testdata/script/help.txtar for commands added later: every command's
// --help shows an "Examples:" section.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if c.Runnable() && c.Example == "" {
			t.Errorf("%q has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRootCmd(&cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}))
}

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"status":  cmdStatus,
	"umask":   cmdUmask,
	"perm":    cmdPerm,
	"tamper":  cmdTamper,
	"envfile": cmdEnvfile,
}

func setup(env *testscript.Env) error {
	home := filepath.Join(env.WorkDir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		return err
	}
	gitconfig := filepath.Join(env.WorkDir, ".gitconfig")
	const cfg = "[user]\n\tname = Test Owner\n\temail = owner@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
	if err := os.WriteFile(gitconfig, []byte(cfg), 0o644); err != nil {
		return err
	}
	// testscript starts from a minimal environment; unset these anyway, so that the developer's own
	// vault, key and Git identity can never leak into a script.
	unset(env, "AGENT_VAULT_HOME", "AGENT_VAULT_KEY", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
		"GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL", "GIT_DIR", "GIT_WORK_TREE")
	env.Setenv("HOME", home)
	env.Setenv("GIT_CONFIG_GLOBAL", gitconfig)
	env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	env.Setenv("GIT_TERMINAL_PROMPT", "0")
	env.Setenv("AV_TEST_UMASK", "022")
	env.Setenv("AV_TEST_STATUS", filepath.Join(env.WorkDir, ".av-status"))
	fixtures, err := filepath.Abs("testdata")
	if err != nil {
		return err
	}
	env.Setenv("FIXTURES", fixtures)
	env.Setenv("AVTEST_DIR", avtestDir)
	return nil
}

// avtestDir holds the age-plugin-avtest binary TestScript builds.
var avtestDir string

func unset(env *testscript.Env, names ...string) {
	vars := env.Vars[:0]
	for _, kv := range env.Vars {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			vars = append(vars, kv)
		}
	}
	env.Vars = vars
}

// status N: the last agent-vault command exited with N. The record is consumed, so that a status is
// never checked twice against the same command.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	f := ts.Getenv("AV_TEST_STATUS")
	data, err := os.ReadFile(f)
	if err != nil {
		ts.Fatalf("no agent-vault exit status recorded since the last status check: %v", err)
	}
	os.Remove(f)
	if got := strings.TrimSpace(string(data)); got != args[0] {
		ts.Fatalf("agent-vault exited with status %s, want %s", got, args[0])
	}
}

// umask MODE: the umask of the agent-vault commands that follow.
func cmdUmask(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: umask MODE")
	}
	if _, err := strconv.ParseUint(args[0], 8, 32); err != nil {
		ts.Fatalf("umask: bad mode %q", args[0])
	}
	ts.Setenv("AV_TEST_UMASK", args[0])
}

// perm FILE MODE: FILE's permission bits are MODE.
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("perm: bad mode %q", args[1])
	}
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := uint64(fi.Mode().Perm())
	if (got == want) == neg {
		ts.Fatalf("%s has mode %04o; want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// tamper FILE: flip the lowest bit of FILE's middle byte, in place.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: tamper FILE")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	if len(data) == 0 {
		ts.Fatalf("tamper: %s is empty", args[0])
	}
	data[len(data)/2] ^= 1
	fi, err := os.Stat(path)
	ts.Check(err)
	ts.Check(os.WriteFile(path, data, fi.Mode().Perm()))
}

// envfile VAR FILE: set VAR to FILE's content.
func cmdEnvfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile VAR FILE")
	}
	ts.Setenv(args[0], ts.ReadFile(args[1]))
}
