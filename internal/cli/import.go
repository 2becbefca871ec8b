package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/dotenv"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// maxImportSize bounds the file import reads: enough for tens of thousands of secrets.
const maxImportSize = 256 << 20

type importOptions struct {
	*global
	key       string
	prefix    string
	format    string
	overwrite bool
}

func newImportCmd(g *global) *cobra.Command {
	opts := &importOptions{global: g}
	cmd := &cobra.Command{
		Use:   "import <file>",
		Short: "Store many secrets from a dotenv or JSON file in one change",
		Long: `Store every secret of a file in one signed change and one Git commit. '-' reads standard input.

dotenv (the default; also KEY=value files named *.env): KEY=value lines, with optional 'export ',
single quotes (literal), double quotes (escapes \n \t \" \\ \$, may span lines) and # comments. Each KEY
becomes the secret PREFIX + KEY.
json (files named *.json): an object of secret path to string value; PREFIX is put before each path.

Every name and value is checked before anything is written. A key given twice is an error, and so is
a secret that exists already, unless --overwrite replaces it.`,
		Example: `  agent-vault import .env --prefix stripe/
  agent-vault import secrets.json
  kubectl get secret ... | agent-vault import - --format json --prefix k8s/ --overwrite`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run(a[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.key, "key", "", "owner key `PATH`")
	f.StringVar(&opts.prefix, "prefix", "", "put `PREFIX` (such as GROUP/) before every name")
	f.StringVar(&opts.format, "format", "", "`FORMAT` of the file: dotenv or json (default: json for *.json, else dotenv)")
	f.BoolVar(&opts.overwrite, "overwrite", false, "replace secrets that exist already")
	return cmd
}

func (o *importOptions) run(file string) error {
	format := o.format
	if format == "" {
		format = "dotenv"
		if strings.EqualFold(filepath.Ext(file), ".json") {
			format = "json"
		}
	}
	if format != "dotenv" && format != "json" {
		return usage.Errorf("--format must be dotenv or json, not %q", format)
	}
	data, err := o.read(file)
	if err != nil {
		return err
	}
	var keys, values []string
	switch format {
	case "dotenv":
		pairs, err := dotenv.Parse(data)
		if err != nil {
			return usage.Errorf("%s: %w", file, err)
		}
		for _, p := range pairs {
			keys, values = append(keys, p.Key), append(values, p.Value)
		}
	case "json":
		if keys, values, err = parseJSONSecrets(data); err != nil {
			return usage.Errorf("%s: %w", file, err)
		}
	}
	if len(keys) == 0 {
		return usage.Errorf("%s holds no secret; nothing was written", file)
	}
	paths := make([]string, len(keys))
	byteValues := make([][]byte, len(keys))
	seen := map[string]string{}
	for i, k := range keys {
		paths[i] = o.prefix + k
		if err := vault.CheckPath(paths[i]); err != nil {
			return usage.Errorf("%s: %s: %w", file, k, err)
		}
		if first, dup := seen[strings.ToLower(paths[i])]; dup {
			return usage.Errorf("%s: %s and %s name the same secret (names differing only in case collide on disk)", file, first, k)
		}
		seen[strings.ToLower(paths[i])] = k
		if values[i] == "" {
			return usage.Errorf("%s: %s has an empty value; nothing was written", file, k)
		}
		if len(values[i]) > vault.MaxValueSize {
			return usage.Errorf("%s: the value of %s is over the %d-byte limit", file, k, vault.MaxValueSize)
		}
		byteValues[i] = []byte(values[i])
	}
	var groups []string
	err = o.mutate(o.key, func(ow *vault.Owner) error {
		if err := ow.SetMany(paths, byteValues, vault.SetOptions{NoOverwrite: !o.overwrite}); err != nil {
			if exists := (*vault.ExistsError)(nil); errors.As(err, &exists) {
				return usage.Errorf("%w; nothing was written (--overwrite replaces existing secrets)", exists)
			}
			return err
		}
		set := map[string]bool{}
		for _, p := range paths {
			set[vault.DefaultGroup(p)] = true
		}
		for g := range set {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		return nil
	})
	if err != nil {
		return err
	}
	where := "group " + groups[0]
	if len(groups) > 1 {
		where = "groups " + strings.Join(groups, ", ")
	}
	fmt.Fprintf(o.io.Out, "Imported %s into %s in one change.\n", count(len(paths), "secret"), where)
	return nil
}

// read returns the content of file, or of standard input for "-".
func (o *importOptions) read(file string) ([]byte, error) {
	var r io.Reader = o.io.In
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, &vault.Error{Kind: vault.KindNotFound, Msg: fmt.Sprintf("no file %s", file)}
			}
			return nil, fmt.Errorf("cannot read %s: %w", file, err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeNamedPipe == 0 && fi.Mode()&os.ModeCharDevice == 0 {
			return nil, usage.Errorf("%s is not a file", file)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxImportSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", file, err)
	}
	if len(data) > maxImportSize {
		return nil, usage.Errorf("%s is larger than %d MiB", file, maxImportSize>>20)
	}
	return data, nil
}

// parseJSONSecrets reads a JSON object of secret path to string value, in the file's order, refusing a
// path given twice and any value that is not a string. Errors never quote a value.
func parseJSONSecrets(data []byte) (keys, values []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("expected a JSON object of secret path to string value")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, errors.New("malformed JSON")
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("malformed JSON at the value of %s", key)
		}
		var value string
		if err := json.Unmarshal(raw, &value); err != nil {
			return nil, nil, fmt.Errorf("the value of %s is not a string", key)
		}
		if !utf8.ValidString(key) {
			return nil, nil, errors.New("a key is not valid UTF-8")
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		keys, values = append(keys, key), append(values, value)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, errors.New("malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("unexpected data after the JSON object")
	}
	return keys, values, nil
}
