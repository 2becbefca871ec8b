package vault

import (
	"strings"
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
	tv.owned(func(o *Owner) ([]byte, error) { _, err := o.Revoke("ci", "stripe", RevokeOptions{}); return nil, err })
	if _, k := tv.get(tv.ci, "stripe/api-key"); k != KindNotAuthorized {
		t.Fatalf("revoked agent: kind %v", k)
	}
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live_abc123")
}

func TestNamesThatCollideOnDiskAreRefused(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/api-key", "sk_live_case", SetOptions{})
	tv.set("nested/a", "sk_live_nested", SetOptions{})
	o, err := tv.v.OpenOwner(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, c := range []struct {
		path string
		opts SetOptions
		want string
	}{
		{"stripe/API-KEY", SetOptions{}, "only in case"},
		{"Stripe/other", SetOptions{}, "only in case"}, // a new group "Stripe" beside "stripe"
		{"x/other", SetOptions{Group: "STRIPE"}, "only in case"},
		{"nested/a.enc/b", SetOptions{}, "may not end in .enc or .meta"},
		{"nested/b.META/c", SetOptions{}, "may not end in .enc or .meta"},
	} {
		err := o.Set(c.path, []byte("sk_live_collision"), c.opts)
		if KindOf(err) != KindUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%q) = %v, want a usage error about %q", c.path, err, c.want)
		}
	}
	if _, err := addAgent(o, "CI"); KindOf(err) != KindUsage {
		t.Errorf("AddAgent(CI) beside ci = %v, want a usage error", err)
	}
	if exists(tv.v.Dir, pendingDir) {
		t.Fatal("a refused change left a pending transaction")
	}
	// The existing secrets are untouched, and a name that only looks alike is fine.
	if err := o.Set("stripe/api-key-2", []byte("sk_live_fine"), SetOptions{}); err != nil {
		t.Fatal(err)
	}
	o.Close()
	tv.mustGet(tv.owner, "stripe/api-key", "sk_live_case")
}

func TestSetManyRefusesPathsThatCollideWithEachOther(t *testing.T) {
	tv := newTestVault(t)
	o, err := tv.v.OpenOwner(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	err = o.SetMany([]string{"db/url", "db/URL"}, [][]byte{[]byte("sk_live_one"), []byte("sk_live_two")}, SetOptions{})
	if KindOf(err) != KindUsage || !strings.Contains(err.Error(), "only in case") {
		t.Fatalf("SetMany = %v, want a usage error about case", err)
	}
}
