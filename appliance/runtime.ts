/**
 * V8 limits of `keel serve` (System Manager and the SSH CLI), sized for the appliance's memory
 * budget (all of Keel's processes together ≤ 200 MiB, issue 15). V8 reads them only at start-up,
 * so they are on the command line: NODE_OPTIONS in keel-serve.service on the appliance, the
 * `npm start` script in a sandbox (test/unit/image-units.test.ts holds the three equal).
 * - `--max-semi-space-size=2` (MiB): V8 otherwise lets the young generation grow to 2 × 32 MiB
 *   under load (128 MiB on a large host) and keeps it after the load ends; System Manager's
 *   request garbage is short-lived, so small semi-spaces cost a little more scavenging and no
 *   promotion worth counting. Not 1: under load (GET /mics/api/health, 50 connections) scavenges
 *   took 24 % of System Manager's CPU with 1 MiB, 12 % with 2 MiB (6 % with 4), for 2 MiB more
 *   at most.
 * - `--max-old-space-size=96` (MiB): about 3 × the old space System Manager uses when idle; V8
 *   collects harder as it gets near, instead of growing into the other processes' share.
 * - `--expose-gc`: System Manager asks V8 for its memory-reducing collection once start-up is over
 *   and after a burst of requests (webui/server.ts `releaseMemory`). V8 runs one by itself only
 *   after allocations, which an idle process does not make: the old space left fragmented by
 *   start-up stayed resident (idle RSS 125 MiB, 104 MiB after the collection, about 60 ms once).
 *   It costs nothing per request.
 */
export const SERVE_NODE_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=96', '--expose-gc'] as const;
