package vault

import (
	"testing"
)

// The file-by-file flush is what systems without syncfs use; it must cope with a real transaction's
// tree, staged and applied.
func TestSyncTreeByFile(t *testing.T) {
	tv := newTestVault(t)
	tv.set("stripe/api-key", "sk_live_sync", SetOptions{})
	if err := syncTreeByFile(tv.v.Dir); err != nil {
		t.Fatal(err)
	}
	crashed := false
	crashHook = func(step string) {
		if step == "marked" {
			if err := syncTreeByFile(tv.v.Dir); err != nil {
				t.Errorf("flushing a staged transaction: %v", err)
			}
			crashed = true
		}
	}
	defer func() { crashHook = func(string) {} }()
	tv.grant("ci", "stripe")
	if !crashed {
		t.Fatal("the transaction never reached the marked step")
	}
	tv.mustGet(tv.ci, "stripe/api-key", "sk_live_sync")
}
