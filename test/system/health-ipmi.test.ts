import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';
import { createHost } from '../../appliance/host/index.ts';
import { parseBmcUrl } from '../../appliance/host/ipmi.ts';
import { HealthMonitor } from '../../appliance/health/monitor.ts';
import { emailChannel, syslogChannel } from '../../appliance/health/channels.ts';
import { collectHealth } from '../../appliance/health/snapshot.ts';
import { renderMetrics } from '../../appliance/health/metrics.ts';
import { panelLine } from '../../appliance/health/leds.ts';
import { startSim } from '../fixtures/health/ipmisim.ts';
import { makeCert } from '../helpers/pki.ts';
import { sampleConfig } from '../helpers/config.ts';
import { check } from '../../appliance/config/schema.ts';
import { DMI, makeMachine } from '../fixtures/health/sysfs.ts';

/** A real SMTP server on loopback that keeps what it receives. */
async function smtp(t: TestContext) {
  const mails: { to: string[]; data: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (d) => (data += d));
      stream.on('end', () => {
        // Undo quoted-printable soft line breaks so the text reads as sent.
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), data: data.replace(/=\r\n/g, '') });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.onTestFinished(() => { new Promise<void>((r) => server.close(() => r())); });
  return { port: (server.server.address() as net.AddressInfo).port, mails };
}

async function waitFor<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('ipmi_sim: faults injected at run time give health state, front-panel wording and an alert e-mail; clearing clears', async (t) => {
  const sim = await startSim();
  t.onTestFinished(() => { sim.stop(); });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-health-sys-'));
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  // An M2250 as DMI describes it; processes really run (ipmitool), files stay in the temp root.
  const { sysfs, procfs } = makeMachine(root, { dmi: DMI.m2250, nics: [{ driver: 'igb' }, { driver: 'igb' }], memGB: 32, cpus: 8 });
  const host = { ...createHost('/', { sysfs }), root };
  const mail = await smtp(t);
  const db = new Database(':memory:');
  t.onTestFinished(() => { db.close(); });
  const smtpCfg = { from: 'keel@example.com', server: '127.0.0.1', port: mail.port, protocol: 'smtp' as const, auth: false };
  const monitor = new HealthMonitor({
    host,
    db,
    hostname: 'core.example.com',
    bmc: parseBmcUrl(sim.url),
    procfs,
    smart: false,
    nics: [],
    channels: [emailChannel(smtpCfg, { enabled: true, subscription: 'all', to: ['ops@example.com'] })],
  });

  const first = await monitor.cycle();
  const s = first.snapshot;
  assert.equal(s.platform.id, 'M2250');
  assert.deepEqual(s.errors, []);
  assert.equal(s.ipmi!.sensors.length, 10);
  assert.deepEqual(s.ipmi!.sensors.filter((x) => x.severity !== 'ok').map((x) => x.name), []);
  assert.equal(panelLine(s.frontPanel[0]), 'Informational LED: off - No fault indicated');
  assert.equal(first.notifications.filter((n) => n.key.startsWith('ipmi.')).length, 0);

  // Fan 1 stops (3 x 60 = 180 RPM, below the 600 RPM critical threshold); PSU 1 fails.
  await sim.setValue(4, 3);
  await sim.setBit(8, 1, 1);
  const second = await monitor.cycle();
  const sev = new Map(second.snapshot.findings.map((f) => [f.key, f.severity]));
  assert.equal(sev.get('ipmi.sensor.FAN1'), 'critical');
  assert.equal(sev.get('ipmi.sensor.PS1 Status'), 'critical');
  assert.equal(sev.get('ipmi.sensor.PS2 Status'), 'ok');
  assert.equal(panelLine(second.snapshot.frontPanel[0]), 'Informational LED: blinking 1 Hz red - A fan failure has occurred. Check for an inoperative fan.');
  assert.deepEqual(second.notifications.filter((n) => n.kind === 'raised').map((n) => n.key).sort(), ['ipmi.sensor.FAN1', 'ipmi.sensor.PS1 Status']);
  // The SEL has the new events; the ones that matter are told once.
  const events = second.notifications.filter((n) => n.kind === 'event');
  assert.ok(events.some((e) => /Fan FAN1: Lower Critical going low/.test(e.message)), JSON.stringify(events));
  const m = await waitFor(() => mail.mails.find((x) => /FAN1/.test(x.data)));
  assert.deepEqual(m.to, ['ops@example.com']);
  assert.match(m.data, /Subject: \[core\.example\.com\] critical: /);
  assert.match(m.data, /Informational LED: blinking 1 Hz red - A fan failure has occurred/);

  // Nothing changes: no new alerts, no new mail (dedupe).
  const mailsBefore = mail.mails.length;
  const third = await monitor.cycle();
  assert.deepEqual(third.notifications, []);
  assert.equal(mail.mails.length, mailsBefore);

  // CPU overheats: overheat outranks the fan on the M22x0 LED. The IPMI-only cycle sees it.
  await sim.setValue(1, 95);
  const hot = await monitor.ipmiCycle();
  assert.ok(hot.some((n) => n.key === 'ipmi.sensor.CPU Temp' && n.severity === 'critical'));
  const fourth = await monitor.cycle();
  assert.equal(fourth.snapshot.frontPanel[0].meaning, 'An overheat condition has occurred. This may be caused by cable congestion.');

  // Repairs: fan back, PSU back, CPU cool: the alerts clear themselves and say so.
  await sim.setValue(4, 80);
  await sim.setBit(8, 1, 0);
  await sim.setValue(1, 45);
  const fifth = await monitor.cycle();
  assert.deepEqual(fifth.notifications.filter((n) => n.kind === 'cleared').map((n) => n.key).sort(), ['ipmi.sensor.CPU Temp', 'ipmi.sensor.FAN1', 'ipmi.sensor.PS1 Status']);
  assert.deepEqual(monitor.store.alerts().filter((a) => a.key.startsWith('ipmi.')), []);
  await waitFor(() => mail.mails.find((x) => /CLEARED/.test(x.data)));
  assert.ok(monitor.store.history(100).some((h) => h.key === 'ipmi.sensor.FAN1' && h.severity === 'critical'));

  // The metrics page speaks IPMI exporter names.
  const text = renderMetrics(fifth.snapshot);
  assert.match(text, /^ipmi_fan_speed_rpm\{id="04h",name="FAN1"\} 4800$/m);
  assert.match(text, /^ipmi_temperature_celsius\{id="01h",name="CPU Temp"\} 45$/m);
  assert.match(text, /^ipmi_sensor_state\{id="04h",name="FAN1",type="fan"\} 0$/m);

  // Locate: ipmi_sim has no chassis identify; the error says so instead of pretending.
  await assert.rejects(monitor.setLocate(true), /does not support chassis identify/);
});

