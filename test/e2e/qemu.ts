import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * A KEEL-SEED ISO with installer options: the test VMs are far below the sizing table (2 GiB RAM,
 * an 8 GiB disk) and a storage test under TCG says nothing about real disks, so preflight
 * warnings are passed with `force` (refusals still stop the install).
 */
export function makeSeedIso(dir: string, files: Record<string, unknown> = { 'keel-install.json': { force: true, storageTest: false } }): string {
  const src = path.join(dir, 'seed');
  fs.rmSync(src, { recursive: true, force: true });
  fs.mkdirSync(src, { recursive: true });
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(src, name), JSON.stringify(body, null, 2));
  const iso = path.join(dir, 'seed.iso');
  const r = spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'KEEL-SEED', '-o', iso, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`xorriso failed: ${r.stderr}`);
  return iso;
}

/** Wizard answers for a zero-touch install (`keel-answers.json` on the KEEL-SEED ISO). */
export const ZERO_TOUCH_ANSWERS = {
  eula: 'yes', company: 'Example Corp', contact: 'Jane Admin', contactEmail: 'jane@example.com', enableSecret: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123',
  interface: 'a', address: '10.0.2.15', netmask: '255.255.255.0', gateway: '10.0.2.2', hostname: 'core.example.com', nameServers: ['10.0.2.3'], ssh: 'yes', ntp: 'no',
};

/**
 * Runs one appliance CLI line over SSH (OpenSSH client, password from ZERO_TOUCH_ANSWERS) on a
 * guest's forwarded port, retrying while the guest is still coming up; returns stdout + stderr.
 */
