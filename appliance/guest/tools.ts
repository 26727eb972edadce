/**
 * Guest tools: the hypervisor's agent (VMware, Hyper-V, KVM/QEMU), shipped in the image and
 * turned on only on the hypervisor it belongs to. `install guest-tools` in the CLI (in place of
 * the seed's `install rpm cdrom`) detects the hypervisor and enables its agent.
 */
import type { Host } from '../host/index.ts';
import { OperationalError, ValidationError } from '../errors.ts';
import { log } from '../log.ts';

export interface GuestAgent {
  /** Hypervisor as systemd-detect-virt names it. */
  virt: string;
  /** What administrators call it. */
  hypervisor: string;
  /** Debian package in the image. */
  package: string;
  /** systemd units enabled and started. */
  units: string[];
}

/** The agent for each hypervisor Keel supports (SPEC.md "Virtual platforms"). */
export const GUEST_AGENTS: GuestAgent[] = [
  { virt: 'vmware', hypervisor: 'VMware', package: 'open-vm-tools', units: ['open-vm-tools.service'] },
  { virt: 'microsoft', hypervisor: 'Hyper-V', package: 'hyperv-daemons', units: ['hv-kvp-daemon.service', 'hv-vss-daemon.service', 'hv-fcopy-daemon.service'] },
  { virt: 'kvm', hypervisor: 'KVM', package: 'qemu-guest-agent', units: ['qemu-guest-agent.service'] },
  { virt: 'qemu', hypervisor: 'QEMU', package: 'qemu-guest-agent', units: ['qemu-guest-agent.service'] },
];

/** Whether dpkg's status file records `pkg` as installed (pure). */
export function packageInstalled(status: string, pkg: string): boolean {
  return status.split(/\n\n+/).some((stanza) => new RegExp(`^Package: ${pkg.replace(/[.+]/g, '\\$&')}$`, 'm').test(stanza) && /^Status: install ok installed$/m.test(stanza));
}

/** The hypervisor this appliance runs on (`none` on hardware), from systemd-detect-virt. */
export async function detectVirt(host: Host): Promise<string> {
  const r = await host.proc.run('systemd-detect-virt', ['--vm'], { allowFail: true, timeoutMs: 10000 });
  return r.stdout.trim() || 'none';
}

/** Detects the hypervisor and enables its agent. Refuses on hardware and on hypervisors without an agent. */
export async function installGuestTools(host: Host): Promise<{ agent: GuestAgent; changed: boolean }> {
  const virt = await detectVirt(host);
  if (virt === 'none') throw new ValidationError([{ field: 'guest-tools', rule: 'virtual-machine', message: 'no hypervisor detected: guest tools are only for virtual machines' }]);
  const agent = GUEST_AGENTS.find((a) => a.virt === virt);
  if (!agent) throw new ValidationError([{ field: 'guest-tools', rule: 'supported-hypervisor', message: `this appliance runs on "${virt}", which has no supported guest agent (supported: VMware, Hyper-V, KVM)` }]);
  // The image keeps dpkg's record of its packages but not dpkg itself (a minimal root).
  if (!packageInstalled(host.files.readText('/var/lib/dpkg/status') ?? '', agent.package)) throw new OperationalError(`the ${agent.package} package is not in this image`, `read /var/lib/dpkg/status: ${agent.package}`, 1, 'not installed');
  let changed = false;
  for (const unit of agent.units) {
    const en = await host.proc.run('systemctl', ['is-enabled', unit], { allowFail: true, timeoutMs: 10000 });
    // A unit the package does not have on this release (e.g. hv-fcopy) is not an error.
    if (en.stdout.trim() === 'not-found' || /not found|No such file/.test(en.stderr)) continue;
    if (en.stdout.trim() !== 'enabled') changed = true;
    await host.proc.run('systemctl', ['enable', '--now', unit], { timeoutMs: 60000 });
  }
  log.info('guest tools enabled', { hypervisor: agent.hypervisor, package: agent.package, changed });
  return { agent, changed };
}
