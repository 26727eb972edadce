#!/bin/sh
# The fast suite: type check, then the unit project (no VM, no root needed), with coverage.
set -eu
cd "$(dirname "$0")/.."
echo "node $(node --version)"
tsc -p tsconfig.json
exec sh scripts/vitest-layer.sh unit "$@"
