package cli

import (
	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/usage"
)

func newCompletionsCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "completions bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script. It completes commands and flags, and the names of secrets, agents
and groups from the vault's verified state (nothing is decrypted; only the secrets the key can read are
offered), with the key and vault the command line names (--key, AGENT_VAULT_KEY, -C DIR). The bash
script works with or without the bash-completion package.`,
		Example: `  source <(agent-vault completions bash)           # in ~/.bashrc
  agent-vault completions bash > /etc/bash_completion.d/agent-vault
  agent-vault completions zsh > "${fpath[1]}/_agent-vault"
  agent-vault completions fish > ~/.config/fish/completions/agent-vault.fish
  agent-vault completions powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			root, out := cmd.Root(), g.io.Out
			switch a[0] {
			case "bash":
				return bashCompletion(root, out)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return usage.Errorf("unknown shell %q: choose bash, zsh, fish or powershell", a[0])
		},
	}
}
