// Package redact replaces secret values in a stream of bytes with labels, as the bytes go by.
//
// A Writer sits between a program's output and its destination. Every occurrence of every needle in the
// bytes written to it is replaced with the needle's label, including an occurrence that arrives split
// across any number of writes. To catch a split occurrence the Writer holds back the shortest tail that
// could still begin one: the longest suffix of what it has seen that is a proper prefix of some needle
// (so at most the longest needle's length minus one byte, and usually nothing). Close flushes that tail.
//
// Rules, for a stream S:
//
//   - At each position of S, the longest needle that occurs there wins (two needles of the same length:
//     the one given first).
//   - A byte of S that lies inside any occurrence of any needle is never written. When occurrences
//     overlap (a needle that begins inside an occurrence and ends after it), each one that extends the
//     redacted span adds its label, except that a needle overlapping a previous occurrence with the same
//     label extends the span silently: "aaaa" with the needle "aa" becomes one label, while "KEYKEY"
//     with the needle "KEY" becomes two.
//   - Every other byte is written unchanged and in order.
//
// So the bytes the Writer writes between two labels never contain a needle. Labels themselves are
// written as given; a label should not contain a needle.
//
// Matching is a scan that, at each byte that begins some needle, compares the needles that begin with
// that byte, longest first. Its cost is linear in the output for ordinary values, and at worst
// proportional to the output times the longest needle for output crafted to resemble a needle.
package redact

import (
	"bytes"
	"errors"
	"io"
	"slices"
)

// MinLen is the length, in bytes, of the shortest value Forms accepts. A value shorter than this (white
// space around it aside) would be found all over ordinary output: redacting it garbles the output, and
// not redacting it leaks it. Forms refuses it, so that the caller decides explicitly.
const MinLen = 4

// ErrTooShort is returned by Forms for a non-empty value that is shorter than MinLen once white space
// around it is removed (including a value that is only white space).
var ErrTooShort = errors.New("value too short to redact")

// ErrClosed is returned by a write after Close.
var ErrClosed = errors.New("redact: write after close")

// Needle is a byte string to redact and the label that replaces it.
type Needle struct {
	Value []byte
	Label string
}

// Forms returns the byte strings that stand for value in output, to be redacted with one label:
//
//   - the value itself;
//   - the value without white space around it, when that differs (a value stored with a trailing
//     newline is often printed without it);
//   - for a value of several lines, each line without white space around it, when the line is at least
//     MinLen bytes long (a PEM key printed line by line, or JSON-escaped with "\n" between its lines).
//
// An empty value has no forms: nothing to redact. A value shorter than MinLen once trimmed returns
// ErrTooShort. Forms are returned longest first, without duplicates.
func Forms(value []byte) ([][]byte, error) {
	if len(value) == 0 {
		return nil, nil
	}
	trimmed := bytes.TrimSpace(value)
	if len(trimmed) < MinLen {
		return nil, ErrTooShort
	}
	forms := [][]byte{value}
	add := func(f []byte) {
		for _, g := range forms {
			if bytes.Equal(f, g) {
				return
			}
		}
		forms = append(forms, f)
	}
	add(trimmed)
	if bytes.ContainsAny(trimmed, "\r\n") {
		for line := range bytes.SplitSeq(trimmed, []byte("\n")) {
			if line = bytes.TrimSpace(line); len(line) >= MinLen {
				add(line)
			}
		}
	}
	slices.SortStableFunc(forms, func(a, b []byte) int { return len(b) - len(a) })
	return forms, nil
}

type needle struct {
	value []byte
	label int // index into Writer.labels
}

// Writer redacts the bytes written to it and writes the result to an underlying writer. It is not safe
// for concurrent use. Close flushes the bytes held back; it does not close the underlying writer.
type Writer struct {
	w       io.Writer
	labels  [][]byte
	byFirst [256][]needle   // needles by their first byte, longest first
	single  [256]bool       // a one-byte needle is this byte
	pairs   [1 << 10]uint64 // bit set of the first two bytes of the longer needles
	maxLen  int

	buf    []byte // bytes received but not yet decided
	out    []byte // scratch for the bytes to write
	covEnd int    // buf[:covEnd] lies inside the last occurrence whose label was written
	last   int    // that occurrence's label, or -1
	err    error  // sticky write error
	closed bool
}

