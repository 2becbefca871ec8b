// Package mcpserve is the body of the agent-vault-mcp program: the mcp command of internal/cli with the
// MCP server of internal/mcpserver linked in. The agent-vault binary does not import it, so that its
// other commands do not pay for initialising the MCP SDK and net/http; `agent-vault mcp` runs
// agent-vault-mcp instead (see cli.MCPProgram).
package mcpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/internal/cli"
	"github.com/agent-vault/agent-vault/internal/mcpserver"
)

// Main runs agent-vault-mcp with args and returns its exit status. Started by `agent-vault mcp` (the
// environment holds cli.MCPSubcommandEnv), args are agent-vault's own and are run as agent-vault runs
// them; otherwise args are the standalone command's flags.
func Main(args []string, streams *cli.IO) int {
	if os.Getenv(cli.MCPSubcommandEnv) != "" {
		os.Unsetenv(cli.MCPSubcommandEnv) // not inherited by git or anything else the server starts
		return cli.MainWithMCP(args, streams, Serve)
	}
	return cli.MCPMain(args, streams, Serve)
}

// Serve runs the MCP server configured by c on c.IO until the client closes the session or the process
// receives SIGINT or SIGTERM.
func Serve(ctx context.Context, c cli.MCPConfig) error {
	if err := mcpserver.Harden(); err != nil {
		return fmt.Errorf("cannot protect the process memory (core dumps, ptrace): %w", err)
	}
	in, out := c.IO.In, c.IO.Out
	if out == io.Writer(os.Stdout) {
		// Standard output is the protocol's alone: anything else that writes to os.Stdout by mistake
		// goes to standard error instead.
		os.Stdout = os.Stderr
	}
	srv, err := mcpserver.New(mcpserver.Options{
		Repo: c.Repo, Key: c.Key, NoPull: c.NoPull, PullInterval: c.PullInterval, AuditLog: c.AuditLog,
		Log: c.IO.Err, Version: cli.Version, NoReveal: c.NoReveal, TrustFirstUse: c.TrustFirstUse, HTTPTimeout: c.HTTPTimeout,
		KeyOptions: c.KeyOptions,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
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
