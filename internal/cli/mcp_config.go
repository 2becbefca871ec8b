package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/internal/usage"
	"github.com/agent-vault/agent-vault/vault"
)

// mcpClients are the MCP clients `agent-vault mcp config` knows: where each keeps its configuration and
// how an entry looks.
var mcpClients = map[string]struct {
	title string
	file  func(home string) string // the client's configuration file, for --write
	stdio bool                     // entries carry "type": "stdio"
}{
	"claude-code": {"Claude Code", func(h string) string { return filepath.Join(h, ".claude.json") }, true},
	"claude-desktop": {"Claude Desktop", func(h string) string {
		if runtime.GOOS == "darwin" {
			return filepath.Join(h, "Library", "Application Support", "Claude", "claude_desktop_config.json")
		}
		return filepath.Join(h, ".config", "Claude", "claude_desktop_config.json")
	}, false},
	"cursor": {"Cursor", func(h string) string { return filepath.Join(h, ".cursor", "mcp.json") }, false},
}

type mcpConfigOptions struct {
	*global
	client, repo, key, agent, name, file string
	noReveal, write                      bool
}

// addMCPConfigCmd adds `mcp config` to agent-vault's mcp command (not to the agent-vault-mcp program).
func (g *global) addMCPConfigCmd(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == "mcp" {
			c.AddCommand(newMCPConfigCmd(g))
		}
	}
}

func newMCPConfigCmd(g *global) *cobra.Command {
	opts := &mcpConfigOptions{global: g}
	cmd := &cobra.Command{
		Use:   "config --client claude-code|claude-desktop|cursor",
		Short: "Print (or write) an MCP client's configuration for the agent-vault MCP server",
		Long: `Print the configuration that makes an MCP client start the agent-vault MCP server for this vault, with
absolute paths only (the agent-vault program, the repository, the agent key), so that it works in
every client whatever it expands. With --write, merge it into the client's configuration file:
other servers and settings are kept, an entry of the same name is replaced, and the file as it was
is first copied to FILE.bak (FILE.bak.1, ... when that exists).

Files: claude-code ~/.claude.json (user scope; --file .mcp.json for a project), claude-desktop
~/Library/Application Support/Claude/claude_desktop_config.json on macOS (~/.config/Claude/ on
Linux), cursor ~/.cursor/mcp.json (--file .cursor/mcp.json for a project).

The key must be an agent key of this vault (the server refuses the owner key): --key PATH, or
--agent NAME for the agent's key file on this machine.`,
		Example: `  agent-vault mcp config --client claude-code --agent claude
  agent-vault mcp config --client claude-desktop --key ~/.agent-vault/agents/claude.key --no-reveal --write
  agent-vault mcp config --client cursor --agent cursor --file .cursor/mcp.json --write`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, a []string) error { return opts.run() },
	}
	f := cmd.Flags()
	f.StringVar(&opts.client, "client", "", "`CLIENT`: claude-code, claude-desktop or cursor (required)")
	f.StringVar(&opts.repo, "repo", "", "the vault's repository `DIR` (default: the vault of the current directory)")
	f.StringVar(&opts.key, "key", "", "the agent key file `PATH`")
	f.StringVar(&opts.agent, "agent", "", "use the key file of agent `NAME` on this machine")
	f.StringVar(&opts.name, "name", "agent-vault", "the server's `NAME` in the client")
	f.BoolVar(&opts.noReveal, "no-reveal", false, "serve no tool that returns a value (see agent-vault mcp --help)")
	f.BoolVar(&opts.write, "write", false, "merge the entry into the client's configuration file, keeping a backup")
	f.StringVar(&opts.file, "file", "", "the configuration `FILE` to write (default: the client's own)")
	cmd.RegisterFlagCompletionFunc("client", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"claude-code", "claude-desktop", "cursor"}, cobra.ShellCompDirectiveNoFileComp
	})
	cmd.RegisterFlagCompletionFunc("agent", func(c *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return g.completeNames(c, agentName, "", toComplete)
	})
	return cmd
}

func (o *mcpConfigOptions) run() error {
	client, ok := mcpClients[o.client]
	if !ok {
		return usage.Errorf("--client %q: choose claude-code, claude-desktop or cursor", o.client)
	}
	if (o.key == "") == (o.agent == "") {
		return usage.Errorf("give the agent key: --key PATH or --agent NAME (one of them)")
	}
	if o.name == "" {
		return usage.Errorf("--name must not be empty")
	}
	start := o.dir
	if o.repo != "" {
		start = o.path(o.repo)
	}
	v, err := vault.Find(start)
	if err != nil {
		return err
	}
	repo, err := filepath.Abs(v.Top)
	if err != nil {
		return err
	}
	id := configVaultID(v)
	keyPath, err := o.keyPath(id)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot tell where agent-vault is installed: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	args := []string{"mcp", "--repo", repo, "--key", keyPath}
	if o.noReveal {
		args = append(args, "--no-reveal")
	}
	entry := struct {
		Type    string   `json:"type,omitempty"`
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}{Command: self, Args: args}
	if client.stdio {
		entry.Type = "stdio"
	}
	entryJSON, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	if !o.write {
		doc, err := mergeMCPServer(nil, o.name, entryJSON)
		if err != nil {
			return err
		}
		_, err = o.io.Out.Write(doc)
		return err
	}
	file := o.path(o.file)
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("cannot find the home directory: %w", err)
		}
		file = client.file(home)
	}
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	return o.writeConfig(client.title, file, entryJSON)
}

