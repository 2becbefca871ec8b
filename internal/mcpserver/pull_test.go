package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agent-vault/agent-vault/internal/gitrepo"
)

func TestPullerInterval(t *testing.T) {
	now := time.Unix(1e9, 0)
	n := 0
	p := NewPuller(3*time.Second, func(context.Context) error { n++; return nil }, nil)
	p.now = func() time.Time { return now }
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {time.Second, 1}, {time.Second, 1}, {time.Second, 2}, {2 * time.Second, 2}, {time.Second, 3}} {
		now = now.Add(step.advance)
		p.Sync(context.Background())
		if n != step.want {
			t.Fatalf("at +%v: %d pulls, want %d", step.advance, n, step.want)
		}
	}
	if p.Pulls() != 3 {
		t.Errorf("Pulls() = %d", p.Pulls())
	}
	if NewPuller(0, nil, nil).interval != DefaultPullInterval {
		t.Errorf("interval 0 does not mean the default")
	}
}

// TestPullerReports: a failure is reported when it starts or changes, not on every pull, and recovery
// once; a branch without upstream is not a failure.
func TestPullerReports(t *testing.T) {
	now := time.Unix(1e9, 0)
	var errs = []error{
		fmt.Errorf("%w: fetching from origin: exit 128\nfatal: unable to access", gitrepo.ErrOffline),
		fmt.Errorf("%w: fetching from origin: exit 128\nfatal: unable to access", gitrepo.ErrOffline),
		nil,
		fmt.Errorf("branch main: %w", gitrepo.ErrNoUpstream),
		errors.New("git merge: exit status 1"),
	}
	i := 0
	var reports []string
	p := NewPuller(time.Second, func(ctx context.Context) error {
		if ctx.Done() != nil {
			t.Errorf("the pull can be cancelled by a caller")
		}
		e := errs[i]
		i++
		return e
	}, func(m string) { reports = append(reports, m) })
	p.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range errs {
		p.Sync(ctx)
		now = now.Add(2 * time.Second)
	}
	got := strings.Join(reports, "\n")
	want := []string{"warning: offline (", "works again", "warning: could not pull (git merge"}
	if len(reports) != len(want) {
		t.Fatalf("reports:\n%s\nwant %d", got, len(want))
	}
	for k, w := range want {
		if !strings.Contains(reports[k], w) {
			t.Errorf("report %d = %q, want %q", k, reports[k], w)
		}
	}
	if strings.Contains(reports[0], "\n") {
		t.Errorf("a report spans lines: %q", reports[0])
	}
}
