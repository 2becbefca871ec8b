package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

const (
	// hookMarker is the line that identifies a pre-commit hook written by
	// agent-vault.
	hookMarker = "# agent-vault-managed-hook: pre-commit"
	// chainedPrefix starts the line naming the chained hook, in the same
	// directory.
	chainedPrefix = "# agent-vault-chained: "
	// ChainedHookName is the name an existing pre-commit hook is moved to
	// (with a ".2", ".3", ... suffix when that name is taken).
	ChainedHookName = "pre-commit.agent-vault-chained"
)

var chainedNameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^pre-commit\.agent-vault-chained(\.[0-9]{1,3})?$`)
})

// InstallPreCommitHook installs agent-vault's pre-commit hook and returns its
// absolute path.
//
// The hook goes in the directory git actually runs hooks from (`git rev-parse
// --git-path hooks`: core.hooksPath when set, which may be shared by other
// repositories; the common hooks directory for a linked worktree), created if
// missing. It is idempotent: a hook that carries agent-vault's marker line is
// rewritten in place (or left alone when already current). It never clobbers
// another hook: an existing pre-commit hook is renamed to
// pre-commit.agent-vault-chained (or .2, .3, ... when that name is taken), and
// agent-vault's hook runs it after its own check, with the same arguments,
// passing its exit status through; a chained hook that is not executable is
// not run, as git would not run it either.
//
// The hook is a self-contained POSIX sh script, mode 0755, that needs only
// git, grep and xargs (not agent-vault). For every staged added, copied,
// modified or renamed file (git diff --cached --name-only -z
// --diff-filter=ACMR) it reads the staged content (git cat-file blob
// :0:<path>, i.e. `git show :<path>` without its ambiguities) and blocks the
// commit, naming each file and the kind of key, when it holds private key
// material. Its patterns are generated from the list ScanPrivateKey uses. It
// fails closed when the staged files cannot be listed or scanned. `git commit
// --no-verify` skips it, as it skips every pre-commit hook.
func (r *Repo) InstallPreCommitHook() (string, error) {
	out, err := r.git(context.Background(), runOpts{}, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return "", err
	}
	dir := filepath.FromSlash(strings.TrimRight(string(out), "\r\n"))
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.Top, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	hook := filepath.Join(dir, "pre-commit")

	fi, err := os.Lstat(hook)
	if errors.Is(err, fs.ErrNotExist) {
		return hook, writeHook(dir, hook, hookScript(ChainedHookName), "")
	}
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", fmt.Errorf("gitrepo: %s is a directory, not a hook", hook)
	}
	content, readErr := os.ReadFile(hook) // a dangling symlink is a foreign hook
	if readErr == nil && isOurHook(content) {
		want := hookScript(chainedName(content))
		if bytes.Equal(content, want) && fi.Mode().Perm() == 0o755 {
			return hook, nil
		}
		return hook, writeHook(dir, hook, want, "")
	}
	chained, err := freeChainedName(dir)
	if err != nil {
		return "", err
	}
	return hook, writeHook(dir, hook, hookScript(chained), filepath.Join(dir, chained))
}

func isOurHook(content []byte) bool {
	for _, line := range strings.Split(string(content), "\n") {
		if strings.HasPrefix(line, hookMarker) {
			return true
		}
	}
	return false
}

// chainedName returns the chained hook named by one of our hooks.
func chainedName(content []byte) string {
	for _, line := range strings.Split(string(content), "\n") {
		if name, ok := strings.CutPrefix(line, chainedPrefix); ok && chainedNameRE().MatchString(name) {
			return name
		}
	}
	return ChainedHookName
}

