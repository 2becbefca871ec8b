package vault

import (
	"io"
	"os"
	"strings"
	"testing"
)

// Without KeyOptions, notices go to standard error after "agent-vault: ", and an age plugin's messages
// are notices while its questions are refused; with them, the caller's Warn and PluginUI are used.
func TestKeyOptionsDefaults(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	var nilOpts *KeyOptions
	nilOpts.warn("trusting the owner key on first use")
	ui := (&KeyOptions{}).pluginUI()
	ui.DisplayMessage("yubikey", "touch it")
	_, askErr := ui.RequestValue("yubikey", "PIN:", true)
	os.Stderr = stderr
	w.Close()
	out, _ := io.ReadAll(r)
	if want := "agent-vault: trusting the owner key on first use\nagent-vault: yubikey plugin: touch it\n"; string(out) != want {
		t.Errorf("standard error %q, want %q", out, want)
	}
	if askErr == nil || !strings.Contains(askErr.Error(), "no terminal to answer") {
		t.Errorf("a plugin's question was not refused: %v", askErr)
	}

	var got []string
	opts := &KeyOptions{Warn: func(msg string) { got = append(got, msg) }}
	opts.warn("one")
	opts.pluginUI().WaitTimer("tpm")
	if want := []string{"one", "waiting for the tpm plugin (touch the device if it blinks)"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Warn got %q, want %q", got, want)
	}
	if own := (&KeyOptions{PluginUI: ui}).pluginUI(); own != ui {
		t.Error("the caller's PluginUI was not used")
	}
}
