/**
 * The pure parser: tokenizing, unique-prefix matching, `?` help, TAB completion and error
 * positions over a command tree (tree.ts). No I/O; every function returns data and never throws
 * on any input.
 */
import { RE2JS } from 're2js';
import { hasNo, type Args, type Node } from './tree.ts';

export interface Token {
  /** The word, quotes removed. */
  text: string;
  /** Offset of the word in the line. */
  start: number;
  end: number;
  quoted: boolean;
}

export type PipeKind = 'include' | 'exclude' | 'begin' | 'section' | 'count';
/** A user's pattern, compiled for a linear-time engine (RE2): no input can make it run long. */
export interface LineMatcher {
  test(line: string): boolean;
}
export interface Pipe {
  kind: PipeKind;
  regex: LineMatcher;
}

/** The longest command line the CLI takes (IOS allows a few hundred; PEM pastes come line by line). */
export const MAX_LINE = 4096;
/** The longest `| include` pattern. */
export const MAX_PATTERN = 256;

/** A command the parser accepted. */
export interface Parsed<H> {
  ok: true;
  handler: H;
  node: Node<H>;
  path: Node<H>[];
  args: Args;
  negate: boolean;
  pipe: Pipe | null;
  /** The command as typed, with secret arguments replaced (for the audit log and history). */
  redacted: string;
  changes: boolean;
}

/** A refusal: lines to print; `caret` is the offset in the line to mark with `^`. */
export interface ParseError {
  ok: false;
  kind: 'empty' | 'invalid' | 'ambiguous' | 'incomplete';
  caret: number | null;
  lines: string[];
}

export const INVALID = "% Invalid input detected at '^' marker.";
export const INCOMPLETE = '% Incomplete command.';

/** Splits a line into words; double quotes group words (`\"` and `\\` escape inside them). */
export function tokenize(line: string): { tokens: Token[]; unterminated: number | null } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    const start = i;
    let text = '';
    let quoted = false;
    while (i < line.length && !/\s/.test(line[i])) {
      if (line[i] === '"') {
        quoted = true;
        i++;
        let closed = false;
        while (i < line.length) {
          if (line[i] === '\\' && i + 1 < line.length) {
            text += line[i + 1];
            i += 2;
          } else if (line[i] === '"') {
            closed = true;
            i++;
            break;
          } else text += line[i++];
        }
        if (!closed) return { tokens: [...tokens, { text, start, end: line.length, quoted }], unterminated: start };
      } else text += line[i++];
    }
    tokens.push({ text, start, end: i, quoted });
  }
  return { tokens, unterminated: null };
}

/** Offset of the first `|` outside quotes, or -1. */
export function pipeIndex(line: string): number {
  let inq = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inq && c === '\\') i++;
    else if (c === '"') inq = !inq;
    else if (c === '|' && !inq) return i;
  }
  return -1;
}

const PIPES: { kw: PipeKind; help: string }[] = [
  { kw: 'begin', help: 'Begin with the line that matches' },
  { kw: 'count', help: 'Count the lines that match' },
  { kw: 'exclude', help: 'Exclude lines that match' },
  { kw: 'include', help: 'Include lines that match' },
  { kw: 'section', help: 'Show the sections (a line and the indented lines under it) that match' },
];

/** Why RE2 refused a pattern, in words (its messages quote the pattern back, which is enough). */
function reason(e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  if (/invalid or unsupported Perl syntax|invalid escape/i.test(msg)) return `${msg} (backreferences and lookaround are not supported)`;
  return msg;
}

function parsePipe(line: string, at: number): Pipe | ParseError {
  const rest = line.slice(at + 1);
  const m = /^(\s*)(\S*)(\s*)(.*)$/s.exec(rest)!;
  const kwStart = at + 1 + m[1].length;
  if (!m[2]) return { ok: false, kind: 'incomplete', caret: null, lines: [INCOMPLETE] };
  const hits = PIPES.filter((p) => p.kw.startsWith(m[2].toLowerCase()));
  if (hits.length !== 1) return { ok: false, kind: 'invalid', caret: kwStart, lines: [INVALID] };
  const src = m[4].trim();
  if (!src) return { ok: false, kind: 'incomplete', caret: null, lines: [INCOMPLETE] };
  const caret = kwStart + m[2].length + m[3].length;
  if (src.length > MAX_PATTERN) return { ok: false, kind: 'invalid', caret, lines: [INVALID, `% Bad regular expression: longer than ${MAX_PATTERN} characters`] };
  try {
    // RE2 semantics (no backreferences or lookaround) in linear time: a user's pattern runs on
    // the management plane's thread and must never be able to stall it.
    const re = RE2JS.compile(src);
    return { kind: hits[0].kw, regex: { test: (line: string) => re.test(line) } };
  } catch (e) {
    return { ok: false, kind: 'invalid', caret, lines: [INVALID, `% Bad regular expression: ${reason(e)}`] };
  }
}

