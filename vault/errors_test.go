package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// TestNotFoundFields: each not-found error of the SDK names what it did not find in fields, not only in
// words (the CLI's "did you mean" reads them).
func TestNotFoundFields(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/api-key", "sk_live_0123456789", SetOptions{})
	tv.grant("ci", "stripe")
	s, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	_, getErr := s.Get("stripe/api-kye")
	_, listErr := s.List("strpe")
	var grantErr, revokeErr, setErr error
	tv.owned(func(o *Owner) ([]byte, error) {
		_, _, grantErr = o.Grant("cii", "stripe")
		_, revokeErr = o.Revoke("ci", "stripes", RevokeOptions{})
		setErr = o.Set("stripe/other", nil, SetOptions{})
		return nil, nil
	})
	for _, tc := range []struct {
		name string
		err  error
		want NotFoundError
	}{
		{"get", getErr, NotFoundError{What: NameSecret, Name: "stripe/api-kye"}},
		{"list", listErr, NotFoundError{What: NameGroup, Name: "strpe"}},
		{"grant", grantErr, NotFoundError{What: NameAgent, Name: "cii"}},
		{"revoke", revokeErr, NotFoundError{What: NameGroup, Name: "stripes", Agent: "ci"}},
		{"set of metadata only", setErr, NotFoundError{What: NameSecret, Name: "stripe/other"}},
	} {
		var nf *NotFoundError
		if KindOf(tc.err) != KindNotFound || !errors.As(tc.err, &nf) {
			t.Errorf("%s: %v (kind %v) has no NotFoundError", tc.name, tc.err, KindOf(tc.err))
			continue
		}
		if *nf != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, *nf, tc.want)
		}
	}
}

// TestErrorMessage: Msg, then Err's message after ": "; Err's message alone when there is no Msg, so that
// &Error{Kind: k, Err: err} gives err a kind and keeps its words and its chain.
func TestErrorMessage(t *testing.T) {
	inner := fmt.Errorf("--out f: %w", fs.ErrNotExist)
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Kind: KindUsage, Msg: "bad"}, "bad"},
		{&Error{Kind: KindUsage, Msg: "bad", Err: inner}, "bad: --out f: file does not exist"},
		{&Error{Kind: KindUsage, Err: inner}, "--out f: file does not exist"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.err, got, tc.want)
		}
	}
	if err := error(&Error{Kind: KindUsage, Err: inner}); KindOf(err) != KindUsage || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("kind %v, errors.Is(ErrNotExist) %v", KindOf(err), errors.Is(err, fs.ErrNotExist))
	}
}
