//go:build !unix

package harden

// Process does nothing on systems without core-file limits.
func Process() error { return nil }

// HideEnv does nothing: there is no /proc/PID/environ to clear. The caller unsets the variable.
func HideEnv(string) error { return nil }
