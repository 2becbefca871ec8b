package mcpserver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agent-vault/agent-vault/internal/gitrepo"
)

// DefaultPullInterval is the least time between the starts of two pulls.
const DefaultPullInterval = 5 * time.Second

// PullTimeout bounds the network step of one pull, as for the CLI's reads.
const PullTimeout = 5 * time.Second

// Puller coalesces pulls from the vault's Git upstream: [Puller.Sync] pulls at most once per interval.
// A call that arrives while a pull runs waits for it and then reads what it brought; calls within the
// interval after a pull started do not pull. A burst of tool calls therefore costs one fetch.
//
// A failed pull is not an error for the caller: the local copy is verified and used. Failures are
// reported through report when they start or change, and recovery once, so an offline server does not
// repeat the same warning on every call.
type Puller struct {
	interval time.Duration
	pull     func(context.Context) error
	report   func(msg string)
	now      func() time.Time

	mu      sync.Mutex
	last    time.Time // start of the last pull; zero before the first
	lastMsg string    // the last failure reported, "" when the last pull worked
	pulls   int
}

// NewPuller returns a Puller that runs pull at most once per interval (DefaultPullInterval when
// interval <= 0) and reports failures with report (which may be nil).
func NewPuller(interval time.Duration, pull func(context.Context) error, report func(string)) *Puller {
	if interval <= 0 {
		interval = DefaultPullInterval
	}
	if report == nil {
		report = func(string) {}
	}
	return &Puller{interval: interval, pull: pull, report: report, now: time.Now}
}

// Sync pulls unless a pull started less than the interval ago, and waits for a pull in progress. The
// pull itself is not cancelled by ctx, so that a caller that gives up does not spoil the pull that
// others wait for; it is bounded by its own timeout.
func (p *Puller) Sync(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.last.IsZero() && now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	p.pulls++
	err := p.pull(context.WithoutCancel(ctx))
	switch {
	case err == nil:
		if p.lastMsg != "" {
			p.report("pulling from the upstream works again")
		}
		p.lastMsg = ""
	case errors.Is(err, gitrepo.ErrNoUpstream):
		// Nothing to pull from: the same as no remote at all.
	default:
		reason, detail := gitrepo.PullFailure(err)
		msg := "warning: " + reason + " (" + detail + "); using the local copy"
		if msg != p.lastMsg {
			p.report(msg)
		}
		p.lastMsg = msg
	}
}

// Pulls is the number of pulls started so far.
func (p *Puller) Pulls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pulls
}

// gitPull returns the pull of the vault whose Top is dir: a fetch of the current branch's upstream into
// the pull view, which leaves the working tree alone (see gitrepo.Repo.PullView), or nil when dir is not
// in a Git working tree.
func gitPull(dir string) (func(context.Context) error, error) {
	repo, err := gitrepo.Find(dir)
	if err != nil {
		if errors.Is(err, gitrepo.ErrNotRepo) || errors.Is(err, gitrepo.ErrGitNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return func(ctx context.Context) error { return repo.PullView(ctx, PullTimeout, dir) }, nil
}
