package cli

import (
	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

func newCompletionsCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "completions bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Example: `  agent-vault completions bash > /etc/bash_completion.d/agent-vault
  agent-vault completions zsh > "${fpath[1]}/_agent-vault"
  agent-vault completions fish > ~/.config/fish/completions/agent-vault.fish
  agent-vault completions powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			root, out := cmd.Root(), g.io.Out
			switch a[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return vault.Usagef("unknown shell %q: choose bash, zsh, fish or powershell", a[0])
		},
	}
}
