/**
 * The process the SIGKILL loop kills (test/security/crash.test.ts): it starts as every Keel
 * process does (the store opened, an interrupted change reconciled), says "ready", then applies
 * configuration changes back to back until it is killed.
 */
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig, reconcileApply } from '../../appliance/config/apply.ts';

const root = process.argv[2];
const host = createHost(root);
const store = Store.open(host);
await reconcileApply(host, store);
process.stdout.write('ready\n');
for (let i = Number(process.argv[3] ?? 0); ; i++) {
  const c = structuredClone(store.running()!.config);
  c.ntp.servers = [`192.0.2.${1 + (i % 250)}`];
  c.dns.servers = [`198.51.100.${1 + (i % 250)}`];
  c.system.hostname = `core${i % 7}.example.com`;
  await applyConfig(host, store, c, { who: 'admin', source: 'crash-test' }, `change ${i}`);
}
