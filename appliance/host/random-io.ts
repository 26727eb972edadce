import fs from 'node:fs';
import crypto from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** One random I/O run: `depth` threads doing `blockSize` reads or writes at random offsets for `seconds`. */
export interface RandomIoRequest {
  /** A regular file (created and filled first when missing or short) or, with `raw`, a block device. */
  file: string;
  /** Bytes of `file` the offsets fall in (a block device is measured up to its size at most). */
  sizeBytes: number;
  blockSize: number;
  /** Operations in flight: one worker thread each. */
  depth: number;
  seconds: number;
  /** O_DIRECT (default true); without it, writes use O_DSYNC so they still reach the disk. */
  direct?: boolean;
  mode: 'read' | 'write';
  /** `file` is a block device: never created, truncated or filled; reads open it read-only. */
  raw?: boolean;
}

/** Latencies of one run as a histogram: ascending, non-empty buckets [lowNs, highNs). */
export interface LatencyBucket {
  lowNs: number;
  highNs: number;
  count: number;
}

export interface RandomIoResult {
  mode: 'read' | 'write';
  ops: number;
  bytes: number;
  /** From the common start to the last operation's end. */
  elapsedNs: number;
  /** False when the file system refused O_DIRECT (tmpfs) or it was not asked for: reads may come from the page cache. */
  direct: boolean;
  latency: LatencyBucket[];
}

// The histogram is fio's: exact below 64 ns, then 64 buckets per power of two (error < 1.6 %),
// so a long run needs a few kB instead of one number per operation.
const SUB = 64;
const BUCKETS = SUB + 48 * SUB;

function bucketOf(ns: number): number {
  if (ns < SUB) return Math.max(0, Math.floor(ns));
  let e = Math.floor(Math.log2(ns));
  if (2 ** e > ns) e--;
  else if (2 ** (e + 1) <= ns) e++;
  const shift = e - 6;
  const m = Math.floor(ns / 2 ** shift);
  return Math.min(BUCKETS - 1, SUB + shift * SUB + (m - SUB));
}

function bucketBounds(i: number): [number, number] {
  if (i < SUB) return [i, i + 1];
  const shift = Math.floor((i - SUB) / SUB);
  const m = SUB + ((i - SUB) % SUB);
  return [m * 2 ** shift, (m + 1) * 2 ** shift];
}

interface WorkerInput {
  keelRandomIo: true;
  file: string;
  flags: number;
  sizeBytes: number;
  blockSize: number;
  seconds: number;
  mode: 'read' | 'write';
  /** [0]: 0 until the start, whose time (ns) is then in `startAt`; [1]: 1 to stop early (another worker failed). */
  ctl: Int32Array;
  startAt: BigInt64Array;
}

type WorkerMessage = { ready: true } | { done: true; ops: number; bytes: number; endNs: bigint; counts: Float64Array } | { error: string; code?: string };

/**
 * Worker side: finds an O_DIRECT-aligned slice of its buffer (JS cannot see addresses, so it tries
 * offsets until the first operation stops failing with EINVAL), waits for the common
 * start, then does positioned synchronous operations until the deadline, timing each one.
 */
function workerMain(w: WorkerInput): void {
  let fd: number | null = null;
  let last: WorkerMessage;
  const counts = new Float64Array(BUCKETS);
  try {
    fd = fs.openSync(w.file, w.flags);
    const blocks = Math.floor(w.sizeBytes / w.blockSize);
    const raw = new Uint8Array(new ArrayBuffer(w.blockSize + 4096));
    crypto.randomFillSync(raw);
    const op = (buf: Uint8Array, pos: number): number => (w.mode === 'read' ? fs.readSync(fd!, buf, 0, w.blockSize, pos) : fs.writeSync(fd!, buf, 0, w.blockSize, pos));
    const at = () => Math.floor(Math.random() * blocks) * w.blockSize;
    let buf: Uint8Array | null = null;
    // Steps of 8 bytes, not 512: V8's buffers start wherever malloc put them (16-byte aligned
    // here), so 512-byte steps from the start never reach a 512-byte boundary.
    for (let off = 0; off <= 4096 && !buf; off += 8) {
      const b = raw.subarray(off, off + w.blockSize);
      try {
        op(b, at());
        buf = b;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      }
    }
    if (!buf) throw Object.assign(new Error(`O_DIRECT refused every buffer alignment (EINVAL): is the block size ${w.blockSize} a multiple of the device's logical block size?`), { code: 'EINVAL' });
    parentPort!.postMessage({ ready: true } satisfies WorkerMessage);
    Atomics.wait(w.ctl, 0, 0);
    const deadline = w.startAt[0] + BigInt(Math.round(w.seconds * 1e9));
    let ops = 0;
    let bytes = 0;
    let end = process.hrtime.bigint();
    while (end < deadline && Atomics.load(w.ctl, 1) === 0) {
      const pos = at();
      const t0 = process.hrtime.bigint();
      const n = op(buf, pos);
      end = process.hrtime.bigint();
      if (n !== w.blockSize) throw new Error(`short ${w.mode} at byte ${pos}: ${n} of ${w.blockSize} bytes (is the file or device smaller than ${w.sizeBytes} bytes?)`);
      counts[bucketOf(Number(end - t0))]++;
      ops++;
      bytes += n;
    }
    last = { done: true, ops, bytes, endNs: end, counts };
  } catch (e) {
    last = { error: (e as Error).message, code: (e as NodeJS.ErrnoException).code };
  } finally {
    // Closed before the last message: the main thread never has to kill a worker (that would leak its descriptor).
    if (fd !== null) fs.closeSync(fd);
  }
  parentPort!.postMessage(last, 'done' in last ? [counts.buffer as ArrayBuffer] : []);
}

