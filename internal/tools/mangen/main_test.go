package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/cli"
)

// TestGenerate: one page per command, with the parts a manual page needs, generated from the command
// definitions (so a new command or flag gets its page without anyone writing it).
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1769860800") // 2026-01-31
	n, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		want = append(want, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRootCmd(&cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}))
	if n != len(want) {
		t.Errorf("wrote %d pages, want %d (%v)", n, len(want), want)
	}
	for _, name := range want {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no page for a command: %v", err)
			continue
		}
		page := string(data)
		for _, part := range []string{".TH \"AGENT-VAULT\" \"1\" \"Jan 2026\"", ".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH SEE ALSO\n"} {
			if !strings.Contains(page, part) {
				t.Errorf("%s lacks %q", name, part)
			}
		}
		if name != "agent-vault.1" && !strings.Contains(page, ".SH EXAMPLE\n") {
			t.Errorf("%s has no examples", name)
		}
	}
	// Markdown markup in the command texts survives as text.
	get, _ := os.ReadFile(filepath.Join(dir, "agent-vault-get.1"))
	if !strings.Contains(string(get), `\fBagent-vault get <path> [flags]\fP`) {
		t.Errorf("the synopsis of get lost its argument:\n%s", get)
	}
	mcp, _ := os.ReadFile(filepath.Join(dir, "agent-vault-mcp.1"))
	if !strings.Contains(string(mcp), "audit/<vault_id>") || !strings.Contains(string(mcp), "agent_vault_http") {
		t.Errorf("agent-vault-mcp.1 lost text to Markdown markup")
	}

	// The pages render without warnings (groff is part of every man installation).
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatalf("groff is needed to check that the pages render: %v", err)
	}
	for _, name := range want {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", filepath.Join(dir, name))
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff %s: %v\n%s", name, err, out)
		}
	}
}

func TestBadSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := generate(t.TempDir()); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("err = %v, want a refusal of SOURCE_DATE_EPOCH", err)
	}
}
