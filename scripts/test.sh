#!/bin/sh
# The fast suite: type check, then unit and sandbox tests (no VM, no root needed).
set -eu
cd "$(dirname "$0")/.."
echo "node $(node --version)"
tsc -p tsconfig.json
exec node --test --test-reporter=spec --test-concurrency=2 'test/unit/**/*.test.ts'
