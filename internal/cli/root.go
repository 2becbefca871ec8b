// Package cli implements the agent-vault command line over the vault package. Each command lives in its
// own file with an options struct; all I/O goes through IO so that every command runs in tests without a
// terminal.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// IO is the streams a command reads and writes.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InTerminal and ErrTerminal report whether stdin and stderr are terminals; ReadSecret reads a line
	// from the terminal without echo, ended by Enter or Ctrl-D.
	InTerminal  bool
	ErrTerminal bool
	ReadSecret  func() ([]byte, error)
}

// System returns the process's standard streams.
func System() *IO {
	return &IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
		ErrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		ReadSecret:  func() ([]byte, error) { return readSecret(int(os.Stdin.Fd())) },
	}
}

// Main runs the command line args and returns the process exit status. The mcp command runs the
// agent-vault-mcp program (see MCPProgram): the MCP server is not linked into agent-vault.
func Main(args []string, streams *IO) int { return run(args, streams, nil, false) }

// run runs the command line with serve as the MCP server (nil: the mcp command starts agent-vault-mcp);
// onlyMCP refuses every other command.
func run(args []string, streams *IO, serve MCPServer, onlyMCP bool) int {
	root, g := newRoot(streams, serve)
	g.args = args
	if c, _, err := root.Find(args); err != nil || c.Name() != "mcp" {
		// Ctrl-C stops a command at a safe point (interrupt.go). The MCP server keeps the signals'
		// default action, which its clients rely on.
		in := newInterrupter(streams.Err, "agent-vault")
		defer in.stop()
		g.ctx, g.guard = in.ctx, in
	}
	if onlyMCP {
		if c, _, err := root.Find(args); err == nil && c.Name() != "mcp" {
			fmt.Fprintf(streams.Err, "agent-vault: %s runs only the mcp command\n", MCPProgram)
			return vault.KindUsage.ExitCode()
		}
	}
	return g.execute(root, args)
}

