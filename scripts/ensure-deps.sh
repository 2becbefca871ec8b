#!/usr/bin/env bash
# Installs what the tests need beyond Go, Python, Node and git: the stock age CLI (for the
# interoperability tests and the benchmark) and groff (the man page test). Safe to run again.
set -euo pipefail
missing=()
command -v age >/dev/null 2>&1 || missing+=(age)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v groff >/dev/null 2>&1 || missing+=(groff-base)   # renders the generated man pages in their test
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo apt-get update -qq >/dev/null
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "please install: ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]}; macOS: brew install ${missing[*]})" >&2
  exit 1
fi
