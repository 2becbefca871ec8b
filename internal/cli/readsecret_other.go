//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

import "golang.org/x/term"

func readSecret(fd int) ([]byte, error) { return term.ReadPassword(fd) }
