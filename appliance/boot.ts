import { parseArgs } from 'node:util';
import { createHost } from './host/index.ts';
import { Store } from './config/store.ts';
import { applyAtBoot } from './config/apply.ts';

/** `keel boot`: renders the saved configuration into the OS; nothing to do before the wizard has run. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string', default: '/' } } });
  const host = createHost(values.root);
  const store = Store.open(host);
  try {
    const done = await applyAtBoot(host, store);
    if (!done) console.error('keel boot: not configured yet; the first-boot wizard runs on the console');
    return 0;
  } finally {
    store.close();
  }
}
