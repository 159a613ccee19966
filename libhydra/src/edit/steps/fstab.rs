//! The `fstab` step (L7): VMware device names of the system disks become `UUID=`, network filesystems are disabled, unresolvable entries get `nofail`.
//!
//! Rules, exactly as the requirement states them, and what Hydra adds:
//! - An entry whose spec is a kernel device name (`/dev/sda2`, `/dev/hdb1`,
//!   `/dev/vda1`, `/dev/xvda1`) for the root or `/boot`, or for a partition
//!   on the same disk as the root or `/boot`, gets `UUID=<its filesystem UUID>`.
//!   On Azure the disks are SCSI devices in another order (`/dev/sdb` is the
//!   temporary resource disk), so those names would point elsewhere.
//! - `UUID=`, `LABEL=`, LVM paths (`/dev/mapper/vg-lv`, `/dev/vg/lv`) are left alone.
//! - Network filesystems (nfs, nfs4, cifs, smbfs, and the others libmount and
//!   systemd call network filesystems) are commented out with the marker
//!   [`DISABLED_MARKER`] in front of the unchanged line, so that the VM boots
//!   without its network shares; after the move,
//!   `sed -i 's/^# hydra-disabled: //' /etc/fstab` brings them back.
//! - Every other entry must resolve against the guest's disks; one that does
//!   not (a disk that was not given, a stale UUID) gets `nofail` and a
//!   warning, so that boot does not stop at an emergency shell. A device name
//!   on another disk is kept (the requirement) with a warning that the name
//!   may change on Azure.

use std::collections::BTreeSet;

use crate::edit::error::EditError;
use crate::edit::facts::{FsRef, Lookup};
use crate::edit::plan::{Context, Step, StepPlan};
use crate::format::fstab::{Fstab as FstabFile, Spec, DISABLED_MARKER};

/// Guest path of the file.
pub const FSTAB: &str = "/etc/fstab";

/// The fstab step.
pub struct Fstab;

