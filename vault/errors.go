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

// Error is a failure with a kind. Its message never contains a secret value. Error() is Msg, followed by
// ": " and Err's message when Err is set, or Err's message alone when Msg is empty; so a program can give
// an error of its own a kind with &Error{Kind: k, Err: err}.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
	// cause is an error that Msg already states (a %w operand of newErr, or a NotFoundError): Unwrap
	// returns it when Err is nil, so that errors.Is and errors.As see through the message.
	cause error
	// vouching marks an integrity failure that a change in progress can also cause: a reader retries it on
	// a fresh snapshot and reports it only when it persists (docs/format.md section 6.6).
	vouching bool
	// belowMark marks a verified state that is below this machine's high-water mark (a rollback or a
	// fork of the root): a reader with two local candidates (section 6.8) tries the other first.
	belowMark bool
}

// Error returns the message: Msg, Err's message, or both (see Error).
func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

// Unwrap returns Err, or the error that Msg states (see NotFoundf).
func (e *Error) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return e.cause
}

// KindOf returns the kind of err: the kind of the first *Error in its chain, else KindError.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindError
}

// newErr builds an error of kind with the message of fmt.Errorf(format, args...): a %w operand is
// part of the message and stays in the chain.
func newErr(kind Kind, format string, args ...any) error {
	e := fmt.Errorf(format, args...)
	ve := &Error{Kind: kind, Msg: e.Error()}
	switch e.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		ve.cause = e
	}
	return ve
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

// NameKind is what kind of name a not-found error did not find.
type NameKind string

const (
	NameSecret NameKind = "secret" // a secret's path
	NameAgent  NameKind = "agent"  // an agent's name
	NameGroup  NameKind = "group"  // a group's name
)

// NotFoundError says which name a KindNotFound failure did not find; errors.As finds it in the chain of
// the *Error that reports it, whose message says the same in words.
type NotFoundError struct {
	What NameKind // the kind of name
	Name string   // the name, as given
	// Agent, when set, is the agent whose group What/Name is not ("agent A is not a member of group G"):
	// the names it could have meant are that agent's groups.
	Agent string
}

// Error says which name was not found, or that the agent is not a member of the group.
func (e *NotFoundError) Error() string {
	if e.Agent != "" {
		return fmt.Sprintf("agent %s is not a member of %s %q", e.Agent, e.What, e.Name)
	}
	return fmt.Sprintf("%s '%s' not found", e.What, e.Name)
}

// NotFoundf builds a KindNotFound error for the name of kind what, with the message
// fmt.Sprintf(format, args...); errors.As finds a *NotFoundError in its chain.
func NotFoundf(what NameKind, name string, format string, args ...any) error {
	return &Error{Kind: KindNotFound, Msg: fmt.Sprintf(format, args...), cause: &NotFoundError{What: what, Name: name}}
}
