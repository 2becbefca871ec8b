// Package mcpserver is the agent-vault MCP server: it lets an MCP-capable AI tool read the credentials
// granted to one agent key through tool calls, while the key itself stays in the server process.
//
// The server is thin over the vault package. Every tool call re-opens the vault (vault.Vault.Open), so
// it verifies the owner's signatures, the hashes and the high-water marks exactly as the CLI does, with
// the same pins and the same mark files, and it sees what the last pull brought. The key is resolved
// once at start ([New]) and kept in memory only.
//
// One concern per file:
//
//   - server.go: [Options], [New], [Server.Run]: start-up checks and the MCP server.
//   - tools.go: the tool table and the wrapper every tool call goes through (validate, pull, open,
//     audit, map errors).
//   - tool_get.go, tool_list.go: the tools agent_vault_get and agent_vault_list.
//   - tool_http.go: agent_vault_http, the brokered HTTP request: it reads and verifies the secrets as
//     agent_vault_get does, audits the request before it connects, and leaves the rules that do not
//     depend on MCP to package internal/broker ({{secret:PATH}} placeholders in header values and the
//     body, each secret's signed host allowlist checked before any connection, redirects only to
//     allowed hosts, every substituted value redacted from the response). Options.NoReveal withholds
//     agent_vault_get.
//   - toolerror.go: how a failure becomes a tool error (isError) that names its kind and what to do.
//   - audit.go: the append-only JSON-lines audit log.
//   - pull.go: coalesced pulls from the Git upstream.
//   - harden_*.go: no core dumps, no ptrace by other processes of the same user.
//
// Standard output carries only the MCP protocol; everything meant for people goes to Options.Log
// (standard error in the commands). No value is ever logged, audited or put in an error message.
package mcpserver
