//go:build linux

package harden

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Process sets the core-file size limit to zero and clears the dumpable flag (PR_SET_DUMPABLE 0), which
// forbids core dumps and ptrace attachment, and reading /proc/PID/mem and /proc/PID/environ, by other
// unprivileged processes, whatever the system's Yama setting. Call it before the key is read. Child
// processes are not affected: execve resets the flag.
func Process() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// HideEnv overwrites with zero bytes the value of name in the process's initial environment block,
// which the kernel shows as /proc/PID/environ for the whole life of the process, and which neither
// os.Unsetenv nor the C library's unsetenv touch. The process's own copy of the environment (os.Getenv)
// keeps the value: the caller reads it, then unsets it. Call it before Process: once the process is not
// dumpable, an unprivileged process can no longer write its own /proc/self/mem.
func HideEnv(name string) error {
	start, end, ok := envBlock()
	if !ok {
		return nil // no /proc: no /proc/PID/environ to read either
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, int64(start)); err != nil {
		return err
	}
	prefix := []byte(name + "=")
	off := 0
	for _, entry := range bytes.Split(block, []byte{0}) {
		if bytes.HasPrefix(entry, prefix) && len(entry) > len(prefix) {
			zeros := make([]byte, len(entry)-len(prefix))
			if _, err := mem.WriteAt(zeros, int64(start)+int64(off+len(prefix))); err != nil {
				return err
			}
		}
		off += len(entry) + 1
	}
	return nil
}

// envBlock returns the bounds of the initial environment block: fields 50 and 51 (env_start, env_end)
// of /proc/self/stat.
func envBlock() (start, end uint64, ok bool) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 49 {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(string(f[47]), 10, 64)
	e, err2 := strconv.ParseUint(string(f[48]), 10, 64)
	if err1 != nil || err2 != nil || s == 0 || e <= s {
		return 0, 0, false
	}
	return s, e, true
}
