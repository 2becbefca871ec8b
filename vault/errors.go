package vault

import (
	"errors"
	"fmt"
)

// Kind classifies every failure the same way on every surface (CLI exit codes, SDK exception classes,
// MCP tool errors). See docs/format.md section 7.
type Kind int

const (
	KindError         Kind = iota // anything else
	KindUsage                     // bad arguments or a bad name typed by the user
	KindVaultNotFound             // no vault, no key, unreadable key
	KindNotFound                  // no such secret, agent or group
	KindNotAuthorized             // the key is not a recipient or cannot decrypt
	KindIntegrity                 // signature, hash, rollback, fork, pin, bad repository bytes
)

var kindNames = [...]string{"error", "usage", "vault_not_found", "not_found", "not_authorized", "integrity"}

// String returns the kind's name as used in test vectors and SDK error objects.
func (k Kind) String() string { return kindNames[k] }

// ExitCode is the CLI exit status for the kind.
func (k Kind) ExitCode() int {
	switch k {
	case KindUsage:
		return 2
	case KindVaultNotFound:
		return 3
	case KindNotFound:
		return 4
	case KindNotAuthorized:
		return 5
	case KindIntegrity:
		return 6
	}
	return 1
}

// Error is a failure with a kind. Its message never contains a secret value.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
	// vouching marks an integrity failure that a change in progress can also cause: a reader retries it on
	// a fresh snapshot and reports it only when it persists (docs/format.md section 6.6).
	vouching bool
	// belowMark marks a verified state that is below this machine's high-water mark (a rollback or a
	// fork of the root): a reader with two local candidates (section 6.8) tries the other first.
	belowMark bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: the kind of the first *Error in its chain, else KindError.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindError
}

func newErr(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func wrapErr(kind Kind, err error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
}

// vouchErr builds a vouching failure: a file that does not match what the signed state says of it.
func vouchErr(format string, args ...any) error {
	return &Error{Kind: KindIntegrity, Msg: fmt.Sprintf(format, args...), vouching: true}
}

// isBelowMark reports whether err is a verified state below the high-water mark.
func isBelowMark(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.belowMark
}

// isVouching reports whether err is a vouching failure.
func isVouching(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.vouching
}

// Usagef builds a usage error.
func Usagef(format string, args ...any) error { return newErr(KindUsage, format, args...) }
