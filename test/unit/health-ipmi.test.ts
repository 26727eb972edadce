import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chassisFindings, mergeThresholds, parseChassisStatus, parseFru, parseSdrElist, parseSelElist, parseSensorList, selSeverity, sensorFindings, thresholdSeverity, IpmiProbe, type IpmiSensor } from '../../appliance/health/ipmi.ts';
import { frontPanel, panelLine } from '../../appliance/health/leds.ts';
import { parseBmcUrl, Ipmitool } from '../../appliance/host/ipmi.ts';
import type { Processes, RunOptions, RunResult } from '../../appliance/host/processes.ts';
import type { Finding } from '../../appliance/health/types.ts';

const FIX = path.join(import.meta.dirname, '../fixtures/health/ipmitool');
const read = (p: string) => fs.readFileSync(path.join(FIX, p), 'utf8');

test('sdr elist + sensor: values, units, entities, thresholds, categories', () => {
  const s = mergeThresholds(parseSdrElist(read('sdr-elist-ok.txt')), parseSensorList(read('sensor-ok.txt')));
  assert.deepEqual(s.map((x) => [x.name, x.category, x.value, x.unit, x.states]), [
    ['CPU Temp', 'temperature', 45, 'degrees C', null],
    ['FAN1', 'fan', 4800, 'RPM', null],
    ['PSU1 Status', 'power', null, null, 'Presence detected'],
  ]);
  assert.deepEqual(s[0].thresholds, { lnr: null, lcr: null, lnc: null, unc: 70, ucr: 85, unr: null });
  assert.equal(s[2].thresholds, null);
  assert.ok(sensorFindings(s).every((f) => f.severity === 'ok'));
});

