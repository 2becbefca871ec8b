package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Link-time overrides, set by `make build`, `make install` and goreleaser:
//
//	-ldflags "-X github.com/agent-vault/agent-vault/internal/cli.version=v1.2.3
//	          -X github.com/agent-vault/agent-vault/internal/cli.commit=<full hash>
//	          -X github.com/agent-vault/agent-vault/internal/cli.date=2026-01-31T12:00:00Z"
//
// Whatever is not set is taken from the build information the Go toolchain embeds (the module version
// of a `go install module@version`, the VCS revision and commit time of a build in a clone).
var (
	version string
	commit  string
	date    string
)

// BuildInfo is what --version reports.
type BuildInfo struct {
	Version  string // v1.2.3, a Go pseudo-version, or "dev"
	Commit   string // the full commit hash, "" when unknown
	Modified bool   // built from a working tree with uncommitted changes
	Date     string // the build date (or, from Go's build information, the commit's date), "" when unknown
	Go       string // the Go toolchain and platform
}

// Build is this program's build information.
var Build = readBuildInfo()

// Version is the version printed by --version and reported by the MCP server.
var Version = Build.Version

func readBuildInfo() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfoFrom(bi, version, commit, date)
}

// buildInfoFrom combines the link-time values (which win when set) with Go's build information bi (nil
// when the binary has none).
func buildInfoFrom(bi *debug.BuildInfo, ldVersion, ldCommit, ldDate string) BuildInfo {
	b := BuildInfo{Version: "dev", Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Date = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		if bi.GoVersion != "" {
			b.Go = bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
		}
	}
	if ldVersion != "" {
		b.Version = ldVersion
	}
	if ldCommit != "" {
		b.Commit = ldCommit
		b.Modified = strings.HasSuffix(ldVersion, "-dirty")
	}
	if ldDate != "" {
		b.Date = ldDate
	}
	if t, err := time.Parse(time.RFC3339, b.Date); err == nil {
		b.Date = t.UTC().Format(time.RFC3339)
	}
	return b
}

// String is the --version text after "NAME version ".
func (b BuildInfo) String() string {
	var sb strings.Builder
	sb.WriteString(b.Version + "\n")
	c := b.Commit
	if c == "" {
		c = "unknown"
	}
	if b.Modified {
		c += " (with uncommitted changes)"
	}
	fmt.Fprintf(&sb, "commit: %s\n", c)
	d := b.Date
	if d == "" {
		d = "unknown"
	}
	fmt.Fprintf(&sb, "built:  %s\n", d)
	fmt.Fprintf(&sb, "go:     %s\n", b.Go)
	return sb.String()
}

// versionTemplate is cobra's --version template for every program of this module.
func versionTemplate() string {
	return "{{.Name}} version " + strings.ReplaceAll(Build.String(), "{{", "{{`{{`}}")
}
