/**
 * Appliance paths of the software update (through host.files, so a sandbox root maps them).
 * The data partition (KEEL-DATA at /var/lib/keel) is shared by both system slots.
 */

/** Trusted update signing keys (PEM SPKI Ed25519 public keys), shipped in the image. */
export const UPDATE_KEYS_DIR = '/usr/share/keel/update-keys';
/** Downloaded bundles, partial downloads (`*.part`) and the update state. */
export const UPDATES_DIR = '/var/lib/keel/updates';
/** What the update machinery knows (downloaded, staged, trial, last result), JSON. */
export const STATE_PATH = '/var/lib/keel/updates/state.json';
/** Per-slot copies of the configuration database: `/var/lib/keel/slots/<a|b>/keel.db`. */
export const SLOT_DB_DIR = '/var/lib/keel/slots';
/** GRUB environment block on the KEEL-BOOT partition (the image mounts KEEL-BOOT at /boot). */
export const GRUBENV_PATH = '/boot/grub/grubenv';
/** The running slot's system files, as live-boot mounted them. */
export const RUNNING_LIVE_DIR = '/run/live/medium/live';
/**
 * Present (a tmpfs file, gone at the next boot) when this boot's update check found work for
 * `keel update confirm`: keel-update-confirm.service starts only then (ConditionPathExists), so a
 * normal boot spends no Node start on it (issue 15).
 */
export const CONFIRM_NEEDED_PATH = '/run/keel-update-confirm';
/** Where the inactive slot is mounted while it is written. */
export const STAGE_MOUNT = '/run/keel/stage-slot';
/** Partition of a slot on the appliance. */
export const slotDevice = (slot: 'a' | 'b'): string => `/dev/disk/by-partlabel/KEEL-${slot.toUpperCase()}`;
/** In a sandbox root, a slot is this directory (its `live/` holds the system files). */
export const sandboxSlotDir = (slot: 'a' | 'b'): string => `/slots/${slot}`;