// execute runs args on root (built by newRoot with g), prints the error, if any, on one line of stderr
// and returns the exit status: the error kind's exit code, or the status a command chose (exitStatus).
func (g *global) execute(root *cobra.Command, args []string) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(g.context())
	if err == nil {
		return 0
	}
	if st := (*exitStatus)(nil); errors.As(err, &st) {
		if st.err != nil {
			fmt.Fprintf(g.io.Err, "agent-vault: %s\n", st.err)
		}
		return st.code
	}
	if errors.Is(err, errInterrupted) || g.context().Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintf(g.io.Err, "agent-vault: %s\n", errInterrupted)
		return ExitInterrupted
	}
	err = commandLineError(root, args, err)
	kind := vault.KindOf(err)
	err = g.withSuggestion(cmd, err)
	fmt.Fprintf(g.io.Err, "agent-vault: %s\n", err)
	if kind == vault.KindUsage && cmd != nil {
		fmt.Fprintf(g.io.Err, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return kind.ExitCode()
}

// commandLineError returns err, which executing args on root gave, as a usage error when args name no
// command of root. Every other error of the command line is a usage error already: flags' through
// SetFlagErrorFunc, arguments' through args; an error of cobra's own that ExecuteC returns comes from
// its look-up of the command, which fails only on an unknown command and stops ExecuteC there. So a
// failed look-up of the same args, after ExecuteC set up the tree, is what makes err a usage error,
// never its text.
func commandLineError(root *cobra.Command, args []string, err error) error {
	if _, _, ferr := root.Find(args); ferr != nil && vault.KindOf(err) == vault.KindError {
		return usage.Errorf("%w", err)
	}
	return err
}

// global holds the flags every command shares.
type global struct {
	io    *IO
	dir   string // -C
	quiet bool   // --quiet: no progress on a terminal
	bar   *progressLine
	// args is the whole command line, which the mcp command hands on to agent-vault-mcp.
	args []string
	// serveMCP is the MCP server when it is linked in (agent-vault-mcp); nil in agent-vault.
	serveMCP MCPServer
	// custody is where passphrases of protected keys come from (passphrase.go).
	custody custody
	// warn writes the vault package's notices for people (vault.KeyOptions.Warn); nil: the package's
	// default.
	warn func(msg string)
	// push pushes an owner change to the upstream once it is made (--push on every changing command).
	push bool
	// ctx is cancelled by SIGINT or SIGTERM (nil: never); guard keeps a signal from cutting an owner
	// change (nil: no signal is caught). See interrupt.go.
	ctx   context.Context
	guard *interrupter
}

// context returns the context of the command's Git calls: cancelled by the first SIGINT or SIGTERM.
func (g *global) context() context.Context {
	if g.ctx == nil {
		return context.Background()
	}
	return g.ctx
}

// NewRootCmd builds the agent-vault command tree.
func NewRootCmd(streams *IO) *cobra.Command {
	root, _ := newRoot(streams, nil)
	return root
}

func newRoot(streams *IO, serve MCPServer) (*cobra.Command, *global) {
	g := &global{io: streams, serveMCP: serve, custody: custody{fd: -1}, warn: noticeTo(streams.Err, "agent-vault")}
	root := &cobra.Command{
		Use:   "agent-vault",
		Short: "Zero-trust credential manager for AI agents",
		Long: `agent-vault keeps secrets encrypted with age in .agent-vault/ of a Git repository. The owner signs
every value and every recipient list; every reader verifies them against a pinned key, so the Git
remote is never trusted.`,
		Example: `  agent-vault init
  agent-vault add-agent ci
  agent-vault set stripe/api-key            # prompts for the value without echo
  agent-vault grant ci stripe
  agent-vault get stripe/api-key --key ~/.agent-vault/agents/ci.key`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetVersionTemplate(versionTemplate())
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetFlagErrorFunc(flagError)
	root.PersistentFlags().StringVarP(&g.dir, "dir", "C", ".", "run as if started in `DIR`")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "show no progress (it shows only on a terminal anyway)")
	g.addCustodyFlags(root)
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetHelpCommand(&cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  agent-vault help set",
		RunE: func(cmd *cobra.Command, a []string) error {
			target, rest, err := cmd.Root().Find(a)
			if err != nil || len(rest) > 0 || (target == cmd.Root() && len(a) > 0) {
				return usage.Errorf("no help topic %q", strings.Join(a, " "))
			}
			return target.Help()
		},
	})
	root.AddCommand(
		newInitCmd(g), newAddAgentCmd(g), newRemoveAgentCmd(g), newListAgentsCmd(g), newRecoverAgentCmd(g),
		newRestoreAgentCmd(g), newSetCmd(g), newImportCmd(g), newGetCmd(g), newListCmd(g), newExportCmd(g), newRmCmd(g), newGrantCmd(g),
		newRevokeCmd(g), newCheckCmd(g), newRepairCmd(g), newMigrateCmd(g), newCompletionsCmd(g), newMCPCmd(g),
		newRunCmd(g), newInjectCmd(g), newPinsCmd(g), newPinCmd(g), newKeyCmd(g), newKeygenCmd(g), newSyncCmd(g), newAdminCmd(g),
	)
	g.addPushFlags(root)
	g.addNameCompletions(root)
	g.addMCPConfigCmd(root)
	return root, g
}

// flagError makes an error of cobra's flag parsing a usage error.
func flagError(_ *cobra.Command, err error) error { return usage.Errorf("%w", err) }

// args returns a cobra argument validator that reports a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < min || len(a) > max {
			if min == max {
				return usage.Errorf("%s takes %d argument(s), got %d", cmd.Name(), min, len(a))
			}
			return usage.Errorf("%s takes %d to %d arguments, got %d", cmd.Name(), min, max, len(a))
		}
		return nil
	}
}
