package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// The MCP server lives in its own program, agent-vault-mcp, and the agent-vault binary does not link it:
// the MCP SDK, net/http and their dependencies would otherwise be initialised at the start of every
// command, `get` included (about fifty more packages, and a binary twice the size). `agent-vault mcp`
// parses and checks its flags like any command (so --help, completions and usage errors are its own),
// then replaces itself with the agent-vault-mcp installed beside it, which runs the same command tree
// with the server linked in (see MainWithMCP). The MCP client sees one process speaking the protocol,
// exactly as before.

// MCPProgram is the name of the MCP server's program, which `agent-vault mcp` runs from the directory
// that holds the agent-vault executable.
const MCPProgram = "agent-vault-mcp"

// MCPSubcommandEnv is set (to "1") in the environment of the agent-vault-mcp that `agent-vault mcp`
// starts: it tells agent-vault-mcp to run agent-vault's own arguments as `agent-vault mcp` would, with
// the same messages, rather than as the standalone command. agent-vault-mcp removes it from its
// environment before it does anything else.
const MCPSubcommandEnv = "AGENT_VAULT_MCP_SUBCOMMAND"

// Defaults of the mcp command's flags. internal/mcpserver has the same values (its test checks that
// they agree); they are repeated here so that the agent-vault binary need not link the server.
const (
	MCPDefaultPullInterval = 5 * time.Second
	MCPDefaultHTTPTimeout  = 30 * time.Second
)

// MCPConfig is what the mcp command hands to the server once its flags are checked. Paths are resolved
// as the command line meant them (relative to -C DIR); Key may be empty (the server then resolves
// AGENT_VAULT_KEY and the default key, as every command does).
type MCPConfig struct {
	Repo, Key, AuditLog string
	NoPull, NoReveal    bool
	TrustFirstUse       bool
	PullInterval        time.Duration
	HTTPTimeout         time.Duration
	IO                  *IO
	// KeyOptions are how the server's key talks to the user: notices on IO.Err, and, under agent-vault's
	// command line, passphrases and age plugins' questions (the custody flags).
	KeyOptions *vault.KeyOptions
}

// MCPServer runs the MCP server until the client goes away or ctx is cancelled.
type MCPServer func(ctx context.Context, c MCPConfig) error

type mcpOptions struct {
	*global
	repo          string
	key           string
	noPull        bool
	pullInterval  time.Duration
	auditLog      string
	noReveal      bool
	trustFirstUse bool
	httpTimeout   time.Duration
}

// newMCPCmd builds the MCP server command. The same command runs as `agent-vault mcp` and as the
// standalone `agent-vault-mcp` (see MCPMain).
func newMCPCmd(g *global) *cobra.Command {
	opts := &mcpOptions{global: g}
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve an agent's secrets to an AI tool over MCP (stdio)",
		Long: `Run the agent-vault MCP server on standard input and output, for MCP clients such as Claude Desktop
and Claude Code. It offers three tools: agent_vault_get (a secret's value), agent_vault_list (the
secrets this key can read, metadata only) and agent_vault_http (an HTTP request whose headers or body
use {{secret:PATH}} placeholders: the server substitutes the values, sends it only to hosts the owner
allowed with 'agent-vault set PATH --allow-host HOST', and returns the response with the values
redacted). With --no-reveal, agent_vault_get is not served: the AI tool can use secrets, never read
them. Every call verifies the vault exactly as 'agent-vault get' does. The agent key is read once at start and stays in the server process; on Linux the process
forbids core dumps and ptrace attachment.

Key: --key PATH, else AGENT_VAULT_KEY (a path or the key file's content). The owner key is refused:
give the AI tool an agent key with only the grants it needs.

Pulls from the Git upstream are coalesced: at most one per --pull-interval. Every tool call appends
one JSON line (time, vault, agent, tool, secret or group, outcome, duration; never a value) to the
audit log, by default ~/.agent-vault/audit/<vault_id>.jsonl. Standard output carries only the
protocol; messages for people go to standard error.

'agent-vault mcp' runs the agent-vault-mcp program, which must be installed in the same directory
as agent-vault (make build and go install of both commands put them there).`,
		Example: `  agent-vault mcp --repo ~/src/infra --key ~/.agent-vault/agents/claude.key
  AGENT_VAULT_KEY=~/.agent-vault/agents/claude.key agent-vault-mcp --repo ~/src/infra --no-pull
  agent-vault mcp --repo ~/src/infra --key ~/.agent-vault/agents/claude.key --no-reveal`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(cmd.Context()) },
	}
	cmd.Flags().StringVar(&opts.repo, "repo", "", "the vault's repository `DIR` (default: the current directory)")
	cmd.Flags().StringVar(&opts.key, "key", "", "agent key `PATH` (default: AGENT_VAULT_KEY)")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "never pull from the upstream; serve the local copy")
	cmd.Flags().DurationVar(&opts.pullInterval, "pull-interval", MCPDefaultPullInterval, "least `TIME` between two pulls")
	cmd.Flags().StringVar(&opts.auditLog, "audit-log", "", "append the audit log to `PATH` (default: ~/.agent-vault/audit/<vault_id>.jsonl)")
	cmd.Flags().BoolVar(&opts.noReveal, "no-reveal", false, "serve no tool that returns a value (no agent_vault_get): secrets are used through agent_vault_http only")
	cmd.Flags().BoolVar(&opts.trustFirstUse, "trust-first-use", false, "let agent_vault_http send values although the server trusted the vault's owner key on first use at start (a key without pins)")
	cmd.Flags().DurationVar(&opts.httpTimeout, "http-timeout", MCPDefaultHTTPTimeout, "most `TIME` one agent_vault_http call may take")
	return cmd
}

