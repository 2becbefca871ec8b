package vault

import (
	"fmt"
	"testing"
)

// Go benchmarks of the library alone (no process start, no git); `make bench` measures the CLI against
// the stock age CLI.

// bulkVault returns a vault with n secrets in group bulk, and their paths.
func bulkVault(b *testing.B, n int) (*testVault, []string) {
	tv := newTestVault(b)
	paths := make([]string, n)
	values := make([][]byte, n)
	for i := range paths {
		paths[i], values[i] = fmt.Sprintf("bulk/s%05d", i), []byte(fmt.Sprint("value-", i))
	}
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.SetMany(paths, values, SetOptions{}) })
	return tv, paths
}

// BenchmarkGet opens the vault and reads one secret, as each `agent-vault get` does, at 10 and at
// 10,000 secrets: the two figures should be close (issue target: a read costs the same at both sizes).
func BenchmarkGet(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tv, paths := bulkVault(b, n)
			tv.grant("ci", "bulk")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := tv.v.Open(tv.ci)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Get(paths[n/2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tv, _ := bulkVault(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tv.grant("ci", "bulk")
				tv.owned(func(o *Owner) ([]byte, error) { _, err := o.Revoke("ci", "bulk", RevokeOptions{}); return nil, err })
			}
		})
	}
}

// BenchmarkParseState parses the root and one shard of a vault of 10,000 secrets: what every read parses.
func BenchmarkParseState(b *testing.B) {
	tv, paths := bulkVault(b, 10000)
	raw, err := readRepoFile(tv.v.Dir, rootFile, LimitRoot)
	if err != nil {
		b.Fatal(err)
	}
	body, _, err := splitSigned(raw)
	if err != nil {
		b.Fatal(err)
	}
	root, err := parseRoot(body)
	if err != nil {
		b.Fatal(err)
	}
	id := ShardOf(paths[0])
	shard, err := readRepoFile(tv.v.Dir, shardFile(id), LimitRoot)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("root", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := parseRoot(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := parseShard(shard, root, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
