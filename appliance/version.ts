import fs from 'node:fs';

/** The Keel version, from package.json (the image stamps the same file). */
export const VERSION: string = (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
