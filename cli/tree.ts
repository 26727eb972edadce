/**
 * The command tree as data: every node is a keyword or an argument, with one line of help, the
 * modes it is offered in, and a handler where a command may end. The parser (parse.ts) walks it;
 * the consoles and SSH share it. Handlers live in commands.ts; nothing here does I/O.
 */

/** user EXEC (`host>`), privileged EXEC (`host#`), configuration, interface configuration. */
export type Mode = 'user' | 'exec' | 'config' | 'config-if';

/** What a handler gets: the argument values by name (repeated arguments are joined with a space). */
export type Args = Record<string, string>;

/** Argument types. `parse` checks one word and returns its normal form, or the rule it broke. */
export interface ArgType {
  /** Shown in `?` output, IOS style: `A.B.C.D`, `WORD`, `<1-65535>`, `LINE`. */
  placeholder: string;
  /** Name of the rule, shown with a refusal: `ipv4`, `fqdn`… (rules.ts). */
  rule: string;
  parse(word: string): { value: string } | { error: string };
  /** Values to offer for TAB and `word?` (e.g. interface names). */
  values?: () => string[];
  /** The argument takes every remaining word (a free text line). */
  rest?: boolean;
  /** A secret: replaced by `<redacted>` in the audit log and history. */
  secret?: boolean;
}

export interface Node<H = unknown> {
  /** A keyword, matched by unique prefix… */
  kw?: string;
  /** …or an argument, stored under `name`. */
  arg?: { name: string; type: ArgType };
  help: string;
  children?: Node<H>[];
  /** A command may end here. */
  run?: H;
  /** The `no` form may end here. */
  no?: H;
  /** Top-level nodes: where they are offered. */
  modes?: Mode[];
  /** Changes the appliance: refused for read-only (operator) users. */
  changes?: boolean;
  /** Not listed by `?` (still accepted), e.g. script-only forms. */
  hidden?: boolean;
  /**
   * Wins an abbreviation shared with siblings, as IOS does for its everyday commands
   * (`sh log` is `show logging`, not `show login`).
   */
  preferred?: boolean;
}

/** Walks a tree depth first. */
export function* walk<H>(nodes: Node<H>[]): Generator<Node<H>> {
  for (const n of nodes) {
    yield n;
    if (n.children) yield* walk(n.children);
  }
}

/** True when a `no` form ends somewhere under this node. */
export function hasNo<H>(n: Node<H>): boolean {
  if (n.no) return true;
  return (n.children ?? []).some(hasNo);
}
