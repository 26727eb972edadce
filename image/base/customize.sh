#!/bin/bash
# Hardening and trimming of the base root filesystem. Runs as an mmdebstrap customize hook
# with the root directory as $1 (proc, sys and dev are mounted there).
set -euo pipefail
R="$1"
here=$(cd "$(dirname "$0")" && pwd)

# --- files of the base layer (sysctls, default-deny firewall, initramfs settings)
cp -a "$here/files/." "$R/"

# --- login.defs: Keel's users live in its own store (appliance/users), not in /etc/shadow, where no
# account has a password (root locked, keel without login). These are for anything made later:
# strong hashing, files private to their group by default.
sed -i -E 's/^UMASK[[:space:]].*/UMASK\t\t027/' "$R/etc/login.defs"
grep -q '^UMASK' "$R/etc/login.defs" || printf 'UMASK\t\t027\n' >> "$R/etc/login.defs"
printf 'SHA_CRYPT_MIN_ROUNDS\t65536\nSHA_CRYPT_MAX_ROUNDS\t65536\nYESCRYPT_COST_FACTOR\t8\n' >> "$R/etc/login.defs"
# core dumps: Keel's limits.d file (files/) replaces Debian's, whose hard limit is unlimited
rm -f "$R/etc/security/limits.d/10-coredump-debian.conf"

# --- accounts: root locked, no login shell
chroot "$R" passwd -l root >/dev/null
chroot "$R" usermod -s /usr/sbin/nologin root

# --- the unprivileged user of System Manager and the SSH CLI (keel-serve.service). Fixed ids:
# the data partition's files keep their owner across versions.
chroot "$R" groupadd --system --gid 800 keel
chroot "$R" useradd --system --uid 800 --gid 800 --home-dir /var/lib/keel --no-create-home --shell /usr/sbin/nologin keel

# --- no login shell on any console: mask every getty; Keel's own console units replace them
for u in getty@.service serial-getty@.service autovt@.service console-getty.service container-getty@.service getty-static.service debug-shell.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done

# --- services: networkd and nftables on; nothing waits for "online"
chroot "$R" systemctl enable systemd-networkd.service nftables.service >/dev/null 2>&1
chroot "$R" systemctl disable systemd-networkd-wait-online.service >/dev/null 2>&1 || true
chroot "$R" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1 || true
# The root file system is an immutable image: caches that "update" services rebuild at every boot
# (the /usr timestamp of a fresh overlay always looks new) are built here once instead.
# No login sessions exist on Keel (its consoles are its own units), so no logind either: under
# emulation its start alone took minutes.
for u in ldconfig.service systemd-journal-catalog-update.service systemd-update-done.service systemd-hwdb-update.service e2scrub_reap.service e2scrub_all.timer systemd-logind.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
chroot "$R" ldconfig
chroot "$R" journalctl --update-catalog >/dev/null 2>&1 || true
echo keel > "$R/etc/hostname"

# --- size: kernel modules the six platforms never need, docs, locales
kver=$(ls "$R/usr/lib/modules" | head -n1)
K="$R/usr/lib/modules/$kver/kernel"
while read -r d; do
  [ -z "$d" ] || [ "${d#\#}" != "$d" ] || rm -rf "${K:?}/$d"
done < "$here/drop-modules.txt"
chroot "$R" depmod -a "$kver"
rm -rf "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/lintian "$R"/usr/share/bug
find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.UTF-8' ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
# iconv modules beyond UTF-8/UTF-16/UTF-32 (Keel reads and writes UTF-8 and ASCII only), shell completion
find "$R/usr/lib/x86_64-linux-gnu/gconv" -maxdepth 1 -type f -name '*.so' ! -name 'UTF-*' ! -name 'UNICODE.so' -delete 2>/dev/null || true
rm -rf "$R"/usr/share/bash-completion
rm -rf "$R"/var/cache/apt/* "$R"/var/lib/apt/lists/* "$R"/var/log/*.log "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old

# --- udev's hardware database: the vendor and model name tables (USB, PCI, OUI, Bluetooth, ACPI,
# consumer devices) are most of its 27 MB and nothing on the appliance reads them. The entries that
# change how a device behaves (NIC naming, Hyper-V VMBus classes, keyboards, link-local) stay,
# compiled once here (systemd-hwdb-update.service is masked above).
H="$R/usr/lib/udev/hwdb.d"
rm -f "$H"/20-OUI.hwdb "$H"/20-acpi-vendor.hwdb "$H"/20-bluetooth-vendor-product.hwdb "$H"/20-pci-vendor-model.hwdb \
      "$H"/20-pci-classes.hwdb "$H"/20-sdio-*.hwdb "$H"/20-usb-vendor-model.hwdb "$H"/20-usb-classes.hwdb \
      "$H"/60-autosuspend*.hwdb "$H"/60-sensor.hwdb "$H"/70-*.hwdb "$H"/80-ieee1394-unit-function.hwdb
chroot "$R" systemd-hwdb update --usr

# --- a small initramfs: only the modules needed to find and mount the system
# live-boot's hook adds every network driver (5 MB, for booting over the network, which Keel
# never does) and file systems Keel never boots from. Its `auto_add_modules` calls are carried out
# after all hooks have run, so Keel's own hook cannot take them back: they are removed from live's
# hook here, and the build fails if that line is gone (upstream changed: look again).
L="$R/usr/share/initramfs-tools/hooks/live"
grep -qx 'auto_add_modules net' "$L" || { echo "customize: live-boot's hook no longer has 'auto_add_modules net'" >&2; exit 1; }
sed -i -e '/^auto_add_modules net$/d' -e '/^manual_add_modules \(btrfs\|hfs\|hfsplus\|jffs2\)$/d' "$L"
printf '%s\n' '# Keel boots from its own disk or medium: no NTFS or exFAT media.' DISABLE_NTFS=true DISABLE_EXFAT=true > "$R/etc/live/boot.conf"
chroot "$R" update-initramfs -u -k "$kver" >/dev/null
# machine-id is made at first boot
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
