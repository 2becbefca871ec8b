// Package vectors describes testdata/vectors/expected.json, the shared test vectors that the Go
// generator writes and every reader's tests run (testdata/vectors/README.md).
package vectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Case is one entry of expected.json.
type Case struct {
	Name        string            `json:"name"`
	Vault       string            `json:"vault"`
	Key         string            `json:"key"`
	OwnerKey    bool              `json:"owner_key"`
	Secret      string            `json:"secret"`
	Home        map[string]string `json:"home"`
	ValueBase64 *string           `json:"value_base64"`
	Error       *string           `json:"error"`
	Description string            `json:"description"`

	// GoMessage, when set, must appear in the Go reader's error message: it shows that the rule the case
	// is about is the one that fired (and not some other check further up). The generator checks it; it
	// is not written to expected.json.
	GoMessage string `json:"-"`
}

// Expected is expected.json.
type Expected struct {
	Format int     `json:"format"`
	Cases  []*Case `json:"cases"`
}

// Load reads dir/expected.json.
func Load(dir string) (*Expected, error) {
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		return nil, err
	}
	var e Expected
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("expected.json: %w", err)
	}
	return &e, nil
}
