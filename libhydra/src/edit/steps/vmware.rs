//! The `vmware` step (L9): VMware tools disabled, and the VMware disk identities LVM and blkid cached removed, so that the guest boots fast and finds its volumes on Hyper-V.
//!
//! What it does:
//! - **VMware tools disabled, not removed.** open-vm-tools (`vmtoolsd`,
//!   `vgauthd`, `open-vm-tools`, the `vmblock-fuse` mount) and the tarball
//!   VMware Tools (`vmware-tools`, `vmware-tools-thinprint`) are switched off
//!   under every init system they are installed for, through
//!   [`super::services::disable`]: systemd units lose their enablement links
//!   and are masked (`/etc/systemd/system/<unit> -> /dev/null`, so that a
//!   preset or a dependency does not start them again); SysV start links
//!   become stop links; upstart jobs get `manual` in their `.override`.
//!   The requirement says "remove or disable". Hydra disables: removing a
//!   package needs the guest's rpm/dpkg/zypper running in the chroot (not
//!   every helper can, and the tarball tools have no package at all), and a
//!   removal cannot be rolled back by restoring files, while these file
//!   changes are restored exactly by [`crate::edit::txn::rollback`]. On
//!   Hyper-V the tools only fail (vmtoolsd finds no VMware backdoor, the
//!   tarball's boot script tries to reconfigure its modules and slows boot);
//!   the user removes the packages on Azure when convenient.
//! - **`/etc/lvm/devices/system.devices` removed.** RHEL 9 (and 8.5+ where
//!   enabled) lists in it the device IDs (`sys_wwid`, `sys_serial` of the
//!   VMware disks) LVM may use; on Azure the disks have other IDs, LVM
//!   ignores them and the root volume group does not activate. Without the
//!   file LVM scans every device, as before devices files. The initramfs
//!   carries a copy: the `initramfs` step, which runs after this one,
//!   rebuilds the images from the edited tree.
//! - **Disk caches removed:** the blkid caches (`/etc/blkid/blkid.tab`,
//!   `/etc/blkid.tab` and their `.old`) and LVM's device cache
//!   (`/etc/lvm/cache/.cache`, RHEL 6) name VMware device paths; they are
//!   rebuilt at boot. `/run/blkid/blkid.tab` lives on a tmpfs and is not on
//!   the guest's disk (and `/run` may be the helper's own during a run): not
//!   touched.
//!
//! Every thing looked at is a check; a second plan on the result plans nothing.

use std::path::Path;

use crate::edit::error::EditError;
use crate::edit::plan::{Context, Step, StepPlan};
use crate::edit::steps::services::{self, Service};

/// The VMware tools services Hydra disables.
pub const VMWARE_SERVICES: [Service<'static>; 3] = [
    Service {
        label: "open-vm-tools",
        systemd: &[
            "vmtoolsd.service",
            "open-vm-tools.service",
            "vgauth.service",
            "vgauthd.service",
            "run-vmblock\\x2dfuse.mount",
        ],
        sysv: &["open-vm-tools", "vmtoolsd", "vgauthd"],
        upstart: &["open-vm-tools"],
    },
    Service {
        label: "VMware Tools",
        systemd: &["vmware-tools.service"],
        sysv: &["vmware-tools"],
        upstart: &["vmware-tools"],
    },
    Service {
        label: "VMware Tools ThinPrint",
        systemd: &["vmware-tools-thinprint.service"],
        sysv: &["vmware-tools-thinprint"],
        upstart: &["vmware-tools-thinprint"],
    },
];

/// LVM's devices file (RHEL 9).
pub const LVM_DEVICES_FILE: &str = "/etc/lvm/devices/system.devices";

/// Caches of device names and IDs, rebuilt at boot.
pub const DISK_CACHES: [&str; 5] = [
    "/etc/blkid/blkid.tab",
    "/etc/blkid/blkid.tab.old",
    "/etc/blkid.tab",
    "/etc/blkid.tab.old",
    "/etc/lvm/cache/.cache",
];

/// The vmware step.
pub struct Vmware;

