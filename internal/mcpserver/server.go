package mcpserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-vault/agent-vault/internal/broker"
	"github.com/agent-vault/agent-vault/vault"
)

// Options configure a Server. The zero value serves the vault around the current directory with the key
// from AGENT_VAULT_KEY, pulling at most every DefaultPullInterval and auditing to DefaultAuditPath.
type Options struct {
	// Repo is a directory inside the vault's working tree; the vault is found in it or a parent, as the
	// CLI finds it. "" means the current directory.
	Repo string
	// Key is the path of the agent key file. "" means the CLI's resolution: AGENT_VAULT_KEY (a path or
	// the key file's content), then <home>/owner.key, which the server refuses (see New).
	Key string
	// NoPull disables pulling from the Git upstream; the local copy is verified and served.
	NoPull bool
	// PullInterval is the least time between two pulls; <= 0 means DefaultPullInterval.
	PullInterval time.Duration
	// AuditLog is the audit log's path; "" means DefaultAuditPath for the vault.
	AuditLog string
	// Log receives the lines meant for people (start-up, pull warnings); nil discards them. It must not
	// be the protocol's output.
	Log io.Writer
	// Version is reported to clients as the server's version.
	Version string
	// NoReveal withholds every tool that returns a raw value (agent_vault_get): the client can list
	// secrets and use them through agent_vault_http, never read them.
	NoReveal bool
	// HTTPTimeout bounds one agent_vault_http call; <= 0 means DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// HTTPMaxBody is how many bytes of a response body agent_vault_http reads; <= 0 means
	// DefaultHTTPMaxBody.
	HTTPMaxBody int
	// TrustFirstUse lets agent_vault_http send values when the server trusted the vault's owner key on
	// first use at start (a key without pins); otherwise such a server refuses every brokered request.
	TrustFirstUse bool
	// KeyOptions are what the key is loaded with: how it asks for a passphrase, talks to an age plugin
	// and gives notices (trust on first use). nil: the defaults of vault.KeyOptions (notices on standard
	// error, no passphrase).
	KeyOptions *vault.KeyOptions

	// pull replaces the Git pull, for tests; nil means the working tree's upstream.
	pull func(context.Context) error
	// tlsRoots replaces the system's certificate roots for agent_vault_http, for tests.
	tlsRoots *x509.CertPool
}

// Server serves one vault to the MCP client with one agent key. Create it with New, serve with Run,
// release it with Close.
type Server struct {
	opts    Options
	vault   *vault.Vault
	key     *vault.Key // resolved once in New; never read again from disk
	vaultID string
	agent   string
	// firstUse is set when New trusted the vault's owner key on first use.
	firstUse bool
	audit    *AuditLog
	puller   *Puller // nil when not pulling
	mcp      *mcp.Server
	// transport carries every agent_vault_http request (see broker.NewTransport).
	transport *http.Transport

	// mu serialises the work on snapshots: a Snapshot is for one goroutine, and the high-water mark
	// files are read, compared and rewritten by each open.
	mu sync.Mutex
}

// New resolves the key (once; it is kept in memory only), finds the vault, pulls once unless
// opts.NoPull, opens and verifies the vault to learn its id and the key's agent name, opens the audit
// log and builds the MCP server with its tools. Errors carry the vault error kinds.
//
// The owner key is refused: it decrypts every secret and signs the vault, and an AI tool should hold
// only an agent key, with exactly the grants the owner gave it.
func New(opts Options) (*Server, error) {
	if opts.Repo == "" {
		opts.Repo = "."
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	v, err := vault.Find(opts.Repo)
	if err != nil {
		return nil, err
	}
	key, err := vault.ResolveKey(opts.Key, opts.KeyOptions)
	if err != nil {
		return nil, err
	}
	if key.IsOwner {
		return nil, ownerKeyError(key)
	}
	s := &Server{opts: opts, vault: v, key: key}
	if !opts.NoPull {
		pull := opts.pull
		if pull == nil {
			if pull, err = gitPull(v.Top); err != nil {
				return nil, err
			}
		}
		if pull != nil {
			s.puller = NewPuller(opts.PullInterval, pull, func(m string) { s.logf("%s", m) })
			s.puller.Sync(context.Background())
		}
	}
	snap, err := v.Open(key)
	if err != nil {
		return nil, err
	}
	if snap.Role.Owner {
		return nil, ownerKeyError(key)
	}
	s.vaultID, s.agent, s.firstUse = snap.Root.VaultID, snap.Role.Agent, snap.FirstUse
	path, private := opts.AuditLog, false
	if path == "" {
		if path, err = DefaultAuditPath(s.vaultID); err != nil {
			return nil, err
		}
		private = true
	}
	if s.audit, err = OpenAuditLog(path, private); err != nil {
		return nil, err
	}
	s.transport = broker.NewTransport(opts.tlsRoots)
	s.mcp = s.newMCPServer()
	return s, nil
}

func ownerKeyError(key *vault.Key) error {
	return &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
		"key %s is the vault owner's key; the MCP server runs with an agent key only (create one with 'agent-vault add-agent NAME', grant it what the tool needs, and pass --key ~/.agent-vault/agents/NAME.key)", key.Source)}
}

