package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/gitrepo"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

type checkOptions struct {
	*global
	key    string
	json   bool
	soon   string
	noPull bool
}

func newCheckCmd(g *global) *cobra.Command {
	opts := &checkOptions{global: g}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the whole vault and report problems",
		Long: `Verify every signature and hash the vault holds and report: expired secrets (error) and secrets that
expire soon (warning, 30 days by default), files the signed state does not vouch for, symbolic links,
an interrupted change, agents without access and key files others can read. With the owner key it also
decrypts every escrow and checks that every ciphertext is encrypted to exactly the policy's recipients.

--json prints the report as one JSON object: "errors" and "warnings" (arrays of one-line strings, worded
as agent-vault 0.1 worded the findings it had), and "findings" (level, path and message of each), with the
vault id, version, role and counts.

Exit status: 0 when there is no error, 1 when check found errors, 6 when the signed state itself does not
verify.`,
		Example: "  agent-vault check\n  agent-vault check --json --soon 14d",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "key `PATH`")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	cmd.Flags().StringVar(&opts.soon, "soon", "30d", "warn about secrets that expire within `DURATION`")
	cmd.Flags().BoolVar(&opts.noPull, "no-pull", false, "do not pull from the upstream first")
	return cmd
}

func (o *checkOptions) run() error {
	now := time.Now()
	until, err := parseExpiry(o.soon, now)
	if err != nil {
		return usage.Errorf("--soon %w", err)
	}
	s, err := o.openReader(o.key, o.noPull)
	if err != nil {
		return err
	}
	rep := s.Check(until.Sub(now))
	if f := o.upstreamFinding(s); f != nil {
		rep.Findings = append(rep.Findings, *f)
		rep.WarningList = append(rep.WarningList, f.Summary)
	}
	if o.json {
		if err := writeJSON(o.io, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.io.Out, "Vault %s, version %d, checked as %s: %s, %s.\n", rep.VaultID, rep.Version, rep.Role, count(rep.Secrets, "secret"), count(rep.Agents, "agent"))
		for _, f := range rep.Findings {
			printFinding(o.io, f)
		}
		// The last line keeps agent-vault 0.1's wording, which scripts grep.
		if len(rep.Findings) == 0 {
			fmt.Fprintln(o.io.Out, "OK: every signature and hash verifies.")
			fmt.Fprintln(o.io.Out, "No issues found. Vault is healthy.")
		} else {
			fmt.Fprintf(o.io.Out, "\n%d error(s), %d warning(s).\n", len(rep.ErrorList), len(rep.WarningList))
		}
	}
	if n := rep.Errors(); n > 0 {
		return fmt.Errorf("check found %d error(s)", n)
	}
	return nil
}

// printFinding prints one finding of check as agent-vault 0.1 did, "ERROR: " or "WARNING: " and its
// one-line summary (the same string as in the JSON errors and warnings arrays). When the summary is in
// agent-vault 0.1's words ("Secret 'P' expired 3 days ago"), the details follow on an indented line.
func printFinding(io *IO, f vault.Finding) {
	where := ""
	if f.Path != "" && !strings.HasPrefix(f.Message, f.Path) {
		where = f.Path + ": "
	}
	fmt.Fprintf(io.Out, "%s: %s\n", strings.ToUpper(f.Level), f.Summary)
	if f.Summary != where+f.Message {
		fmt.Fprintf(io.Out, "  %s%s\n", where, f.Message)
	}
}

type repairOptions struct {
	*global
	key string
}

func newRepairCmd(g *global) *cobra.Command {
	opts := &repairOptions{global: g}
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Finish or undo an interrupted change and commit the vault",
		Long: `After a crash or a kill during a change, return the vault to a verified state with nothing lost: a
change that was completely staged is finished, one that was not is discarded (the previous state was
never touched); a change that was applied but not committed is committed (exactly the files it wrote).
A Git index lock left by a Git command killed with the change is removed. Then the vault is verified as
its owner. Every owner command does the same first, so repair is rarely needed by hand.`,
		Example: "  agent-vault repair",
		Args:    args(0, 0),
		RunE:    func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "owner key `PATH`")
	return cmd
}

func (o *repairOptions) run() error {
	v, key, err := o.vaultAndKey(o.key)
	if err != nil {
		return err
	}
	// Under the lock: scratch directories that a killed sync or fast-forward left are no one's, and a
	// sync killed after its push is finished.
	v.BeforeChange = func() error {
		if repo, err := gitrepo.Find(v.Top); err == nil {
			removeScratch(repo)
		}
		return o.finishPushedSync(v, key)
	}
	did, err := v.Repair(key)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.io.Out, "Repair: %s. The vault verifies.\n", did)
	return nil
}
