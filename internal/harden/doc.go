// Package harden keeps a key that a process holds out of reach of other processes of the same user,
// as far as the process itself can: no core file, no ptrace or /proc/PID/mem or /proc/PID/environ
// access (Linux), and the key's environment variable erased from the process's own initial
// environment block, which /proc/PID/environ shows for the whole life of the process. The MCP server
// and 'agent-vault run' (whose child runs arbitrary code while agent-vault waits) both use it.
package harden