export function sshCli(port: number, cmd: string, tries = 20): string {
  for (let i = 0; ; i++) {
    const r = spawnSync('sshpass', ['-e', 'ssh', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'PubkeyAuthentication=no', '-p', String(port), 'admin@127.0.0.1', cmd], { encoding: 'utf8', timeout: 180000, env: { ...process.env, SSHPASS: ZERO_TOUCH_ANSWERS.adminPassword } });
    if (r.status === 0 || i >= tries) return `${r.stdout}${r.stderr}`;
    spawnSync('sleep', ['5']);
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

export interface VmOptions {
  dir: string;
  iso?: string;
  disk: string;
  /** Host port forwarded to the guest's 8443 on the first NIC. */
  httpsPort: number;
  /** A second CD labelled KEEL-SEED (installer options / zero-touch answers). */
  seedIso?: string;
  /** Host port forwarded to the guest's SSH CLI (22) on the first NIC. */
  sshPort?: number;
  memoryMiB?: number;
  bootFromCdOnce?: boolean;
  /** false: a machine without any UART (the console is on VGA only). Default true. */
  serial?: boolean;
  /** Boot with UEFI firmware (OVMF) instead of BIOS; its variable store lives in `dir`. */
  uefi?: boolean;
  /**
   * The machine's own hardware (test matrix): SMBIOS strings, disks and controllers, NICs after the
   * first. Replaces the default virtio disk (`disk` is then unused) and second NIC; the first NIC
   * is always `netdev n0` (the port forwards), whose device model is `nic0Model`.
   */
  hardware?: string[];
  nic0Model?: string;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/** Guests still running when the test process ends (a failed test, an uncaught error) are killed. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * The emulated CPU of every test VM: QEMU's `max` without three features that QEMU 7.2's TCG
 * (Debian 12's) emulates far slower than any real machine runs them (issue 15, measured on one
 * installed disk booted to the first wizard question: 101 s with `max`, 64 s without ERMS/FSRM,
 * 60.5 s without MONITOR too):
 * - ERMS/FSRM: TCG runs `rep movsb` one byte per step, and a kernel that sees them copies and
 *   clears every page with it (a 12 MB file read ran at 1.3 MB/s, and 23.6 MB/s without them);
 * - MONITOR/MWAIT: an idle vCPU waits in MWAIT, which TCG does not wake on the store the kernel
 *   uses instead of an interrupt, so work handed to the other vCPU (loop and dm-verity workers)
 *   waits for its next timer tick (a loop device read 2.1 MB/s, 6.4 MB/s without MONITOR).
 *   KVM, VMware and Hyper-V do not offer MONITOR to guests either.
 * Real CPUs and KVM make `rep movsb` fast, so only the emulation changes; the reference image of
 * bench:boot runs on the same CPU.
 */
export const TCG_CPU = 'max,-erms,-fsrm,-monitor';

/** A QEMU guest under TCG (KVM is not reliable here) with its serial console on a unix socket. */
export class Vm {
  readonly serialPath: string;
  readonly monitorPath: string;
  private child: ChildProcess | null = null;
  readonly opts: VmOptions;
  constructor(opts: VmOptions) {
    this.opts = opts;
    this.serialPath = path.join(opts.dir, 'serial.sock');
    this.monitorPath = path.join(opts.dir, 'monitor.sock');
  }
  /** Saves the VGA screen as a PPM image (for debugging a console that has no serial copy). */
  async screendump(file: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(this.monitorPath, () => c.write(`screendump ${file}\n`));
      let out = '';
      c.on('data', (d) => {
        out += d.toString();
        if (/screendump[^\n]*\n[\s\S]*\(qemu\)/.test(out)) c.end();
      });
      c.setTimeout(10000, () => c.destroy(new Error('QEMU monitor did not answer')));
      c.on('close', () => resolve());
      c.on('error', reject);
    });
  }
  start(): void {
    fs.rmSync(this.serialPath, { force: true });
    fs.rmSync(this.monitorPath, { force: true });
    const o = this.opts;
    const args = [
      '-accel', 'tcg',
      '-machine', 'pc',
      '-cpu', TCG_CPU,
      '-smp', '2',
      '-m', String(o.memoryMiB ?? 2048),
      '-display', 'none',
      '-vga', 'std',
      '-monitor', `unix:${this.monitorPath},server=on,wait=off`,
      '-netdev', `user,id=n0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${o.httpsPort}-10.0.2.15:8443${o.sshPort ? `,hostfwd=tcp:127.0.0.1:${o.sshPort}-10.0.2.15:22` : ''}`,
      '-device', `${o.nic0Model ?? 'virtio-net-pci'},netdev=n0`,
      '-rtc', 'base=utc',
    ];
    if (o.hardware) args.push(...o.hardware);
    else
      args.push(
        '-drive', `file=${o.disk},if=none,id=disk0,format=qcow2,cache=unsafe`,
        '-device', `virtio-blk-pci,drive=disk0,serial=KEELDISK0${o.uefi ? ',bootindex=1' : ''}`,
        '-netdev', 'user,id=n1,net=10.0.3.0/24,restrict=on',
        '-device', 'virtio-net-pci,netdev=n1',
      );
    if (o.serial === false) args.push('-serial', 'none');
    // wait=on: the guest does not run until the test's Serial is connected, so nothing it prints
    // before that (GRUB's first menu, under a loaded CI machine) is lost.
    else args.push('-chardev', `socket,id=ser0,path=${this.serialPath},server=on,wait=on`, '-serial', 'chardev:ser0');
    if (o.uefi) {
      const vars = path.join(o.dir, 'OVMF_VARS.fd');
      if (!fs.existsSync(vars)) fs.copyFileSync(OVMF_VARS, vars);
      args.push('-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
    }
    // BIOS: `-boot once=d` starts the CD first even when the disk is bootable. OVMF ignores -boot
    // and follows bootindex: the disk first (an empty one is skipped), then the CD.
    if (o.iso && o.uefi) args.push('-drive', `file=${o.iso},if=none,id=cd0,media=cdrom,readonly=on`, '-device', 'ide-cd,drive=cd0,bootindex=2');
    else if (o.iso) args.push('-drive', `file=${o.iso},media=cdrom,readonly=on,if=ide,index=2`);
    if (o.seedIso) args.push('-drive', `file=${o.seedIso},media=cdrom,readonly=on,if=ide,index=3`);
    if (o.bootFromCdOnce && !o.uefi) args.push('-boot', 'once=d,order=c');
    const log = fs.openSync(path.join(o.dir, 'qemu.log'), 'a');
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', log, log] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.child = child;
  }
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        this.child?.kill('SIGKILL');
        r(undefined);
      }, 5000);
      this.child!.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
  }
}

export function createDisk(file: string, size = '8G'): void {
  fs.rmSync(file, { force: true });
  const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, size], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`qemu-img failed: ${r.stderr}`);
}
