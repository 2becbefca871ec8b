package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/agent-vault/agent-vault/internal/dotenv"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// envRequest is one variable to set from a secret.
type envRequest struct{ name, path, from string }

// A variable whose whole value is av://PATH (refScheme, shared with inject's templates) is given the
// secret at PATH, as `op run` does with op:// references.

// references collects what --env-file files and run's own environment ask for: av://PATH values become
// requests for secrets, other values in the files are plain variables (not secrets, not redacted).
// explicit names the variables --env sets, which a reference in the environment does not override.
func (o *runOptions) references(explicit map[string]bool) ([]envRequest, map[string]string, error) {
	var refs []envRequest
	plain := map[string]string{}
	fromFile := map[string]string{}
	for _, file := range o.envFiles {
		data, err := os.ReadFile(o.path(file))
		if err != nil {
			return nil, nil, usage.Errorf("--env-file: cannot read %s: %w", file, errNoValue(err))
		}
		pairs, err := dotenv.Parse(data)
		if err != nil {
			return nil, nil, usage.Errorf("--env-file %s: %w", file, err)
		}
		for _, p := range pairs {
			where := fmt.Sprintf("%s line %d", file, p.Line)
			if !validEnvName(p.Key) {
				return nil, nil, usage.Errorf("%s: %q is not a valid environment variable name", where, p.Key)
			}
			if prev, dup := fromFile[p.Key]; dup {
				return nil, nil, usage.Errorf("%s: %s is already set at %s", where, p.Key, prev)
			}
			fromFile[p.Key] = where
			path, isRef := strings.CutPrefix(p.Value, refScheme)
			if !isRef {
				plain[p.Key] = p.Value
				continue
			}
			if err := vault.CheckPath(path); err != nil {
				return nil, nil, usage.Errorf("%s: %s: invalid secret path: %w", where, p.Key, err)
			}
			refs = append(refs, envRequest{p.Key, path, where})
		}
	}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		path, isRef := strings.CutPrefix(value, refScheme)
		if !isRef || explicit[name] || fromFile[name] != "" || name == "AGENT_VAULT_KEY" {
			continue
		}
		if err := vault.CheckPath(path); err != nil {
			return nil, nil, usage.Errorf("the environment variable %s holds %s%s, which is not a valid secret path: %w", name, refScheme, path, err)
		}
		refs = append(refs, envRequest{name, path, "the environment"})
	}
	return refs, plain, nil
}

// errNoValue keeps an OS error's reason without the file's content (it has none) and without the path
// twice.
func errNoValue(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