func (o *mcpOptions) run(ctx context.Context) error {
	if o.pullInterval <= 0 {
		return usage.Errorf("--pull-interval must be positive (use --no-pull to never pull)")
	}
	if o.httpTimeout <= 0 {
		return usage.Errorf("--http-timeout must be positive")
	}
	if o.serveMCP == nil {
		return o.startMCPProgram()
	}
	// Relative paths are relative to -C DIR, as for every command ("run as if started in DIR").
	repo := o.dir
	if o.repo != "" {
		repo = o.path(o.repo)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return o.serveMCP(ctx, MCPConfig{
		Repo: repo, Key: o.path(o.key), NoPull: o.noPull, PullInterval: o.pullInterval,
		AuditLog: o.path(o.auditLog), NoReveal: o.noReveal, TrustFirstUse: o.trustFirstUse, HTTPTimeout: o.httpTimeout, IO: o.io,
		KeyOptions: o.keyOptions(),
	})
}

// startMCPProgram runs agent-vault-mcp, from the directory of the running executable, on agent-vault's
// own arguments. With the process's own standard streams it replaces this process (exec), so that the
// MCP client's process is the server; otherwise (a caller that passed other streams) it runs it as a
// child connected to those streams and returns its exit status.
func (g *global) startMCPProgram() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("agent-vault mcp runs the %s program installed beside agent-vault, but cannot tell where agent-vault is: %w", MCPProgram, err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	program := filepath.Join(filepath.Dir(self), MCPProgram)
	if fi, err := os.Stat(program); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		why := "does not exist"
		switch {
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			why = "cannot be read: " + err.Error()
		case err == nil:
			why = "is not an executable file"
		}
		return fmt.Errorf("agent-vault mcp runs the %s program installed beside agent-vault, and %s %s; "+
			"install it there (CGO_ENABLED=0 go install github.com/agent-vault/agent-vault/cmd/agent-vault-mcp@latest "+
			"installs it beside a go-installed agent-vault), or run %s with the same flags", MCPProgram, program, why, MCPProgram)
	}
	argv := append([]string{program}, g.args...)
	env := append(os.Environ(), MCPSubcommandEnv+"=1")
	if g.io.In == io.Reader(os.Stdin) && g.io.Out == io.Writer(os.Stdout) && g.io.Err == io.Writer(os.Stderr) {
		err := execProgram(program, argv, env) // returns only on failure
		if !errors.Is(err, errNoExec) {
			return fmt.Errorf("cannot run %s: %w", program, err)
		}
	}
	cmd := &exec.Cmd{Path: program, Args: argv, Env: env, Stdin: g.io.In, Stdout: g.io.Out, Stderr: g.io.Err}
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return &exitStatus{code: exitCode(ee.ProcessState)} // the program has reported its own error
	}
	return fmt.Errorf("cannot run %s: %w", program, err)
}

// errNoExec: the system cannot replace the running process; the program runs as a child instead.
var errNoExec = errors.New("exec is not supported on this system")

// MCPMain runs the standalone agent-vault-mcp command: the mcp command as a program of its own, with
// the same flags, and returns the exit status (the kinds' exit codes, as for agent-vault). serve is the
// MCP server.
func MCPMain(args []string, streams *IO, serve MCPServer) int {
	cmd := newMCPCmd(&global{io: streams, dir: ".", serveMCP: serve, warn: noticeTo(streams.Err, MCPProgram)})
	cmd.Use = MCPProgram
	cmd.Version = Version
	cmd.SetVersionTemplate(versionTemplate())
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.Err)
	cmd.SetFlagErrorFunc(flagError)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	err = commandLineError(cmd, args, err)
	kind := vault.KindOf(err)
	fmt.Fprintf(streams.Err, "%s: %s\n", MCPProgram, err)
	if kind == vault.KindUsage {
		fmt.Fprintf(streams.Err, "Run '%s --help' for usage.\n", MCPProgram)
	}
	return kind.ExitCode()
}

// MainWithMCP runs agent-vault's command line, as Main does, with the MCP server linked in: it is what
// agent-vault-mcp runs when `agent-vault mcp` started it (MCPSubcommandEnv), so that every message,
// path and exit status is the one `agent-vault mcp` gives. It runs only the mcp command.
func MainWithMCP(args []string, streams *IO, serve MCPServer) int {
	return run(args, streams, serve, true)
}
