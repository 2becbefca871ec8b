package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressMinItems is the smallest step that shows progress: shorter work is over before a line helps.
const progressMinItems = 100

// progressEvery bounds how often the line is redrawn.
const progressEvery = 100 * time.Millisecond

// progressLine draws one line per step of a long change on a terminal ("re-wrapping 4000/10000, 2s
// left"), rewritten in place. It is safe for concurrent use.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	mu    sync.Mutex
	phase string
	start time.Time
	drawn time.Time
	open  bool // a line is on screen without its newline yet
}

func newProgressLine(w io.Writer) *progressLine { return &progressLine{w: w, now: time.Now} }

// update reports that done of total items of phase are finished.
func (p *progressLine) update(phase string, done, total int) {
	if total < progressMinItems {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if phase != p.phase {
		p.endLine()
		p.phase, p.start, p.drawn = phase, now, time.Time{}
	}
	if done < total && now.Sub(p.drawn) < progressEvery {
		return
	}
	p.drawn = now
	line := fmt.Sprintf("%s %d/%d", phase, done, total)
	if elapsed := now.Sub(p.start); done > 0 && done < total && elapsed > 0 {
		left := time.Duration(float64(elapsed) / float64(done) * float64(total-done))
		line += ", " + roundLeft(left) + " left"
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.open = true
	if done >= total {
		p.endLine()
	}
}

// finish ends a line left open (a step cut short by an error).
func (p *progressLine) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLine()
}

func (p *progressLine) endLine() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// roundLeft spells a remaining time in whole seconds, or minutes and seconds.
func roundLeft(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 60 {
		return fmt.Sprintf("%ds", s)
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}
