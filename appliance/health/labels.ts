/**
 * Human names of health keys, for people: the state timeline says "Link on GigabitEthernet1",
 * not `nic.GigabitEthernet1.link`. The keys stay the stable identifiers (history, alerts, API).
 */
const PLATFORM: Record<string, string> = {
  supported: 'Supported platform',
  nics: 'Network interfaces present',
  'nic-drivers': 'Network adapter types',
  'static-mac': 'MAC addresses',
  'disk-count': 'Number of disks',
  'disk-size': 'Disk size',
  'storage-controller': 'Storage controller',
  memory: 'Memory',
  cpus: 'Processors',
  raid: 'RAID present',
  psus: 'Power supplies',
  fans: 'Fans',
  bmc: 'BMC',
  'guest-tools': 'Guest tools',
  firmware: 'Firmware (BIOS or UEFI)',
};

/** The name of a health key in words (unknown shapes: the key without its category prefix). */
export function healthKeyLabel(key: string): string {
  let m: RegExpExecArray | null;
  if ((m = /^nic\.([^.]+)\.(link|errors|drops|flapping)$/.exec(key))) return `${{ link: 'Link', errors: 'Errors', drops: 'Dropped packets', flapping: 'Link stability' }[m[2]]} on ${m[1]}`;
  if ((m = /^md\.(.+)$/.exec(key))) return `Software RAID ${m[1]}`;
  if ((m = /^raid\.c(\d+)\.controller$/.exec(key))) return `RAID controller ${m[1]}`;
  if ((m = /^raid\.c(\d+)\.battery$/.exec(key))) return `RAID battery (controller ${m[1]})`;
  if ((m = /^raid\.c(\d+)\.vd(\d+)\.cache$/.exec(key))) return `Cache of virtual drive ${m[2]} (controller ${m[1]})`;
  if ((m = /^raid\.c(\d+)\.vd(\d+)$/.exec(key))) return `Virtual drive ${m[2]} (controller ${m[1]})`;
  if ((m = /^raid\.c(\d+)\.pd(\d+)-(\d+)$/.exec(key))) return `Drive in slot ${m[2]}:${m[3]} (controller ${m[1]})`;
  if ((m = /^disk\.([^.]+)\.temperature$/.exec(key))) return `Temperature of disk ${m[1]}`;
  if ((m = /^disk\.([^.]+)$/.exec(key))) return `Disk ${m[1]}`;
  if ((m = /^ipmi\.sensor\.(.+)$/.exec(key))) return m[1];
  if ((m = /^ipmi\.chassis\.(.+)$/.exec(key))) return `Chassis ${m[1].replace(/-/g, ' ')}`;
  if ((m = /^storage\.random-(read|write)$/.exec(key))) return `Storage test: random ${m[1]}s`;
  if ((m = /^platform\.(.+)$/.exec(key))) return PLATFORM[m[1]] ?? `Platform: ${m[1].replace(/-/g, ' ')}`;
  return key;
}
