package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/mcpserver"
	"github.com/agent-vault/agent-vault/vault"
)

type mcpOptions struct {
	*global
	repo         string
	key          string
	noPull       bool
	pullInterval time.Duration
	auditLog     string
	noReveal     bool
	httpTimeout  time.Duration
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
protocol; messages for people go to standard error.`,
		Example: `  agent-vault mcp --repo ~/src/infra --key ~/.agent-vault/agents/claude.key
  AGENT_VAULT_KEY=~/.agent-vault/agents/claude.key agent-vault-mcp --repo ~/src/infra --no-pull
  agent-vault mcp --repo ~/src/infra --key ~/.agent-vault/agents/claude.key --no-reveal`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(cmd.Context()) },
	}
	cmd.Flags().StringVar(&opts.repo, "repo", "", "the vault's repository `DIR` (default: the current directory)")
	cmd.Flags().StringVar(&opts.key, "key", "", "agent key `PATH` (default: AGENT_VAULT_KEY)")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "never pull from the upstream; serve the local copy")
	cmd.Flags().DurationVar(&opts.pullInterval, "pull-interval", mcpserver.DefaultPullInterval, "least `TIME` between two pulls")
	cmd.Flags().StringVar(&opts.auditLog, "audit-log", "", "append the audit log to `PATH` (default: ~/.agent-vault/audit/<vault_id>.jsonl)")
	cmd.Flags().BoolVar(&opts.noReveal, "no-reveal", false, "serve no tool that returns a value (no agent_vault_get): secrets are used through agent_vault_http only")
	cmd.Flags().DurationVar(&opts.httpTimeout, "http-timeout", mcpserver.DefaultHTTPTimeout, "most `TIME` one agent_vault_http call may take")
	return cmd
}

func (o *mcpOptions) run(ctx context.Context) error {
	if o.pullInterval <= 0 {
		return vault.Usagef("--pull-interval must be positive (use --no-pull to never pull)")
	}
	if o.httpTimeout <= 0 {
		return vault.Usagef("--http-timeout must be positive")
	}
	if err := mcpserver.Harden(); err != nil {
		return fmt.Errorf("cannot protect the process memory (core dumps, ptrace): %w", err)
	}
	// Relative paths are relative to -C DIR, as for every command ("run as if started in DIR").
	repo := o.dir
	if o.repo != "" {
		repo = o.path(o.repo)
	}
	in, out := o.io.In, o.io.Out
	if out == io.Writer(os.Stdout) {
		// Standard output is the protocol's alone: anything else that writes to os.Stdout by mistake
		// goes to standard error instead.
		os.Stdout = os.Stderr
	}
	srv, err := mcpserver.New(mcpserver.Options{
		Repo: repo, Key: o.path(o.key), NoPull: o.noPull, PullInterval: o.pullInterval, AuditLog: o.path(o.auditLog),
		Log: o.io.Err, Version: Version, NoReveal: o.noReveal, HTTPTimeout: o.httpTimeout,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) && !errors.Is(err, mcp.ErrConnectionClosed) {
		return fmt.Errorf("MCP session: %w", err)
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// MCPMain runs the standalone agent-vault-mcp command: the mcp command as a program of its own, with
// the same flags, and returns the exit status (the kinds' exit codes, as for agent-vault).
func MCPMain(args []string, streams *IO) int {
	vault.Warn = func(msg string) { fmt.Fprintln(streams.Err, "agent-vault-mcp: "+msg) }
	cmd := newMCPCmd(&global{io: streams, dir: "."})
	cmd.Use = "agent-vault-mcp"
	cmd.Version = Version
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.Err)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return vault.Usagef("%v", err) })
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	kind := vault.KindOf(err)
	var ve *vault.Error
	if !errors.As(err, &ve) && isCobraUsageError(err) {
		kind = vault.KindUsage
	}
	fmt.Fprintf(streams.Err, "agent-vault-mcp: %s\n", err)
	if kind == vault.KindUsage {
		fmt.Fprintln(streams.Err, "Run 'agent-vault-mcp --help' for usage.")
	}
	return kind.ExitCode()
}
