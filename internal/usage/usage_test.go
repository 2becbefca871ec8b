package usage

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/agent-vault/agent-vault/vault"
)

// TestErrorfWraps: a %w operand of Errorf is in the message, once, and in the chain; the kind is usage.
func TestErrorfWraps(t *testing.T) {
	inner := &fs.PathError{Op: "open", Path: "f", Err: fs.ErrNotExist}
	err := Errorf("--out %s: %w", "f", inner)
	if got, want := err.Error(), "--out f: open f: file does not exist"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if vault.KindOf(err) != vault.KindUsage || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("kind %v, errors.Is(ErrNotExist) %v", vault.KindOf(err), errors.Is(err, fs.ErrNotExist))
	}
	two := Errorf("%w and %w", inner, errors.ErrUnsupported)
	if !errors.Is(two, fs.ErrNotExist) || !errors.Is(two, errors.ErrUnsupported) {
		t.Errorf("two %%w operands: chain lost one: %v", two)
	}
	if plain := Errorf("bad %v", inner); errors.Is(plain, fs.ErrNotExist) || vault.KindOf(plain) != vault.KindUsage {
		t.Errorf("%%v wrapped, or the kind is lost: %#v", plain)
	}
}
