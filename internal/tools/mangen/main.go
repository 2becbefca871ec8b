// Command mangen writes the manual pages of agent-vault and agent-vault-mcp, generated from their cobra
// command definitions (one page per command, section 1), into a directory:
//
//	go run ./internal/tools/mangen -out build/man
//
// `make man` runs it; `make install` and the release archives install the pages. It is a separate
// program so that the agent-vault binary does not link the man page generator.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/agent-vault/agent-vault/internal/cli"
)

func main() {
	out := flag.String("out", "build/man", "write the pages into `DIR` (created if missing)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mangen [-out DIR]")
		os.Exit(2)
	}
	n, err := generate(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d manual pages to %s\n", n, *out)
}

// generate writes one page per command of both programs into dir and returns how many it wrote. The
// date in the pages is SOURCE_DATE_EPOCH when set (reproducible builds), else today.
func generate(dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	date := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var secs int64
		if _, err := fmt.Sscan(s, &secs); err != nil {
			return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		date = time.Unix(secs, 0).UTC()
	}
	streams := &cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	header := &doc.GenManHeader{
		Title:   "AGENT-VAULT",
		Section: "1",
		Source:  "agent-vault " + cli.Version,
		Manual:  "agent-vault manual",
		Date:    &date,
	}
	// agent-vault-mcp is the same command as `agent-vault mcp`, whose page (agent-vault-mcp.1) says so.
	root := cli.NewRootCmd(streams)
	root.DisableAutoGenTag = true
	escapeTree(root)
	if err := doc.GenManTree(root, header, dir); err != nil {
		return 0, err
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return 0, err
	}
	for _, page := range pages {
		if err := asciiPage(page); err != nil {
			return 0, err
		}
	}
	return len(pages), nil
}

// asciiPage rewrites every non-ASCII character of the page as a groff escape (\[u2026] for "…"): troff
// input is ASCII unless preconv runs first, and man does not always run it.
func asciiPage(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range string(data) {
		if r < 0x80 {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\[u%04X]`, r)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// escapeTree escapes, in the texts the generator reads as Markdown, the characters Markdown would take
// for markup: without it "get <path>" would lose "<path>" as an HTML tag.
func escapeTree(c *cobra.Command) {
	c.Use, c.Short, c.Long = escape(c.Use), escape(c.Short), escape(c.Long)
	for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
		fs.VisitAll(func(f *pflag.Flag) { f.Usage = escape(f.Usage) })
	}
	for _, sub := range c.Commands() {
		escapeTree(sub)
	}
}

var markdown = strings.NewReplacer(`\`, `\\`, "<", `\<`, ">", `\>`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`)

func escape(s string) string { return markdown.Replace(s) }
