package vault

import (
	"fmt"
	"testing"
)

// Go benchmarks of the library alone (no process start, no git); `make bench` measures the CLI against
// the stock age CLI.

func BenchmarkGet(b *testing.B) {
	tv := newTestVault(b)
	tv.set("stripe/api-key", "sk_live_abc123", SetOptions{})
	tv.grant("ci", "stripe")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := tv.v.Open(tv.ci)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get("stripe/api-key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tv := newTestVault(b)
			paths := make([]string, n)
			values := make([][]byte, n)
			for i := range paths {
				paths[i], values[i] = fmt.Sprintf("bulk/s%05d", i), []byte(fmt.Sprint("value-", i))
			}
			tv.owned(func(o *Owner) ([]byte, error) { return nil, o.SetMany(paths, values, SetOptions{}) })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tv.grant("ci", "bulk")
				tv.owned(func(o *Owner) ([]byte, error) { _, err := o.Revoke("ci", "bulk", RevokeOptions{}); return nil, err })
			}
		})
	}
}