impl Step for Vmware {
    fn name(&self) -> &'static str {
        "vmware"
    }

    fn requirement(&self) -> &'static str {
        "L9"
    }

    fn summary(&self) -> &'static str {
        "VMware tools disabled (masked / off / manual), LVM devices file and disk caches removed"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut plan = StepPlan::new(self.name(), self.requirement());
        let ge = |e| EditError::guest("vmware", e);
        for svc in &VMWARE_SERVICES {
            let st = services::status(cx, plan.step, svc)?;
            let what = format!("{} does not start at boot", svc.label);
            if !st.installed {
                plan.check(what, true, "not installed");
                continue;
            }
            let planned = services::disable(
                &mut plan,
                cx,
                svc,
                &format!(
                    "{} is of no use on Hyper-V and slows or breaks boot",
                    svc.label
                ),
            )?;
            let detail = st.describe();
            plan.check(
                what,
                !planned,
                if planned {
                    format!("{detail}; disabling (not removing: offline and reversible)")
                } else {
                    format!("{detail}; already disabled")
                },
            );
        }

        let devices_exists = cx.exists(LVM_DEVICES_FILE).map_err(ge)?;
        plan.check(
            format!("no LVM devices file ({LVM_DEVICES_FILE})"),
            !devices_exists,
            if devices_exists {
                "it lists the VMware disks' device IDs; on Azure LVM would ignore the disks and the root VG would not activate; removing it (LVM then scans all devices; the initramfs copy goes with the initramfs rebuild)"
            } else {
                "none"
            },
        );
        if devices_exists {
            plan.remove(
                cx,
                LVM_DEVICES_FILE,
                "the LVM devices file lists the VMware disks' IDs; without it LVM finds the volume groups on the Azure disks",
            )?;
        }

        for cache in DISK_CACHES {
            let exists = cx.exists(Path::new(cache)).map_err(ge)?;
            plan.check(
                format!("no stale disk cache {cache}"),
                !exists,
                if exists {
                    "it names VMware device paths; removed, rebuilt at boot"
                } else {
                    "none"
                },
            );
            if exists {
                plan.remove(
                    cx,
                    cache,
                    format!("{cache} caches VMware device names; rebuilt at boot"),
                )?;
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::edit::steps::services::testutil::{cycle, os, plan, Tree};
    use crate::inspect::os::{Distro, Family};

    #[test]
    fn rhel9_open_vm_tools_masked_and_devices_file_removed() {
        let t = Tree::new();
        t.file("/usr/lib/systemd/system/vmtoolsd.service", "[Unit]\nDescription=Service for virtual machines hosted on VMware\n[Install]\nWantedBy=multi-user.target\n");
        t.file(
            "/usr/lib/systemd/system/vgauthd.service",
            "[Install]\nWantedBy=multi-user.target\n",
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/vmtoolsd.service",
            "/usr/lib/systemd/system/vmtoolsd.service",
        );
        t.link(
            "/etc/systemd/system/vmtoolsd.service.requires/vgauthd.service",
            "/usr/lib/systemd/system/vgauthd.service",
        );
        t.file("/etc/lvm/devices/system.devices", "# LVM uses devices listed in this file.\nVERSION=1.1.2\nIDTYPE=sys_wwid IDNAME=naa.6000c29 DEVNAME=/dev/sda2 PVID=abc PART=2\n");
        t.file("/etc/lvm/lvm.conf", "devices {\n}\n");
        let p = cycle(
            &Vmware,
            &t,
            &os(Family::RedHat, Distro::Rhel, 9, 2, "9.2"),
            |t| {
                assert_eq!(
                    t.target("/etc/systemd/system/vmtoolsd.service"),
                    Some(PathBuf::from("/dev/null"))
                );
                assert_eq!(
                    t.target("/etc/systemd/system/vgauthd.service"),
                    Some(PathBuf::from("/dev/null"))
                );
                assert!(!t.exists("/etc/systemd/system/multi-user.target.wants/vmtoolsd.service"));
                assert!(!t.exists("/etc/systemd/system/vmtoolsd.service.requires/vgauthd.service"));
                assert!(!t.exists(LVM_DEVICES_FILE));
                assert!(t.exists("/etc/lvm/lvm.conf"));
                assert!(!t.exists("/etc/systemd/system/vgauth.service"));
            },
        );
        assert!(p
            .checks
            .iter()
            .any(|c| c.what.contains("VMware Tools does") && c.ok && c.detail == "not installed"));
        assert!(p
            .checks
            .iter()
            .any(|c| c.what.contains("open-vm-tools") && !c.ok));
    }

    #[test]
    fn rhel6_tarball_vmware_tools_sysv_off_and_caches_removed() {
        let t = Tree::new();
        t.mkdir("/etc/rc.d/init.d");
        t.link("/etc/init.d", "rc.d/init.d");
        t.file_mode(
            "/etc/rc.d/init.d/vmware-tools",
            "#!/bin/sh\n# chkconfig: 235 03 99\n",
            0o755,
        );
        for l in 0..=6 {
            t.mkdir(&format!("/etc/rc.d/rc{l}.d"));
            let on = [2, 3, 5].contains(&l);
            let name = if on {
                "S03vmware-tools"
            } else {
                "K99vmware-tools"
            };
            t.link(
                &format!("/etc/rc.d/rc{l}.d/{name}"),
                "../init.d/vmware-tools",
            );
        }
        t.file(
            "/etc/blkid/blkid.tab",
            "<device DEVNO=\"0x0802\">/dev/sda2</device>\n",
        );
        t.file("/etc/lvm/cache/.cache", "persistent_filter_cache {\n}\n");
        cycle(
            &Vmware,
            &t,
            &os(Family::RedHat, Distro::Centos, 6, 10, "6.10"),
            |t| {
                for l in 0..=6 {
                    assert!(!t.exists(&format!("/etc/rc.d/rc{l}.d/S03vmware-tools")));
                    assert_eq!(
                        t.target(&format!("/etc/rc.d/rc{l}.d/K99vmware-tools")),
                        Some(PathBuf::from("../init.d/vmware-tools"))
                    );
                }
                assert!(t.exists("/etc/rc.d/init.d/vmware-tools"));
                assert!(!t.exists("/etc/blkid/blkid.tab"));
                assert!(!t.exists("/etc/lvm/cache/.cache"));
            },
        );
    }

    #[test]
    fn sles11_suse_rc_layout() {
        let t = Tree::new();
        t.file_mode(
            "/etc/init.d/vmtoolsd",
            "#!/bin/sh\n### BEGIN INIT INFO\n# Default-Start: 2 3 5\n### END INIT INFO\n",
            0o755,
        );
        for l in ["2", "3", "5"] {
            t.link(&format!("/etc/init.d/rc{l}.d/S06vmtoolsd"), "../vmtoolsd");
            t.link(&format!("/etc/init.d/rc{l}.d/K10vmtoolsd"), "../vmtoolsd");
        }
        t.mkdir("/etc/init.d/boot.d");
        t.file("/etc/blkid.tab", "x\n");
        cycle(
            &Vmware,
            &t,
            &os(Family::Suse, Distro::Sles, 11, 4, "11.4"),
            |t| {
                for l in ["2", "3", "5"] {
                    assert!(!t.exists(&format!("/etc/init.d/rc{l}.d/S06vmtoolsd")));
                    assert_eq!(
                        t.target(&format!("/etc/init.d/rc{l}.d/K94vmtoolsd")),
                        Some(PathBuf::from("../vmtoolsd"))
                    );
                    assert!(t.exists(&format!("/etc/init.d/rc{l}.d/K10vmtoolsd")));
                }
                assert!(!t.exists("/etc/blkid.tab"));
            },
        );
    }

    #[test]
    fn ubuntu1404_upstart_and_sysv() {
        let t = Tree::new();
        t.file("/etc/init/vmware-tools.conf", "start on runlevel [2345]\n");
        t.file_mode(
            "/etc/init.d/open-vm-tools",
            "#!/bin/sh\n### BEGIN INIT INFO\n# Default-Start: S\n### END INIT INFO\n",
            0o755,
        );
        t.link("/etc/rcS.d/S07open-vm-tools", "../init.d/open-vm-tools");
        cycle(
            &Vmware,
            &t,
            &os(Family::Debian, Distro::Ubuntu, 14, 4, "14.04"),
            |t| {
                assert_eq!(t.read("/etc/init/vmware-tools.override"), "manual\n");
                assert!(!t.exists("/etc/rcS.d/S07open-vm-tools"));
                assert_eq!(
                    t.target("/etc/rcS.d/K93open-vm-tools"),
                    Some(PathBuf::from("../init.d/open-vm-tools"))
                );
            },
        );
    }

    #[test]
    fn debian12_open_vm_tools_systemd() {
        let t = Tree::new();
        t.file(
            "/lib/systemd/system/open-vm-tools.service",
            "[Install]\nWantedBy=multi-user.target\n",
        );
        t.file(
            "/lib/systemd/system/vgauth.service",
            "[Install]\nWantedBy=multi-user.target\n",
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/open-vm-tools.service",
            "/lib/systemd/system/open-vm-tools.service",
        );
        t.link(
            "/etc/systemd/system/open-vm-tools.service.requires/vgauth.service",
            "/lib/systemd/system/vgauth.service",
        );
        t.link(
            "/etc/systemd/system/vmtoolsd.service",
            "/lib/systemd/system/open-vm-tools.service",
        );
        cycle(
            &Vmware,
            &t,
            &os(Family::Debian, Distro::Debian, 12, 0, "12"),
            |t| {
                assert_eq!(
                    t.target("/etc/systemd/system/open-vm-tools.service"),
                    Some(PathBuf::from("/dev/null"))
                );
                assert_eq!(
                    t.target("/etc/systemd/system/vgauth.service"),
                    Some(PathBuf::from("/dev/null"))
                );
                // The alias vmtoolsd.service is itself a name of the service: masked too.
                assert_eq!(
                    t.target("/etc/systemd/system/vmtoolsd.service"),
                    Some(PathBuf::from("/dev/null"))
                );
                assert!(
                    !t.exists("/etc/systemd/system/multi-user.target.wants/open-vm-tools.service")
                );
            },
        );
    }

    #[test]
    fn clean_guest_plans_nothing() {
        let t = Tree::new();
        let p = plan(&Vmware, &t, &os(Family::RedHat, Distro::Rhel, 8, 6, "8.6"));
        assert!(p.changes.is_empty());
        assert!(p.checks.iter().all(|c| c.ok));
        assert_eq!(
            p.checks.len(),
            VMWARE_SERVICES.len() + 1 + DISK_CACHES.len()
        );
    }
}
