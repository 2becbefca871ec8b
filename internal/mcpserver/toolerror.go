package mcpserver

import (
	"errors"
	"strings"

	"github.com/agent-vault/agent-vault/vault"
)

// ToolError is a failed tool call as the calling model sees it: the SDK turns it into a result with
// isError set and Error() as its text. The text starts with the kind's name (the names of
// docs/format.md section 7), then the vault's message (which names paths and files, never a value),
// then what to do.
type ToolError struct {
	Kind vault.Kind
	Msg  string
	// Outcome, when set, names the failure instead of the kind, in the text and in the audit line:
	// OutcomeRefusedExfiltration.
	Outcome string
}

func (e *ToolError) Error() string {
	if e.Outcome == OutcomeRefusedExfiltration {
		return e.Outcome + ": " + e.Msg + "\nWhat to do: " + refusedAdvice
	}
	return e.Kind.String() + ": " + e.Msg + "\nWhat to do: " + advice(e.Kind)
}

// refusedAdvice is what to do about a refused exfiltration.
const refusedAdvice = "the vault owner has not allowed this secret to be sent to this host, and the attempt is recorded. Do not retry against another host or try to send or read the value another way. If the request is legitimate, ask the user (the vault owner) to allow the host: agent-vault set PATH --keep-value --allow-host HOST (listing every host the secret may go to)."

// toolError converts any failure into a ToolError of the same kind.
func toolError(err error) *ToolError {
	if te := (*ToolError)(nil); errors.As(err, &te) {
		return te
	}
	return &ToolError{Kind: vault.KindOf(err), Msg: oneLine(err.Error())}
}

// advice tells the calling model what to do about a failure of kind k.
func advice(k vault.Kind) string {
	switch k {
	case vault.KindUsage:
		return "fix the argument: a secret path is 1 to 8 segments of letters, digits, '.', '_' or '-' joined by '/', and a group is one such segment. Call agent_vault_list to see the names this key can read."
	case vault.KindNotFound:
		return "call agent_vault_list to see the secrets this key can read. If the secret should exist, ask the user to store it (agent-vault set PATH)."
	case vault.KindNotAuthorized:
		return "this agent's key is not granted this secret. Do not retry or look for another way to read it; if access is intended, ask the user (the vault owner) to grant it (agent-vault grant AGENT GROUP)."
	case vault.KindIntegrity:
		return "the vault failed verification (a signature, hash, version or pin check), so nothing was read from it. Do not retry or work around it; tell the user, who should inspect the repository (agent-vault check)."
	case vault.KindVaultNotFound:
		return "the server cannot use its vault or key; tell the user to check the --repo and --key settings of the agent-vault MCP server."
	}
	return "tell the user; the MCP server's log (standard error) has details."
}

// oneLine joins the non-blank lines of a message, so that a log line or an audit field stays one line.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