// New returns a Writer that writes to w with every occurrence of the needles replaced by their labels.
// Needles with an empty value are ignored; every other needle is redacted however short it is (Forms is
// where the length policy for secret values lives).
func New(w io.Writer, needles []Needle) *Writer {
	rw := &Writer{w: w, last: -1}
	labelIndex := map[string]int{}
	for _, n := range needles {
		if len(n.Value) == 0 {
			continue
		}
		li, ok := labelIndex[n.Label]
		if !ok {
			li = len(rw.labels)
			labelIndex[n.Label] = li
			rw.labels = append(rw.labels, []byte(n.Label))
		}
		first := n.Value[0]
		rw.byFirst[first] = append(rw.byFirst[first], needle{value: bytes.Clone(n.Value), label: li})
		if len(n.Value) == 1 {
			rw.single[first] = true
		} else {
			p := uint16(first)<<8 | uint16(n.Value[1])
			rw.pairs[p>>6] |= 1 << (p & 63)
		}
		rw.maxLen = max(rw.maxLen, len(n.Value))
	}
	for i := range rw.byFirst {
		// Stable: among needles of the same length, the one given first wins.
		slices.SortStableFunc(rw.byFirst[i], func(a, b needle) int { return len(b.value) - len(a.value) })
	}
	return rw
}

// Write redacts p and writes what can be decided. It returns len(p) unless the underlying writer failed;
// after a failure every call returns that error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	if w.maxLen == 0 {
		return w.pass(p)
	}
	data := p
	if len(w.buf) > 0 {
		w.buf = append(w.buf, p...)
		data = w.buf
	}
	n := w.scan(data, false)
	// Keep the undecided tail; data may alias w.buf, and copy handles the overlap.
	rest := data[n:]
	if len(w.buf) > 0 {
		w.buf = w.buf[:copy(w.buf, rest)]
	} else {
		w.buf = append(w.buf[:0], rest...)
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes the bytes held back, redacted, and makes later writes fail. It does not close the
// underlying writer. Calling Close again does nothing.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		w.scan(w.buf, true)
		w.buf = w.buf[:0]
	}
	return w.flush()
}

func (w *Writer) pass(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

func (w *Writer) flush() error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.w.Write(w.out)
	w.out = w.out[:0]
	if err != nil {
		w.err = err
	}
	return err
}

// scan appends to w.out the redaction of data[:n] and returns n: data[n:] is the shortest tail that may
// still begin an occurrence (nothing when eof). w.covEnd, relative to data on entry, is relative to
// data[n:] on return.
func (w *Writer) scan(data []byte, eof bool) int {
	i := 0
	for i < len(data) {
		if !w.mayBegin(data, i) {
			// Copy the run of bytes that begin no needle, except those inside the redacted span.
			j := i + 1
			for j < len(data) && !w.mayBegin(data, j) {
				j++
			}
			if j > w.covEnd {
				w.out = append(w.out, data[max(i, w.covEnd):j]...)
			}
			i = j
			continue
		}
		cands := w.byFirst[data[i]]
		rest := data[i:]
		match := -1
		undecided := false
		for k, nd := range cands {
			if len(rest) >= len(nd.value) {
				if len(nd.value) > 1 && rest[1] != nd.value[1] {
					continue
				}
				if bytes.Equal(rest[:len(nd.value)], nd.value) {
					match = k
					break
				}
			} else if !eof && bytes.HasPrefix(nd.value, rest) {
				// A longer needle may occur here: wait for more bytes.
				undecided = true
				break
			}
		}
		if undecided {
			break
		}
		switch {
		case match >= 0:
			nd := cands[match]
			if end := i + len(nd.value); end > w.covEnd {
				if i >= w.covEnd || nd.label != w.last {
					w.out = append(w.out, w.labels[nd.label]...)
				}
				w.covEnd, w.last = end, nd.label
			}
		case i >= w.covEnd:
			w.out = append(w.out, data[i])
		}
		i++
	}
	w.covEnd = max(0, w.covEnd-i)
	if w.covEnd == 0 {
		w.last = -1
	}
	return i
}

// mayBegin reports whether an occurrence of a needle may begin at data[i], judging by its first two bytes.
func (w *Writer) mayBegin(data []byte, i int) bool {
	c := data[i]
	if len(w.byFirst[c]) == 0 {
		return false
	}
	if w.single[c] || i+1 == len(data) {
		return true
	}
	p := uint16(c)<<8 | uint16(data[i+1])
	return w.pairs[p>>6]&(1<<(p&63)) != 0
}
