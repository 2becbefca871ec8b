package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// devNull is the standard input and output of timed runs: a file, so that no copying goroutine or pipe
// is timed with the command.
var devNull *os.File

func init() {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	devNull = f
}

// A spec is one command to time. cmd builds the command of run i (runs may differ, as set's new
// secret does); check, when set, verifies the standard output of the first run.
type spec struct {
	label string
	cmd   func(i int) *exec.Cmd
	check func(stdout []byte) error
}

// result is what timing a spec gave: one wall time and one peak RSS (KiB, the largest process of the
// tree that wait4 reports) per timed run, or the error that stopped it.
type result struct {
	times []time.Duration
	rss   []int64
	err   error
}

func (r *result) ok() bool { return r != nil && r.err == nil && len(r.times) > 0 }

func (r *result) median() time.Duration { return medianDur(r.times) }

// runOnce runs cmd and returns its wall time and peak RSS. capture keeps standard output and error (for
// checks and error messages); otherwise they go to /dev/null.
func runOnce(cmd *exec.Cmd, capture bool) (time.Duration, int64, []byte, error) {
	var out, errb bytes.Buffer
	if cmd.Stdin == nil {
		cmd.Stdin = devNull
	}
	if capture {
		cmd.Stdout, cmd.Stderr = &out, &errb
	} else {
		cmd.Stdout, cmd.Stderr = devNull, devNull
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = int64(ru.Maxrss) // KiB on Linux
		}
	}
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 600 {
			msg = msg[:600] + "..."
		}
		return d, rss, out.Bytes(), fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return d, rss, out.Bytes(), nil
}

// interleave times the specs in turn, round after round, so that all of them see the same machine
// load: warmup untimed rounds (the first also checks each spec's output), then runs timed rounds. A spec
// that fails is reported in its result and dropped from later rounds; the others go on.
func interleave(specs []*spec, warmup, runs int) []*result {
	results := make([]*result, len(specs))
	for j := range results {
		results[j] = &result{}
	}
	for i := 0; i < warmup+runs; i++ {
		for j, s := range specs {
			r := results[j]
			if r.err != nil {
				continue
			}
			first := i == 0
			d, rss, out, err := runOnce(s.cmd(i), first)
			if err != nil && !first {
				// Run it again to capture why it failed.
				_, _, _, err2 := runOnce(s.cmd(i), true)
				if err2 != nil {
					err = err2
				}
			}
			if err == nil && first && s.check != nil {
				err = s.check(out)
			}
			if err != nil {
				r.err = err
				continue
			}
			if i >= warmup {
				r.times = append(r.times, d)
				r.rss = append(r.rss, rss)
			}
		}
	}
	return results
}

// looseObjects is the number of loose objects in the repository at dir (git count-objects).
func looseObjects(dir string, env []string) (int, error) {
	cmd := exec.Command("git", "-C", dir, "count-objects", "-v")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("git count-objects in %s: %w", dir, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "count: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("git count-objects printed no count")
}

func medianDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < 100*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func fmtMiB(kib int64) string {
	if kib <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func ratio(a, b time.Duration) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func fmtRatio(x float64) string {
	if x <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}
