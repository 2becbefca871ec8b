package vault

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// No limit that the writer's own files can exceed (docs/format.md section 6.5): every bound a reader
// applies follows from what the signed root declares, so a large vault the owner wrote checks clean.
func TestLargeVaultWithLongNamesChecksClean(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	tv := newTestVault(t)
	tv.grant("ci", "bulk")
	paths := make([]string, n)
	values := make([][]byte, n)
	for i := range n {
		// 190 bytes: the group and three long segments, the last ending in the index.
		seg := strings.Repeat("n", 60)
		paths[i] = fmt.Sprintf("bulk/%s/%s/%s-%05d", seg, seg, seg[:57], i)
		values[i] = []byte(fmt.Sprintf("value-%05d", i))
	}
	if len(paths[0]) != 190 {
		t.Fatalf("path is %d bytes", len(paths[0]))
	}
	tv.owned(func(o *Owner) ([]byte, error) { return nil, o.SetMany(paths, values, SetOptions{}) })
	s, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.Check(time.Hour)
	if rep.Errors() != 0 || rep.Secrets != n {
		t.Fatalf("check: %d secrets, findings %+v", rep.Secrets, rep.Findings[:min(len(rep.Findings), 5)])
	}
	list, err := s.List("bulk")
	if err != nil || len(list) != n {
		t.Fatalf("list: %d secrets, %v", len(list), err)
	}
	if got, _ := tv.get(tv.ci, paths[n-1]); got != string(values[n-1]) {
		t.Fatalf("ci read %q", got)
	}
}