test('one snapshot against ipmi_sim as `keel health --json` would print it', async (t) => {
  const sim = await startSim();
  t.onTestFinished(() => { sim.stop(); });
  const snap = await collectHealth(createHost('/'), { bmc: parseBmcUrl(sim.url), smart: false, nics: [], nicSampleMs: 10 });
  const json = JSON.parse(JSON.stringify(snap));
  assert.deepEqual(json.ipmi.sensors.map((s: { name: string }) => s.name), ['CPU Temp', 'System Temp', 'Peripheral Temp', 'FAN1', 'FAN2', 'FAN3', '12V', 'PS1 Status', 'PS2 Status', 'Chassis Intru']);
  assert.equal(json.ipmi.sensors.find((s: { name: string }) => s.name === '12V').value, 12);
  await sim.setBit(10, 0, 1);
  const again = await collectHealth(createHost('/'), { bmc: parseBmcUrl(sim.url), smart: false, nics: [], nicSampleMs: 10 });
  assert.equal(again.findings.find((f) => f.key === 'ipmi.sensor.Chassis Intru')?.severity, 'warning');
});

test('syslog channel: RFC 5424 over UDP and TCP to loopback listeners; Test sends one', async (t) => {
  const udp = dgram.createSocket('udp4');
  const got: string[] = [];
  udp.on('message', (m) => got.push(m.toString()));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.onTestFinished(() => { udp.close(); });
  const ch = syslogChannel({ enabled: true, subscription: 'critical', server: '127.0.0.1', port: udp.address().port, transport: 'udp' });
  await ch.send([{ kind: 'raised', key: 'ipmi.sensor.FAN1', subject: 'FAN1', severity: 'critical', previous: 'ok', message: 'FAN1: 180 RPM', at: Date.parse('2026-11-23T12:00:00Z') }], { hostname: 'core.example.com', panel: [] });
  await waitFor(() => got[0]);
  assert.match(got[0], /^<130>1 2026-11-23T12:00:00\.000Z core\.example\.com keel-health \d+ ALERT \[keel@32473 key="ipmi\.sensor\.FAN1" severity="critical" kind="raised"\] FAN1: 180 RPM$/);

  const tcpGot: Buffer[] = [];
  const srv = net.createServer((s) => s.on('data', (d) => tcpGot.push(d)));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.onTestFinished(() => { new Promise<void>((r) => srv.close(() => r())); });
  const tcp = syslogChannel({ enabled: true, subscription: 'all', server: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, transport: 'tcp' });
  await tcp.test('core.example.com');
  const framed = (await waitFor(() => (tcpGot.length ? Buffer.concat(tcpGot).toString() : undefined))).toString();
  const m = /^(\d+) (.*)$/s.exec(framed)!;
  assert.equal(Number(m[1]), Buffer.byteLength(m[2]));
  assert.match(m[2], /^<133>1 .* EVENT .*Keel health alert test from core\.example\.com$/);
});

