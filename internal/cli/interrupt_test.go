package cli

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// testInterrupter is an interrupter fed by sigs, whose exits are recorded instead of ending the test.
func testInterrupter(t *testing.T, grace time.Duration) (*interrupter, chan os.Signal, func() []int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var exits []int
	in := &interrupter{ctx: ctx, cancel: cancel, errOut: &bytes.Buffer{}, prog: "agent-vault", grace: grace, done: make(chan struct{}),
		exit: func(code int) { mu.Lock(); exits = append(exits, code); mu.Unlock() }}
	sigs := make(chan os.Signal, 2)
	go in.watch(sigs)
	t.Cleanup(in.stop)
	return in, sigs, func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), exits...) }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestInterrupter: the first signal cancels the context only; a second one, or the end of the grace,
// exits 130 at once outside an owner change and right after it inside one.
func TestInterrupter(t *testing.T) {
	t.Run("first signal cancels, second exits", func(t *testing.T) {
		in, sigs, exits := testInterrupter(t, time.Hour)
		sigs <- os.Interrupt
		waitFor(t, "the cancellation", func() bool { return in.ctx.Err() != nil })
		if err := interrupted(in.ctx); err != errInterrupted || len(exits()) != 0 {
			t.Fatalf("after one signal: %v, exits %v", err, exits())
		}
		sigs <- os.Interrupt
		waitFor(t, "the exit", func() bool { return len(exits()) == 1 })
		if got := in.errOut.(*bytes.Buffer).String(); got != "agent-vault: interrupted\n" || exits()[0] != ExitInterrupted {
			t.Errorf("exit %v, stderr %q", exits(), got)
		}
	})
	t.Run("an owner change is never cut", func(t *testing.T) {
		in, sigs, exits := testInterrupter(t, 20*time.Millisecond)
		release := in.protect()
		sigs <- os.Interrupt
		sigs <- os.Interrupt
		time.Sleep(100 * time.Millisecond) // past the grace, after the second signal
		if len(exits()) != 0 {
			t.Fatalf("exited inside the change: %v", exits())
		}
		release()
		if got := exits(); len(got) != 1 || got[0] != ExitInterrupted {
			t.Fatalf("after the change: exits %v, want one 130", got)
		}
	})
	t.Run("grace", func(t *testing.T) {
		_, sigs, exits := testInterrupter(t, 20*time.Millisecond)
		sigs <- os.Interrupt
		waitFor(t, "the exit after the grace", func() bool { return len(exits()) == 1 })
	})
	t.Run("at a prompt the first signal exits", func(t *testing.T) {
		in, sigs, exits := testInterrupter(t, time.Hour)
		done := in.atPrompt(-1) // no terminal: nothing to restore
		sigs <- os.Interrupt
		waitFor(t, "the exit", func() bool { return len(exits()) == 1 })
		done()
	})
	t.Run("after the prompt the first signal only cancels", func(t *testing.T) {
		in, sigs, exits := testInterrupter(t, time.Hour)
		in.atPrompt(-1)()
		sigs <- os.Interrupt
		waitFor(t, "the cancellation", func() bool { return in.ctx.Err() != nil })
		time.Sleep(20 * time.Millisecond)
		if len(exits()) != 0 {
			t.Fatalf("exits %v", exits())
		}
	})
	t.Run("handed off", func(t *testing.T) {
		in, sigs, exits := testInterrupter(t, time.Millisecond)
		in.handOff()
		time.Sleep(10 * time.Millisecond)
		select {
		case sigs <- os.Interrupt:
		default:
		}
		time.Sleep(50 * time.Millisecond)
		if len(exits()) != 0 || in.ctx.Err() != nil {
			t.Fatalf("a signal after handOff: exits %v, ctx %v", exits(), in.ctx.Err())
		}
	})
	var nilGuard *interrupter
	nilGuard.protect()() // commands run without signal handling (tests) protect nothing
	nilGuard.handOff()
	nilGuard.atPrompt(0)()
}
