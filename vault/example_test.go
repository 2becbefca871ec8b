package vault_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/agent-vault/agent-vault/vault"
)

// An owner creates a vault, adds an agent, stores a secret and grants the agent its group; the agent
// then reads the secret with its own key file, which pins the vault.
func Example() {
	// A home for the example's keys and trust records, and a directory for the vault (in real use, a
	// Git working tree).
	home, _ := os.MkdirTemp("", "agent-vault-home")
	top, _ := os.MkdirTemp("", "agent-vault-repo")
	defer os.RemoveAll(home)
	defer os.RemoveAll(top)
	defer os.Setenv("AGENT_VAULT_HOME", os.Getenv("AGENT_VAULT_HOME"))
	os.Setenv("AGENT_VAULT_HOME", home)

	// The owner.
	ownerFile, err := vault.NewOwnerKeyFile()
	if err != nil {
		log.Fatal(err)
	}
	ownerKey, err := vault.ParseKeyFile(ownerFile, "owner.key", nil)
	if err != nil {
		log.Fatal(err)
	}
	v, err := vault.Init(top, ownerKey)
	if err != nil {
		log.Fatal(err)
	}
	o, err := v.OpenOwner(ownerKey)
	if err != nil {
		log.Fatal(err)
	}
	agentKeyFile := filepath.Join(home, "agents", "ci.key")
	if err := o.AddAgent("ci", agentKeyFile); err != nil {
		log.Fatal(err)
	}
	if err := o.Set("stripe/api-key", []byte("sk_test_4eC39HqLyjWDarjtT1zdp7dc"), vault.SetOptions{}); err != nil {
		log.Fatal(err)
	}
	if _, _, err := o.Grant("ci", "stripe"); err != nil {
		log.Fatal(err)
	}
	o.Close()

	// The agent.
	v, err = vault.Find(top)
	if err != nil {
		log.Fatal(err)
	}
	key, err := vault.LoadKeyFile(agentKeyFile, nil)
	if err != nil {
		log.Fatal(err)
	}
	s, err := v.Open(key)
	if err != nil {
		log.Fatal(err)
	}
	value, err := s.Get("stripe/api-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s reads %s\n", s.Role, value)
	// Output: ci reads sk_test_4eC39HqLyjWDarjtT1zdp7dc
}