func freeChainedName(dir string) (string, error) {
	for i := 1; i < 1000; i++ {
		name := ChainedHookName
		if i > 1 {
			name = fmt.Sprintf("%s.%d", ChainedHookName, i)
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("gitrepo: no free name for chaining the existing pre-commit hook in %s", dir)
}

// writeHook atomically replaces hook with content, mode 0755. When moveTo is
// set, the existing hook is first renamed to moveTo (and renamed back if the
// new hook cannot be put in place).
func writeHook(dir, hook string, content []byte, moveTo string) error {
	tmp, err := os.CreateTemp(dir, ".pre-commit.agent-vault-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once renamed
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil { // whatever the umask
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if moveTo != "" {
		if err := os.Rename(hook, moveTo); err != nil {
			return fmt.Errorf("gitrepo: chaining the existing pre-commit hook: %w", err)
		}
	}
	if err := os.Rename(tmpName, hook); err != nil {
		if moveTo != "" {
			_ = os.Rename(moveTo, hook)
		}
		return err
	}
	return nil
}

// shQuote quotes s for sh with single quotes; keyPatterns and their kinds
// contain none (TestKeyPatternsPortable).
func shQuote(s string) string { return "'" + s + "'" }

// hookScript generates the pre-commit hook, chaining to chained.
func hookScript(chained string) []byte {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
` + hookMarker + ` v1
` + chainedPrefix + chained + `
#
# Installed by agent-vault; regenerated by it, so edits are lost.
# It blocks a commit that stages private key material (age identities,
# PEM, OpenSSH, PGP, PuTTY and other private keys), then runs the pre-commit
# hook that was here before, if any (renamed to the file named above), and
# passes its exit status through. It needs only sh, git, grep and xargs.
# Skip all pre-commit hooks once (not recommended): git commit --no-verify

LC_ALL=C
export LC_ALL

# av_match PATH: succeeds when the staged content of PATH holds private key
# material. A path that is not a blob (a submodule) reads as empty.
av_match() {
	git cat-file blob ":0:$1" 2>/dev/null | grep -E -q`)
	for _, p := range keyPatterns {
		b.WriteString(" \\\n\t\t-e " + shQuote(p.ERE))
	}
	b.WriteString(`
}

# av_kind PATH: prints the kind of private key material in PATH.
av_kind() {
`)
	for _, p := range keyPatterns {
		b.WriteString("\tif git cat-file blob \":0:$1\" 2>/dev/null | grep -E -q -e " + shQuote(p.ERE) + "; then\n")
		b.WriteString("\t\techo " + shQuote(p.Kind) + "\n\t\treturn\n\tfi\n")
	}
	b.WriteString(`	echo 'private key material'
}

# av_grep ARGS... PATHS: one git grep over the staged content of a batch of
# paths, so that a commit of thousands of vault files costs one process, not
# one per file.
av_grep() {
	git -c core.quotePath=false --literal-pathspecs grep --cached -E`)
	for _, p := range keyPatterns {
		b.WriteString(" \\\n\t\t-e " + shQuote(p.ERE))
	}
	b.WriteString(` "$@"
}

# Called back through xargs with a batch of staged paths.
if [ "$#" -gt 0 ] && [ "$1" = --agent-vault-scan ]; then
	shift
	av_grep -q -- "$@"
	case $? in
	0) ;;
	1) exit 0 ;;
	*) exit 255 ;;
	esac
	av_grep -l -z -- "$@" | xargs -0 sh "$0" --agent-vault-report
	exit 1
fi

# Called back through xargs with the paths that hold key material.
if [ "$#" -gt 0 ] && [ "$1" = --agent-vault-report ]; then
	shift
	for f in "$@"; do
		kind='private key material'
		av_match "$f" && kind=$(av_kind "$f")
		printf 'agent-vault: %s contains private key material (%s)\n' "$f" "$kind" >&2
	done
	exit 0
fi

if ! git diff --cached --name-only -z --diff-filter=ACMR >/dev/null; then
	echo 'agent-vault pre-commit hook: cannot list the staged files; commit blocked' >&2
	exit 1
fi
git diff --cached --name-only -z --diff-filter=ACMR | xargs -0 sh "$0" --agent-vault-scan
status=$?
if [ "$status" -ne 0 ]; then
	if [ "$status" -ge 124 ]; then
		echo "agent-vault pre-commit hook: scanning the staged files failed (status $status); commit blocked" >&2
	else
		echo 'agent-vault: commit blocked: private key material is staged (see above).' >&2
		echo 'Unstage it with: git rm --cached -- <file>. Keys belong under ~/.agent-vault, never in the repository.' >&2
	fi
	exit 1
fi

chained="$(dirname -- "$0")/` + chained + `"
if [ -x "$chained" ]; then
	exec "$chained" "$@"
fi
exit 0
`)
	return []byte(b.String())
}
