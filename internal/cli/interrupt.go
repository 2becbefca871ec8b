package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"
)

// ExitInterrupted is the exit status of a command that SIGINT (Ctrl-C) or SIGTERM stopped: 128 + 2, the
// status a shell gives a process that Ctrl-C ended.
const ExitInterrupted = 130

// stopGrace is how long a command may take, after the first signal, to reach a safe point and return
// (a Git child is sent SIGTERM, then SIGKILL 2 s later, and reaped): past it, the command exits
// ExitInterrupted wherever it is, as if the signal had killed it, unless an owner change is being
// written.
const stopGrace = 5 * time.Second

// errInterrupted is the error of a command that stopped because of a signal.
var errInterrupted = errors.New("interrupted")

// interrupter turns SIGINT and SIGTERM into the cancellation of a context. The first signal cancels it:
// every Git call made with it (pull, fetch, commit) ends its git processes and returns, and the command
// stops at its next safe point with ExitInterrupted. An owner change that has started writing is never
// cut by a signal (protect): a signal waits for it to finish, so that nothing lies between its commit
// point and the end of its write. A command that has not stopped stopGrace after the first signal, or
// a second signal, ends the process with ExitInterrupted at once (after the owner change being written,
// if any), as the signal's default action would have; a change cut before its commit point is
// discarded by the next owner command or repair. A signal while the command waits at a prompt
// (atPrompt) ends it at once.
type interrupter struct {
	ctx    context.Context
	cancel context.CancelFunc
	errOut io.Writer
	prog   string
	exit   func(int)     // os.Exit
	grace  time.Duration // stopGrace

	mu        sync.Mutex
	protected int             // owner changes being written
	prompts   map[*int]func() // restore the terminals of the prompts waiting for a person
	signals   int             // signals received
	exitAfter bool            // exit once the protected section ends
	done      chan struct{}
	stopOnce  sync.Once
}

// newInterrupter starts catching SIGINT and SIGTERM for the process; stop releases them.
func newInterrupter(errOut io.Writer, prog string) *interrupter {
	ctx, cancel := context.WithCancel(context.Background())
	in := &interrupter{ctx: ctx, cancel: cancel, errOut: errOut, prog: prog, exit: os.Exit, grace: stopGrace, done: make(chan struct{})}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go in.watch(sigs)
	return in
}

func (in *interrupter) watch(sigs chan os.Signal) {
	defer signal.Stop(sigs)
	var grace <-chan time.Time
	for {
		select {
		case <-sigs:
			in.mu.Lock()
			in.signals++
			first := in.signals == 1
			in.mu.Unlock()
			in.mu.Lock()
			prompting := len(in.prompts) > 0
			in.mu.Unlock()
			if first {
				in.cancel()
				grace = time.After(in.grace)
			}
			if !first || prompting {
				in.stopNow()
			}
		case <-grace:
			in.stopNow()
		case <-in.done:
			return
		}
	}
}

// stopNow ends the process with ExitInterrupted, or marks it to end when the owner change being written
// is finished.
func (in *interrupter) stopNow() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.protected > 0 {
		in.exitAfter = true
		return
	}
	for _, restore := range in.prompts {
		restore()
	}
	fmt.Fprintf(in.errOut, "%s: %s\n", in.prog, errInterrupted)
	in.exit(ExitInterrupted)
}

// protect marks the start of a section that a signal must not cut (an owner change from before its
// commit point to the end of its write and record); the returned function marks its end.
func (in *interrupter) protect() func() {
	if in == nil {
		return func() {}
	}
	in.mu.Lock()
	in.protected++
	in.mu.Unlock()
	return func() {
		in.mu.Lock()
		in.protected--
		exit := in.protected == 0 && in.exitAfter
		in.mu.Unlock()
		if exit {
			in.stopNow()
		}
	}
}

// atPrompt marks a wait for a person at the terminal fd (a value or a passphrase typed without echo): a
// signal during it ends the command at once, as Ctrl-C at a prompt always did, after restoring the
// terminal's settings (echo). Inside an owner change it waits for the change, like any signal. The
// returned function marks the end of the wait.
func (in *interrupter) atPrompt(fd int) func() {
	if in == nil {
		return func() {}
	}
	restore := func() {}
	if st, err := term.GetState(fd); err == nil {
		restore = func() { _ = term.Restore(fd, st) }
	}
	id := new(int)
	in.mu.Lock()
	if in.prompts == nil {
		in.prompts = map[*int]func(){}
	}
	in.prompts[id] = restore
	in.mu.Unlock()
	return func() {
		in.mu.Lock()
		delete(in.prompts, id)
		in.mu.Unlock()
	}
}

// handOff stops catching signals without cancelling the context: `run` hands them to its command from
// then on.
func (in *interrupter) handOff() {
	if in != nil {
		in.stopOnce.Do(func() { close(in.done) })
	}
}

// stop releases the signals and the context.
func (in *interrupter) stop() {
	in.handOff()
	in.cancel()
}

// interrupted returns errInterrupted when ctx was cancelled (a signal came), else nil: the check of a
// safe point.
func interrupted(ctx context.Context) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return nil
}
