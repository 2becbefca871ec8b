package vault

import (
	"testing"
)

func TestQuickStart(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/api-key", "sk_live_abc123", SetOptions{})
	if _, k := tv.get(tv.ci, "stripe/api-key"); k != KindNotAuthorized {
		t.Fatalf("ungranted agent: kind %v", k)
	}
	tv.grant("ci", "stripe")
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live_abc123")
	tv.mustGet(tv.ci, "stripe/api-key", "sk_live_abc123")
	if _, k := tv.get(tv.ci, "stripe/nope"); k != KindNotFound {
		t.Fatalf("missing secret: kind %v", k)
	}
	s, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.Check(30 * 24 * 3600e9)
	if rep.Errors() != 0 {
		t.Fatalf("check: %+v", rep.Findings)
	}
	tv.owned(func(o *Owner) ([]byte, error) { _, err := o.Revoke("ci", "stripe"); return nil, err })
	if _, k := tv.get(tv.ci, "stripe/api-key"); k != KindNotAuthorized {
		t.Fatalf("revoked agent: kind %v", k)
	}
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live_abc123")
}
