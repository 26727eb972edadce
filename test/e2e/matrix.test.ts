/**
 * The six-platform installer matrix (issue 6), under QEMU/TCG: for each machine, an unattended
 * install from the ISO with zero-touch answers on a KEEL-SEED ISO, the first boot (no wizard),
 * then, over SSH with the appliance CLI: the identified platform, the disk layout and the
 * GigabitEthernetN names, against what the machine is.
 *
 *   npm run test:matrix                      # all six
 *   KEEL_MATRIX=kvm,m2250 npm run test:matrix
 *
 * Results (times, detected against expected) go to .cache/e2e/matrix/results.json.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Vm, createDisk, freePort, makeSeedIso, sshCli, ZERO_TOUCH_ANSWERS } from './qemu.ts';
import { Serial } from './serial.ts';
import { espGrubenv } from './disk.ts';
import { ESP_GRUBENV } from '../../appliance/update/grub.ts';
import { M22X0_SENSORS, M2600_SENSORS, startSim, type Sim, type SimSensor } from '../fixtures/health/ipmisim.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(TOP, '.cache/e2e/matrix');
const VERSION = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const ISO = path.join(TOP, 'dist', `keel-${VERSION}-amd64.iso`);

interface Platform {
  id: string;
  /** Boot menu entry: 0 vm-install, 1 hw-install, 2 hw-m2250-m2600-install. */
  entry: number;
  /** What `show platform` must name. */
  platform: RegExp;
  /** NICs the machine has (GigabitEthernet1..N). */
  nics: number;
  /** What `show raid` must show about the layout, or null for a single disk. */
  layout: RegExp | null;
  /** What the installer must say it installs to (the disk rule it applied). */
  target?: RegExp;
  nic0: string;
  hardware: (dir: string) => string[];
  /** A preflight line the installer must print for this machine (a warning the seed's force passes). */
  preflight?: RegExp;
  /** The model's BMC: ipmi_sim with these sensors behind a KCS interface (/dev/ipmi0 in the guest). */
  bmc?: SimSensor[];
  /** The preflight must refuse this machine with this line, and leave its disks untouched. */
  refuse?: RegExp;
  /** The guest agent the hypervisor talks to on its own, with no one enabling it (KVM: qemu-ga). */
  guestAgent?: 'qemu-ga';
}

const disks = (dir: string, n: number, attach: (i: number, id: string) => string[]): string[] =>
  Array.from({ length: n }, (_, i) => {
    const f = path.join(dir, `disk${i}.qcow2`);
    createDisk(f, '8G');
    return [`-drive`, `file=${f},if=none,id=d${i},format=qcow2,cache=unsafe`, ...attach(i, `d${i}`)];
  }).flat();
const nics = (model: string, n: number): string[] => Array.from({ length: n }, (_, i) => ['-netdev', `user,id=x${i},net=10.${10 + i}.0.0/24,restrict=on`, '-device', `${model},netdev=x${i}`]).flat();
// QEMU option values escape a comma by doubling it ("VMware, Inc.").
const q = (v: string) => v.replace(/,/g, ',,');
const smbios = (manufacturer: string, product: string, sku?: string) => ['-smbios', `type=1,manufacturer=${q(manufacturer)},product=${q(product)}${sku ? `,sku=${q(sku)}` : ''}`];

