/** The part of autocannon's API the bench uses (the package ships no types; no @types dependency added). */
declare module 'autocannon' {
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    /** Stop after this many requests (instead of after `duration`). */
    amount?: number;
    headers?: Record<string, string>;
    /** Requests sent in turn on each connection. */
    requests?: { method?: string; path?: string }[];
  }
  interface Result {
    requests: { average: number; total: number };
    latency: { p99: number; average: number };
    non2xx: number;
    errors: number;
  }
  /** The running instance: a promise of the result that also emits `response` for each answer. */
  interface Instance extends Promise<Result> {
    on(event: 'response', listener: (client: unknown, statusCode: number) => void): this;
  }
  function autocannon(opts: Options): Instance;
  export default autocannon;
}
