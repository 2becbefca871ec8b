#!/usr/bin/env bash
# The README's quick start, run end to end in a temporary directory with a temporary HOME.
# Usage: scripts/demo.sh [path/to/agent-vault]
set -euo pipefail
bin=${1:-agent-vault}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home PATH=$(dirname "$bin"):$PATH
unset AGENT_VAULT_HOME AGENT_VAULT_KEY
mkdir -p "$HOME" "$work/my-project"
export GIT_CONFIG_GLOBAL=$HOME/.gitconfig GIT_CONFIG_NOSYSTEM=1
git config --global user.name "Demo Owner"
git config --global user.email "owner@example.com"
git config --global init.defaultBranch main
cd "$work/my-project"

# Bold only on a terminal. Commands are printed as they can be pasted into a shell (quoted, the demo's
# temporary HOME shown as ~), step titles and notes as comments.
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s# %s%s\n' "$bold" "$1" "$plain"; }
note() { printf '# %s\n' "$1"; }
quote() {
  local a=$1
  case $a in "$HOME"/*) a="~${a#"$HOME"}" ;; esac
  if [[ $a =~ ^[A-Za-z0-9_./:=@%+,~-]+$ && $a != *'~'?*'~'* ]]; then
    printf '%s' "$a"
  else
    printf "'%s'" "${a//\'/\'\\\'\'}"
  fi
}
run() {
  local line='' a
  for a in "$@"; do line+="${line:+ }$(quote "$a")"; done
  printf '%s%s%s\n' "$bold" "$line" "$plain"
  "$@"
}

step "Create a vault in a project (a Git repository is made, the owner key is generated)"
run agent-vault init
step "Create a key for the \"ci\" agent"
run agent-vault add-agent ci
step "Store a secret (the demo passes it as an argument; at a terminal, leave it out to be prompted)"
run agent-vault set stripe/api-key "sk_live_abc123"
step "Let ci read the stripe group"
run agent-vault grant ci stripe
step "Read it as the owner"
run agent-vault get stripe/api-key; echo
step "Read it as the agent"
run agent-vault get stripe/api-key --key "$HOME/.agent-vault/agents/ci.key"; echo
step "List secrets (metadata only) and agents"
run agent-vault list
run agent-vault list-agents
step "Use it without seeing it: run puts it in a command's environment and redacts it from the output"
run agent-vault run --key "$HOME/.agent-vault/agents/ci.key" --env STRIPE_KEY=stripe/api-key -- sh -c 'echo "deploying with $STRIPE_KEY"'
step "Tamper with the ciphertext as a hostile Git remote could: every reader refuses"
cp .agent-vault/secrets/stripe/api-key.enc "$work/saved.enc"
printf 'x' >> .agent-vault/secrets/stripe/api-key.enc
set +e
run agent-vault get stripe/api-key --key "$HOME/.agent-vault/agents/ci.key"
note "exit status $?: integrity error, nothing printed on stdout"
set -e
cp "$work/saved.enc" .agent-vault/secrets/stripe/api-key.enc
step "Revoke: the group is re-encrypted without ci, and the secrets to rotate are listed"
run agent-vault revoke ci stripe
set +e
run agent-vault get stripe/api-key --key "$HOME/.agent-vault/agents/ci.key"
note "exit status $?: not authorized"
set -e
step "Verify everything"
run agent-vault check
step "Every change is one Git commit"
run git log --oneline
printf '\n# Demo finished; it ran in %s (now removed).\n' "$work"
