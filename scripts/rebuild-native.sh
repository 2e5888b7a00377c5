#!/usr/bin/env bash
# postinstall: `npm install` runs under the system Node (20 here), so native addons are built
# for it, yet every npm script runs on the Node 24 that the `node` package brings. ssh2's crypto
# binding then fails to load and ssh2 falls back to a JavaScript cipher about 2x slower. Rebuild
# those addons against Node 24, offline, with the headers that ship inside the `node` package.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
headers=$(find node_modules/node -path '*/include/node/node_version.h' -print -quit 2>/dev/null)
if [ -z "$headers" ]; then
  echo "artifact-bus: Node 24 headers not found; ssh2 keeps its slower JavaScript crypto" >&2
  exit 0
fi
nodedir=$(cd "$(dirname "$headers")/../.." && pwd)
if ! npm rebuild ssh2 cpu-features --nodedir="$nodedir" >/tmp/artifact-bus-rebuild.log 2>&1; then
  echo "artifact-bus: rebuilding ssh2 for $(node --version) failed (see /tmp/artifact-bus-rebuild.log); ssh2 keeps its slower JavaScript crypto" >&2
fi
exit 0
