package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/harden"
	"github.com/agent-vault/agent-vault/internal/redact"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type runOptions struct {
	*global
	key      string
	noPull   bool
	env      []string
	envFiles []string
	groups   []string
	noRedact bool
	// trustFirstUse lets run act on a vault whose owner key this very call trusted on first use.
	trustFirstUse bool
}

func newRunCmd(g *global) *cobra.Command {
	opts := &runOptions{global: g}
	cmd := &cobra.Command{
		Use:   "run [flags] -- <command> [args...]",
		Short: "Run a command with secrets in its environment and its output redacted",
		Long: `Run a command with secrets as environment variables: only in its environment, never in its arguments
or in a file. --env NAME=PATH injects one secret as NAME; --group GROUP injects every secret of GROUP
that the key can read, each named after its path: upper-cased, every other character than A-Z and
0-9 turned into '_' (stripe/api-key becomes STRIPE_API_KEY). Two secrets with the same name, a name
that is not a valid variable name (letters, digits, '_', not starting with a digit), a name given
twice, and a name derived from a path that would change how programs start (BASH_ENV, ENV, PATH, IFS,
HOME, LD_*, DYLD_*, PYTHON*, PERL5*, NODE_*, GIT_*, AGENT_VAULT_* and their kin) are errors; --env
NAME=PATH sets any name. The variables are added to agent-vault's own environment, overriding a
variable of the same name; AGENT_VAULT_KEY is removed, so that the command gets the values and not the
key. While the command runs, agent-vault is not dumpable and has erased the key from its
/proc/PID/environ, so the command cannot read the key from its parent.

With a key file that has no pins, trust in the vault's owner key rests on the first use of the vault
on this machine. run refuses to inject values on the strength of trust that this very call
established (a fresh machine, or a vault with a new id) unless --trust-first-use is given; use a
pinned key file (the owner prints the pins with 'agent-vault pins').

The command's standard output and standard error pass through a redactor that replaces every
occurrence of an injected value with <redacted:PATH>, also when the value is written in pieces; a
value stored with surrounding white space is also redacted without it, and each line of a multi-line
value on its own. A value shorter than 4 bytes is refused: it would be found all over ordinary output.
--no-redact turns redaction off and connects the command to agent-vault's output directly. Redaction
is a guard against accidents, not against a command that wants to leak: a value transformed before it
is printed (encoded, reversed, sliced) passes through.

Standard input is passed through. SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded
to the command (a SIGINT or SIGQUIT typed at the terminal already reaches it and is not sent twice).
agent-vault exits with the command's status, or 128+N when a signal N killed it; 127 when the command
is not found, 126 when it cannot be started. Before the command starts, errors exit as every other
command does (2 usage, 3 no vault or key, 4 not found, 5 not authorized, 6 integrity), and the
values are verified exactly as 'agent-vault get' verifies them.

References, as 'op run' has them: a variable of run's own environment whose whole value is
av://PATH is given the secret at PATH (unless --env sets that name), and --env-file FILE sets the
variables of a dotenv file, where a value av://PATH is the secret at PATH and any other value is set
as it is (not a secret, not redacted). Secrets found by reference are verified and redacted like any
other.`,
		Example: `  agent-vault run --env STRIPE_KEY=stripe/api-key --env DB_URL=postgres/conn -- ./deploy.sh
  STRIPE_KEY=av://stripe/api-key agent-vault run -- ./deploy.sh
  agent-vault run --env-file .env -- npm start            # .env: STRIPE_KEY=av://stripe/api-key
  agent-vault run --group stripe -- python agent.py     # STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET, ...
  agent-vault run --key ~/.agent-vault/agents/ci.key --group stripe --no-pull -- make release`,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) == 0 {
				return usage.Errorf("run needs a command to run, after --")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a) },
	}
	f := cmd.Flags()
	// Everything after the command is the command's: agent-vault run ... -- python -u agent.py.
	f.SetInterspersed(false)
	f.StringArrayVar(&opts.env, "env", nil, "inject the secret at PATH as the variable NAME: `NAME=PATH` (repeatable)")
	f.StringArrayVar(&opts.groups, "group", nil, "inject every secret of `GROUP` the key can read, named after its path (repeatable)")
	f.StringArrayVar(&opts.envFiles, "env-file", nil, "set the variables of a dotenv `FILE`; a value av://PATH is the secret at PATH (repeatable)")
	f.BoolVar(&opts.noRedact, "no-redact", false, "do not redact the command's output")
	f.StringVar(&opts.key, "key", "", "key `PATH`")
	f.BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	f.BoolVar(&opts.trustFirstUse, "trust-first-use", false, "run even when this call trusted the vault's owner key on first use (a key without pins)")
	return cmd
}