if (!isMainThread && (workerData as WorkerInput | null)?.keelRandomIo) workerMain(workerData as WorkerInput);

/** Writes the whole file with random data: a sparse or fallocated file reads unrealistically fast. */
async function layOut(file: string, sizeBytes: number): Promise<void> {
  try {
    const st = fs.statSync(file);
    // A device named without `raw` must not be overwritten by the layout.
    if (!st.isFile()) throw new Error(`${file} is not a regular file (a block device is measured with raw)`);
    if (st.size >= sizeBytes) return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const fh = await fs.promises.open(file, 'w', 0o600);
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let done = 0; done < sizeBytes; done += chunk.length) {
      // Fresh random data per chunk: storage that deduplicates or compresses must not see repeats.
      crypto.randomFillSync(chunk);
      await fh.write(chunk, 0, Math.min(chunk.length, sizeBytes - done), done);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Bytes of the block device behind `st` (sysfs counts 512-byte sectors whatever the device's block size). */
function blockDeviceBytes(st: fs.Stats): number | null {
  const rdev = st.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff);
  try {
    return Number(fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim()) * 512;
  } catch {
    return null;
  }
}

/** Opens with O_DIRECT to learn whether the file system takes it (tmpfs may answer EINVAL). */
function directWorks(file: string, flags: number): boolean {
  try {
    fs.closeSync(fs.openSync(file, flags | fs.constants.O_DIRECT));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw e;
  }
}

/**
 * Runs one random read or write test with `depth` worker threads (positioned synchronous I/O
 * each, so `depth` operations are in flight like fio's iodepth). Lays out a regular file first;
 * leaves it in place (the caller removes it, so a read and a write run can share it).
 */
export async function runRandomIo(r: RandomIoRequest, timeoutMs = (r.seconds + 60) * 1000): Promise<RandomIoResult> {
  let sizeBytes = r.sizeBytes;
  if (r.raw) {
    const st = fs.statSync(r.file);
    if (!st.isBlockDevice()) throw new Error(`${r.file} is not a block device`);
    const dev = blockDeviceBytes(st);
    if (dev !== null) sizeBytes = Math.min(sizeBytes, dev);
  } else await layOut(r.file, sizeBytes);
  if (sizeBytes < r.blockSize) throw new Error(`${r.file} is smaller than one block (${sizeBytes} < ${r.blockSize} bytes)`);
  const base = r.mode === 'read' ? fs.constants.O_RDONLY : fs.constants.O_WRONLY;
  const direct = r.direct !== false && directWorks(r.file, base);
  const flags = base | (direct ? fs.constants.O_DIRECT : r.mode === 'write' ? fs.constants.O_DSYNC : 0);
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const startAt = new BigInt64Array(new SharedArrayBuffer(8));
  const input: WorkerInput = { keelRandomIo: true, file: r.file, flags, sizeBytes, blockSize: r.blockSize, seconds: r.seconds, mode: r.mode, ctl, startAt };
  const workers: Worker[] = [];
  try {
    const results = await new Promise<Extract<WorkerMessage, { done: true }>[]>((resolve, reject) => {
      const done: Extract<WorkerMessage, { done: true }>[] = [];
      let ready = 0;
      const timer = setTimeout(() => reject(new Error(`random ${r.mode} on ${r.file}: no answer within ${Math.round(timeoutMs / 1000)} s (the disk does not complete operations)`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      for (let i = 0; i < r.depth; i++) {
        // The worker is this very module (.ts in a checkout, .js on the appliance).
        const w = new Worker(new URL(import.meta.url), { workerData: input, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
        workers.push(w);
        w.on('error', fail);
        w.on('message', (m: WorkerMessage) => {
          if ('error' in m) fail(Object.assign(new Error(`random ${r.mode} on ${r.file}: ${m.error}`), { code: m.code }));
          else if ('ready' in m) {
            if (++ready === r.depth) {
              Atomics.store(startAt, 0, process.hrtime.bigint());
              Atomics.store(ctl, 0, 1);
              Atomics.notify(ctl, 0);
            }
          } else {
            done.push(m);
            if (done.length === r.depth) {
              clearTimeout(timer);
              resolve(done);
            }
          }
        });
      }
    });
    const counts = new Float64Array(BUCKETS);
    for (const d of results) for (let i = 0; i < BUCKETS; i++) counts[i] += d.counts[i];
    const latency: LatencyBucket[] = [];
    counts.forEach((count, i) => {
      if (count) {
        const [lowNs, highNs] = bucketBounds(i);
        latency.push({ lowNs, highNs, count });
      }
    });
    const end = results.reduce((a, d) => (d.endNs > a ? d.endNs : a), startAt[0]);
    return {
      mode: r.mode,
      ops: results.reduce((a, d) => a + d.ops, 0),
      bytes: results.reduce((a, d) => a + d.bytes, 0),
      elapsedNs: Number(end - startAt[0]),
      direct,
      latency,
    };
  } finally {
    // After a failure the others stop at their next operation (or at once, if still waiting for
    // the start) and exit by themselves. Unref'd, not terminated: one stuck in a read of a hung
    // disk ends when the kernel returns, and must not keep the process alive until then.
    Atomics.store(ctl, 1, 1);
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    for (const w of workers) w.unref();
  }
}