test('syslog channel over TLS (RFC 5425): the configured CA is trusted, another CA and a wrong name are refused', async (t) => {
  const ca = makeCert({ cn: 'Syslog Test CA', ca: true });
  const server = makeCert({ cn: 'syslog.example.com', issuer: ca, ip: ['127.0.0.1'], eku: ['serverAuth'] });
  const got: Buffer[] = [];
  const srv = tls.createServer({ key: server.keyPem, cert: server.certPem }, (s) => s.on('data', (d) => got.push(d)));
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.onTestFinished(() => { new Promise<void>((r) => srv.close(() => r())); });
  const port = (srv.address() as net.AddressInfo).port;
  const cfg = { enabled: true, subscription: 'all' as const, server: '127.0.0.1', port, transport: 'tls' as const, caCertificate: ca.certPem };
  assert.deepEqual(check({ ...sampleConfig(), health: { syslog: { ...cfg, server: 'syslog.example.com' } } }), [], 'the configuration takes the CA');
  await syslogChannel(cfg, { ca: cfg.caCertificate }).send([{ kind: 'raised', key: 'raid.md127', subject: 'md127', severity: 'critical', previous: 'ok', message: 'md127: degraded', at: Date.parse('2026-11-23T12:00:00Z') }], { hostname: 'core.example.com', panel: [] });
  const framed = (await waitFor(() => (got.length ? Buffer.concat(got).toString() : undefined))).toString();
  const m = /^(\d+) (.*)$/s.exec(framed)!;
  assert.equal(Number(m[1]), Buffer.byteLength(m[2]), 'octet counting');
  assert.match(m[2], /^<130>1 2026-11-23T12:00:00\.000Z core\.example\.com keel-health \d+ ALERT .*md127: degraded$/);
  // Without the CA (public CAs only) and with the wrong name the TLS handshake fails: nothing is sent.
  await assert.rejects(syslogChannel({ ...cfg, caCertificate: undefined }).test('core.example.com'), /self-signed|unable to verify|certificate/i);
  const other = makeCert({ cn: 'Other CA', ca: true });
  await assert.rejects(syslogChannel(cfg, { ca: other.certPem }).test('core.example.com'), /unable to verify|certificate/i);
  await assert.rejects(syslogChannel({ ...cfg, server: 'localhost' }, { ca: ca.certPem }).test('core.example.com'), /altnames|Hostname/i);
  assert.deepEqual(check({ ...sampleConfig(), health: { syslog: { ...cfg, server: '127.0.0.1' } } }).map((p) => [p.field, p.rule]), [['/health/syslog/server', 'server-address']]);
  assert.deepEqual(check({ ...sampleConfig(), health: { syslog: { ...cfg, server: 'bad_name.example.com' } } }).map((p) => [p.field, p.rule]), [['/health/syslog/server', 'server-address']]);
  assert.equal(Buffer.concat(got).toString(), framed, 'nothing more arrived');
  // The schema names the field and the rule.
  assert.deepEqual(check({ ...sampleConfig(), health: { syslog: { ...cfg, server: 'syslog.example.com', caCertificate: 'not a certificate' } } }).map((p) => [p.field, p.rule]), [['/health/syslog/caCertificate', 'pem-certificate']]);
  assert.deepEqual(check({ ...sampleConfig(), health: { syslog: { ...cfg, server: 'syslog.example.com', transport: 'tcp' } } }).map((p) => [p.field, p.rule]), [['/health/syslog/caCertificate', 'tls-only']]);
});
