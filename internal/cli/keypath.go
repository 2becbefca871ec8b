package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-vault/agent-vault/vault"
)

// agentKeyPath is where add-agent and recover-agent write the key of agent name of the vault vaultID
// when --out is not given, and where remove-agent looks for it. Agent key files of different vaults
// never clash, and the paths of existing keys keep working:
//
//   - <home>/agents/VAULT_ID/NAME.key when it exists (this vault's key, written by an earlier command);
//   - else <home>/agents/NAME.key when it is free or holds a key pinned to this vault;
//   - else (it holds another vault's key, or a key without pins that cannot be told apart)
//     <home>/agents/VAULT_ID/NAME.key.
//
// So the first vault on a machine to have an agent "ci" gets the short path, as before, and any other
// vault's "ci" gets a path of its own.
func agentKeyPath(vaultID, name string, opts *vault.KeyOptions) (string, error) {
	home, err := homeDir()
	if err != nil {
		return "", err
	}
	short := filepath.Join(home, "agents", name+".key")
	perVault := filepath.Join(home, "agents", vaultID, name+".key")
	if exists(perVault) {
		return perVault, nil
	}
	if !exists(short) || keyFileVault(short, opts) == vaultID {
		return short, nil
	}
	return perVault, nil
}

// keyFileVault returns the vault id that the key file at path pins, "" when it pins none or cannot be
// read. It reads the pins only: the file's mode is checked when the key is used, not here.
func keyFileVault(path string, opts *vault.KeyOptions) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	k, err := vault.ParseKeyFile(data, path, opts)
	if err != nil {
		return ""
	}
	return k.PinVaultID
}

// agentKeyFiles returns the agent key files under <home>/agents (both layouts) that are pinned to the
// vault vaultID, by agent name.
func agentKeyFiles(vaultID string, opts *vault.KeyOptions) map[string]string {
	home, err := homeDir()
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, pattern := range []string{filepath.Join(home, "agents", "*.key"), filepath.Join(home, "agents", vaultID, "*.key")} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			k, err := vault.ParseKeyFile(data, f, opts)
			if err != nil || k.PinVaultID != vaultID {
				continue
			}
			name := k.AgentName
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(f), ".key")
			}
			out[name] = f
		}
	}
	return out
}
