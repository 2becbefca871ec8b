package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/vault"
)

type migrateOptions struct {
	*global
	key string
	pq  bool // --pq: convert to post-quantum keys (migrate_pq.go)
}

func newMigrateCmd(g *global) *cobra.Command {
	opts := &migrateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Convert a vault of the original agent-vault 0.1, or of format 1, to the current format",
		Long: `Convert the vault, as its owner, to the current format 2 in one signed change and one Git commit
(docs/format.md section 11). Every file is read and checked before anything is written; when one
cannot be decrypted or verified, the command stops with the reason and changes nothing.

A vault of the original agent-vault 0.1 (the Rust CLI): every value, group, agent, extra recipient
(--agents), time and expiry carries over, and every agent keeps its key, so its key file keeps working.
Those key files carry no pins: migrate prints, for each agent, the 'agent-vault pin' command that adds
them. The owner key is found where the original kept it (~/.agent-vault/owner.key) unless --key or
AGENT_VAULT_KEY says otherwise.

A format 1 vault of this project: the ciphertexts, agents' keys and their pins stay as they are, and
high-water marks carry over; any other owner command converts it the same way first.

Push the commit so that agents read the new format: a reader of this version refuses an unconverted
vault with exit 3 and a message naming this command.

With --pq, a vault of the current format converts to post-quantum keys (hybrid ML-KEM-768 + X25519,
age1pq): the owner key becomes ~/.agent-vault/owner-pq.key (made now when missing; owner.key is kept for
your other vaults), every agent gets a new key, written where its key file was (the old key stops
working) and escrowed, every value is re-encrypted, and the vault gets a new id. Old values stay in
Git's history encrypted to the old keys: rotate the secrets at their source to protect them.`,
		Example: "  agent-vault migrate\n  agent-vault migrate --key ~/backup/owner.key\n  agent-vault migrate --pq",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	cmd.Flags().BoolVar(&opts.pq, "pq", false, "convert to post-quantum (ML-KEM-768 + X25519) keys: new owner and agent keys, every value re-encrypted")
	return cmd
}

func (o *migrateOptions) run() error {
	v, key, err := o.vaultAndKey(o.key)
	if err != nil {
		return err
	}
	if v.IsOriginal() {
		if o.pq {
			return &vault.Error{Kind: vault.KindUsage, Msg: "an agent-vault 0.1 vault converts in two steps: 'agent-vault migrate', then 'agent-vault migrate --pq'"}
		}
		return o.original(v, key)
	}
	if o.pq {
		return o.migratePQ()
	}
	return o.mutate(o.key, func(ow *vault.Owner) error {
		if !ow.Migrated {
			fmt.Fprintf(o.io.Out, "Vault %s is already in format %d; nothing to convert.\n", ow.Root.VaultID, vault.FormatVersion)
			return nil
		}
		fmt.Fprintf(o.io.Out, "Converted vault %s to format %d (version %d); push the commit so that agents read it.\n", ow.Root.VaultID, vault.FormatVersion, ow.Root.Version)
		return nil
	})
}

// original converts a vault of the original agent-vault 0.1 and says how to pin each agent's key file.
func (o *migrateOptions) original(v *vault.Vault, key *vault.Key) error {
	rep, err := v.MigrateOriginal(key)
	if err != nil {
		return err
	}
	w := o.io.Out
	fmt.Fprintf(w, "Converted the agent-vault 0.1 vault to format %d: vault %s (version %d), %d secrets, %d groups, %d agents.\n",
		vault.FormatVersion, rep.VaultID, rep.Version, rep.Secrets, rep.Groups, len(rep.Agents))
	fmt.Fprintf(w, "Owner verify key: %s\n", rep.VerifyKey)
	fmt.Fprintln(w, "Push the commit so that agents read it (git push).")
	if len(rep.Agents) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nEvery agent keeps its key, so its key file keeps working; until it is pinned, readers trust this vault")
	fmt.Fprintln(w, "on first use. Pin each key file to this vault (adds three comment lines, checked against the vault):")
	width := 0
	for _, a := range rep.Agents {
		width = max(width, len(a.Name))
	}
	for _, a := range rep.Agents {
		file := "KEYFILE"
		if a.KeyFile != "" {
			file = shellQuote(a.KeyFile)
		}
		note := ""
		if a.EscrowRecreated {
			note = "   (escrow re-created from this key file)"
		}
		fmt.Fprintf(w, "  %-*s  agent-vault pin %s%s\n", width, a.Name, file, note)
	}
	fmt.Fprintln(w, "A key file kept elsewhere (an agent's machine, a CI secret): 'agent-vault pin FILE' here, or add the")
	fmt.Fprintln(w, "lines 'agent-vault pins AGENT' prints to it.")
	return nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