test('faults from the simulator: overheat, fan below critical, PSU failure', () => {
  const s = mergeThresholds(parseSdrElist(read('sdr-elist-faults.txt')), parseSensorList(read('sensor-faults.txt')));
  const f = sensorFindings(s);
  assert.deepEqual(f.map((x) => x.severity), ['critical', 'critical', 'critical']);
  assert.match(f[0].message, /CPU Temp: 95 degrees C \(ucr; overheat/);
  assert.match(f[1].message, /FAN1: 180 RPM \(lcr; fan failure: check for an inoperative fan\)/);
  assert.match(f[2].message, /Failure detected/);
});

test('hysteresis: entering a state is immediate, leaving needs the margin', () => {
  const s: IpmiSensor = { name: 'CPU Temp', number: '01h', entity: '7.1', category: 'temperature', status: 'ok', value: 70, unit: 'degrees C', states: null, thresholds: { lnr: null, lcr: null, lnc: null, unc: 70, ucr: 85, unr: null } };
  assert.equal(thresholdSeverity(s, 'ok'), 'warning');
  assert.equal(thresholdSeverity({ ...s, value: 69 }, 'warning'), 'warning'); // within 2.1 C of 70
  assert.equal(thresholdSeverity({ ...s, value: 67.5 }, 'warning'), 'ok');
  assert.equal(thresholdSeverity({ ...s, value: 84 }, 'critical'), 'critical');
  assert.equal(thresholdSeverity({ ...s, value: 80 }, 'critical'), 'warning');
  assert.equal(thresholdSeverity({ ...s, value: 69 }, undefined), 'ok');
  const fan: IpmiSensor = { ...s, name: 'FAN1', category: 'fan', unit: 'RPM', value: 600, thresholds: { lnr: null, lcr: 600, lnc: null, unc: null, ucr: null, unr: null } };
  assert.equal(thresholdSeverity(fan, 'ok'), 'critical');
  assert.equal(thresholdSeverity({ ...fan, value: 660 }, 'critical'), 'critical');
  assert.equal(thresholdSeverity({ ...fan, value: 720 }, 'critical'), 'ok');
  // Flapping input around the threshold: one change in, one change out.
  let prev: 'ok' | 'warning' | 'critical' | 'unknown' = 'ok';
  const seen: string[] = [];
  for (const v of [69, 70, 69.5, 70.2, 69, 70, 68.5, 67]) {
    const next = thresholdSeverity({ ...s, value: v }, prev);
    if (next !== prev) seen.push(`${v}:${next}`);
    prev = next;
  }
  assert.deepEqual(seen, ['70:warning', '67:ok']);
});

test('one failed PSU of two is lost redundancy; both failed is not', () => {
  const psu = (n: number, states: string): IpmiSensor => ({ name: `PS${n} Status`, number: null, entity: `10.${n}`, category: 'power', status: 'ok', value: null, unit: null, states, thresholds: null });
  const one = sensorFindings([psu(1, 'Presence detected, Failure detected'), psu(2, 'Presence detected')]);
  assert.deepEqual(one.map((f) => [f.severity, !!f.redundancyLost]), [['critical', true], ['ok', false]]);
  const both = sensorFindings([psu(1, 'Presence detected, Failure detected'), psu(2, 'Presence detected, Power Supply AC lost')]);
  assert.deepEqual(both.map((f) => [f.severity, !!f.redundancyLost]), [['critical', false], ['critical', false]]);
});

test('SEL: parse, and only events that matter get a severity', () => {
  const e = parseSelElist(read('sel-elist.txt'));
  assert.deepEqual(e.map((x) => [x.id, x.sensorType, x.sensor, x.event]), [
    [1, 'Power Supply', 'PSU1 Status', 'Presence detected'],
    [2, 'Temperature', 'CPU Temp', 'Upper Non-critical going high'],
    [3, 'Temperature', 'CPU Temp', 'Upper Critical going high'],
    [4, 'Fan', 'FAN1', 'Lower Critical going low'],
    [5, 'Power Supply', 'PSU1 Status', 'Failure detected'],
  ]);
  assert.deepEqual(e.map(selSeverity), [null, 'warning', 'critical', 'critical', 'critical']);
  const dated = parseSelElist('  1a | 11/23/2026 | 12:00:01 | Memory #0x41 | Correctable ECC | Asserted\n  1b | 11/23/2026 | 12:00:09 | System Boot Initiated #0x01 | Initiated by power up | Asserted\n  1c | 11/23/2026 | 12:01:00 | Fan FAN1 | Lower Critical going low  | Deasserted');
  assert.deepEqual(dated.map((x) => [x.id, x.time, selSeverity(x)]), [[26, '11/23/2026 12:00:01', 'warning'], [27, '11/23/2026 12:00:09', null], [28, '11/23/2026 12:01:00', null]]);
});

test('chassis status and FRU', () => {
  const c = parseChassisStatus(read('chassis-status.txt'));
  assert.deepEqual([c.powerOn, c.intrusion, c.fanFault, c.mainPowerFault], [false, false, false, false]);
  assert.ok(chassisFindings(c).every((f) => f.severity === 'ok'));
  const bad = chassisFindings({ ...c, intrusion: true, fanFault: true });
  assert.deepEqual(bad.filter((f) => f.severity !== 'ok').map((f) => f.key), ['ipmi.chassis.intrusion', 'ipmi.chassis.fan-fault']);
  const fru = parseFru('FRU Device Description : Builtin FRU Device (ID 0)\n Board Mfg             : Intel Corporation\n Board Product         : S2600WT2R\n Product Manufacturer  : Ivanti\n Product Name          : Core M2600\n Product Part Number   : M2600-01\n');
  assert.equal(fru[0].fields['Product Name'], 'Core M2600');
});

const F = (category: Finding['category'], severity: Finding['severity'], redundancyLost = false): Finding => ({ key: `${category}.${severity}`, category, severity, subject: 'x', message: `${category} ${severity}`, redundancyLost });

test('front panel: M2200/M2250 informational LED', () => {
  const p = { frontPanel: 'm22x0-info' as const };
  assert.equal(panelLine(frontPanel(p, [F('temperature', 'critical'), F('fan', 'critical')])[0]), 'Informational LED: solid red - An overheat condition has occurred. This may be caused by cable congestion.');
  assert.equal(panelLine(frontPanel(p, [F('fan', 'critical', true)])[0]), 'Informational LED: blinking 1 Hz red - A fan failure has occurred. Check for an inoperative fan.');
  assert.equal(panelLine(frontPanel(p, [F('power', 'critical', true)])[0]), 'Informational LED: blinking 0.25 Hz red - A power failure has occurred. Check for a non-operational power supply.');
  assert.equal(frontPanel(p, [], { locate: 'remote' })[0].pattern, 'blinking 300 ms');
  assert.equal(frontPanel(p, [F('temperature', 'ok')])[0].color, 'off');
});

test('front panel: M2600 status LED', () => {
  const p = { frontPanel: 'm2600-status' as const };
  assert.equal(panelLine(frontPanel(p, [F('fan', 'ok')])[0]), 'System status LED: solid green - OK');
  assert.equal(panelLine(frontPanel(p, [F('power', 'critical', true)])[0]), 'System status LED: blinking green - Degraded - a redundant part has failed');
  assert.equal(panelLine(frontPanel(p, [F('disk', 'warning'), F('power', 'critical', true)])[0]), 'System status LED: blinking amber - Degraded - system will fail soon');
  assert.equal(panelLine(frontPanel(p, [F('temperature', 'critical')])[0]), 'System status LED: solid amber - System failure');
  assert.deepEqual(frontPanel({ frontPanel: null }, [F('temperature', 'critical')]), []);
});

/** Records commands; answers from a table (the IPMI adapter's argv and env are what we test). */
class Recorder implements Processes {
  readonly live = true;
  calls: { cmd: string; args: string[]; env?: Record<string, string> }[] = [];
  answers: Record<string, RunResult> = {};
  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ cmd, args, env: opts.env });
    const key = Object.keys(this.answers).find((k) => args.join(' ').endsWith(k));
    return key ? this.answers[key] : { code: 0, stdout: '', stderr: '' };
  }
}

