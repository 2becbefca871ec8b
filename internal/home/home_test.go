package home

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	t.Setenv("AGENT_VAULT_HOME", "rel/home")
	wd, _ := os.Getwd()
	if got, err := Dir(); err != nil || got != filepath.Join(wd, "rel/home") {
		t.Errorf("relative $AGENT_VAULT_HOME: %q, %v", got, err)
	}
	t.Setenv("AGENT_VAULT_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if got, err := Dir(); err != nil || got != "/home/someone/.agent-vault" {
		t.Errorf("default: %q, %v", got, err)
	}
	t.Setenv("HOME", "")
	_, err := Dir()
	if nh := (*NoHomeError)(nil); !errors.As(err, &nh) || err.Error() != "cannot find the home directory: "+nh.Err.Error() {
		t.Errorf("no home directory: %v", err)
	}
}