/// A kernel disk name the source hypervisor assigned: `sdX`, `hdX`, `vdX`, `xvdX` (+ partition).
pub fn is_kernel_disk_name(path: &str) -> bool {
    let Some(name) = path.strip_prefix("/dev/") else {
        return false;
    };
    let rest = ["xvd", "sd", "hd", "vd"]
        .iter()
        .find_map(|p| name.strip_prefix(p));
    match rest {
        Some(r) => {
            let letters = r.chars().take_while(|c| c.is_ascii_lowercase()).count();
            letters >= 1 && r[letters..].chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

impl Step for Fstab {
    fn name(&self) -> &'static str {
        "fstab"
    }

    fn requirement(&self) -> &'static str {
        "L7"
    }

    fn summary(&self) -> &'static str {
        "system-disk device names to UUID=, network filesystems disabled, unresolvable entries nofail"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut plan = StepPlan::new(self.name(), self.requirement());
        let Some(bytes) = cx
            .read(FSTAB)
            .map_err(|e| EditError::guest(self.name(), e))?
        else {
            plan.block(format!(
                "{FSTAB} does not exist: the guest cannot mount its filesystems"
            ));
            return Ok(plan);
        };
        let mut fstab = FstabFile::parse(&bytes);
        for p in fstab.problems() {
            plan.warn(format!("{FSTAB}: {p} (left as it is; mount ignores it)"));
        }

        // What each entry names.
        let entries: Vec<(usize, String, String, String, String, bool, bool)> = fstab
            .entries()
            .map(|(n, e)| {
                (
                    n,
                    e.spec_field().value().to_string(),
                    e.target().to_string(),
                    e.vfstype().to_string(),
                    e.options().as_str().to_string(),
                    e.is_network_fs(),
                    e.nofail() || e.noauto(),
                )
            })
            .collect();
        let lookup = |spec: &str, target: &str, vfstype: &str, opts: &str| -> Lookup {
            match cx.facts.lookup(spec, vfstype, opts) {
                Lookup::Found(r) => Lookup::Found(r),
                other => match cx.facts.mount(target) {
                    // A tree mounted by someone else: its mounts are what the
                    // entries for / and /boot name.
                    Some(r) if target == "/" || target == "/boot" => Lookup::Found(r.clone()),
                    _ => other,
                },
            }
        };
        let mut system_disks = BTreeSet::new();
        for (_, spec, target, vfstype, opts, ..) in &entries {
            if target == "/" || target == "/boot" {
                if let Lookup::Found(FsRef { disk: Some(d), .. }) =
                    lookup(spec, target, vfstype, opts)
                {
                    system_disks.insert(d);
                }
            }
        }

        let mut edits = Vec::new();
        for (line, spec, target, vfstype, opts, network, tolerant) in &entries {
            let at = format!("line {line} ({spec} on {target})");
            if *network {
                fstab
                    .comment_out(*line, DISABLED_MARKER)
                    .map_err(|e| EditError::refused(self.name(), e.to_string()))?;
                edits.push(format!("{at}: {vfstype} is a network filesystem; disabled so that boot does not wait for it"));
                continue;
            }
            let parsed = Spec::parse(spec);
            if !parsed.names_device() {
                continue;
            }
            match lookup(spec, target, vfstype, opts) {
                Lookup::Found(r) => {
                    if !is_kernel_disk_name(spec) {
                        continue;
                    }
                    let system = target == "/"
                        || target == "/boot"
                        || r.disk.is_some_and(|d| system_disks.contains(&d));
                    if !system {
                        plan.warn(format!(
                            "{at}: a device name on a data disk ({}); kept as the requirement says, but disk names may change on Azure",
                            r.volume
                        ));
                        continue;
                    }
                    match &r.fs.uuid {
                        Some(u) => {
                            fstab
                                .replace_spec(*line, &format!("UUID={u}"))
                                .map_err(|e| EditError::refused(self.name(), e.to_string()))?;
                            edits.push(format!(
                                "{at}: {spec} is a VMware disk name for {}; now UUID={u}",
                                r.volume
                            ));
                        }
                        None => plan.warn(format!(
                            "{at}: {} has no filesystem UUID; the device name stays",
                            r.volume
                        )),
                    }
                }
                Lookup::NotADisk(_) => {}
                Lookup::Unresolved(why) => {
                    if target == "/" {
                        plan.warn(format!(
                            "{at}: does not resolve against the guest's disks ({why})"
                        ));
                    } else if !*tolerant {
                        fstab
                            .add_option(*line, "nofail")
                            .map_err(|e| EditError::refused(self.name(), e.to_string()))?;
                        plan.warn(format!("{at}: does not resolve against the guest's disks ({why}); nofail added so that boot goes on without it"));
                        edits.push(format!("{at}: nofail (unresolvable)"));
                    } else {
                        plan.warn(format!("{at}: does not resolve against the guest's disks ({why}); it is already nofail/noauto"));
                    }
                }
            }
        }
        plan.check(
            "fstab names the system disks by UUID and mounts no network filesystem at boot",
            edits.is_empty(),
            if edits.is_empty() {
                "already so".to_string()
            } else {
                format!("{} entries to change", edits.len())
            },
        );
        if !edits.is_empty() {
            plan.write(cx, FSTAB, fstab.to_bytes(), edits.join("\n"))?;
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::is_kernel_disk_name;

    #[test]
    fn kernel_disk_names() {
        for n in [
            "/dev/sda",
            "/dev/sda1",
            "/dev/sdab12",
            "/dev/hdb3",
            "/dev/vda1",
            "/dev/xvda2",
        ] {
            assert!(is_kernel_disk_name(n), "{n}");
        }
        for n in [
            "/dev/mapper/vg-root",
            "/dev/vg/lv",
            "/dev/sd",
            "/dev/sda1p",
            "/dev/disk/by-uuid/x",
            "/dev/nvme0n1p1",
            "/dev/dm-0",
            "sda1",
        ] {
            assert!(!is_kernel_disk_name(n), "{n}");
        }
    }
}
