//! LVM through lvm2 with real activation, scoped to the guest's PVs: the [`ActiveVg`] guard activates one guest VG (`vgchange -ay`) and deactivates exactly that VG (`vgchange -an`); [`check_clash`] finds a guest VG whose names the helper already uses.
//!
//! The kernel path's answer to LVM (requirement L0.2): lvm2 itself activates
//! the guest's VGs, so every segment type it knows (striped, raid, thin,
//! cache, ...) works, where Hydra's own mapping ([`super::lvmap`]) does linear
//! LVs only.
//!
//! # Scope
//!
//! Every lvm command Hydra runs is confined to the guest's PVs and leaves the
//! helper's lvm state alone:
//!
//! - `--devices DEV` for each attached PV of the VG (lvm2 2.03.12+): lvm reads
//!   those devices and no other, so the helper's own VGs are never scanned,
//!   activated or deactivated, whatever their names;
//! - `--config` ([`lvm_config`]): no devices file (`use_devicesfile=0`, the
//!   `--devices` list replaces it), no hints file, an accept-all filter (the
//!   helper's `filter`/`global_filter` may reject loop or NBD devices; the
//!   `--devices` list is the filter), no lvmpolld, no dmeventd monitoring (it
//!   would start a daemon that outlives the session), no udev (`udev_sync=0
//!   udev_rules=0`: lvm makes the `/dev/mapper` nodes and `/dev/VG` links
//!   itself), no metadata backup or archive (they would be written to the
//!   *helper's* `/etc/lvm/backup/VG`, clobbering the file of a helper VG with
//!   the same name), and `metadata_read_only=1`: Hydra never changes the
//!   guest's LVM metadata; activation does not need to;
//! - `DM_DISABLE_UDEV=1` in the environment (libdevmapper makes the nodes);
//! - a read-only session activates with `read_only_volume_list = ["VG"]`:
//!   measured in the emulated VM, lvm2 otherwise makes read-write mappings
//!   over read-only loop devices (writes then fail below device-mapper).
//!
//! After `vgchange -ay` every device-mapper device of the VG (dm UUID
//! `LVM-<vg uuid>...`) must map onto the guest's PVs (or onto other devices of
//! the VG): a mapping onto anything else is deactivated and refused, so that a
//! hydration can never write into a helper disk. `vgchange -an` at close runs
//! with the same scope, and sysfs must then show no device with the VG's
//! UUID prefix.
//!
//! # Name clashes: the policy
//!
//! device-mapper names come from VG names (`rhel-root`), and so do the
//! `/dev/rhel/` links; lvm2 offers no way to activate a VG under another name
//! without renaming it on disk (`vgrename`, `vgimportclone`), which would
//! change the guest (its fstab, GRUB and initramfs name `rhel`) and, after a
//! crash between the rename and the rename back, leave it unbootable. So:
//!
//! **A guest VG whose names the helper already uses is not activated by
//! lvm2.** [`check_clash`] looks at what activation could collide with: the
//! kernel's device-mapper devices (a name whose VG part is the guest VG's
//! name, or a dm UUID with the guest VG's UUID: a helper cloned from the same
//! image as the guest, where lvm2 would take the helper's active LVs for the
//! guest's and `vgchange -an` would deactivate the helper's) and `/dev/<VG>`
//! (the helper's links, or any other `/dev` entry of that name: a guest VG
//! called `disk` or `mapper`). [`activate`] refuses such a VG with
//! [`VgClash`], whose message names the VG and what the helper has, and says
//! how to proceed. The assembly then, on [`super::kernel::AttachPath::Auto`],
//! maps that VG's LVs the userspace way (Hydra's own loop mapping from the
//! scanned metadata, which never registers anything with device-mapper or
//! lvm2, so the clash cannot matter; linear LVs only, the others are reported
//! as not mapped); on a forced [`super::kernel::AttachPath::Kernel`] it fails
//! with the message.
//!
//! Why refusing (and falling back) rather than a session-unique name: the
//! only lvm2-free way to get unique names is to build the device-mapper
//! tables by hand (`dmsetup create hydra-...`), that is, to reimplement
//! activation for every segment type; the fallback already exists, is tested
//! on every machine, and the refusal costs nothing on the helper.
//!
//! What is not detected: a helper VG of the same name that is entirely
//! *inactive* has no device-mapper device and no `/dev` entry, so there is
//! nothing to collide with now. If the helper activates it during the session,
//! that fails cleanly (lvm2 with the helper's own scan sees two VGs of that
//! name and refuses both; with a devices file it sees only its own and
//! device-mapper refuses the existing name); nothing of either VG is touched.
//! Listing the helper's VGs instead would mean an lvm scan of every helper
//! device (slow or hanging on a dead SAN path), which the scope above avoids.

