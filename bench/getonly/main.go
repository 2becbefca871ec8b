// Command getonly is the read path of `agent-vault get` with nothing else linked in: it finds the vault
// in DIR, resolves KEY, verifies and decrypts the secret at PATH. The
// benchmark harness times it beside the CLI to show how much of a `get` is the read path itself and how
// much is starting a binary that also carries the other commands and the MCP server.
package main

import (
	"fmt"
	"os"

	"github.com/agent-vault/agent-vault/vault"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: getonly DIR KEY PATH")
		os.Exit(2)
	}
	value, err := get(os.Args[1], os.Args[2], os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "getonly:", err)
		os.Exit(vault.KindOf(err).ExitCode())
	}
	os.Stdout.Write(value)
}

func get(dir, keyPath, secret string) ([]byte, error) {
	v, err := vault.Find(dir)
	if err != nil {
		return nil, err
	}
	key, err := vault.ResolveKey(keyPath, nil)
	if err != nil {
		return nil, err
	}
	s, err := v.Open(key)
	if err != nil {
		return nil, err
	}
	return s.Get(secret)
}
