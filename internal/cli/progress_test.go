package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgressLine(&out)
	p.now = func() time.Time { return clock }

	p.update("writing", 5, 10) // too short to show
	if out.Len() != 0 {
		t.Fatalf("short work drew %q", out.String())
	}
	p.update("re-wrapping", 0, 1000)
	clock = clock.Add(50 * time.Millisecond)
	p.update("re-wrapping", 10, 1000) // within progressEvery of the last line: not drawn
	clock = clock.Add(time.Second)
	p.update("re-wrapping", 250, 1000)
	clock = clock.Add(time.Second)
	p.update("re-wrapping", 1000, 1000)
	p.update("committing", 0, 2000)
	p.finish()
	lines := strings.Split(out.String(), "\n")
	want := []string{
		"\rre-wrapping 0/1000\x1b[K\rre-wrapping 250/1000, 4s left\x1b[K\rre-wrapping 1000/1000\x1b[K",
		"\rcommitting 0/2000\x1b[K",
		"",
	}
	if len(lines) != len(want) {
		t.Fatalf("output %q", out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	if got := roundLeft(125 * time.Second); got != "2m05s" {
		t.Errorf("roundLeft = %q", got)
	}
}
