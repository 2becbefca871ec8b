// Command age-plugin-avtest is an age plugin for agent-vault's tests only: it speaks the real age plugin
// protocol (filippo.io/age/plugin) for a simulated device. Its identity AGE-PLUGIN-AVTEST-1… holds an
// X25519 identity and its recipient age1avtest1… the matching recipient, each as the text of its age
// encoding; its stanzas are X25519 stanzas under the type "avtest", so that only this plugin unwraps them.
//
// Environment (read by the plugin process, which inherits it from the client):
//
//	AVTEST_LOG=FILE      appends "unwrap" or "wrap" to FILE for every file key unwrapped or wrapped
//	AVTEST_FAIL=1        every unwrap fails, as a device that was removed would
//	AVTEST_MESSAGE=TEXT  the plugin shows TEXT to the user before an unwrap ("touch your device")
//
// age-plugin-avtest --generate prints a new identity file: a "# public key: age1avtest1…" line and the
// identity.
package main

import (
	"flag"
	"fmt"
	"os"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

const name = "avtest"

func main() {
	p, err := plugin.New(name)
	if err != nil {
		fatal(err)
	}
	p.RegisterFlags(nil)
	generate := flag.Bool("generate", false, "print a new identity file")
	flag.Parse()
	if *generate {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			fatal(err)
		}
		fmt.Printf("# avtest simulated device\n# public key: %s\n%s\n",
			plugin.EncodeRecipient(name, []byte(id.Recipient().String())), plugin.EncodeIdentity(name, []byte(id.String())))
		return
	}
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		r, err := age.ParseX25519Recipient(string(data))
		if err != nil {
			return nil, fmt.Errorf("malformed avtest recipient")
		}
		return recipient{r}, nil
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		id, err := age.ParseX25519Identity(string(data))
		if err != nil {
			return nil, fmt.Errorf("malformed avtest identity")
		}
		return identity{id, p}, nil
	})
	os.Exit(p.Main())
}

type recipient struct{ r *age.X25519Recipient }

func (r recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, err := r.r.Wrap(fileKey)
	if err != nil {
		return nil, err
	}
	logOp("wrap")
	for _, st := range s {
		st.Type = name
	}
	return s, nil
}

type identity struct {
	id *age.X25519Identity
	p  *plugin.Plugin
}

func (i identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if msg := os.Getenv("AVTEST_MESSAGE"); msg != "" {
		if err := i.p.DisplayMessage(msg); err != nil {
			return nil, err
		}
	}
	if os.Getenv("AVTEST_FAIL") != "" {
		return nil, fmt.Errorf("the avtest device is not connected")
	}
	logOp("unwrap")
	for _, s := range stanzas {
		if s.Type != name {
			continue
		}
		c := *s
		c.Type = "X25519"
		if fk, err := i.id.Unwrap([]*age.Stanza{&c}); err == nil {
			return fk, nil
		}
	}
	return nil, age.ErrIncorrectIdentity
}

func logOp(op string) {
	path := os.Getenv("AVTEST_LOG")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, op)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "age-plugin-avtest:", err)
	os.Exit(1)
}