// keyPath resolves --key or --agent to an absolute path and checks that it is an agent key of the vault id
// (when the vault's id can be read).
func (o *mcpConfigOptions) keyPath(id string) (string, error) {
	var path string
	if o.agent != "" {
		if err := vault.CheckSegment(o.agent); err != nil {
			return "", usage.Errorf("invalid agent name: %w", err)
		}
		files := agentKeyFiles(id, o.keyOptions())
		path = files[o.agent]
		if path == "" {
			return "", &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
				"no key file of agent %s of this vault on this machine; give its path with --key PATH (the owner makes it with 'agent-vault add-agent %s')", o.agent, o.agent)}
		}
	} else {
		path = expandTilde(o.path(o.key))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	key, err := vault.LoadKeyFile(abs, o.keyOptions())
	if err != nil {
		return "", err
	}
	if isOwnerKeyFile(key, o.keyOptions()) {
		return "", &vault.Error{Kind: vault.KindNotAuthorized, Msg: fmt.Sprintf(
			"%s is the owner key, which the MCP server refuses: give the AI tool an agent key (agent-vault add-agent NAME, then grant it only what it needs)", abs)}
	}
	if id != "" && key.Pinned() && key.PinVaultID != id {
		return "", &vault.Error{Kind: vault.KindVaultNotFound, Msg: fmt.Sprintf(
			"%s is a key of vault %s, not of this vault (%s)", abs, key.PinVaultID, id)}
	}
	return abs, nil
}

func isOwnerKeyFile(k *vault.Key, opts *vault.KeyOptions) bool {
	home, err := homeDir()
	if err != nil {
		return false
	}
	owner, err := vault.LoadKeyFile(filepath.Join(home, "owner.key"), opts)
	return err == nil && owner.Recipient == k.Recipient
}

func expandTilde(p string) string {
	if len(p) > 1 && p[:2] == "~/" {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

// writeConfig merges the entry into file, after copying the file as it was to a backup.
func (o *mcpConfigOptions) writeConfig(title, file string, entry []byte) error {
	old, err := os.ReadFile(file)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot read %s: %w", file, err)
	}
	doc, err := mergeMCPServer(old, o.name, entry)
	if err != nil {
		return fmt.Errorf("%s: %w; it is left as it is", file, err)
	}
	mode := fs.FileMode(0o600)
	backup := ""
	if exists {
		if fi, err := os.Stat(file); err == nil {
			mode = fi.Mode().Perm()
		}
		if backup, err = writeBackup(file, old, mode); err != nil {
			return err
		}
	} else if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(file, doc, mode); err != nil {
		return err
	}
	if backup != "" {
		fmt.Fprintf(o.io.Out, "Wrote the %s server to %s (the previous file is in %s). Restart %s to use it.\n", o.name, file, backup, title)
	} else {
		fmt.Fprintf(o.io.Out, "Wrote the %s server to %s (a new file). Restart %s to use it.\n", o.name, file, title)
	}
	return nil
}

// writeBackup copies data to the first of FILE.bak, FILE.bak.1, ... that does not exist.
func writeBackup(file string, data []byte, mode fs.FileMode) (string, error) {
	for i := 0; i < 1000; i++ {
		name := file + ".bak"
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("cannot back up %s: %w", file, err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("cannot back up %s: %w", file, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("cannot back up %s: too many backups already", file)
}

// mergeMCPServer returns the JSON document old (empty: a new one) with mcpServers.name set to entry. The
// order of the document's keys and every other value are kept as they were.
func mergeMCPServer(old []byte, name string, entry []byte) ([]byte, error) {
	top, err := orderedObject(old)
	if err != nil {
		return nil, err
	}
	servers, err := orderedObject(top.get("mcpServers"))
	if err != nil {
		return nil, fmt.Errorf("mcpServers: %w", err)
	}
	servers.set(name, entry)
	top.set("mcpServers", servers.encode())
	var out bytes.Buffer
	if err := json.Indent(&out, top.encode(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// object is a JSON object whose members keep their order and raw values.
type object struct {
	keys   []string
	values map[string]json.RawMessage
}

func orderedObject(data []byte) (*object, error) {
	o := &object{values: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return o, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		o.set(key, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: data after the object")
	}
	return o, nil
}

func (o *object) get(key string) []byte { return o.values[key] }

func (o *object) set(key string, value []byte) {
	if _, ok := o.values[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.values[key] = value
}

func (o *object) encode() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		b.Write(o.values[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}