/** Applies `| include|exclude|begin|section|count REGEX` to command output. */
export function applyPipe(output: string, pipe: Pipe | null): string {
  if (!pipe) return output;
  const lines = output === '' ? [] : output.replace(/\n$/, '').split('\n');
  if (pipe.kind === 'count') return `Number of lines which match regexp = ${lines.filter((l) => pipe.regex.test(l)).length}\n`;
  let out: string[];
  if (pipe.kind === 'section') {
    // A section is a line that is not indented and the indented lines that follow it (IOS).
    out = [];
    for (let i = 0; i < lines.length; i++) {
      if (/^\s/.test(lines[i])) continue;
      let j = i + 1;
      while (j < lines.length && /^\s/.test(lines[j])) j++;
      const block = lines.slice(i, j);
      if (block.some((l) => pipe.regex.test(l))) out.push(...block);
      i = j - 1;
    }
  } else if (pipe.kind === 'include') out = lines.filter((l) => pipe.regex.test(l));
  else if (pipe.kind === 'exclude') out = lines.filter((l) => !pipe.regex.test(l));
  else {
    const i = lines.findIndex((l) => pipe.regex.test(l));
    out = i < 0 ? [] : lines.slice(i);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

function offered<H>(nodes: Node<H>[], negate: boolean): Node<H>[] {
  return negate ? nodes.filter(hasNo) : nodes;
}

type Step<H> = { node: Node<H>; value?: string } | { error: ParseError };

/** Matches one word against the next possible nodes: exact keyword, unique keyword prefix, then arguments. */
function matchWord<H>(nodes: Node<H>[], tok: Token, line: string): Step<H> {
  const w = tok.text.toLowerCase();
  if (!tok.quoted && w !== '') {
    const exact = nodes.find((n) => n.kw !== undefined && n.kw.toLowerCase() === w);
    if (exact) return { node: exact };
    const pre = nodes.filter((n) => n.kw !== undefined && n.kw.toLowerCase().startsWith(w));
    if (pre.length === 1) return { node: pre[0] };
    const preferred = pre.filter((n) => n.preferred);
    if (preferred.length === 1) return { node: preferred[0] };
    if (pre.length > 1) return { error: { ok: false, kind: 'ambiguous', caret: null, lines: [`% Ambiguous command: "${line.slice(0, tok.end).trim()}"`] } };
  }
  let firstErr: ParseError | null = null;
  for (const n of nodes) {
    if (!n.arg) continue;
    const r = n.arg.type.parse(tok.text);
    if ('value' in r) return { node: n, value: r.value };
    firstErr ??= { ok: false, kind: 'invalid', caret: tok.start, lines: [INVALID, `% Invalid ${n.arg.name} (${n.arg.type.rule}): ${r.error}`] };
  }
  return { error: firstErr ?? { ok: false, kind: 'invalid', caret: tok.start, lines: [INVALID] } };
}

interface Walked<H> {
  ok: true;
  path: Node<H>[];
  args: Args;
  negate: boolean;
  /** The nodes that may follow. */
  next: Node<H>[];
  /** Offsets of secret arguments, for redaction. */
  secrets: [number, number][];
  /** A rest-of-line argument took the remaining words. */
  restTaken: boolean;
}

/** Walks the words through the tree. */
function descend<H>(roots: Node<H>[], tokens: Token[], line: string): Walked<H> | ParseError {
  let next = roots;
  const path: Node<H>[] = [];
  const args: Args = {};
  const secrets: [number, number][] = [];
  let negate = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const cands = offered(next, negate);
    if (cands.length === 0) return { ok: false, kind: 'invalid', caret: tok.start, lines: [INVALID] };
    const restNode = cands.find((n) => n.arg?.type.rest);
    const step = matchWord(cands, tok, line);
    if ('error' in step) {
      if (restNode && step.error.kind !== 'ambiguous') {
        // fall through to the rest-of-line argument below
      } else return step.error;
    }
    const node = 'node' in step ? step.node : restNode!;
    if (node.arg?.type.rest) {
      const raw = tokens.length - i === 1 ? tok.text : line.slice(tok.start, tokens[tokens.length - 1].end);
      const r = node.arg.type.parse(raw);
      if ('error' in r) return { ok: false, kind: 'invalid', caret: tok.start, lines: [INVALID, `% Invalid ${node.arg.name} (${node.arg.type.rule}): ${r.error}`] };
      args[node.arg.name] = r.value;
      if (node.arg.type.secret) secrets.push([tok.start, tokens[tokens.length - 1].end]);
      path.push(node);
      return { ok: true, path, args, negate, next: [], secrets, restTaken: true };
    }
    if (i === 0 && node.kw === 'no' && !node.run) negate = true;
    if (node.arg) {
      args[node.arg.name] = (step as { value: string }).value;
      if (node.arg.type.secret) secrets.push([tok.start, tok.end]);
    }
    path.push(node);
    next = node.children ?? [];
  }
  return { ok: true, path, args, negate, next, secrets, restTaken: false };
}

function redact(line: string, secrets: [number, number][]): string {
  let out = line;
  for (const [s, e] of [...secrets].sort((a, b) => b[0] - a[0])) out = out.slice(0, s) + '<redacted>' + out.slice(e);
  return out.trim();
}

/** Parses one command line against the nodes of the current mode. Never throws. */
export function parse<H>(roots: Node<H>[], line: string): Parsed<H> | ParseError {
  if (line.length > MAX_LINE) return { ok: false, kind: 'invalid', caret: null, lines: [INVALID, `% Line too long: a command is at most ${MAX_LINE} characters`] };
  try {
    const p = pipeIndex(line);
    const cmd = p < 0 ? line : line.slice(0, p);
    const { tokens, unterminated } = tokenize(cmd);
    if (unterminated !== null) return { ok: false, kind: 'invalid', caret: unterminated, lines: [INVALID, '% Unterminated quoted string'] };
    if (tokens.length === 0) return { ok: false, kind: 'empty', caret: null, lines: p < 0 ? [] : [INVALID] };
    const w = descend(roots, tokens, cmd);
    if (!w.ok) return w;
    const last = w.path[w.path.length - 1];
    const handler = w.negate ? last.no : last.run;
    if (handler === undefined) return { ok: false, kind: 'incomplete', caret: null, lines: [INCOMPLETE] };
    let pipe: Pipe | null = null;
    if (p >= 0) {
      const r = parsePipe(line, p);
      if ('ok' in r) return r;
      pipe = r;
    }
    return {
      ok: true,
      handler,
      node: last,
      path: w.path,
      args: w.args,
      negate: w.negate,
      pipe,
      redacted: redact(cmd, w.secrets) + (p >= 0 ? ' ' + line.slice(p).trim() : ''),
      changes: w.path.some((n) => n.changes),
    };
  } catch (e) {
    // A bug in an argument type must not take the session down.
    return { ok: false, kind: 'invalid', caret: null, lines: [INVALID, `% internal parser error: ${(e as Error).message}`] };
  }
}

function label<H>(n: Node<H>): string {
  return n.kw ?? n.arg!.type.placeholder;
}

function columns(rows: [string, string][]): string[] {
  if (rows.length === 0) return [INCOMPLETE];
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`.trimEnd());
}

/**
 * `?` help for a line (without the `?`): after a space, the possible next words with their help
 * (and `<cr>` when the command may end there); right after a word, the words it could complete to.
 */
export function help<H>(roots: Node<H>[], line: string): string[] {
  try {
    const p = pipeIndex(line);
    if (p >= 0) {
      const c = tokenize(line.slice(0, p));
      const w = descend(roots, c.tokens, line);
      if (!w.ok) return w.caret !== null ? [`${' '.repeat(w.caret)}^`, ...w.lines] : w.lines;
      const rest = line.slice(p + 1);
      const m = /^(\s*)(\S*)(\s*)(.*)$/s.exec(rest)!;
      const hits = PIPES.filter((x) => x.kw.startsWith(m[2].toLowerCase()));
      if (!hits.length) return [`${' '.repeat(p + 1 + m[1].length)}^`, INVALID];
      if (!m[2] || (!m[3] && !m[4])) return m[2] ? [hits.map((x) => x.kw).join('  ')] : columns(hits.map((x) => [x.kw, x.help]));
      return columns([['LINE', 'Regular expression']]);
    }
    const { tokens, unterminated } = tokenize(line);
    if (unterminated !== null) return columns([['LINE', 'Text (end it with ")']]);
    const partial = line.length > 0 && !/\s$/.test(line) && tokens.length > 0;
    const done = partial ? tokens.slice(0, -1) : tokens;
    const w = descend(roots, done, line);
    if (!w.ok) return w.caret !== null ? [`${' '.repeat(w.caret)}^`, ...w.lines] : w.lines;
    if (w.restTaken) return columns([['LINE', 'Text'], ['<cr>', '']]);
    const cands = offered(w.next, w.negate);
    const last = w.path[w.path.length - 1];
    if (partial) {
      const word = tokens[tokens.length - 1];
      const lw = word.text.toLowerCase();
      const hits: string[] = [];
      for (const n of cands) {
        if (n.hidden) continue;
        if (n.kw !== undefined && n.kw.toLowerCase().startsWith(lw)) hits.push(n.kw);
        else if (n.arg) {
          const vals = (n.arg.type.values?.() ?? []).filter((v) => v.toLowerCase().startsWith(lw));
          if (vals.length) hits.push(...vals);
          else if ('value' in n.arg.type.parse(word.text) || n.arg.type.rest) hits.push(n.arg.type.placeholder);
        }
      }
      return hits.length ? [[...new Set(hits)].sort((a, b) => a.localeCompare(b)).join('  ')] : [`${' '.repeat(word.start)}^`, INVALID];
    }
    const rows: [string, string][] = cands.filter((n) => !n.hidden).map((n) => [label(n), n.help]);
    rows.sort((a, b) => (a[0].startsWith('<') || /^[A-Z]/.test(a[0]) ? -1 : 0) - (b[0].startsWith('<') || /^[A-Z]/.test(b[0]) ? -1 : 0) || a[0].localeCompare(b[0]));
    const ends = last && (w.negate ? last.no : last.run) !== undefined;
    if (ends) rows.push(['<cr>', '']);
    if (ends && !w.negate && w.path.some((n) => n.kw === 'show')) rows.push(['|', 'Output modifiers']);
    if (rows.length === 0) return [INCOMPLETE];
    return columns(rows);
  } catch (e) {
    return [`% internal help error: ${(e as Error).message}`];
  }
}

/**
 * TAB completion: the words the last (partial) word could become, and that word. A pure function
 * for readline's completer.
 */
export function complete<H>(roots: Node<H>[], line: string): { words: string[]; partial: string } {
  try {
    if (pipeIndex(line) >= 0) {
      const m = /\|\s*(\S*)$/.exec(line);
      if (!m) return { words: [], partial: '' };
      return { words: PIPES.filter((x) => x.kw.startsWith(m[1].toLowerCase())).map((x) => x.kw), partial: m[1] };
    }
    const { tokens, unterminated } = tokenize(line);
    if (unterminated !== null) return { words: [], partial: '' };
    const partial = line.length > 0 && !/\s$/.test(line) && tokens.length > 0 ? tokens[tokens.length - 1].text : '';
    const done = partial ? tokens.slice(0, -1) : tokens;
    const w = descend(roots, done, line);
    if (!w.ok || w.restTaken) return { words: [], partial };
    const lw = partial.toLowerCase();
    const words = new Set<string>();
    for (const n of offered(w.next, w.negate)) {
      if (n.hidden) continue;
      if (n.kw !== undefined && n.kw.toLowerCase().startsWith(lw)) words.add(n.kw);
      for (const v of n.arg?.type.values?.() ?? []) if (v.toLowerCase().startsWith(lw)) words.add(v);
    }
    return { words: [...words].sort(), partial };
  } catch {
    return { words: [], partial: '' };
  }
}
