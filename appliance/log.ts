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
