/** One problem with one field of the configuration: the field path, the rule it broke, and a sentence for people. */
export interface FieldProblem {
  /** JSON-pointer-like path, e.g. `/network/interfaces/0/address`. */
  field: string;
  /** Short rule name, e.g. `ipv4`, `gateway-in-subnet`. */
  rule: string;
  message: string;
}

/** Bad input: names the field(s) and the rule(s). Shown to users as is. */
export class ValidationError extends Error {
  readonly problems: FieldProblem[];
  constructor(problems: FieldProblem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; '));
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

/** An OS operation failed: carries the command, its exit code and stderr. */
export class OperationalError extends Error {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(message: string, command: string, exitCode: number | null, stderr: string) {
    super(`${message}: \`${command}\` exited ${exitCode ?? 'by signal'}${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    this.name = 'OperationalError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** True for the two error kinds that are expected and can be shown to a user; anything else is a bug. */
export function isUserFacing(err: unknown): err is ValidationError | OperationalError {
  return err instanceof ValidationError || err instanceof OperationalError;
}
