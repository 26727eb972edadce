/**
 * `keel health [--root DIR] [--json] [--bmc lanplus://USER:PASS@HOST[:PORT]|open]`: one probe
 * cycle; the overall state and the findings that are not OK, or the whole snapshot as JSON.
 * Exits 0 when OK, 1 on warnings, 2 on critical findings (for scripts and monitoring agents).
 */
import { createHost } from '../host/index.ts';
import { parseBmcUrl } from '../host/ipmi.ts';
import { Store } from '../config/store.ts';
import { collectHealth } from './snapshot.ts';
import { panelLine } from './leds.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from '../options.ts';

export const OPTIONS = {
  root: ROOT_OPTION,
  json: { type: 'boolean', default: false, help: 'print the readings as JSON' },
  bmc: { type: 'string', value: 'URL', help: 'a BMC over the network (ipmi://USER:PASSWORD@HOST[:PORT]) instead of the local one' },
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string; json: boolean; bmc?: string };
  const host = createHost(values.root);
  let config = null;
  if (host.files.exists('/var/lib/keel/keel.db')) {
    const store = Store.open(host);
    config = store.running()?.config ?? null;
    store.close();
  }
  const snap = await collectHealth(host, {
    bmc: values.bmc ? parseBmcUrl(values.bmc) : undefined,
    devices: config?.health?.devices,
    expectUp: config ? new Set(config.network.interfaces.filter((i) => i.enabled).map((i) => i.name)) : undefined,
  });
  if (values.json) console.log(JSON.stringify(snap, null, 2));
  else {
    console.log(`${snap.platform.name}: ${snap.overall.toUpperCase()}`);
    for (const f of snap.findings.filter((x) => x.severity !== 'ok')) console.log(`  ${f.severity.toUpperCase().padEnd(8)} ${f.subject}: ${f.message}`);
    for (const p of snap.frontPanel) console.log(`  ${panelLine(p)}`);
    for (const e of snap.errors) console.log(`  (the ${e.probe} probe could not run: ${e.message})`);
  }
  return snap.overall === 'critical' ? 2 : snap.overall === 'warning' ? 1 : 0;
}
