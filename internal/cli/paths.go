package cli

import (
	"path/filepath"
	"strings"
)

// path resolves a relative path given in a flag (--out, --to, --from-file, --key) as if the command had
// started in -C DIR, as git -C does. "-", "~/..." and key content (AGE-SECRET-KEY-1...) are left alone.
func (g *global) path(p string) string {
	if p == "" || p == "-" || filepath.IsAbs(p) || strings.HasPrefix(p, "~/") || strings.Contains(strings.ToUpper(p), "AGE-SECRET-KEY-1") {
		return p
	}
	return filepath.Join(g.dir, p)
}
