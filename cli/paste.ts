import type { Session } from './session.ts';

/**
 * Reads pasted PEM text after showing `prompt`, up to an empty line after an END CERTIFICATE line
 * (at most `maxLines` lines): the one way the CLI takes a pasted CA certificate or chain.
 */
export async function pastePem(s: Session, prompt: string, maxLines = 4000): Promise<string> {
  s.io.write(`${prompt}\nEnd with an empty line.\n`);
  const lines: string[] = [];
  for (let i = 0; i < maxLines; i++) {
    const l = (await s.io.ask('')).trim();
    if (!l && lines.some((x) => /^-----END CERTIFICATE-----$/.test(x))) break;
    if (l) lines.push(l);
  }
  return lines.join('\n') + '\n';
}