use super::AttachError;
use crate::exec::Cmd;
use crate::layout::VolumeGroup;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lvm2 multi-call binary.
pub const LVM: &str = "lvm";
/// How many times `vgchange -an` is tried while a device is still busy.
const DEACTIVATE_TRIES: usize = 3;

/// The `--config` given to every lvm command (see the module docs); with
/// `read_only_vg`, that VG's LVs are activated read-only.
pub fn lvm_config(read_only_vg: Option<&str>) -> String {
    let ro = read_only_vg
        .map(|vg| format!(" read_only_volume_list=[\"{vg}\"]"))
        .unwrap_or_default();
    format!(
        "devices{{use_devicesfile=0 hints=\"none\" obtain_device_list_from_udev=0 \
         filter=[\"a|.*|\"] global_filter=[\"a|.*|\"]}} \
         global{{use_lvmpolld=0 metadata_read_only=1}} \
         activation{{udev_sync=0 udev_rules=0 verify_udev_operations=0 monitoring=0{ro}}} \
         backup{{backup=0 archive=0}}"
    )
}

/// An lvm command scoped to `devices` (see the module docs).
pub fn lvm_command(sub: &str, devices: &[PathBuf], read_only_vg: Option<&str>) -> Cmd {
    let mut c = Cmd::new(LVM).arg(sub);
    for d in devices {
        c = c.arg("--devices").arg(d);
    }
    c.arg("--config")
        .arg(lvm_config(read_only_vg))
        .env("DM_DISABLE_UDEV", "1")
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
}

/// A device-mapper device as sysfs shows it (`/sys/block/dm-N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmDevice {
    /// Kernel name, `dm-N`.
    pub kernel_name: String,
    /// dm name (`rhel-root`).
    pub name: String,
    /// dm UUID (`LVM-<vg uuid><lv uuid>` for lvm2's); may be empty.
    pub uuid: String,
    /// The block devices it maps onto (`loop3p3`, `nbd0p3`, `dm-2`).
    pub slaves: Vec<String>,
}

