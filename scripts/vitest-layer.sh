#!/bin/sh
# Runs one vitest project with V8 coverage and prints the per-folder summary (appliance, cli,
# webui, installer, image); the floors in test/coverage-floors.json fail the run if coverage drops.
# KEEL_COVERAGE=0 runs without coverage (a developer's quick loop).
set -eu
layer="$1"; shift
cd "$(dirname "$0")/.."
if [ "${KEEL_COVERAGE:-1}" = 0 ]; then exec vitest run --project "$layer" "$@"; fi
export KEEL_LAYER="$layer"
status=0
vitest run --project "$layer" --coverage "$@" || status=$?
if [ -f "coverage/$layer/coverage-summary.json" ]; then node scripts/coverage-summary.ts "coverage/$layer" "$layer"; fi
echo "coverage report: coverage/$layer/index.html"
exit $status
