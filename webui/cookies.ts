/**
 * System Manager's two cookies (the session, and the sign-in form's pre-session token), read and
 * written with the `cookie` library itself. @fastify/cookie did the same through an onRequest and
 * an onSend hook on every answer, health probes and style sheets included; these are called only
 * where a cookie is read or set.
 */
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Every System Manager cookie: only over HTTPS, never to scripts, never cross-site. */
const ATTRIBUTES = { secure: true, httpOnly: true, sameSite: 'strict' } as const;

/** The value of the request's cookie `name`, or undefined. */
export function cookieOf(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  return header ? parseCookie(header)[name] : undefined;
}

/** Sets cookie `name` for `path`, for `maxAge` seconds or the browser session. */
export function setCookie(reply: FastifyReply, name: string, value: string, path: string, maxAge?: number): void {
  reply.header('set-cookie', stringifySetCookie({ name, value, path, ...ATTRIBUTES, ...(maxAge === undefined ? {} : { maxAge }) }));
}

/** Tells the browser to forget cookie `name` of `path` (same attributes, expired). */
export function clearCookie(reply: FastifyReply, name: string, path: string): void {
  reply.header('set-cookie', stringifySetCookie({ name, value: '', path, ...ATTRIBUTES, expires: new Date(0), maxAge: 0 }));
}
