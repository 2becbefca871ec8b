package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"filippo.io/age/plugin"

	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// Passphrases of passphrase-protected key files, and the terminal that age plugins talk through
// (docs/format.md sections 3.6 and 3.7). A passphrase comes from a file descriptor (--passphrase-fd N,
// or the environment variable AGENT_VAULT_PASSPHRASE_FD=N) or from the terminal, without echo; never
// from an argument or from an environment variable's value.

// passphraseFDEnv names the file descriptor a passphrase is read from when --passphrase-fd is not given.
const passphraseFDEnv = "AGENT_VAULT_PASSPHRASE_FD"

// maxPassphrase bounds a passphrase read from a file descriptor.
const maxPassphrase = 4096

// custody holds a command's passphrase source and the passphrases read, one per key: a command that
// loads two protected keys reads two lines from the descriptor, in the order it loads them.
type custody struct {
	// asks is set when the command line has the custody flags: its keys ask for passphrases and answer
	// age plugins (keyOptions).
	asks  bool
	fd    int // --passphrase-fd; -1 when not given
	pass  []byte
	byKey map[string][]byte
}

// addCustodyFlags registers --passphrase-fd on every command and makes the keys of this command line ask
// for passphrases and answer age plugins (keyOptions).
func (g *global) addCustodyFlags(root *cobra.Command) {
	root.PersistentFlags().IntVar(&g.custody.fd, "passphrase-fd", -1, "read the passphrase of a protected key from file descriptor `N` (one line); default: $"+passphraseFDEnv+", else the terminal")
	g.custody.asks = true
}

// keyOptions are the vault.KeyOptions every key of this command line is loaded with: the vault
// package's notices through warn; with the custody flags, passphrases from this command line's
// passphrase source and age plugins' questions on its terminal.
func (g *global) keyOptions() *vault.KeyOptions {
	o := &vault.KeyOptions{Warn: g.warn}
	if g.custody.asks {
		o.Passphrase, o.PluginUI = g.passphrase, g.pluginUI()
	}
	return o
}

// noticeTo returns a KeyOptions.Warn that writes each notice on a line of w, after "program: ".
func noticeTo(w io.Writer, program string) func(msg string) {
	return func(msg string) { fmt.Fprintln(w, program+": "+msg) }
}

// passphraseFD returns the descriptor to read a passphrase from: --passphrase-fd, else
// $AGENT_VAULT_PASSPHRASE_FD, else -1 (the terminal).
func (g *global) passphraseFD() (int, error) {
	if g.custody.fd >= 0 {
		return g.custody.fd, nil
	}
	s := os.Getenv(passphraseFDEnv)
	if s == "" {
		return -1, nil
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 0 {
		return -1, usage.Errorf("%s must be a file descriptor number (the passphrase itself never goes in the environment)", passphraseFDEnv)
	}
	return fd, nil
}

// passphrase returns the passphrase of the protected key source: the one already read by this process,
// else one line from the passphrase descriptor, else what is typed at the terminal.
func (g *global) passphrase(source string) ([]byte, error) {
	if p, ok := g.custody.byKey[source]; ok {
		return bytes.Clone(p), nil
	}
	if g.custody.byKey == nil {
		g.custody.byKey = map[string][]byte{}
	}
	if g.custody.pass == nil {
		fd, err := g.passphraseFD()
		if err != nil {
			return nil, err
		}
		if fd >= 0 {
			g.custody.pass, err = readPassphraseFD(fd)
		} else {
			g.custody.pass, err = g.promptTerminal("Passphrase for key " + source + ": ")
		}
		if err != nil {
			return nil, err
		}
		if len(g.custody.pass) == 0 {
			g.custody.pass = nil
			return nil, &vault.Error{Kind: vault.KindVaultNotFound, Msg: "empty passphrase"}
		}
	}
	// This passphrase is this key's; the next key reads its own.
	g.custody.byKey[source], g.custody.pass = g.custody.pass, nil
	return bytes.Clone(g.custody.byKey[source]), nil
}

// newPassphrase returns the passphrase to protect a key with: one line from the passphrase descriptor,
// or typed twice at the terminal. An empty passphrase is refused. The process uses it for the key
// afterwards.
func (g *global) newPassphrase(what string) ([]byte, error) {
	fd, err := g.passphraseFD()
	if err != nil {
		return nil, err
	}
	var pass []byte
	if fd >= 0 {
		if pass, err = readPassphraseFD(fd); err != nil {
			return nil, err
		}
	} else {
		if pass, err = g.promptTerminal("New passphrase for " + what + ": "); err != nil {
			return nil, err
		}
		if len(pass) == 0 {
			return nil, usage.Errorf("the passphrase is empty; nothing was changed")
		}
		again, err := g.promptTerminal("Repeat the passphrase: ")
		if err != nil {
			return nil, err
		}
		same := bytes.Equal(pass, again)
		clear(again)
		if !same {
			clear(pass)
			return nil, usage.Errorf("the two passphrases differ; nothing was changed")
		}
	}
	g.custody.pass = pass
	return bytes.Clone(pass), nil
}

// readPassphraseFD reads one line (without its line ending) from descriptor fd, a byte at a time so that
// nothing after it is consumed.
func readPassphraseFD(fd int) ([]byte, error) {
	var pass []byte
	b := make([]byte, 1)
	for {
		n, err := unix.Read(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			clear(pass)
			return nil, &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf("cannot read the passphrase from file descriptor %d", fd), Err: err}
		}
		if n == 0 || b[0] == '\n' {
			break
		}
		if len(pass) == maxPassphrase {
			clear(pass)
			return nil, usage.Errorf("the passphrase on file descriptor %d is longer than %d bytes", fd, maxPassphrase)
		}
		pass = append(pass, b[0])
	}
	pass = bytes.TrimSuffix(pass, []byte("\r"))
	if len(pass) == 0 {
		return nil, &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf("file descriptor %d gave an empty passphrase", fd)}
	}
	return pass, nil
}

