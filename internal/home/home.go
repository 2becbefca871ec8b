// Package home locates the agent-vault home (docs/format.md section 6.4): the directory of a user's
// owner and agent key files and of the trust records a reader keeps (first use, high-water marks).
package home

import (
	"os"
	"path/filepath"
)

// Dir returns the agent-vault home: $AGENT_VAULT_HOME made absolute, else ~/.agent-vault. It does not
// create it. When neither can be worked out because the user has no home directory, the error is a
// *NoHomeError.
func Dir() (string, error) {
	if h := os.Getenv("AGENT_VAULT_HOME"); h != "" {
		return filepath.Abs(h)
	}
	uh, err := os.UserHomeDir()
	if err != nil {
		return "", &NoHomeError{Err: err}
	}
	return filepath.Join(uh, ".agent-vault"), nil
}

// NoHomeError is Dir's failure when $AGENT_VAULT_HOME is not set and the user has no home directory;
// Err says why. The vault package and the CLI report it as a missing key (vault.KindVaultNotFound).
type NoHomeError struct{ Err error }

func (e *NoHomeError) Error() string { return "cannot find the home directory: " + e.Err.Error() }

// Unwrap returns Err.
func (e *NoHomeError) Unwrap() error { return e.Err }
