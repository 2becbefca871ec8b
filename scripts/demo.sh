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

step() { printf '\n\033[1m== %s\033[0m\n' "$1"; }
run() { printf '$ %s\n' "$*"; "$@"; }

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
echo "(exit status $?: integrity error, nothing printed on stdout)"
set -e
cp "$work/saved.enc" .agent-vault/secrets/stripe/api-key.enc
step "Revoke: the group is re-encrypted without ci, and the secrets to rotate are listed"
run agent-vault revoke ci stripe
set +e
run agent-vault get stripe/api-key --key "$HOME/.agent-vault/agents/ci.key"
echo "(exit status $?: not authorized)"
set -e
step "Verify everything"
run agent-vault check
step "Every change is one Git commit"
run git log --oneline
printf '\nDemo finished; it ran in %s (now removed).\n' "$work"