// instructions is what the server tells the calling model about itself at initialisation.
const instructions = `agent-vault holds credentials (API keys, tokens, passwords) for this session, encrypted and signed by their owner. ` +
	`Call agent_vault_list to see which secrets this agent may read (metadata only, no values). ` +
	`To call an HTTP API with a secret, prefer agent_vault_http: write {{secret:PATH}} in a header or the body and the server sends the value without you seeing it; use agent_vault_get to read a value only when a task needs the value itself. ` +
	`Values are secret: use a value only where the task needs it, and never repeat it to the user, quote it, summarise it, or write it into files, code, commits or logs. ` +
	`Failures start with their kind (not_found, not_authorized, integrity, refused_exfiltration, ...) and say what to do; never try to work around an integrity, not_authorized or refused_exfiltration failure.`

// noRevealInstructions replace instructions under Options.NoReveal.
const noRevealInstructions = `agent-vault holds credentials (API keys, tokens, passwords) for this session, encrypted and signed by their owner. ` +
	`This server never shows a secret's value. Call agent_vault_list to see which secrets this agent may use (metadata only) and agent_vault_http to call an HTTP API with them: write {{secret:PATH}} in a header or the body and the server substitutes the value, sends the request to a host the owner allowed, and returns the response with the value redacted. ` +
	`Failures start with their kind (not_found, not_authorized, integrity, refused_exfiltration, ...) and say what to do; never try to work around an integrity, not_authorized or refused_exfiltration failure.`

func (s *Server) newMCPServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "agent-vault", Title: "agent-vault", Version: s.opts.Version}, &mcp.ServerOptions{
		Instructions: s.instructions(),
		Logger:       slog.New(slog.NewTextHandler(s.opts.Log, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Tools only: no logging capability (logs go to standard error), and the tool list never changes.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
	})
	for _, t := range tools {
		if s.opts.NoReveal && revealsValue[t.name] {
			continue
		}
		t.add(s, srv)
	}
	srv.AddReceivingMiddleware(s.auditMiddleware)
	return srv
}

func (s *Server) instructions() string {
	if s.opts.NoReveal {
		return noRevealInstructions
	}
	return instructions
}

// MCP returns the MCP server, for connecting it to a transport of the caller's choice.
func (s *Server) MCP() *mcp.Server { return s.mcp }

// Run serves one session over t (the commands use stdio) until the client disconnects or ctx is done.
func (s *Server) Run(ctx context.Context, t mcp.Transport) error {
	reveal := ""
	if s.opts.NoReveal {
		reveal = "; --no-reveal: no tool returns a value"
	}
	s.logf("serving vault %s to agent %s (key %s); audit log %s; %s%s", s.vaultID, s.agent, s.key.Source, s.audit.Path, s.pullDescription(), reveal)
	return s.mcp.Run(ctx, t)
}

func (s *Server) pullDescription() string {
	switch {
	case s.opts.NoPull:
		return "not pulling (--no-pull)"
	case s.puller == nil:
		return "not pulling (not a Git working tree)"
	}
	return fmt.Sprintf("pulling from the upstream at most every %v", s.puller.interval)
}

// VaultID and Agent are what the server serves, as verified at start.
func (s *Server) VaultID() string { return s.vaultID }

// Agent is the name of the agent whose key the server holds.
func (s *Server) Agent() string { return s.agent }

// AuditPath is the audit log's absolute path.
func (s *Server) AuditPath() string { return s.audit.Path }

// Close closes the audit log and the idle connections of agent_vault_http.
func (s *Server) Close() error {
	s.transport.CloseIdleConnections()
	return s.audit.Close()
}

func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Log, "agent-vault mcp: "+format+"\n", args...)
}
