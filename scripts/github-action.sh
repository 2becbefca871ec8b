#!/usr/bin/env bash
# The steps of the GitHub Action (action.yml); tests/recipes/test_action.py runs them against a real vault.
#
#   github-action.sh install   builds agent-vault and agent-vault-mcp from the action's source into
#                              $RUNNER_TEMP/agent-vault/bin, adds it to $GITHUB_PATH, sets outputs path, version
#   github-action.sh export    reads every NAME=PATH of $AGENT_VAULT_ACTION_SECRETS with the key in
#                              $AGENT_VAULT_KEY from the vault in $AGENT_VAULT_ACTION_REPO, masks every line of
#                              every value (::add-mask::), and only then appends them to $GITHUB_ENV; sets
#                              output exported. A failed read exports nothing and exits with agent-vault's code.
#
# No value is ever printed, traced or written anywhere but $GITHUB_ENV.
set -euo pipefail
set +x
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { # die CODE MESSAGE
  echo "::error title=agent-vault::$2"
  exit "$1"
}

# escape DATA: a workflow command's data, escaped as the runner expects (it unescapes before use).
escape() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}

install() {
  : "${RUNNER_TEMP:?not running in a GitHub Actions job (RUNNER_TEMP is not set)}"
  local dest=$RUNNER_TEMP/agent-vault/bin version=${GITHUB_ACTION_REF:-}
  command -v go >/dev/null || die 1 "Go is not installed: keep setup-go: true, or install Go first"
  [ -n "$version" ] || version=dev
  local pkg=github.com/agent-vault/agent-vault/internal/cli
  mkdir -p "$dest"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -X $pkg.version=$version -X $pkg.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$dest/" ./cmd/agent-vault ./cmd/agent-vault-mcp)
  echo "$dest" >> "$GITHUB_PATH"
  {
    echo "path=$dest/agent-vault"
    echo "version=$("$dest/agent-vault" --version | sed -n '1s/^agent-vault version //p')"
  } >> "$GITHUB_OUTPUT"
  echo "agent-vault $("$dest/agent-vault" --version | head -1 | sed 's/^agent-vault version //') installed in $dest"
}

export_secrets() {
  : "${GITHUB_ENV:?not running in a GitHub Actions job (GITHUB_ENV is not set)}"
  local bin
  bin=$(command -v agent-vault) || die 1 "agent-vault is not installed (the install step did not run)"
  [ -n "${AGENT_VAULT_KEY:-}" ] || die 3 "no agent key: pass the key input (the agent's key file, e.g. \${{ secrets.AGENT_VAULT_KEY }}); is the secret set for this repository?"
  # The key's identity line is masked too (a key given by path is masked by nobody else).
  local line
  while IFS= read -r line; do
    case $line in AGE-SECRET-KEY-1*) echo "::add-mask::$(escape "$line")" ;; esac
  done <<< "$AGENT_VAULT_KEY"
  local repo=${AGENT_VAULT_ACTION_REPO:-.}
  local names=() paths=() spec name path
  while IFS= read -r spec || [ -n "$spec" ]; do
    spec=${spec%$'\r'}
    spec=$(printf '%s' "$spec" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    case $spec in ''|'#'*) continue ;; esac
    [[ $spec == *=* ]] || die 2 "secrets: \"$spec\" is not NAME=PATH"
    name=${spec%%=*} path=${spec#*=}
    name=$(printf '%s' "$name" | sed 's/[[:space:]]*$//') path=$(printf '%s' "$path" | sed 's/^[[:space:]]*//')
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die 2 "secrets: \"$name\" is not a valid environment variable name"
    case ${name^^} in GITHUB_*|RUNNER_*|AGENT_VAULT_*|PATH|NODE_OPTIONS) die 2 "secrets: $name may not be set by this action" ;; esac
    [ -n "$path" ] || die 2 "secrets: no secret path for $name"
    names+=("$name") paths+=("$path")
  done <<< "$AGENT_VAULT_ACTION_SECRETS"
  [ ${#names[@]} -gt 0 ] || die 2 "secrets: no NAME=PATH line"

  # Read every value first (a failure exports nothing), keeping trailing newlines, then mask them all.
  local values=() value status i
  for i in "${!names[@]}"; do
    status=0
    value=$("$bin" get "${paths[i]}" -C "$repo" --no-pull && printf x) || status=$?
    if [ $status -ne 0 ]; then
      die "$status" "cannot read ${paths[i]} for ${names[i]} (agent-vault exit status $status, its message is above); nothing was exported"
    fi
    values+=("${value%x}")
  done
  for value in "${values[@]}"; do
    while IFS= read -r line || [ -n "$line" ]; do
      [ -n "$line" ] && echo "::add-mask::$(escape "$line")"
    done <<< "$value"
  done

  local delim
  for i in "${!names[@]}"; do
    value=${values[i]}
    [[ $value == *$'\n' ]] && echo "::warning title=agent-vault::the value of ${paths[i]} ends with a newline, which \$GITHUB_ENV drops"
    delim=AGENT_VAULT_EOF_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    [[ $value != *"$delim"* ]] || die 1 "cannot export ${paths[i]}: its value contains the delimiter"
    printf '%s<<%s\n%s\n%s\n' "${names[i]}" "$delim" "${value%$'\n'}" "$delim" >> "$GITHUB_ENV"
  done
  echo "exported=${names[*]}" >> "$GITHUB_OUTPUT"
  echo "agent-vault: exported ${names[*]} (masked)"
}

case ${1:-} in
  install) install ;;
  export) export_secrets ;;
  *) echo "usage: $0 install|export" >&2; exit 2 ;;
esac
