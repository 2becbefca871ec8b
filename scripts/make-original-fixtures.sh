#!/usr/bin/env bash
# Regenerates testdata/original/: vaults written by the original agent-vault 0.1 (the Rust CLI), which the
# tests of `agent-vault migrate` and of the readers' refusal of unconverted vaults use (issue 11). The
# original is run only as a program. Its installation is DIR (default: .original/ in this repository,
# installed by scripts/install-original.sh when missing, which needs cargo); the exact version is
# recorded in testdata/original/VERSION. The fixtures are committed, so `make test` never builds Rust.
#
#   scripts/make-original-fixtures.sh [DIR]
#
# original.tar holds home/ (the owner's ~/.agent-vault: owner.key and agents/<name>.key, as the original
# wrote them) and proj/ (a Git repository whose .agent-vault/ the original created and committed):
#   agents ci (group stripe), deployer (group db), idle (no group)
#   stripe/api-key, stripe/webhook (expires 2099-01-31T00:00:00Z) in group stripe
#   db/password: a two-line value read from a file, in group db
#   misc/token: group ops (no members), also encrypted for deployer (--agents)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$repo/.original}
if [ ! -x "$dir/bin/agent-vault" ]; then
  "$repo/scripts/install-original.sh" "$dir"
fi
orig=$(cd "$dir" && pwd)/bin/agent-vault
if [ -f "$dir/VERSION" ]; then
  version=$(head -n1 "$dir/VERSION")
else
  version=$(sed -n 's/^"\(agent-vault [^ ]* ([^)]*)\)".*/\1/p' "$dir/.crates.toml" | head -n1)
fi
case $version in
"agent-vault 0.1.0 "*) ;;
*) echo "make-original-fixtures: $dir holds '$version', not agent-vault 0.1.0" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/proj"
export HOME=$work/home GIT_CONFIG_GLOBAL=$work/gitconfig GIT_CONFIG_NOSYSTEM=1
unset AGENT_VAULT_KEY AGENT_VAULT_HOME
git config --file "$GIT_CONFIG_GLOBAL" user.name "Original Owner"
git config --file "$GIT_CONFIG_GLOBAL" user.email owner@example.com
git config --file "$GIT_CONFIG_GLOBAL" init.defaultBranch main
cd "$work/proj"
git init -q
git commit -q --allow-empty -m "empty"
"$orig" init >/dev/null
for a in ci deployer idle; do "$orig" add-agent "$a" >/dev/null; done
"$orig" set stripe/api-key sk_live_original >/dev/null
"$orig" set --expires 2099-01-31T00:00:00Z stripe/webhook whsec_original >/dev/null
printf 'line one\nline "two" $HOME\n' >"$work/db-password"
"$orig" set --from-file "$work/db-password" db/password >/dev/null
"$orig" set --group ops --agents deployer misc/token tok_original >/dev/null
"$orig" grant ci stripe >/dev/null
"$orig" grant deployer db >/dev/null
test -z "$(git status --porcelain)" || { echo "make-original-fixtures: the original left uncommitted files" >&2; exit 1; }

rm -f .git/hooks/*.sample   # Git's samples, not the original's
out=$repo/testdata/original
mkdir -p "$out"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work" -cf "$out/original.tar" home proj
{
  echo "$version"
  echo "fixtures written $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/make-original-fixtures.sh"
} >"$out/VERSION"
echo "wrote $out/original.tar with $version"