const PLATFORMS: Platform[] = [
  // The channel libvirt gives every KVM guest for its agent: qemu-guest-agent starts when it appears.
  {
    id: 'kvm', entry: 0, platform: /KVM/, nics: 2, layout: null, nic0: 'virtio-net-pci', guestAgent: 'qemu-ga',
    hardware: (d) => [
      ...disks(d, 1, (_i, id) => ['-device', `virtio-blk-pci,drive=${id}`]),
      ...nics('virtio-net-pci', 1),
      ...['-device', 'virtio-serial-pci,id=vser0', '-chardev', `socket,id=qga0,path=${path.join(d, 'qga.sock')},server=on,wait=off`, '-device', 'virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0'],
    ],
  },
  // QEMU's LSI SAS 1068 presents no target to Linux 6.12's mptsas (the host registers, no SAS port
  // is ever reported, a rescan finds nothing), so the disk is on QEMU's LSI 53C895A, the parallel
  // LSI family (sym53c8xx). A real VMware host's LSI Logic Parallel is a 53C1030 (mptspi): the
  // preflight rightly calls sym53c8xx an unexpected controller, a warning the seed's force passes.
  {
    id: 'vmware', entry: 0, platform: /VMware/, nics: 2, layout: null, nic0: 'vmxnet3',
    hardware: (d) => [...smbios('VMware, Inc.', 'VMware Virtual Platform'), '-device', 'lsi53c895a,id=scsi0', ...disks(d, 1, (_i, id) => ['-device', `scsi-hd,drive=${id},bus=scsi0.0`]), ...nics('vmxnet3', 1)],
    preflight: /\[WARN\][^\n]*sym53c8xx is not one of the supported types/,
  },
  // VMware's paravirtual SCSI (QEMU's pvscsi, Linux vmw_pvscsi) under the install disk: refused
  // before anything is written, even with the seed's force.
  {
    id: 'vmware-pvscsi', entry: 0, platform: /VMware/, nics: 2, layout: null, nic0: 'vmxnet3',
    hardware: (d) => [...smbios('VMware, Inc.', 'VMware Virtual Platform'), '-device', 'pvscsi,id=pv0', ...disks(d, 1, (_i, id) => ['-device', `scsi-hd,drive=${id},bus=pv0.0`]), ...nics('vmxnet3', 1)],
    refuse: /\[STOP\] controller\s+VMware paravirtual SCSI is not supported[^\n]*the install disk \/dev\/sda is on it/,
  },
  // Linux's ata_piix ignores IDE hard disks on a machine whose DMI says Microsoft Virtual Machine
  // (Hyper-V shows them again through storvsc, which QEMU cannot emulate): the disk is on AHCI.
  {
    id: 'hyperv', entry: 0, platform: /Hyper-V/, nics: 1, layout: null, nic0: 'e1000',
    hardware: (d) => [...smbios('Microsoft Corporation', 'Virtual Machine'), '-device', 'ahci,id=ahci0', ...disks(d, 1, (i, id) => ['-device', `ide-hd,drive=${id},bus=ahci0.${i}`])],
  },
  {
    id: 'm2200', entry: 1, platform: /M2200/, nics: 2, layout: null, nic0: 'e1000e', bmc: M22X0_SENSORS, target: /Installing to \/dev\/sda \(hardware RAID virtual drive/,
    hardware: (d) => [...smbios('Core', 'Core M2200'), '-device', 'megasas-gen2,id=r0', ...disks(d, 1, (_i, id) => ['-device', `scsi-hd,drive=${id},bus=r0.0`]), ...nics('e1000e', 1)],
  },
  {
    id: 'm2250', entry: 2, platform: /M2250/, nics: 2, layout: /raid1/i, nic0: 'e1000e', bmc: M22X0_SENSORS,
    hardware: (d) => [...smbios('Supermicro', 'Super Server', 'MobileIron Core M2250'), '-device', 'ahci,id=ahci0', ...disks(d, 2, (i, id) => ['-device', `ide-hd,drive=${id},bus=ahci0.${i}`]), ...nics('e1000e', 1)],
  },
  {
    id: 'm2600', entry: 2, platform: /M2600/, nics: 6, layout: /raid10/i, nic0: 'e1000e', bmc: M2600_SENSORS,
    hardware: (d) => [...smbios('Core', 'Core M2600'), '-device', 'ahci,id=ahci0', ...disks(d, 4, (i, id) => ['-device', `ide-hd,drive=${id},bus=ahci0.${i}`]), ...nics('e1000e', 5)],
  },
];

/** Asks the guest agent over its channel, as the hypervisor does: guest-sync must echo our id. */
async function agentSync(socketPath: string): Promise<string> {
  const id = Math.floor(Math.random() * 1e9);
  const reply = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const c = net.connect(socketPath, () => c.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id } })}\n`));
    const t = setTimeout(() => (c.destroy(), reject(new Error(`no guest-sync answer from the guest agent: ${buf}`))), 30000);
    c.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\n')) (clearTimeout(t), c.end(), resolve(buf.trim()));
    });
    c.on('error', (e) => (clearTimeout(t), reject(e)));
  });
  assert.deepEqual(JSON.parse(reply), { return: id }, reply);
  return `guest-sync answered (${reply})`;
}

const wanted = (process.env.KEEL_MATRIX ?? PLATFORMS.map((p) => p.id).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const results: Record<string, unknown>[] = [];

test('image', { timeout: 60 * 60 * 1000 }, () => {
  const build = spawnSync(process.execPath, [path.join(TOP, 'image/build.ts')], { stdio: 'inherit' });
  assert.equal(build.status, 0, 'image build failed');
});

for (const p of PLATFORMS) {
  test(`${p.id}: ${p.refuse ? 'refused by the preflight, the disk untouched' : 'unattended install, first boot without questions, platform, layout, NIC names and BMC'}`, { timeout: 60 * 60 * 1000 }, async (t) => {
    const skipped = wanted.includes(p.id) ? false : `KEEL_MATRIX=${wanted.join(',')}`;
    if (skipped) return t.skip(skipped);
    const dir = path.join(OUT, p.id);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const seedIso = makeSeedIso(dir, { 'keel-answers.json': ZERO_TOUCH_ANSWERS, 'keel-install.json': { force: true, storageTest: false } });
    const sshPort = await freePort();
    // QEMU connects to the simulator (and reconnects if it is late); the guest sees a KCS BMC.
    const bmcPort = p.bmc ? await freePort() : 0;
    const sim: Sim | null = p.bmc ? await startSim(p.bmc, { qemuPort: bmcPort }) : null;
    const bmc = sim ? ['-chardev', `socket,id=ipmi0,host=127.0.0.1,port=${bmcPort},reconnect=5`, '-device', 'ipmi-bmc-extern,id=bmc0,chardev=ipmi0', '-device', 'isa-ipmi-kcs,bmc=bmc0'] : [];
    const hardware = [...p.hardware(dir), ...bmc];
    const vm = new Vm({ dir, iso: ISO, disk: '', httpsPort: await freePort(), sshPort, seedIso, bootFromCdOnce: true, memoryMiB: 2048, hardware, nic0Model: p.nic0 });
    const s = new Serial(path.join(dir, 'serial.log'));
    const started = Date.now();
    const row: Record<string, unknown> = { platform: p.id };
    try {
      vm.start();
      await s.connect(vm.serialPath);
      await s.expect(/vm-install/, 300000, 'the boot menu');
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < p.entry; i++) {
        s.send('\x1b[B');
        await new Promise((r) => setTimeout(r, 200));
      }
      s.send('\r');
      const done = await s.expect(/Installation complete in (\d+) s|INSTALLATION (REFUSED|FAILED|STOPPED)[^\n]*/, 1800000, 'the end of the installation');
      if (p.refuse) {
        assert.equal(done[2], 'REFUSED', `the installer did not refuse: ${done[0]}\n${s.tail()}`);
        assert.match(s.all(), p.refuse, 'the refusal this machine must show');
        await s.expect(/Nothing was written\./, 60000, 'Nothing was written');
        // -U: QEMU still holds the image; every cluster must still be unallocated.
        const map = JSON.parse(spawnSync('qemu-img', ['map', '-U', '--output=json', path.join(dir, 'disk0.qcow2')], { encoding: 'utf8' }).stdout) as { data: boolean }[];
        assert.ok(map.length > 0 && map.every((m) => !m.data), `the refused install wrote to the disk: ${JSON.stringify(map.filter((m) => m.data))}`);
        row.refused = (p.refuse.exec(s.all()) ?? [''])[0].trim();
        row.ok = true;
        return;
      }
      assert.ok(done[1], `the installer stopped: ${done[0]}\n${s.tail()}`);
      if (p.preflight) assert.match(s.all(), p.preflight, 'the preflight line this machine must show');
      if (p.target) assert.match(s.all(), p.target, 'the disk rule this machine must get');
      row.installSeconds = Number(done[1]);
      row.bootToInstalledSeconds = Math.round((Date.now() - started) / 1000);
      const banner = await s.expect(/SSH host key ED25519: (SHA256:\S+)|display the End User License Agreement/, 1200000, 'the first boot');
      assert.ok(banner[1], 'the first boot asked the wizard questions although the seed answered them');
      row.powerOnToBannerSeconds = Math.round((Date.now() - started) / 1000);
      const ssh = (cmd: string) => sshCli(sshPort, cmd);
      const platform = ssh('show platform');
      const interfaces = ssh('show interfaces');
      const raid = ssh('show raid');
      const environment = ssh('show environment');
      fs.writeFileSync(path.join(dir, 'cli.txt'), `${platform}\n${interfaces}\n${raid}\n${environment}\n`);
      row.detectedPlatform = /^Platform: (.*)$/m.exec(platform)?.[1] ?? null;
      row.nicNames = [...interfaces.matchAll(/^(GigabitEthernet\d+)/gm)].map((m) => m[1]);
      row.layout = raid.split('\n')[0];
      assert.match(platform, p.platform, platform);
      assert.deepEqual(row.nicNames, Array.from({ length: p.nics }, (_, i) => `GigabitEthernet${i + 1}`), interfaces);
      if (p.layout) assert.match(raid, p.layout, raid);
      // A sensor row starts with its name: the simulator's own list says what to look for.
      const sensorRow = (x: SimSensor) => new RegExp(`^${x.name}\\s`, 'm');
      row.bmcSensors = (p.bmc ?? []).filter((x) => sensorRow(x).test(environment)).length;
      if (p.bmc) {
        assert.match(environment, /^BMC: local BMC \(\/dev\/ipmi0\)/m, environment);
        for (const x of p.bmc) assert.match(environment, sensorRow(x), `sensor ${x.name} in show environment:\n${environment}`);
      } else {
        assert.match(environment, /there is no BMC/, environment);
      }
      if (p.guestAgent) {
        assert.match(platform, new RegExp(`^Guest tools: ${p.guestAgent} \\(running\\)`, 'm'), platform);
        row.guestAgent = await agentSync(path.join(dir, 'qga.sock'));
      }
      if (p.layout) {
        // On md RAID GRUB counts a try of a staged slot before Linux runs, in the counter on the
        // members' ESPs (it cannot write to the array): with a try of slot a staged on the
        // powered-off disk, GRUB must have taken one off by the time it shows its menu.
        await vm.stop();
        const disk0 = path.join(dir, 'disk0.qcow2');
        const before = espGrubenv(disk0, ESP_GRUBENV);
        espGrubenv(disk0, ESP_GRUBENV, { keel_next: 'a', keel_tries: '3', keel_failed: '' });
        const again = new Vm({ dir, disk: '', httpsPort: await freePort(), memoryMiB: 2048, hardware, nic0Model: p.nic0 });
        const s2 = new Serial(path.join(dir, 'serial-grub.log'));
        try {
          again.start();
          await s2.connect(again.serialPath);
          await s2.expect(/Keel \(slot a\)/, 300000, 'the GRUB menu');
        } finally {
          await again.stop();
          s2.close();
        }
        const after = espGrubenv(disk0, ESP_GRUBENV);
        assert.deepEqual([after.keel_next, after.keel_tries], ['a', '2'], `GRUB did not count the try on the ESP (before: ${JSON.stringify(before)}, after: ${JSON.stringify(after)})`);
        row.grubCountsTryOnMd = true;
      }
      row.ok = true;
    } catch (e) {
      row.ok = false;
      row.error = (e as Error).message.slice(0, 300);
      throw e;
    } finally {
      row.seconds = Math.round((Date.now() - started) / 1000);
      results.push(row);
      fs.mkdirSync(OUT, { recursive: true });
      fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
      console.log(`matrix: ${JSON.stringify(row)}`);
      await vm.stop();
      s.close();
      await sim?.stop();
    }
  });
}
