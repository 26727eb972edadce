/**
 * Health probe numbers: one full cycle (NIC + md + IPMI against ipmi_sim), our IPMI read against
 * a bare `ipmitool sdr` in the same run, and memory over many monitor cycles.
 * Run: sh scripts/with-node.sh node --expose-gc test/bench/health.ts [cycles]
 */
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { createHost } from '../../appliance/host/index.ts';
import { parseBmcUrl } from '../../appliance/host/ipmi.ts';
import { IpmiProbe, sensorFindings } from '../../appliance/health/ipmi.ts';
import { collectHealth } from '../../appliance/health/snapshot.ts';
import { HealthStore } from '../../appliance/health/monitor.ts';
import { startSim } from '../fixtures/health/ipmisim.ts';

process.env.KEEL_LOG = 'silent';
const cycles = Number(process.argv[2] ?? 10000);
const sim = await startSim();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
try {
  const host = createHost('/');
  const bmc = parseBmcUrl(sim.url);
  const probe = new IpmiProbe(host.proc, bmc);
  await probe.readSensors(); // thresholds cached, as in the monitor

  // 1. One full cycle: wall and CPU.
  const walls: number[] = [];
  const cpus: number[] = [];
  let last = null;
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    last = await collectHealth(host, { ipmiProbe: probe, bmc, smart: false, nicSampleMs: 0 });
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
  }
  console.log(`full cycle (platform + NIC + md + IPMI sensors/chassis/SEL/FRU): wall ${median(walls).toFixed(1)} ms, node CPU ${median(cpus).toFixed(1)} ms (median of 5; child processes not counted)`);
  console.log(`  per probe: ${Object.entries(last!.durations).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);

  // 2. Our sensor read vs a bare ipmitool sdr, interleaved.
  const ours: number[] = [];
  const bare: number[] = [];
  const args = ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(sim.port), '-U', 'admin', '-P', sim.password, 'sdr'];
  for (let i = 0; i < 30; i++) {
    let t0 = performance.now();
    execFileSync('ipmitool', args);
    bare.push(performance.now() - t0);
    t0 = performance.now();
    await probe.readSensors();
    ours.push(performance.now() - t0);
  }
  const o = median(ours);
  const b = median(bare);
  console.log(`IPMI read (10 sensors): ours ${o.toFixed(1)} ms, bare 'ipmitool sdr' ${b.toFixed(1)} ms, ratio ${(o / b).toFixed(2)} (goal <= 1.2); per sensor ${(o / 10).toFixed(1)} ms`);

  // 3. Memory over many monitor cycles: readings alternate so state changes and history grow and are pruned.
  const db = new Database(':memory:');
  const store = new HealthStore(db);
  const reading = (await probe.readSensors()).sensors;
  const gc = (globalThis as { gc?: () => void }).gc;
  const mem = () => {
    gc?.();
    return process.memoryUsage().heapUsed / 1048576;
  };
  const marks: string[] = [];
  const start = mem();
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) {
    const fan = reading.map((s) => (s.name === 'FAN1' ? { ...s, value: i % 50 < 25 ? 4800 : 180 } : s));
    store.record(sensorFindings(fan, store.severities()), Date.now() + i * 30000);
    store.prune(Date.now() + i * 30000, 90, 1000);
    if (i % Math.max(1, Math.floor(cycles / 5)) === 0) marks.push(`${i}: ${mem().toFixed(1)} MB`);
  }
  const dt = performance.now() - t0;
  console.log(`monitor bookkeeping over ${cycles} cycles: heap ${start.toFixed(1)} MB -> ${mem().toFixed(1)} MB (${marks.join(', ')}), ${(dt / cycles).toFixed(3)} ms per cycle${gc ? '' : ' (run with --expose-gc for exact heap numbers)'}`);
  db.close();
} finally {
  await sim.stop();
}
