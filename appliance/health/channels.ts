import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import type { EmailConfig } from '../email/schema.ts';
import type { HealthEmail, HealthSyslog } from './schema.ts';
import type { Severity } from './types.ts';

/** One thing to tell an administrator: an alert raised, changed or cleared, or a SEL event. */
export interface Notification {
  kind: 'raised' | 'changed' | 'cleared' | 'event';
  key: string;
  subject: string;
  severity: Severity;
  /** For `cleared`: the severity the alert had. */
  previous: Severity | null;
  message: string;
  at: number;
}

/** An alert channel: e-mail or syslog. `test()` sends one test message (the Test button). */
export interface Channel {
  name: 'email' | 'syslog';
  subscription: 'all' | 'critical';
  send(batch: Notification[], context: { hostname: string; panel: string[] }): Promise<void>;
  test(hostname: string): Promise<void>;
}

/** What a subscription lets through: "critical only" gets critical alerts and their clearing. */
export function wanted(sub: 'all' | 'critical', n: Notification): boolean {
  if (sub === 'all') return true;
  return n.kind === 'cleared' ? n.previous === 'critical' : n.severity === 'critical';
}

function line(n: Notification): string {
  const what = n.kind === 'cleared' ? `CLEARED (was ${n.previous})` : n.kind === 'event' ? `EVENT ${n.severity.toUpperCase()}` : n.severity.toUpperCase();
  return `${new Date(n.at).toISOString()} ${what}: ${n.message}`;
}

/** E-mail through nodemailer with the appliance's SMTP settings (SMTP, SMTPS or STARTTLS). */
export function emailChannel(smtp: EmailConfig, cfg: HealthEmail, opts: { tlsRejectUnauthorized?: boolean; timeoutMs?: number } = {}): Channel {
  // nodemailer is loaded when a mail is sent, not by every process that builds a channel (issue 15).
  const transport = async () =>
    (await import('nodemailer')).default.createTransport({
      host: smtp.server,
      port: smtp.port,
      secure: smtp.protocol === 'smtps',
      requireTLS: smtp.protocol === 'starttls',
      ignoreTLS: smtp.protocol === 'smtp',
      auth: smtp.auth && smtp.username ? { user: smtp.username, pass: smtp.password ?? '' } : undefined,
      tls: { rejectUnauthorized: opts.tlsRejectUnauthorized ?? true },
      connectionTimeout: opts.timeoutMs ?? 15000,
      greetingTimeout: opts.timeoutMs ?? 15000,
      socketTimeout: opts.timeoutMs ?? 30000,
    });
  const mail = async (subject: string, text: string) => {
    const t = await transport();
    try {
      await t.sendMail({ from: smtp.from, to: cfg.to.join(', '), subject, text });
    } finally {
      t.close();
    }
  };
  return {
    name: 'email',
    subscription: cfg.subscription,
    async send(batch, ctx) {
      if (!batch.length) return;
      const worst = batch.find((n) => n.severity === 'critical' && n.kind !== 'cleared') ?? batch.find((n) => n.kind !== 'cleared') ?? batch[0];
      const head = worst.kind === 'cleared' ? `cleared: ${worst.subject}` : `${worst.severity}: ${worst.message}`;
      const more = batch.length > 1 ? ` (+${batch.length - 1} more)` : '';
      const body = [`Health alerts from ${ctx.hostname}:`, '', ...batch.map(line), '', ...(ctx.panel.length ? ['Front panel:', ...ctx.panel.map((p) => `  ${p}`), ''] : []), '-- Keel health monitor'].join('\n');
      await mail(`[${ctx.hostname}] ${head}${more}`, body);
    },
    async test(hostname) {
      await mail(`[${hostname}] Keel health alert test`, `This is a test message from the health monitor of ${hostname}.\nAlerts will arrive like this one (${cfg.subscription === 'all' ? 'all alerts' : 'critical alerts only'}).\n`);
    },
  };
}

const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, warning: 4, ok: 5, unknown: 6 };

/** One RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`. */
export function rfc5424(n: Notification, o: { hostname: string; facility: number; app?: string }): string {
  const sev = n.kind === 'cleared' ? 5 : SYSLOG_SEVERITY[n.severity];
  const sd = (v: string) => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
  const msgid = n.kind === 'event' ? 'EVENT' : n.kind === 'cleared' ? 'CLEAR' : 'ALERT';
  const host = (o.hostname || '-').replace(/[^\x21-\x7e]/g, '').slice(0, 255);
  return `<${o.facility * 8 + sev}>1 ${new Date(n.at).toISOString()} ${host} ${o.app ?? 'keel-health'} ${process.pid} ${msgid} [keel@32473 key="${sd(n.key)}" severity="${n.severity}" kind="${n.kind}"] ${n.message}`;
}

/** Syslog over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425). */
export function syslogChannel(cfg: HealthSyslog, opts: { ca?: string | Buffer; tlsRejectUnauthorized?: boolean; timeoutMs?: number } = {}): Channel {
  const facility = cfg.facility ?? 16;
  const deliver = async (msgs: string[]) => {
    if (cfg.transport === 'udp') {
      const sock = dgram.createSocket(net.isIPv6(cfg.server) ? 'udp6' : 'udp4');
      try {
        for (const m of msgs) await new Promise<void>((res, rej) => sock.send(Buffer.from(m), cfg.port, cfg.server, (e) => (e ? rej(e) : res())));
      } finally {
        sock.close();
      }
      return;
    }
    const framed = Buffer.concat(msgs.map((m) => {
      const b = Buffer.from(m);
      return Buffer.concat([Buffer.from(`${b.length} `), b]);
    }));
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => sock.end(framed, () => resolve());
      const sock: net.Socket =
        cfg.transport === 'tls'
          ? tls.connect({ host: cfg.server, port: cfg.port, servername: net.isIP(cfg.server) ? undefined : cfg.server, ca: opts.ca, rejectUnauthorized: opts.tlsRejectUnauthorized ?? true }, onConnect)
          : net.connect({ host: cfg.server, port: cfg.port }, onConnect);
      sock.setTimeout(opts.timeoutMs ?? 15000, () => sock.destroy(new Error(`syslog server ${cfg.server}:${cfg.port} did not answer`)));
      sock.on('error', reject);
    });
  };
  return {
    name: 'syslog',
    subscription: cfg.subscription,
    async send(batch, ctx) {
      if (batch.length) await deliver(batch.map((n) => rfc5424(n, { hostname: ctx.hostname, facility })));
    },
    async test(hostname) {
      await deliver([rfc5424({ kind: 'event', key: 'test', subject: 'test', severity: 'ok', previous: null, message: `Keel health alert test from ${hostname}`, at: Date.now() }, { hostname, facility })]);
    },
  };
}
