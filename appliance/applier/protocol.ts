/**
 * The applier's wire format: one JSON object per line over a UNIX stream socket. A client sends
 * one request per connection; the server answers with progress lines and then one result or error
 * line. Errors keep their kind (validation, operational, bug) so each surface shows them as it
 * would had the operation run in its own process.
 */
import { OperationalError, ValidationError, type FieldProblem } from '../errors.ts';
import { UpdateRefusal, type RefusalReason } from '../update/bundle.ts';

/** No request (a configuration with its certificates) or answer comes near this. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export const OPS = ['apply', 'plan', 'reconcile', 'reboot', 'service', 'stageUpdate', 'unstageUpdate', 'installGuestTools', 'locate', 'timeStatus', 'bootTimes', 'diagnose', 'capture', 'captures'] as const;
export type Op = (typeof OPS)[number];

export interface Request {
  op: Op;
  args: unknown[];
}

export type WireError =
  | { kind: 'validation'; problems: FieldProblem[]; refusal?: RefusalReason }
  | { kind: 'operational'; message: string; command: string; exitCode: number | null; stderr: string }
  | { kind: 'bug'; message: string };

export type Answer = { progress: [number, number] } | { result: unknown } | { error: WireError };

export function toWire(e: unknown): WireError {
  if (e instanceof UpdateRefusal) return { kind: 'validation', problems: e.problems, refusal: e.reason };
  if (e instanceof ValidationError) return { kind: 'validation', problems: e.problems };
  if (e instanceof OperationalError) return { kind: 'operational', message: e.message, command: e.command, exitCode: e.exitCode, stderr: e.stderr };
  return { kind: 'bug', message: 'the applier failed (see its log)' };
}

export function fromWire(w: WireError): Error {
  if (w.kind === 'validation') return w.refusal ? new UpdateRefusal(w.refusal, w.problems[0]?.message ?? '') : new ValidationError(w.problems);
  if (w.kind === 'operational') {
    const e = new OperationalError('', w.command, w.exitCode, w.stderr);
    e.message = w.message;
    return e;
  }
  return new Error(w.message);
}

/** Splits a byte stream into lines, refusing any longer than MAX_LINE_BYTES. */
export class LineReader {
  private buf = '';
  private readonly onLine: (line: string) => void;
  constructor(onLine: (line: string) => void) {
    this.onLine = onLine;
  }
  /** False when the peer sent a line over the limit (the connection should end). */
  push(chunk: Buffer | string): boolean {
    this.buf += chunk.toString();
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (line) this.onLine(line);
    }
    return this.buf.length <= MAX_LINE_BYTES;
  }
}
