#!/bin/sh
# Copies the C2SP CCTV age test vectors that the Node SDK's own age code can read into
# sdk/node/test/testdata/cctv-age/, with a README.md that records the module version.
#
#   scripts/cctv-age-vectors.sh [VERSION]     (default: latest)
#
# The vectors come from the Go module c2sp.org/CCTV/age (testdata/), fetched with `go mod download`. A
# vector is copied when it is not armored and every identity it names is an X25519 (AGE-SECRET-KEY-1)
# or post-quantum (AGE-SECRET-KEY-PQ-1) key: what the SDK decrypts (scrypt passphrase files and armored
# files are not vault files). The files are copied unchanged (0BSD / Unlicense: no attribution required).
# sdk/node/test/cctv.test.ts runs every copied vector.
set -eu
version=${1:-latest}
top=$(cd "$(dirname "$0")/.." && pwd)
dest=$top/sdk/node/test/testdata/cctv-age
info=$(cd "$top" && go mod download -json "c2sp.org/CCTV/age@$version")
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
resolved=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Version": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir/testdata" ]; then
	echo "cctv-age-vectors: no testdata in c2sp.org/CCTV/age@$version" >&2
	exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
n=0
for f in "$dir"/testdata/*; do
	name=$(basename "$f")
	# The vector's header: "key: value" lines up to the first empty line.
	head=$(sed -n '/^$/q;p' "$f")
	if printf '%s\n' "$head" | grep -q '^armored:'; then continue; fi
	ids=$(printf '%s\n' "$head" | sed -n 's/^identity: //p')
	[ -n "$ids" ] || continue
	if printf '%s\n' "$ids" | grep -qv '^AGE-SECRET-KEY-\(PQ-\)\{0,1\}1'; then continue; fi
	cp "$f" "$dest/$name"
	chmod 0644 "$dest/$name"
	n=$((n + 1))
done
cat > "$dest/README.md" <<README
# C2SP CCTV age test vectors (subset)

Copied unchanged by \`scripts/cctv-age-vectors.sh\` from the Go module \`c2sp.org/CCTV/age\` $resolved
(\`testdata/\`), under its Zero-Clause BSD / Unlicense terms (no attribution required): every vector that is
not armored and whose identities are X25519 (\`AGE-SECRET-KEY-1\`) or post-quantum (\`AGE-SECRET-KEY-PQ-1\`)
keys, $n files.

\`test/cctv.test.ts\` decrypts each with the SDK's own age code (\`src/agefile.ts\`: file split, stanza kinds,
STREAM payload; \`src/x25519.ts\`: the X25519 unwrap) and typage's header parser, MAC check and hybrid unwrap, as
the SDK reads a vault: a \`success\` vector must give the plaintext whose SHA-256 is its \`payload\`, every other
vector must fail, releasing nothing. Refresh with \`scripts/cctv-age-vectors.sh [VERSION]\`.
README
echo "copied $n vectors of c2sp.org/CCTV/age $resolved to $dest"
