package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// maxTemplateSize bounds the template inject reads.
const maxTemplateSize = 16 << 20

type injectOptions struct {
	*global
	key    string
	noPull bool
	input  string
}

func newInjectCmd(g *global) *cobra.Command {
	opts := &injectOptions{global: g}
	cmd := &cobra.Command{
		Use:   "inject",
		Short: "Render a template's secret references to standard output",
		Long: `Read a template from -i FILE or standard input and write it to standard output with every reference
{{ av://PATH }} replaced by the exact bytes of the secret at PATH, for a program that reads its
configuration from a pipe. Spaces and tabs inside the braces are optional; any other {{ ... }} and
any other text pass through unchanged. There is no escape: a template cannot produce a literal
reference.

Every reference is checked and every value verified, exactly as 'agent-vault get' does, before
anything is written, and the output is written in one piece: when a reference is malformed, unknown
or not readable by the key, the error names it (file and line), standard output stays empty, and the
exit status says why (2 malformed, 4 not found, 5 not authorized, 6 integrity). Nothing is written
to disk. A value stored with a trailing newline brings it along (store values with printf '%s').`,
		Example: `  agent-vault inject -i app.conf.tpl | app --config /dev/stdin
  app --config <(agent-vault inject -i app.conf.tpl --key ~/.agent-vault/agents/ci.key)
  echo 'url = "{{ av://postgres/conn }}"' | agent-vault inject`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVarP(&opts.input, "input", "i", "", "read the template from `FILE` ('-' or none: standard input)")
	cmd.Flags().StringVar(&opts.key, "key", "", "key `PATH`")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

func (o *injectOptions) run() error {
	name, data, err := o.readTemplate()
	if err != nil {
		return err
	}
	refs, bad := parseTemplate(data)
	var errs []error
	for _, b := range bad {
		errs = append(errs, &vault.Error{Kind: vault.KindUsage, Msg: fmt.Sprintf("%s:%d: %s", name, b.line, b.text), Err: b.err})
	}
	if len(errs) == 0 && len(refs) > 0 {
		var s *vault.Snapshot
		if s, err = o.openReader(o.key, o.noPull); err != nil {
			return err
		}
		values := map[string][]byte{}
		failed := map[string]error{}
		for i := range refs {
			r := &refs[i]
			if _, ok := values[r.path]; ok {
				continue
			}
			err, ok := failed[r.path]
			if !ok {
				var v []byte
				if v, err = s.Get(r.path); err == nil {
					var info *vault.SecretInfo
					if info, err = s.Info(r.path); err == nil {
						values[r.path] = v
						o.warnExpired(info)
						continue
					}
				}
				failed[r.path] = err
			}
			errs = append(errs, &vault.Error{Kind: vault.KindOf(err), Msg: fmt.Sprintf("%s:%d: %s", name, r.line, r.text), Err: err})
		}
		if len(errs) == 0 {
			var out bytes.Buffer
			prev := 0
			for _, r := range refs {
				out.Write(data[prev:r.start])
				out.Write(values[r.path])
				prev = r.end
			}
			out.Write(data[prev:])
			_, err = o.io.Out.Write(out.Bytes())
			return err
		}
	}
	if len(errs) == 0 {
		_, err = o.io.Out.Write(data) // no references: the template is the output
		return err
	}
	if len(errs) == 1 {
		return errs[0]
	}
	// Report every failure; the exit status is an integrity error's if there is one, else the first's.
	kind := vault.KindOf(errs[0])
	for _, e := range errs {
		fmt.Fprintf(o.io.Err, "agent-vault: %s\n", e)
		if vault.KindOf(e) == vault.KindIntegrity {
			kind = vault.KindIntegrity
		}
	}
	return &vault.Error{Kind: kind, Msg: fmt.Sprintf("%d references could not be rendered; nothing was written", len(errs))}
}

func (o *injectOptions) readTemplate() (name string, data []byte, err error) {
	var r io.Reader = o.io.In
	name = "<stdin>"
	if o.input != "" && o.input != "-" {
		f, err := os.Open(o.input)
		if err != nil {
			return "", nil, fmt.Errorf("cannot read the template: %w", err)
		}
		defer f.Close()
		r, name = f, o.input
	}
	data, err = io.ReadAll(io.LimitReader(r, maxTemplateSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the template %s: %w", name, err)
	}
	if len(data) > maxTemplateSize {
		return "", nil, usage.Errorf("the template %s is over the %d-byte limit", name, maxTemplateSize)
	}
	return name, data, nil
}

// templateRef is a well-formed reference {{ av://PATH }} at data[start:end].
type templateRef struct {
	path       string
	text       string
	line       int
	start, end int
}

// templateError is a malformed reference.
type templateError struct {
	text string
	line int
	err  error
}

const refScheme = "av://"

// parseTemplate finds the references of data. A reference begins with "{{", optional spaces or tabs and
// "av://"; what follows must be a valid secret path, optional spaces or tabs and "}}". Text that does
// not begin a reference is not a reference, whatever else it holds.
func parseTemplate(data []byte) ([]templateRef, []*templateError) {
	var refs []templateRef
	var errs []*templateError
	line, lineAt := 1, 0 // the line number of data[lineAt]
	for i := 0; ; {
		k := bytes.Index(data[i:], []byte("{{"))
		if k < 0 {
			break
		}
		start := i + k
		j := skipBlanks(data, start+2)
		if !bytes.HasPrefix(data[j:], []byte(refScheme)) {
			i = start + 1
			continue
		}
		line += bytes.Count(data[lineAt:start], []byte("\n"))
		lineAt = start
		p := j + len(refScheme)
		q := p
		for q < len(data) && !bytes.ContainsRune([]byte(" \t\r\n{}"), rune(data[q])) {
			q++
		}
		path := string(data[p:q])
		end := skipBlanks(data, q)
		if !bytes.HasPrefix(data[end:], []byte("}}")) {
			errs = append(errs, &templateError{text: quoteRef(data, start), line: line, err: fmt.Errorf("malformed reference (the syntax is {{ av://PATH }})")})
			i = j
			continue
		}
		end += 2
		text := string(data[start:end])
		if path == "" {
			errs = append(errs, &templateError{text: text, line: line, err: fmt.Errorf("empty secret path")})
		} else if err := vault.CheckPath(path); err != nil {
			errs = append(errs, &templateError{text: text, line: line, err: fmt.Errorf("invalid secret path: %w", err)})
		} else {
			refs = append(refs, templateRef{path: path, text: text, line: line, start: start, end: end})
		}
		i = end
	}
	return refs, errs
}

func skipBlanks(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
		i++
	}
	return i
}

// quoteRef is the text of a malformed reference that begins at data[start]: up to its "}}" on the same
// line, else to the end of the line, at most 80 bytes.
func quoteRef(data []byte, start int) string {
	rest := data[start:]
	if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[:nl]
	}
	if c := bytes.Index(rest, []byte("}}")); c >= 0 {
		rest = rest[:c+2]
	}
	if len(rest) > 80 {
		return string(rest[:80]) + "..."
	}
	return string(rest)
}