/// Every device-mapper device the kernel has, from sysfs.
pub fn dm_devices() -> io::Result<Vec<DmDevice>> {
    let mut out = Vec::new();
    for e in fs::read_dir("/sys/block")?.flatten() {
        let kernel_name = e.file_name().to_string_lossy().into_owned();
        if !kernel_name.starts_with("dm-") {
            continue;
        }
        let dir = e.path();
        let read = |f: &str| {
            fs::read_to_string(dir.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let mut slaves: Vec<String> = fs::read_dir(dir.join("slaves"))
            .map(|d| {
                d.flatten()
                    .map(|s| s.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        slaves.sort();
        out.push(DmDevice {
            name: read("dm/name"),
            uuid: read("dm/uuid"),
            kernel_name,
            slaves,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Split an lvm2 dm name into its VG and the rest (`my--vg-root` -> `my-vg`,
/// `root`): the VG part ends at the first single `-`; `--` is an escaped `-`.
/// `None` when there is no single `-` (not an LV's name).
pub fn split_dm_name(name: &str) -> Option<(String, String)> {
    let b = name.as_bytes();
    let mut vg = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            if b.get(i + 1) == Some(&b'-') {
                vg.push('-');
                i += 2;
                continue;
            }
            return Some((vg, name[i + 1..].replace("--", "-")));
        }
        vg.push(b[i] as char);
        i += 1;
    }
    None
}

/// The dm UUID prefix of every device of a VG: `LVM-` and the VG UUID without dashes.
pub fn dm_uuid_prefix(vg_uuid: &str) -> String {
    format!("LVM-{}", vg_uuid.replace('-', ""))
}

/// The dm UUID of one LV's top device.
pub fn dm_uuid(vg_uuid: &str, lv_uuid: &str) -> String {
    format!("{}{}", dm_uuid_prefix(vg_uuid), lv_uuid.replace('-', ""))
}

/// A guest VG whose names the helper already uses (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct VgClash {
    /// The guest VG's name.
    pub vg: String,
    /// The guest VG's UUID.
    pub uuid: String,
    /// Helper dm devices whose VG part is the same name.
    pub same_name: Vec<String>,
    /// Active dm devices with the guest VG's UUID (a cloned helper, or the same
    /// disks attached by another session).
    pub same_uuid: Vec<String>,
    /// `/dev/<VG>` when it exists.
    pub dev_entry: Option<PathBuf>,
}

impl VgClash {
    /// What the helper has, in one line (no advice).
    pub fn summary(&self) -> String {
        let mut what = Vec::new();
        if !self.same_uuid.is_empty() {
            what.push(format!(
                "device-mapper devices with the same VG UUID ({}: a helper cloned from the \
                 same image, or these disks attached twice)",
                self.same_uuid.join(", ")
            ));
        }
        if !self.same_name.is_empty() {
            what.push(format!(
                "its own VG `{}` active ({})",
                self.vg,
                self.same_name.join(", ")
            ));
        }
        if let Some(d) = &self.dev_entry {
            what.push(format!("{} exists", d.display()));
        }
        format!(
            "guest VG `{}` (uuid {}) clashes with the helper: the helper has {}",
            self.vg,
            self.uuid,
            what.join(", and ")
        )
    }
}

impl fmt::Display for VgClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}. Activating the guest's VG with lvm2 would mix the two in /dev/mapper and \
             /dev/{}; nothing was activated. To proceed: assemble with \
             HYDRA_ATTACH_PATH=userspace (or `auto`), where Hydra maps the guest's linear LVs \
             itself without registering them with the helper's lvm2, or use a helper without \
             an active VG named `{}`",
            self.summary(),
            self.vg,
            self.vg
        )
    }
}

impl From<VgClash> for AttachError {
    fn from(c: VgClash) -> Self {
        AttachError::Invalid {
            object: PathBuf::from(format!("/dev/{}", c.vg)),
            what: c.to_string(),
        }
    }
}

/// The clash of guest VG `name`/`uuid` with the dm devices `dm` and an existing
/// `/dev/<name>` entry `dev_entry` (pure).
pub fn find_clash(
    name: &str,
    uuid: &str,
    dm: &[DmDevice],
    dev_entry: Option<PathBuf>,
) -> Option<VgClash> {
    let prefix = dm_uuid_prefix(uuid);
    let same_uuid: Vec<String> = dm
        .iter()
        .filter(|d| d.uuid.starts_with(&prefix))
        .map(|d| d.name.clone())
        .collect();
    let same_name: Vec<String> = dm
        .iter()
        .filter(|d| !d.uuid.starts_with(&prefix))
        .filter(|d| split_dm_name(&d.name).is_some_and(|(vg, _)| vg == name))
        .map(|d| d.name.clone())
        .collect();
    (!same_uuid.is_empty() || !same_name.is_empty() || dev_entry.is_some()).then(|| VgClash {
        vg: name.to_string(),
        uuid: uuid.to_string(),
        same_name,
        same_uuid,
        dev_entry,
    })
}

/// Whether activating `vg` with lvm2 would clash with the helper (see the
/// module docs). `Err` only when the kernel's devices cannot be listed.
pub fn check_clash(vg: &VolumeGroup) -> Result<Option<VgClash>, AttachError> {
    let dm = dm_devices().map_err(|e| AttachError::os(Path::new("/sys/block"), "list", e))?;
    let dev = Path::new("/dev").join(&vg.name);
    let dev_entry = fs::symlink_metadata(&dev).is_ok().then_some(dev);
    Ok(find_clash(&vg.name, &vg.uuid, &dm, dev_entry))
}

/// How to activate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lvm2Options {
    /// Activate read-only.
    pub read_only: bool,
    /// How long one lvm command may take.
    pub timeout: Duration,
}

impl Default for Lvm2Options {
    fn default() -> Self {
        Lvm2Options {
            read_only: false,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One active, visible LV of an [`ActiveVg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLv {
    /// LV name.
    pub name: String,
    /// Its block device: `/dev/mapper/<dm name>` (or `/dev/dm-N` when lvm
    /// could not make the mapper node).
    pub path: PathBuf,
    /// dm name (`rhel-root`).
    pub dm_name: String,
    /// Kernel name (`dm-3`).
    pub kernel_name: String,
}

/// A guest VG activated by lvm2. Deactivate with [`ActiveVg::close`]; dropping
/// it deactivates too (best effort, failures logged).
#[derive(Debug)]
pub struct ActiveVg {
    name: String,
    uuid: String,
    devices: Vec<PathBuf>,
    read_only: bool,
    timeout: Duration,
    lvs: Vec<ActiveLv>,
    notes: Vec<String>,
    /// A `vgchange -an` is owed.
    active: bool,
}

/// Activate `vg` with lvm2, reading only `pv_devices` (the block devices of its
/// PVs on the attached disks). Refuses a clash ([`check_clash`]), a VG that
/// activated nothing, and a mapping onto anything but the guest's PVs. LVs
/// that did not activate (a partial VG) are listed in [`ActiveVg::notes`].
pub fn activate(
    vg: &VolumeGroup,
    pv_devices: &[PathBuf],
    opts: &Lvm2Options,
) -> Result<ActiveVg, AttachError> {
    let object = PathBuf::from(format!("/dev/{}", vg.name));
    if let Some(c) = check_clash(vg)? {
        return Err(c.into());
    }
    if pv_devices.is_empty() {
        return Err(AttachError::Invalid {
            object,
            what: "none of the VG's PVs is attached".into(),
        });
    }
    let mut guard = ActiveVg {
        name: vg.name.clone(),
        uuid: vg.uuid.clone(),
        devices: pv_devices.to_vec(),
        read_only: opts.read_only,
        timeout: opts.timeout,
        lvs: Vec::new(),
        notes: Vec::new(),
        active: false,
    };
    let r = guard
        .command("vgchange")
        .args(["-ay", "--ignoremonitoring"])
        .arg(&vg.name)
        .describe(format!("activate guest VG {} with lvm2", vg.name))
        .timeout(opts.timeout)
        .run();
    let ours = guard.dm_devices()?;
    if !ours.is_empty() {
        guard.active = true; // from here on, dropping `guard` deactivates
    }
    match r {
        Ok(_) if ours.is_empty() => {
            return Err(AttachError::Invalid {
                object,
                what: "vgchange -ay succeeded but no device of the VG is active".into(),
            })
        }
        Ok(_) => {}
        Err(e) if ours.is_empty() => {
            return Err(AttachError::Invalid {
                object,
                what: e.to_string(),
            })
        }
        Err(e) => guard.notes.push(format!("activation was partial: {e}")),
    }
    // Every mapping must lie on the guest's PVs (or on other devices of the VG).
    let mut allowed: Vec<String> = pv_devices
        .iter()
        .filter_map(|p| {
            fs::canonicalize(p)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    allowed.extend(ours.iter().map(|d| d.kernel_name.clone()));
    for d in &ours {
        let stray: Vec<&String> = d.slaves.iter().filter(|s| !allowed.contains(s)).collect();
        if !stray.is_empty() {
            return Err(AttachError::Invalid {
                object,
                what: format!(
                    "refusing the activation: {} maps onto {:?}, which are not the guest's PVs \
                     ({}); deactivated",
                    d.name,
                    stray,
                    pv_devices
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    for lv in vg.lvs.iter().filter(|l| l.visible) {
        let want = dm_uuid(&vg.uuid, &lv.uuid);
        match ours.iter().find(|d| d.uuid == want) {
            Some(d) => {
                let path = mapper_node(d)?;
                guard.lvs.push(ActiveLv {
                    name: lv.name.clone(),
                    path,
                    dm_name: d.name.clone(),
                    kernel_name: d.kernel_name.clone(),
                });
            }
            None => guard
                .notes
                .push(format!("LV {}/{} was not activated", vg.name, lv.name)),
        }
    }
    tracing::info!(
        vg = %vg.name,
        lvs = guard.lvs.len(),
        devices = ?pv_devices,
        read_only = opts.read_only,
        "guest VG activated by lvm2"
    );
    Ok(guard)
}

/// `/dev/mapper/<name>` for `d`, made with `dmsetup mknodes` when lvm did not
/// make it; `/dev/dm-N` when that fails too.
fn mapper_node(d: &DmDevice) -> Result<PathBuf, AttachError> {
    let want = super::sys::sysfs_devnum(&d.kernel_name)
        .map_err(|e| AttachError::os(Path::new(&d.kernel_name), "read dev from sysfs", e))?;
    let ok = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.file_type().is_block_device() && m.rdev() == want)
            .unwrap_or(false)
    };
    let mapper = PathBuf::from(format!("/dev/mapper/{}", d.name));
    if ok(&mapper) {
        return Ok(mapper);
    }
    let r = Cmd::new("dmsetup")
        .arg("mknodes")
        .arg(&d.name)
        .env("DM_DISABLE_UDEV", "1")
        .describe(format!("create /dev/mapper/{}", d.name))
        .timeout(Duration::from_secs(30))
        .run();
    if ok(&mapper) {
        return Ok(mapper);
    }
    let kernel = PathBuf::from(format!("/dev/{}", d.kernel_name));
    if ok(&kernel) {
        tracing::warn!(node = %mapper.display(), error = ?r.err(), "no mapper node; using {}", kernel.display());
        return Ok(kernel);
    }
    Err(AttachError::Invalid {
        object: mapper,
        what: format!(
            "no device node for {} (neither lvm nor `dmsetup mknodes` made it)",
            d.kernel_name
        ),
    })
}

impl ActiveVg {
    fn command(&self, sub: &str) -> Cmd {
        lvm_command(
            sub,
            &self.devices,
            self.read_only.then_some(self.name.as_str()),
        )
    }

    /// The dm devices of this VG now (UUID prefix).
    fn dm_devices(&self) -> Result<Vec<DmDevice>, AttachError> {
        let prefix = dm_uuid_prefix(&self.uuid);
        Ok(dm_devices()
            .map_err(|e| AttachError::os(Path::new("/sys/block"), "list", e))?
            .into_iter()
            .filter(|d| d.uuid.starts_with(&prefix))
            .collect())
    }

    /// VG name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// VG UUID.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The PV devices lvm was confined to.
    pub fn devices(&self) -> &[PathBuf] {
        &self.devices
    }

    /// Whether the LVs were activated read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The visible LVs that are active, in metadata order.
    pub fn lvs(&self) -> &[ActiveLv] {
        &self.lvs
    }

    /// One active LV by name.
    pub fn lv(&self, name: &str) -> Option<&ActiveLv> {
        self.lvs.iter().find(|l| l.name == name)
    }

    /// What did not activate, and lvm's complaint when it was partial.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Flush the LVs, `vgchange -an` (scoped), and check that no device of the
    /// VG is left. Reports every failure.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.teardown()
    }

    /// Leave the VG active but let go of it (`hydra-mount mount`).
    pub fn release(self) {
        std::mem::forget(self);
    }

    fn teardown(&mut self) -> Result<(), AttachError> {
        if !self.active {
            return Ok(());
        }
        self.active = false;
        let object = PathBuf::from(format!("/dev/{}", self.name));
        let mut errors = Vec::new();
        for lv in &self.lvs {
            if let Err(e) = flush(&lv.path) {
                errors.push(AttachError::os(&lv.path, "flush", e));
            }
        }
        let mut last = None;
        for attempt in 0..DEACTIVATE_TRIES {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            last = self
                .command("vgchange")
                .args(["-an", "--ignoremonitoring"])
                .arg(&self.name)
                .describe(format!("deactivate guest VG {}", self.name))
                .timeout(self.timeout)
                .run()
                .err();
            match self.dm_devices() {
                Ok(v) if v.is_empty() => {
                    last = None;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        match self.dm_devices() {
            Ok(left) if !left.is_empty() => errors.push(AttachError::Invalid {
                object: object.clone(),
                what: format!(
                    "still active after vgchange -an: {}{}",
                    left.iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    last.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            }),
            Ok(_) => {
                // lvm removes its /dev/VG links; an empty directory may stay.
                let _ = fs::remove_dir(&object);
                tracing::info!(vg = %self.name, "guest VG deactivated");
            }
            Err(e) => errors.push(e),
        }
        AttachError::collect(errors)
    }
}

impl Drop for ActiveVg {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(vg = %self.name, error = %e, "guest VG deactivation failed");
        }
    }
}

/// Deactivate a guest VG that a killed session left active, from what its session
/// marker recorded: `vgchange -an` scoped to `devices` (the guest's PVs), then a
/// check that no device-mapper device with the VG's UUID is left. Nothing is done
/// when none is active (`Ok(false)`).
pub fn deactivate_recorded(
    name: &str,
    uuid: &str,
    devices: &[PathBuf],
) -> Result<bool, AttachError> {
    let prefix = dm_uuid_prefix(uuid);
    let active = |()| -> Result<Vec<DmDevice>, AttachError> {
        Ok(dm_devices()
            .map_err(|e| AttachError::os(Path::new("/sys/block"), "list", e))?
            .into_iter()
            .filter(|d| d.uuid.starts_with(&prefix))
            .collect())
    };
    if active(())?.is_empty() {
        return Ok(false);
    }
    let mut last = None;
    for attempt in 0..DEACTIVATE_TRIES {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        last = lvm_command("vgchange", devices, None)
            .args(["-an", "--ignoremonitoring", name])
            .describe(format!(
                "deactivate guest VG {name} left by a killed session"
            ))
            .run()
            .err();
        if active(())?.is_empty() {
            let _ = fs::remove_dir(format!("/dev/{name}"));
            return Ok(true);
        }
    }
    Err(AttachError::Invalid {
        object: PathBuf::from(format!("/dev/{name}")),
        what: format!(
            "still active after vgchange -an{}",
            last.map(|e| format!(" ({e})")).unwrap_or_default()
        ),
    })
}

/// fsync and `BLKFLSBUF` one block device.
fn flush(dev: &Path) -> io::Result<()> {
    let f = File::open(dev)?;
    // SAFETY: the fd is valid while `f` lives.
    if unsafe { libc::fsync(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    super::sys::ioctl_int(&f, super::sys::BLKFLSBUF, 0).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dm(kernel: &str, name: &str, uuid: &str, slaves: &[&str]) -> DmDevice {
        DmDevice {
            kernel_name: kernel.into(),
            name: name.into(),
            uuid: uuid.into(),
            slaves: slaves.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dm_names_split_like_dmsetup_splitname() {
        let s = split_dm_name;
        assert_eq!(s("rhel-root"), Some(("rhel".into(), "root".into())));
        assert_eq!(
            s("ubuntu--vg-ubuntu--lv"),
            Some(("ubuntu-vg".into(), "ubuntu-lv".into()))
        );
        assert_eq!(s("vg-pool-tpool"), Some(("vg".into(), "pool-tpool".into())));
        assert_eq!(
            s("hydra_vg0-lv_a"),
            Some(("hydra_vg0".into(), "lv_a".into()))
        );
        assert_eq!(s("cryptroot"), None);
        assert_eq!(s("a--b"), None);
        // Round trip with the chroot's mapper names.
        let name = crate::assemble::devfs::dm_name("my-vg", "my-lv");
        assert_eq!(s(&name), Some(("my-vg".into(), "my-lv".into())));
    }

    #[test]
    fn uuids() {
        let vg = "35ba0e-9eb7-ca53-af4b-f91f-7ef5-7453e5";
        let lv = "050132-1ce3-eaba-88df-65a3-60e3-84aaf8";
        assert_eq!(
            dm_uuid(vg, lv),
            "LVM-35ba0e9eb7ca53af4bf91f7ef57453e50501321ce3eaba88df65a360e384aaf8"
        );
    }

    #[test]
    fn clashes() {
        let guest_uuid = "35ba0e-9eb7-ca53-af4b-f91f-7ef5-7453e5";
        let host = [
            dm(
                "dm-0",
                "rhel-root",
                "LVM-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbb",
                &["sda3"],
            ),
            dm(
                "dm-1",
                "rhel-swap",
                "LVM-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaacccc",
                &["sda3"],
            ),
            dm("dm-2", "rhelx-root", "LVM-dddd", &["sdb1"]),
            dm("dm-3", "cryptswap", "CRYPT-LUKS2-xyz", &["sda4"]),
        ];
        assert_eq!(find_clash("other", guest_uuid, &host, None), None);
        assert_eq!(find_clash("rhelx-", guest_uuid, &host, None), None);
        let c = find_clash("rhel", guest_uuid, &host, Some("/dev/rhel".into())).unwrap();
        assert_eq!(c.same_name, ["rhel-root", "rhel-swap"]);
        assert!(c.same_uuid.is_empty());
        let m = c.to_string();
        for want in [
            "guest VG `rhel`",
            guest_uuid,
            "rhel-root, rhel-swap",
            "/dev/rhel exists",
            "HYDRA_ATTACH_PATH=userspace",
            "nothing was activated",
        ] {
            assert!(m.contains(want), "{want:?} missing from: {m}");
        }
        let e: AttachError = c.into();
        assert!(
            e.to_string().starts_with("/dev/rhel: guest VG `rhel`"),
            "{e}"
        );

        // A helper cloned from the guest's image: same VG UUID under any name.
        let cloned = [dm(
            "dm-0",
            "centos-root",
            &dm_uuid(guest_uuid, "050132-1ce3-eaba-88df-65a3-60e3-84aaf8"),
            &["sda2"],
        )];
        let c = find_clash("rhel", guest_uuid, &cloned, None).unwrap();
        assert_eq!(c.same_uuid, ["centos-root"]);
        assert!(c.summary().contains("same VG UUID"), "{}", c.summary());

        // A guest VG named like a /dev directory.
        let c = find_clash("disk", guest_uuid, &[], Some("/dev/disk".into())).unwrap();
        assert!(c.summary().contains("/dev/disk exists"));
    }

    #[test]
    fn every_command_is_scoped() {
        let devs = [PathBuf::from("/dev/loop3p3"), PathBuf::from("/dev/nbd0p1")];
        let line = lvm_command("vgchange", &devs, None).command_line();
        assert!(
            line.starts_with("lvm vgchange --devices /dev/loop3p3 --devices /dev/nbd0p1 --config "),
            "{line}"
        );
        let cfg = lvm_config(None);
        for want in [
            "use_devicesfile=0",
            "hints=\"none\"",
            "global_filter=[\"a|.*|\"]",
            "use_lvmpolld=0",
            "metadata_read_only=1",
            "udev_sync=0",
            "udev_rules=0",
            "monitoring=0",
            "backup=0",
            "archive=0",
        ] {
            assert!(cfg.contains(want), "{want} missing from {cfg}");
        }
        assert!(!cfg.contains("read_only_volume_list"));
        assert!(lvm_config(Some("rhel")).contains("read_only_volume_list=[\"rhel\"]"));
    }
}
