package cli

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// TestExitCodeByType: the exit status follows the error's type, never its text. An OS error whose text
// is cobra's words ("invalid argument" is EINVAL's) exits 1; cobra's unknown command and pflag's errors
// exit 2, with pflag's error still in the chain.
func TestExitCodeByType(t *testing.T) {
	var flagErr error
	for _, tc := range []struct {
		name string
		args []string
		fail error // what the test command returns
		want int
	}{
		{"EINVAL", []string{"fail"}, &os.PathError{Op: "open", Path: "x", Err: syscall.EINVAL}, 1},
		{"words of cobra", []string{"fail"}, errors.New(`unknown command "x" for "agent-vault"; flag needs an argument; required flag`), 1},
		{"usage error", []string{"fail"}, usage.Errorf("bad"), 2},
		{"not found", []string{"fail"}, vault.NotFoundf(vault.NameSecret, "a/b", "secret 'a/b' not found"), 4},
		{"unknown command", []string{"frobnicate"}, nil, 2},
		{"unknown flag", []string{"fail", "--frobnicate"}, nil, 2},
		{"flag needs an argument", []string{"fail", "--dir"}, nil, 2},
		{"invalid flag value", []string{"fail", "--count", "x"}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			streams := &IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr}
			root, g := newRoot(streams, nil)
			root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
				flagErr = flagError(c, err)
				return flagErr
			})
			fail := &cobra.Command{Use: "fail", Args: args(0, 0), RunE: func(*cobra.Command, []string) error { return tc.fail }}
			fail.Flags().Int("count", 0, "")
			root.AddCommand(fail)
			flagErr = nil
			if got := g.execute(root, tc.args); got != tc.want {
				t.Errorf("exit %d, want %d; stderr: %s", got, tc.want, stderr.String())
			}
			if strings.Count(strings.TrimSuffix(stderr.String(), "\n"), "\n") > 1 {
				t.Errorf("stderr is more than an error line and a usage line: %q", stderr.String())
			}
			if flagErr != nil {
				var nx *pflag.NotExistError
				var vr *pflag.ValueRequiredError
				var iv *pflag.InvalidValueError
				if !errors.As(flagErr, &nx) && !errors.As(flagErr, &vr) && !errors.As(flagErr, &iv) {
					t.Errorf("the flag error lost pflag's error from its chain: %#v", flagErr)
				}
			}
		})
	}
}

// TestNoCobraValidation: no command asks cobra to validate required flags or flag groups, whose errors
// would carry no type (only args and SetFlagErrorFunc make usage errors).
func TestNoCobraValidation(t *testing.T) {
	root, _ := newRoot(&IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, nil)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			for a := range f.Annotations {
				switch a {
				case cobra.BashCompOneRequiredFlag, "cobra_annotation_required_if_others_set",
					"cobra_annotation_one_required", "cobra_annotation_mutually_exclusive":
					t.Errorf("%s --%s: cobra validates it (%s); check it in the command and return usage.Errorf", c.CommandPath(), f.Name, a)
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
