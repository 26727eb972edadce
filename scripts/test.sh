#!/bin/sh
# The fast suite: type check, then the unit project (no VM, no root needed), with coverage.
# KEEL_COVERAGE=0 skips coverage (a developer's quick loop: npm run test:changed).
set -eu
cd "$(dirname "$0")/.."
echo "node $(node --version)"
tsc -p tsconfig.json
if [ "${KEEL_COVERAGE:-1}" = 0 ]; then exec vitest run --project unit "$@"; fi
exec vitest run --project unit --coverage "$@"