test('BMC URL and ipmitool argv: password only in the environment, -C 3 for lanplus', async () => {
  const t = parseBmcUrl('lanplus://admin:s%40cret@127.0.0.1:9623');
  assert.deepEqual(t, { interface: 'lanplus', host: '127.0.0.1', port: 9623, user: 'admin', password: 's@cret' });
  assert.throws(() => parseBmcUrl('http://x'), /lanplus/);
  const rec = new Recorder();
  await new Ipmitool(rec, t).run(['sdr', 'elist']);
  assert.equal(rec.calls[0].cmd, 'ipmitool');
  assert.ok(!rec.calls[0].args.includes('s@cret'));
  assert.deepEqual(rec.calls[0].args.slice(0, 10), ['-I', 'lanplus', '-H', '127.0.0.1', '-p', '9623', '-C', '3', '-U', 'admin']);
  assert.ok(rec.calls[0].args.includes('-E'));
  assert.equal(rec.calls[0].env?.IPMI_PASSWORD, 's@cret');
});

test('IpmiProbe: thresholds cached, SEL read only when it grew, locate falls back to 255 s', async () => {
  const rec = new Recorder();
  rec.answers['sdr elist'] = { code: 0, stdout: read('sdr-elist-ok.txt'), stderr: '' };
  rec.answers['sensor'] = { code: 0, stdout: read('sensor-ok.txt'), stderr: '' };
  const probe = new IpmiProbe(rec, { interface: 'open' });
  await probe.readSensors();
  await probe.readSensors();
  assert.equal(rec.calls.filter((c) => c.args.at(-1) === 'sensor').length, 1);
  assert.equal(rec.calls.filter((c) => c.args.join(' ').endsWith('sdr elist')).length, 2);
  rec.answers['sel info'] = { code: 0, stdout: 'Entries          : 5\nLast Add Time    : S+ 00:13:34\n', stderr: '' };
  rec.answers['sel elist'] = { code: 0, stdout: read('sel-elist.txt'), stderr: '' };
  assert.deepEqual((await probe.newSelEvents()).events, []); // the first read is history
  const before = rec.calls.length;
  assert.deepEqual((await probe.newSelEvents()).events, []);
  assert.equal(rec.calls.length, before + 1); // only `sel info`
  rec.answers['sel info'] = { code: 0, stdout: 'Entries          : 6\nLast Add Time    : S+ 00:14:00\n', stderr: '' };
  rec.answers['sel elist last 1'] = { code: 0, stdout: '   6 |  Pre-Init  |0000000900| Fan FAN2 | Lower Critical going low  | Asserted\n', stderr: '' };
  const n = await probe.newSelEvents();
  assert.deepEqual(n.events.map((e) => e.id), [6]);
  rec.answers['identify force'] = { code: 1, stdout: '', stderr: 'Set Chassis Identify failed' };
  assert.deepEqual(await probe.locate(true), { on: true, seconds: 255 });
  assert.deepEqual(rec.calls.at(-1)!.args.slice(-3), ['chassis', 'identify', '255']);
  await probe.locate(false);
  assert.deepEqual(rec.calls.at(-1)!.args.slice(-3), ['chassis', 'identify', '0']);
});
