import type { HealthSnapshot } from './snapshot.ts';
import { rank } from './types.ts';

/**
 * Prometheus text exposition (format 0.0.4) of a snapshot. Names follow node_exporter
 * (`node_network_*`, `node_md_*`), the IPMI exporter (`ipmi_*`) and the smartctl exporter
 * (`smartctl_device_*`) where they exist; the rest is `keel_health_*`.
 */
export function renderMetrics(s: HealthSnapshot): string {
  const out: string[] = [];
  const families = new Set<string>();
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const m = (name: string, help: string, type: 'gauge' | 'counter', labels: Record<string, string | number | null>, value: number | null) => {
    if (value === null || !Number.isFinite(value)) return;
    if (!families.has(name)) {
      families.add(name);
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    }
    const l = Object.entries(labels).filter(([, v]) => v !== null).map(([k, v]) => `${k}="${esc(String(v))}"`).join(',');
    out.push(`${name}${l ? `{${l}}` : ''} ${value}`);
  };
  // Grouped by family: the exposition format wants each family's samples together.
  const nic = (n: HealthSnapshot['nics'][number]) => ({ device: n.ifname ?? n.name, name: n.name });
  for (const n of s.nics) m('node_network_up', 'Value is 1 if operstate is up, 0 otherwise.', 'gauge', nic(n), n.operstate === 'up' ? 1 : 0);
  for (const n of s.nics) m('node_network_carrier', 'Network device property: carrier', 'gauge', nic(n), n.carrier === null ? null : n.carrier ? 1 : 0);
  for (const n of s.nics) m('node_network_speed_bytes', 'Network device property: speed_bytes', 'gauge', nic(n), n.speedMbps === null ? null : n.speedMbps * 125000);
  for (const n of s.nics) m('node_network_carrier_changes_total', 'Network device property: carrier_changes_total', 'counter', nic(n), n.carrierChanges);
  for (const n of s.nics) m('node_network_receive_errs_total', 'Network device statistic receive_errs.', 'counter', nic(n), n.rxErrors);
  for (const n of s.nics) m('node_network_transmit_errs_total', 'Network device statistic transmit_errs.', 'counter', nic(n), n.txErrors);
  for (const n of s.nics) m('node_network_receive_drop_total', 'Network device statistic receive_drop.', 'counter', nic(n), n.rxDropped);
  for (const n of s.nics) m('node_network_transmit_drop_total', 'Network device statistic transmit_drop.', 'counter', nic(n), n.txDropped);
  for (const a of s.md) {
    const failed = a.members.filter((x) => x.faulty).length;
    const spare = a.members.filter((x) => x.spare).length;
    m('node_md_disks', 'Number of active/failed/spare disks of device.', 'gauge', { device: a.name, state: 'active' }, a.workingDisks ?? a.members.length - failed - spare);
    m('node_md_disks', 'Number of active/failed/spare disks of device.', 'gauge', { device: a.name, state: 'failed' }, failed);
    m('node_md_disks', 'Number of active/failed/spare disks of device.', 'gauge', { device: a.name, state: 'spare' }, spare);
  }
  for (const a of s.md) m('node_md_disks_required', 'Total number of disks of device.', 'gauge', { device: a.name }, a.raidDisks);
  for (const a of s.md) {
    const st = !a.active ? 'inactive' : a.sync?.action === 'recovery' ? 'recovering' : a.sync?.action === 'resync' ? 'resync' : a.sync?.action === 'check' ? 'check' : 'active';
    for (const k of ['active', 'inactive', 'recovering', 'resync', 'check']) m('node_md_state', 'Indicates the state of md-device.', 'gauge', { device: a.name, state: k }, k === st ? 1 : 0);
  }
  for (const a of s.md) m('keel_health_md_sync_percent', 'Progress of a running md rebuild/resync, percent.', 'gauge', { device: a.name, action: a.sync?.action ?? null }, a.sync?.percent ?? null);
  if (s.ipmi) {
    m('ipmi_up', '1 if the BMC answered.', 'gauge', {}, 1);
    const by = (cat: string) => s.ipmi!.sensors.filter((x) => x.category === cat && x.value !== null);
    for (const x of by('temperature')) m('ipmi_temperature_celsius', 'Temperature reading in degree Celsius.', 'gauge', { id: x.number, name: x.name }, x.value);
    for (const x of by('fan')) m('ipmi_fan_speed_rpm', 'Fan speed in rotations per minute.', 'gauge', { id: x.number, name: x.name }, x.value);
    for (const x of by('voltage')) m('ipmi_voltage_volts', 'Voltage reading in Volts.', 'gauge', { id: x.number, name: x.name }, x.value);
    for (const x of s.ipmi.sensors) m('ipmi_sensor_state', 'Indicates the severity of the state reported by an IPMI sensor (0=nominal, 1=warning, 2=critical).', 'gauge', { id: x.number, name: x.name, type: x.category }, x.severity === 'critical' ? 2 : x.severity === 'warning' ? 1 : 0);
    if (s.ipmi.chassis) m('ipmi_chassis_power_state', 'Current power state (1=on, 0=off).', 'gauge', {}, s.ipmi.chassis.powerOn ? 1 : 0);
  }
  for (const d of s.disks) m('smartctl_device_smart_status', 'General smart status', 'gauge', { device: d.device, model_name: d.model }, d.passed === null ? null : d.passed ? 1 : 0);
  for (const d of s.disks) m('smartctl_device_percentage_used', 'Device write percentage used', 'gauge', { device: d.device }, d.percentUsed);
  for (const d of s.disks) m('smartctl_device_temperature', 'Device temperature celsius', 'gauge', { device: d.device, temperature_type: 'current' }, d.temperatureC);
  for (const r of s.raid) for (const v of r.virtualDrives) m('keel_health_raid_vd_optimal', '1 if a hardware RAID virtual drive is optimal.', 'gauge', { controller: r.controller.index, vd: v.id, raid: v.raid }, v.state === 'Optl' ? 1 : 0);
  m('keel_health_overall', 'Worst health state (0=ok, 1=unknown, 2=warning, 3=critical).', 'gauge', {}, rank(s.overall));
  for (const f of s.findings) m('keel_health_finding', 'State of each health finding (0=ok, 1=unknown, 2=warning, 3=critical).', 'gauge', { key: f.key, category: f.category }, rank(f.severity));
  for (const [probe, ms] of Object.entries(s.durations)) m('keel_health_probe_duration_seconds', 'Wall time of the last run of each probe.', 'gauge', { probe }, ms / 1000);
  return out.join('\n') + '\n';
}
