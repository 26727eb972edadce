/**
 * Structured log lines to stderr (journald on the appliance). Log state changes and problems,
 * never secrets: callers pass only non-secret fields.
 */
function emit(level: string, msg: string, fields?: Record<string, unknown>): void {
  if (process.env.KEEL_LOG === 'silent') return;
  const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') : '';
  process.stderr.write(`keel ${level}: ${msg}${extra}\n`);
}
export const log = {
  info: (msg: string, fields?: Record<string, unknown>) => emit('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => emit('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => emit('error', msg, fields),
};

/**
 * Secrets that could still hide in free text (log lines, the journal): scrypt hashes, API tokens,
 * and whatever follows `password=`, `secret:` or `passphrase=`. For support bundles and every view
 * of the system log, whose lines come from programs Keel does not control.
 */
export function scrub(text: string): string {
  return text
    .replace(/\$scrypt\$[^\s"']+/g, '<redacted>')
    .replace(/keel_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g, '<redacted>')
    .replace(/((?:password|secret|passphrase)["']?\s*[:=]\s*)("[^"]*"|\S+)/gi, '$1<redacted>');
}
