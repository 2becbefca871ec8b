package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-vault/agent-vault/internal/cli"
)

// Without agent-vault-mcp beside the executable (here the test binary), `agent-vault mcp` fails with a
// message that says where it looked and how to install it.
func TestMCPWithoutProgram(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	want := filepath.Join(filepath.Dir(self), cli.MCPProgram)
	if _, err := os.Stat(want); err == nil {
		t.Skipf("%s exists", want)
	}
	var out, errb bytes.Buffer
	code := cli.Main([]string{"mcp", "--no-pull"}, &cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
	for _, s := range []string{want + " does not exist", "go install github.com/agent-vault/agent-vault/cmd/agent-vault-mcp"} {
		if !strings.Contains(errb.String(), s) {
			t.Errorf("stderr %q does not say %q", errb.String(), s)
		}
	}
}
