package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildInfoFrom(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/agent-vault/agent-vault", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-31T12:00:00+01:00"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}
	for _, tc := range []struct {
		name            string
		bi              *debug.BuildInfo
		ldV, ldC, ldD   string
		version, commit string
		modified        bool
		date            string
	}{
		{name: "no information", version: "dev"},
		{name: "devel build in a clone", bi: vcs, version: "dev", commit: "0123456789abcdef0123456789abcdef01234567", modified: true, date: "2026-01-31T11:00:00Z"},
		{name: "go install module@version", bi: installed, version: "v1.4.0"},
		{name: "link flags win", bi: vcs, ldV: "v1.5.0", ldC: "fedcba9876543210fedcba9876543210fedcba98", ldD: "2026-02-01T00:00:00Z",
			version: "v1.5.0", commit: "fedcba9876543210fedcba9876543210fedcba98", date: "2026-02-01T00:00:00Z"},
		{name: "dirty make build", ldV: "v1.5.0-3-gfedcba9-dirty", ldC: "fedcba9876543210fedcba9876543210fedcba98",
			version: "v1.5.0-3-gfedcba9-dirty", commit: "fedcba9876543210fedcba9876543210fedcba98", modified: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := buildInfoFrom(tc.bi, tc.ldV, tc.ldC, tc.ldD)
			if b.Version != tc.version || b.Commit != tc.commit || b.Modified != tc.modified || b.Date != tc.date {
				t.Errorf("got %+v, want version %q commit %q modified %v date %q", b, tc.version, tc.commit, tc.modified, tc.date)
			}
			if !strings.Contains(b.Go, "/") {
				t.Errorf("Go = %q, want the toolchain and platform", b.Go)
			}
		})
	}
}

func TestVersionText(t *testing.T) {
	b := BuildInfo{Version: "v1.2.3", Commit: "abc", Modified: true, Date: "2026-01-31T12:00:00Z", Go: "go1.26.8 linux/amd64"}
	want := "v1.2.3\ncommit: abc (with uncommitted changes)\nbuilt:  2026-01-31T12:00:00Z\ngo:     go1.26.8 linux/amd64\n"
	if got := b.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := (BuildInfo{Version: "dev", Go: "go1"}).String(); !strings.Contains(got, "commit: unknown\nbuilt:  unknown\n") {
		t.Errorf("unknown commit and date: got %q", got)
	}
}
