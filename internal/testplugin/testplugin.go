// Package testplugin builds age-plugin-avtest, the age plugin of agent-vault's tests (see its command
// documentation), so that tests run the real plugin protocol against a real plugin binary.
package testplugin

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// Name is the plugin's name: its binary is age-plugin-avtest, its identities AGE-PLUGIN-AVTEST-1…, its
// recipients age1avtest1….
const Name = "avtest"

// Build compiles age-plugin-avtest into dir with the go command that runs the tests (go test puts its own
// GOROOT/bin first on the PATH of the test binaries).
func Build(dir string) error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "age-plugin-"+Name),
		"github.com/agent-vault/agent-vault/internal/testplugin/age-plugin-avtest")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building age-plugin-avtest: %v\n%s", err, out)
	}
	return nil
}