// promptTerminal asks on the controlling terminal (/dev/tty, as age does, so that standard input stays
// free for values) and reads the answer without echo. It asks only when standard input or standard error
// is a terminal: a command run by a script, a service or a test never waits for a person.
func (g *global) promptTerminal(prompt string) ([]byte, error) {
	var tty *os.File
	var err error
	if g.io.InTerminal || g.io.ErrTerminal {
		tty, err = os.OpenFile("/dev/tty", os.O_RDWR, 0)
	}
	if tty == nil || err != nil {
		return nil, &vault.Error{Kind: vault.KindVaultNotFound, Msg: "there is no terminal to ask for the passphrase on; give it on a file descriptor with --passphrase-fd N or " + passphraseFDEnv + "=N"}
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	done := g.guard.atPrompt(int(tty.Fd()))
	pass, err := readSecret(int(tty.Fd()))
	done()
	fmt.Fprintln(tty)
	if err != nil {
		return nil, &vault.Error{Kind: vault.KindVaultNotFound, Msg: "cannot read from the terminal", Err: err}
	}
	return pass, nil
}

// pluginUI is how age plugins talk to the user of the command line: messages on stderr, questions (a PIN)
// on the terminal without echo when secret.
func (g *global) pluginUI() *plugin.ClientUI {
	return &plugin.ClientUI{
		DisplayMessage: func(name, msg string) error {
			fmt.Fprintf(g.io.Err, "agent-vault: %s plugin: %s\n", name, msg)
			return nil
		},
		RequestValue: func(name, prompt string, secret bool) (string, error) {
			v, err := g.promptTerminal(fmt.Sprintf("%s plugin: %s ", name, strings.TrimSpace(prompt)))
			if err != nil {
				fmt.Fprintf(g.io.Err, "agent-vault: the %s plugin asks %q, and there is no terminal to answer\n", name, prompt)
				return "", err
			}
			return string(v), nil
		},
		Confirm: func(name, prompt, yes, no string) (bool, error) {
			choices := yes
			if no != "" {
				choices += "/" + no
			}
			v, err := g.promptTerminal(fmt.Sprintf("%s plugin: %s [%s] ", name, strings.TrimSpace(prompt), choices))
			if err != nil {
				return false, err
			}
			return strings.EqualFold(strings.TrimSpace(string(v)), yes), nil
		},
		WaitTimer: func(name string) {
			fmt.Fprintf(g.io.Err, "agent-vault: waiting for the %s plugin (touch the device if it blinks)\n", name)
		},
	}
}

// checkPassphraseFlag refuses init --passphrase when the owner key at path exists unprotected: init never
// changes an existing key ('agent-vault key protect' does).
func (o *initOptions) checkPassphraseFlag(path string) error {
	if !o.passphrase {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil // a new key is made, or loading it says what is wrong
	}
	defer clear(data)
	if !vault.IsProtectedKeyFile(data) {
		return usage.Errorf("the owner key %s exists and is not passphrase-protected; protect it with 'agent-vault key protect' (init never changes an existing key)", path)
	}
	return nil
}

// newOwnerKeyFile returns the content of a new owner key file: protected with a new passphrase under
// --passphrase, plain otherwise. The plain key is never written.
func (o *initOptions) newOwnerKeyFile(path string) ([]byte, error) {
	if !o.passphrase {
		return vault.NewOwnerKeyFile()
	}
	pass, err := o.newPassphrase(path)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return vault.NewProtectedOwnerKeyFile(pass)
}
