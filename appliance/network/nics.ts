import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../host/index.ts';
import { INTERFACE_NAMES } from './schema.ts';

/** A network controller, named GigabitEthernetN by its place in PCI order. */
export interface Nic {
  name: string;
  /** PCI address, e.g. 0000:00:03.0; udev's ID_PATH is `pci-<address>`. */
  pci: string;
  /** Kernel interface name once the driver has bound (e.g. ens3), else null. */
  ifname: string | null;
  mac: string | null;
  driver: string | null;
}

/**
 * Lists the NICs in PCI order from sysfs. PCI enumeration is finished before user space starts,
 * so this works at early boot even before drivers have bound (the `Path=` match needs no MAC).
 */
export function listNics(host: Host): Nic[] {
  const base = path.join(host.sysfs, 'bus/pci/devices');
  let addrs: string[];
  try {
    addrs = fs.readdirSync(base).sort();
  } catch {
    return [];
  }
  const read = (p: string): string | null => {
    try {
      return fs.readFileSync(p, 'utf8').trim();
    } catch {
      return null;
    }
  };
  const nics: Nic[] = [];
  for (const addr of addrs) {
    const cls = read(path.join(base, addr, 'class'));
    // PCI class 0x02: network controller (0x0200 Ethernet).
    if (!cls || !cls.startsWith('0x02')) continue;
    let ifname: string | null = null;
    for (const dir of [path.join(base, addr, 'net'), ...virtioNetDirs(path.join(base, addr))]) {
      try {
        const names = fs.readdirSync(dir);
        if (names.length) {
          ifname = names.sort()[0];
          break;
        }
      } catch {
        /* no driver bound yet */
      }
    }
    let driver: string | null = null;
    try {
      driver = path.basename(fs.readlinkSync(path.join(base, addr, 'driver')));
    } catch {
      /* unbound */
    }
    const mac = ifname ? read(path.join(host.sysfs, 'class/net', ifname, 'address')) : null;
    if (nics.length < INTERFACE_NAMES.length) nics.push({ name: INTERFACE_NAMES[nics.length], pci: addr, ifname, mac, driver });
  }
  return nics;
}

// virtio-net hangs its netdev under a virtioN child of the PCI function.
function virtioNetDirs(dev: string): string[] {
  try {
    return fs
      .readdirSync(dev)
      .filter((d) => /^virtio\d+$/.test(d))
      .map((d) => path.join(dev, d, 'net'));
  } catch {
    return [];
  }
}
