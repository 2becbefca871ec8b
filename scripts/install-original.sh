#!/usr/bin/env bash
# Installs the original agent-vault, the Rust crate agent-vault 0.1.0 from crates.io, into DIR (default:
# .original/ in this repository, which Git ignores), so that `make bench` can compare against it. The
# binary is DIR/bin/agent-vault; it has the same name as ours, so it is never put on PATH and the
# benchmark always runs it by absolute path. DIR/VERSION records what was installed.
#
#   scripts/install-original.sh [DIR]
#
# Needs cargo (https://rustup.rs) and a C toolchain; takes a few minutes. Safe to run again: an
# installation of the same version is kept.
set -euo pipefail

CRATE=agent-vault
VERSION=0.1.0

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$repo/.original}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
want="$CRATE $VERSION (crates.io)"

if [ -x "$dir/bin/agent-vault" ] && [ "$(head -n1 "$dir/VERSION" 2>/dev/null)" = "$want" ]; then
  echo "the original agent-vault $VERSION is already installed: $dir/bin/agent-vault"
  exit 0
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-original: cargo is needed to build the original agent-vault (https://rustup.rs)" >&2
  exit 1
fi

echo "installing $want into $dir (cargo install; a few minutes)"
rm -f "$dir/VERSION"
cargo install "$CRATE" --version "=$VERSION" --root "$dir" --force
{
  echo "$want"
  echo "installed $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(cargo --version)"
} >"$dir/VERSION"
echo "installed: $dir/bin/agent-vault (recorded in $dir/VERSION)"
