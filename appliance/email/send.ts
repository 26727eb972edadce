import type { EmailConfig } from './schema.ts';
import { OperationalError } from '../errors.ts';
import { log } from '../log.ts';

export interface SentMail {
  messageId: string;
  /** The server's final answer, e.g. `250 OK: queued`. */
  response: string;
}

/** nodemailer transport options for the settings: the protocol decides TLS, never a guess. */
export function transportOptions(e: EmailConfig, timeoutMs = 15_000) {
  return {
    host: e.server,
    port: e.port,
    secure: e.protocol === 'smtps',
    requireTLS: e.protocol === 'starttls',
    // Plain SMTP means plain: no opportunistic STARTTLS that would fail on a bad certificate.
    ignoreTLS: e.protocol === 'smtp',
    auth: e.auth ? { user: e.username ?? '', pass: e.password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    tls: { minVersion: 'TLSv1.2' as const },
  };
}

/** Sending failed: says where to and why, in the server's or the TLS stack's words. */
export class SmtpError extends OperationalError {
  constructor(e: EmailConfig, code: number | null, reason: string) {
    super('e-mail not sent', `smtp ${e.protocol}://${e.server}:${e.port}`, code, reason);
    this.name = 'SmtpError';
    this.message = `e-mail not sent via ${e.server}:${e.port} (${e.protocol}): ${reason.trim().split('\n').slice(-3).join(' | ')}`;
  }
}

/**
 * Sends one message with these settings (the Test button, alerts). Throws OperationalError with
 * the server's or the network's answer, so the administrator sees why it failed.
 */
export async function sendMail(e: EmailConfig, msg: { to: string; subject: string; text: string }): Promise<SentMail> {
  // Loaded here, when a mail is sent: System Manager's other requests never need it (issue 15).
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport(transportOptions(e));
  try {
    const info = await transport.sendMail({ from: e.from, to: msg.to, subject: msg.subject, text: msg.text });
    log.info('e-mail sent', { server: e.server, port: e.port, protocol: e.protocol, messageId: info.messageId });
    return { messageId: String(info.messageId), response: String(info.response ?? '') };
  } catch (err) {
    const x = err as Error & { code?: string; responseCode?: number; response?: string };
    log.warn('e-mail not sent', { server: e.server, port: e.port, protocol: e.protocol, error: x.message });
    throw new SmtpError(e, x.responseCode ?? null, x.response ?? `${x.code ? `${x.code}: ` : ''}${x.message}`);
  } finally {
    transport.close();
  }
}
