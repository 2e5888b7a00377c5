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
# npm checks `engines` against the Node that runs npm itself, so an older system Node prints a
# screen of EBADENGINE warnings that read as a broken install. Say once why they do not matter.
installer=$("${npm_node_execpath:-node}" --version 2>/dev/null || true)
project=$(node --version)
if [ -n "$installer" ] && [ "${installer%%.*}" != "${project%%.*}" ]; then
  echo "artifact-bus: npm ran under Node $installer, so it warned (EBADENGINE) that packages want a newer one." >&2
  echo "  That is expected: every npm script of this project runs on Node $project from node_modules/.bin" >&2
  echo "  (the 'node' dev dependency); the system Node only runs npm itself." >&2
fi
exit 0
