package mcpserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/home"
	"github.com/agent-vault/agent-vault/vault"
)

// AuditRecord is one line of the audit log: one tool call. It never holds a secret value.
type AuditRecord struct {
	Time    string `json:"time"`     // when the call started, RFC 3339 UTC with milliseconds
	VaultID string `json:"vault_id"` // the vault's id
	Agent   string `json:"agent"`    // the agent whose key the server holds
	Tool    string `json:"tool"`     // the tool called, e.g. agent_vault_get
	Secret  string `json:"secret,omitempty"`
	// Group is the group a list call asked for; absent for a list of every group.
	Group string `json:"group,omitempty"`
	// Outcome is "ok" or the error kind: usage, vault_not_found, not_found, not_authorized, integrity, error;
	// or refused_exfiltration: an agent_vault_http request refused because a secret would have gone to a
	// host outside its signed allowlist; or sending: the line an agent_vault_http call writes before it
	// connects (the call's outcome follows in a line of its own).
	Outcome string `json:"outcome"`
	// Error is the failure's message (names and files, never a value); absent on success.
	Error string `json:"error,omitempty"`
	// Count is the number of secrets a successful list returned.
	Count *int `json:"count,omitempty"`
	// Method, Host and Secrets describe an agent_vault_http request: the method, the URL's host
	// (lower-case, no port) and the secret paths its placeholders named. Never the URL's path, a
	// header or the body.
	Method  string   `json:"method,omitempty"`
	Host    string   `json:"host,omitempty"`
	Secrets []string `json:"secrets,omitempty"`
	// Status is the HTTP status code of the response (of the last response, when a redirect was refused).
	Status int `json:"status,omitempty"`
	// RedirectHost is the host of a redirect that was refused (outcome refused_exfiltration).
	RedirectHost string `json:"redirect_host,omitempty"`
	// DurationMS is the time the call took in the server, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Client is the MCP client's name as it introduced itself, if it did.
	Client string `json:"client,omitempty"`
}

// maxAuditArg bounds how much of a caller-supplied name is written to the log, so that a refused name
// of any length costs one bounded line.
const maxAuditArg = 300

// AuditLog appends one JSON line per tool call to a file opened with O_APPEND. It is safe for
// concurrent use.
type AuditLog struct {
	Path string

	mu sync.Mutex
	f  *os.File
}

// DefaultAuditPath is <home>/audit/<vault_id>.jsonl.
func DefaultAuditPath(vaultID string) (string, error) {
	dir, err := home.Dir()
	if errors.As(err, new(*home.NoHomeError)) {
		return "", &vault.Error{Kind: vault.KindVaultNotFound, Err: err}
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "audit", vaultID+".jsonl"), nil
}

// OpenAuditLog opens (creating it if needed) the audit log at path for appending. The file is made
// 0600 whatever the umask, and an existing file that group or others could read is narrowed to 0600.
// When private is true the parent directory is created 0700 (and narrowed to 0700, as for every
// directory of the agent-vault home); otherwise a missing parent is created 0700 and an existing one is
// left as it is. A path that exists and is not a regular file (a symbolic link, a directory) is refused.
func OpenAuditLog(path string, private bool) (*AuditLog, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	if private {
		err = fsutil.MkdirPrivate(dir)
	} else {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create the audit log directory %s: %w", dir, err)
	}
	if fi, err := os.Lstat(abs); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("the audit log %s exists and is not a regular file; refusing it", abs)
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the audit log: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("the audit log %s is not a regular file; refusing it", abs)
	} else if fi.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot make the audit log %s private: %w", abs, err)
		}
	}
	return &AuditLog{Path: abs, f: f}, nil
}

// Write appends r as one line with a single write(2) on the O_APPEND descriptor, so that lines from
// several server processes sharing a log do not interleave. It does not fsync: a line survives the
// process's crash, not the machine's.
func (a *AuditLog) Write(r AuditRecord) error {
	r.Secret, r.Group = clip(r.Secret), clip(r.Group)
	r.Host, r.RedirectHost = clip(r.Host), clip(r.RedirectHost)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("the audit log %s is closed", a.Path)
	}
	_, err = a.f.Write(line)
	return err
}

// Close closes the file; later writes fail.
func (a *AuditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

func clip(s string) string {
	if len(s) <= maxAuditArg {
		return s
	}
	return s[:maxAuditArg] + "…"
}

// auditTime formats t for AuditRecord.Time.
func auditTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