// exitStatus makes agent-vault exit with code; err, when not nil, is reported first like any error.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitStatus) Unwrap() error { return e.err }

// envVar is one variable to inject.
type envVar struct {
	name, path string
	value      []byte
}

func (o *runOptions) run(argv []string) error {
	type request = envRequest
	var requests []request
	explicit := map[string]bool{}
	for _, spec := range o.env {
		name, path, ok := strings.Cut(spec, "=")
		if !ok {
			return usage.Errorf("--env %q: want NAME=PATH", spec)
		}
		if !validEnvName(name) {
			return usage.Errorf("--env %q: %q is not a valid environment variable name (letters, digits and '_', not starting with a digit)", spec, name)
		}
		if err := vault.CheckPath(path); err != nil {
			return usage.Errorf("--env %q: invalid secret path: %w", spec, err)
		}
		requests = append(requests, request{name, path, "--env"})
		explicit[name] = true
	}
	refs, plain, err := o.references(explicit)
	if err != nil {
		return err
	}
	requests = append(requests, refs...)
	for _, g := range o.groups {
		if err := vault.CheckSegment(g); err != nil {
			return usage.Errorf("--group: invalid group name: %w", err)
		}
	}
	if len(requests) == 0 && len(o.groups) == 0 && len(plain) == 0 {
		return usage.Errorf("nothing to inject: give --env NAME=PATH, --group GROUP, --env-file FILE, or a variable whose value is av://PATH")
	}
	// Find the command before the vault is read: nothing is decrypted for a typo.
	program, err := exec.LookPath(argv[0])
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return &exitStatus{code: 127, err: fmt.Errorf("cannot run %s: command not found", argv[0])}
	case errors.Is(err, fs.ErrPermission):
		return &exitStatus{code: 126, err: fmt.Errorf("cannot run %s: permission denied", argv[0])}
	default:
		return &exitStatus{code: 126, err: fmt.Errorf("cannot run %s: %w", argv[0], err)}
	}

	// The command runs arbitrary code while agent-vault waits for it: nothing of agent-vault's memory or
	// initial environment may be readable to it.
	if err := harden.HideEnv("AGENT_VAULT_KEY"); err != nil {
		return fmt.Errorf("cannot erase AGENT_VAULT_KEY from this process's environment block: %w", err)
	}
	if err := harden.Process(); err != nil {
		return fmt.Errorf("cannot protect this process's memory from the command: %w", err)
	}
	v, key, err := o.vaultAndKey(o.key)
	os.Unsetenv("AGENT_VAULT_KEY")
	if err != nil {
		return err
	}
	s, err := o.readVault(v, key, o.noPull)
	if err != nil {
		return err
	}
	if s.FirstUse && !o.trustFirstUse {
		return &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
			"this call trusted the owner key of vault %s on first use (the key has no pins), and run does not inject values on that alone: "+
				"use a key file with pins (the owner prints them with 'agent-vault pins'), or pass --trust-first-use", s.Root.VaultID)}
	}
	vars := map[string]*envVar{}
	add := func(name, path string, value []byte) error {
		if prev, ok := vars[name]; ok {
			if prev.path == path {
				return usage.Errorf("%s is injected twice", name)
			}
			return usage.Errorf("%s and %s would both be injected as %s; name one of them with --env", prev.path, path, name)
		}
		vars[name] = &envVar{name, path, value}
		return nil
	}
	for _, r := range requests {
		value, err := s.Get(r.path)
		if err != nil {
			return err
		}
		info, err := s.Info(r.path)
		if err != nil {
			return err
		}
		o.warnExpired(info)
		if err := add(r.name, r.path, value); err != nil {
			return err
		}
	}
	for _, g := range o.groups {
		infos, err := s.List(g)
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			return &vault.Error{Kind: vault.KindNotAuthorized, Msg: fmt.Sprintf("this key (%s) can read no secret of group %s", s.Role, g)}
		}
		for _, info := range infos {
			name := groupEnvName(info.Name)
			if !validEnvName(name) {
				return usage.Errorf("%s would be injected as %s, which is not a valid environment variable name; name it with --env", info.Name, name)
			}
			if why := deniedEnvReason(name); why != "" {
				return usage.Errorf("%s would be injected as %s, which --group never sets: %s; name it with --env NAME=%s if you mean it", info.Name, name, why, info.Name)
			}
			value, err := s.Get(info.Name)
			if err != nil {
				return err
			}
			o.warnExpired(&info)
			if err := add(name, info.Name, value); err != nil {
				return err
			}
		}
	}

	names := make([]string, 0, len(vars))
	for name, v := range vars {
		if bytes.IndexByte(v.value, 0) >= 0 {
			return fmt.Errorf("%s cannot be put in an environment variable: its value contains a NUL byte", v.path)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var needles []redact.Needle
	if !o.noRedact {
		seen := map[string]bool{}
		for _, name := range names {
			v := vars[name]
			if seen[v.path] {
				continue
			}
			seen[v.path] = true
			ns, err := redact.Secret(v.path, v.value)
			if errors.Is(err, redact.ErrTooShort) {
				return usage.Errorf("the value of %s is shorter than %d bytes (white space aside): redacting it would garble the output; use --no-redact to inject it anyway", v.path, redact.MinLen)
			}
			needles = append(needles, ns...)
		}
	}

	for name := range plain {
		if v, ok := vars[name]; ok {
			return usage.Errorf("%s is set by --env-file and also injected from %s", name, v.path)
		}
	}
	env := childEnv(os.Environ(), vars, plain)
	for _, name := range names {
		env = append(env, name+"="+string(vars[name].value))
	}
	for _, name := range slices.Sorted(maps.Keys(plain)) {
		env = append(env, name+"="+plain[name])
	}
	return o.start(program, argv, env, needles)
}

// start runs the command to completion and returns its status as an exitStatus.
func (o *runOptions) start(program string, argv, env []string, needles []redact.Needle) error {
	cmd := &exec.Cmd{Path: program, Args: argv, Env: env, Stdin: o.io.In}
	var outR, errR *redact.Writer
	if o.noRedact {
		cmd.Stdout, cmd.Stderr = o.io.Out, o.io.Err
	} else {
		out, errw := o.io.Out, o.io.Err
		if sameWriter(out, errw) {
			lw := &lockedWriter{w: out}
			out, errw = lw, lw
		}
		outR, errR = redact.New(out, needles), redact.New(errw, needles)
		cmd.Stdout, cmd.Stderr = outR, errR
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	// From here on a signal is the command's to handle: it is passed on, and the command's status is
	// run's. One that came before stops run without starting it.
	if err := interrupted(o.context()); err != nil {
		return err
	}
	o.guard.handOff()
	if err := cmd.Start(); err != nil {
		code := 126
		if errors.Is(err, fs.ErrNotExist) {
			code = 127
		}
		return &exitStatus{code: code, err: fmt.Errorf("cannot run %s: %w", argv[0], startReason(err))}
	}
	done := make(chan struct{})
	forwarding := make(chan struct{})
	go func() {
		defer close(forwarding)
		for {
			select {
			case sig := <-sigs:
				if !sentByTerminal(sig) {
					_ = cmd.Process.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	werr := cmd.Wait()
	close(done)
	<-forwarding

	var flushErr error
	if outR != nil {
		flushErr = errors.Join(outR.Close(), errR.Close())
	}
	if cmd.ProcessState == nil {
		return fmt.Errorf("running %s: %w", argv[0], werr)
	}
	code := exitCode(cmd.ProcessState)
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		// The command ran, but its output could not be copied.
		flushErr = errors.Join(werr, flushErr)
	}
	if flushErr != nil {
		fmt.Fprintf(o.io.Err, "agent-vault: cannot pass on the output of %s: %v\n", argv[0], flushErr)
		if code == 0 {
			code = 1
		}
	}
	return &exitStatus{code: code}
}

// startReason is the operating system's reason why a command could not start, without Go's
// "fork/exec PATH:" prefix.
func startReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// warnExpired warns on stderr, as get does, that a secret has expired.
func (g *global) warnExpired(info *vault.SecretInfo) {
	if info.Expires != nil && info.Expires.Before(time.Now()) {
		fmt.Fprintf(g.io.Err, "agent-vault: warning: %s expired on %s\n", info.Name, info.Expires.Format(time.RFC3339))
	}
}

// groupEnvName is the environment variable name that 'run --group' gives the secret at path: the path
// upper-cased, with every character other than A-Z and 0-9 replaced by '_'.
func groupEnvName(path string) string {
	b := []byte(strings.ToUpper(path))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// validEnvName reports whether name is a portable environment variable name: [A-Za-z_][A-Za-z0-9_]*.
func validEnvName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// childEnv is parent without AGENT_VAULT_KEY and without the variables that vars or plain override.
func childEnv(parent []string, vars map[string]*envVar, plain map[string]string) []string {
	env := make([]string, 0, len(parent)+len(vars))
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		_, fromFile := plain[name]
		if _, overridden := vars[name]; overridden || fromFile || name == "AGENT_VAULT_KEY" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// sameWriter reports whether a and b are the same comparable writer.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// lockedWriter serialises the writes of the two redactors to one shared writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
