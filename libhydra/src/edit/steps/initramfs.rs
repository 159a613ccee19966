//! The `initramfs` step (L4): every kernel's initramfs must carry hv_vmbus, hv_storvsc and hv_netvsc; persist the drivers in the guest's initramfs config and rebuild the images that lack them with the guest's own tool.
//!
//! Check: for every kernel under `/lib/modules` ([`hyperv_status`](crate::inspect::kernels::hyperv_status)): is each
//! driver built in, or a module, and is it in that kernel's initramfs (read in
//! Rust, every member and compression)? Azure's own hydration looks at the
//! newest kernel only; a fallback kernel without the drivers does not boot
//! on Hyper-V, so every kernel is checked.
//!
//! When a kernel's image lacks a driver:
//! - the drivers are added to the guest's initramfs configuration so that
//!   kernels installed later keep them: `/etc/dracut.conf.d/90-hydra-hyperv.conf`
//!   (`add_drivers+=`) on dracut systems (RHEL/CentOS/Oracle Linux 6+, SLES 12+),
//!   `/etc/initramfs-tools/modules` on Debian, Ubuntu and Kali, `INITRD_MODULES`
//!   in `/etc/sysconfig/kernel` on SLES 11 (mkinitrd);
//! - each such image is rebuilt in the chroot with the guest's tool:
//!   `dracut -f --no-hostonly --add-drivers "..." IMAGE KVER` (not host-only:
//!   host-only would size the image for the helper's hardware, and the guest is
//!   moving to other hardware), `update-initramfs -u -k KVER` (`-c` when the
//!   image does not exist), `mkinitrd -k VMLINUZ -i IMAGE -m "..."` on SLES 11.
//!   Rebuilds of several kernels run in parallel (`--jobs`). The old image is
//!   kept in the journal; rollback puts it back.
//! - verification re-reads each new image: the step planned again must find
//!   every driver.
//!
//! A kernel that does not have a driver at all (neither built in nor a
//! module file) cannot be fixed by a rebuild: the step is blocked, naming the
//! kernel. So is a guest without its initramfs tool, or a tree without
//! `/proc` mounted (the tools need it; `hydra-edit hydrate DISK...` and
//! `hydra-mount mount --chroot` provide it).

use std::path::PathBuf;
use std::time::Duration;

use crate::edit::error::EditError;
use crate::edit::plan::{Context, RunSpec, Step, StepPlan};
use crate::inspect::kernels::{
    self, Availability, InInitramfs, Kernel, KernelStatus, REQUIRED_DRIVERS,
};
use crate::inspect::os::{Distro, Family};

/// The dracut drop-in Hydra writes.
pub const DRACUT_CONF: &str = "/etc/dracut.conf.d/90-hydra-hyperv.conf";
/// initramfs-tools' module list.
pub const INITRAMFS_TOOLS_MODULES: &str = "/etc/initramfs-tools/modules";
/// SUSE's kernel sysconfig (SLES 11 mkinitrd reads `INITRD_MODULES`).
pub const SUSE_SYSCONFIG_KERNEL: &str = "/etc/sysconfig/kernel";

/// The initramfs step.
pub struct Initramfs;

/// The guest's initramfs tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// dracut.
    Dracut,
    /// Debian's initramfs-tools.
    UpdateInitramfs,
    /// SUSE's mkinitrd (SLES 11).
    SuseMkinitrd,
}

impl Tool {
    /// The program name.
    pub fn program(self) -> &'static str {
        match self {
            Tool::Dracut => "dracut",
            Tool::UpdateInitramfs => "update-initramfs",
            Tool::SuseMkinitrd => "mkinitrd",
        }
    }

    /// The tool a distribution uses.
    pub fn of(family: Family, distro: &Distro, major: u32) -> Option<Tool> {
        match family {
            Family::Debian => Some(Tool::UpdateInitramfs),
            Family::RedHat => Some(Tool::Dracut),
            Family::Suse if *distro == Distro::Sles && major <= 11 => Some(Tool::SuseMkinitrd),
            Family::Suse => Some(Tool::Dracut),
            _ => None,
        }
    }
}

const TOOL_DIRS: [&str; 6] = [
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
];

fn drivers_list() -> String {
    REQUIRED_DRIVERS.join(" ")
}

impl Initramfs {
    fn status(
        &self,
        plan: &mut StepPlan,
        k: &Kernel,
        read: Result<KernelStatus, kernels::KernelsError>,
    ) -> KernelStatus {
        match read {
            Ok(s) => s,
            Err(e) => {
                // A corrupt or unreadable image: a rebuild replaces it.
                plan.warn(format!("{e}; it will be rebuilt"));
                let drivers = Vec::new();
                let unavailable = REQUIRED_DRIVERS
                    .iter()
                    .filter(|d| matches!(k.drivers.get(**d), None | Some(Availability::Absent)))
                    .map(|d| d.to_string())
                    .collect();
                KernelStatus {
                    kernel: k.clone(),
                    drivers,
                    missing: REQUIRED_DRIVERS.iter().map(|d| d.to_string()).collect(),
                    unavailable,
                    carries_lvm_devices: false,
                }
            }
        }
    }

    /// Plan the configuration change that keeps the drivers in future images.
    fn persist(&self, cx: &Context<'_>, plan: &mut StepPlan, tool: Tool) -> Result<(), EditError> {
        let step = self.name();
        let ge = |e| EditError::guest(step, e);
        match tool {
            Tool::Dracut => {
                let body = format!(
                    "# Hyper-V drivers for Azure, added by Hydra (hydra-edit hydrate).\n\
                     # Without them the initramfs cannot find the disks on Hyper-V.\n\
                     add_drivers+=\" {} \"\n",
                    drivers_list()
                );
                plan.write(
                    cx,
                    DRACUT_CONF,
                    body,
                    "dracut: keep the Hyper-V drivers in every future initramfs",
                )?;
            }
            Tool::UpdateInitramfs => {
                let text = cx
                    .read_text(INITRAMFS_TOOLS_MODULES)
                    .map_err(ge)?
                    .unwrap_or_default();
                let listed: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.split('#').next())
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                let add: Vec<&str> = REQUIRED_DRIVERS
                    .iter()
                    .copied()
                    .filter(|d| !listed.contains(d))
                    .collect();
                if !add.is_empty() {
                    let mut new = text.clone();
                    if !new.is_empty() && !new.ends_with('\n') {
                        new.push('\n');
                    }
                    new.push_str(
                        "# Hyper-V drivers for Azure, added by Hydra (hydra-edit hydrate)\n",
                    );
                    for d in &add {
                        new.push_str(d);
                        new.push('\n');
                    }
                    plan.write(
                        cx,
                        INITRAMFS_TOOLS_MODULES,
                        new,
                        format!(
                            "initramfs-tools: load {} from the initramfs of every kernel",
                            add.join(", ")
                        ),
                    )?;
                }
            }
            Tool::SuseMkinitrd => {
                let text = cx
                    .read_text(SUSE_SYSCONFIG_KERNEL)
                    .map_err(ge)?
                    .unwrap_or_default();
                let new = add_initrd_modules(&text);
                if new != text {
                    plan.write(
                        cx,
                        SUSE_SYSCONFIG_KERNEL,
                        new,
                        "mkinitrd: INITRD_MODULES gets the Hyper-V drivers",
                    )?;
                }
            }
        }
        Ok(())
    }

    fn rebuild(&self, k: &Kernel, tool: Tool) -> RunSpec {
        let image = k.initramfs.path.to_string_lossy().into_owned();
        let argv: Vec<String> = match tool {
            Tool::Dracut => vec![
                "dracut".into(),
                "-f".into(),
                "--no-hostonly".into(),
                "--add-drivers".into(),
                drivers_list(),
                image.clone(),
                k.version.clone(),
            ],
            Tool::UpdateInitramfs => vec![
                "update-initramfs".into(),
                if k.initramfs.exists { "-u" } else { "-c" }.into(),
                "-k".into(),
                k.version.clone(),
            ],
            Tool::SuseMkinitrd => vec![
                "mkinitrd".into(),
                "-k".into(),
                k.image
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("/boot/vmlinuz-{}", k.version)),
                "-i".into(),
                image.clone(),
                "-m".into(),
                drivers_list(),
            ],
        };
        let mut spec = RunSpec::new(argv);
        spec.affects = vec![PathBuf::from(&image)];
        spec.parallel = true;
        spec.timeout = Duration::from_secs(1800);
        spec
    }
}

/// `INITRD_MODULES="a b"` with the Hyper-V drivers added (the line is added
/// when missing; quoting kept).
pub fn add_initrd_modules(text: &str) -> String {
    let mut out = String::new();
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if let Some(v) = body.strip_prefix("INITRD_MODULES=") {
            found = true;
            let (q, inner) = match v.chars().next() {
                Some(c @ ('"' | '\'')) if v.len() >= 2 && v.ends_with(c) => {
                    (c.to_string(), &v[1..v.len() - 1])
                }
                _ => (String::from("\""), v),
            };
            let mut mods: Vec<&str> = inner.split_whitespace().collect();
            for d in REQUIRED_DRIVERS {
                if !mods.contains(&d) {
                    mods.push(d);
                }
            }
            out.push_str(&format!("INITRD_MODULES={q}{}{q}", mods.join(" ")));
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("INITRD_MODULES=\"{}\"\n", drivers_list()));
    }
    out
}

impl Step for Initramfs {
    fn name(&self) -> &'static str {
        "initramfs"
    }

    fn requirement(&self) -> &'static str {
        "L4"
    }

    fn summary(&self) -> &'static str {
        "every kernel's initramfs carries hv_vmbus, hv_storvsc, hv_netvsc (rebuilt with the guest's tool)"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut plan = StepPlan::new(self.name(), self.requirement());
        let family = cx.os.family;
        let list = kernels::list_kernels(cx.guest, Some(family))
            .map_err(|e| EditError::refused(self.name(), e.to_string()))?;
        if list.is_empty() {
            plan.block("no kernel under /lib/modules or /usr/lib/modules: nothing would boot");
            return Ok(plan);
        }
        let mut todo: Vec<Kernel> = Vec::new();
        let mut stale_lvm: Vec<String> = Vec::new();
        let mut need_drivers = false;
        // The guest's LVM devices file is gone (or going: the vmware step
        // removes it); an image that still carries one would keep the root
        // VG from activating on Azure's disks.
        let devices_file_gone = !cx
            .exists("/etc/lvm/devices/system.devices")
            .map_err(|e| EditError::guest(self.name(), e))?;
        // Every image is read (decompressed) at once: one thread per kernel.
        let guest = cx.guest;
        let reads: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = list
                .iter()
                .map(|k| s.spawn(move || kernels::kernel_status(guest, k)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an initramfs reader thread panicked"))
                .collect()
        });
        for (k, read) in list.iter().zip(reads) {
            let st = self.status(&mut plan, k, read);
            for d in &st.drivers {
                if !d.required {
                    continue;
                }
                let ok = d.in_initramfs != InInitramfs::Missing;
                plan.check(
                    format!("kernel {}: {} at boot", k.version, d.name),
                    ok,
                    match (&d.in_initramfs, &d.available) {
                        (InInitramfs::Builtin, _) => "built into the kernel".to_string(),
                        (InInitramfs::Module, _) => format!("in {}", k.initramfs.path.display()),
                        (InInitramfs::Missing, Availability::Absent) => {
                            "the kernel has no such driver".to_string()
                        }
                        (InInitramfs::Missing, _) if !k.initramfs.exists => {
                            format!("{} does not exist", k.initramfs.path.display())
                        }
                        (InInitramfs::Missing, _) => {
                            format!("not in {}", k.initramfs.path.display())
                        }
                    },
                );
            }
            if !st.unavailable.is_empty() {
                plan.block(format!(
                    "kernel {} has no {} (neither built in nor a module under {}): a rebuild cannot add it; \
                     install a kernel with the Hyper-V drivers, or remove this kernel",
                    k.version,
                    st.unavailable.join(", "),
                    k.module_dirs.first().map_or_else(|| "/lib/modules".into(), |p| p.display().to_string())
                ));
                continue;
            }
            let stale = devices_file_gone && st.carries_lvm_devices;
            plan.check(
                format!(
                    "kernel {}: no stale LVM devices file in the initramfs",
                    k.version
                ),
                !stale,
                if stale {
                    format!(
                        "{} carries /etc/lvm/devices/system.devices, which lists the VMware disks",
                        k.initramfs.path.display()
                    )
                } else {
                    "none, or the guest keeps its own".to_string()
                },
            );
            if stale {
                stale_lvm.push(k.version.clone());
            }
            need_drivers |= !st.missing.is_empty();
            if !st.missing.is_empty() || stale {
                todo.push(k.clone());
            }
        }
        if todo.is_empty() {
            return Ok(plan);
        }
        let Some(tool) = Tool::of(family, &cx.os.distro, cx.os.version.major) else {
            plan.block(format!("{} has no known initramfs tool", cx.os));
            return Ok(plan);
        };
        let found = TOOL_DIRS
            .iter()
            .map(|d| format!("{d}/{}", tool.program()))
            .find(|p| cx.exists(p).unwrap_or(false));
        if found.is_none() {
            plan.block(format!(
                "the guest has no {} (looked in {}): cannot rebuild the initramfs of {}",
                tool.program(),
                TOOL_DIRS.join(", "),
                todo.iter()
                    .map(|k| k.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok(plan);
        }
        if !cx.facts.chroot_ready && !cx.guest.host_path().join("proc/self").exists() {
            plan.block(format!(
                "{} has no /proc mounted: {} needs it; use `hydra-edit hydrate DISK...` or a tree from `hydra-mount mount --rw --chroot`",
                cx.guest.host_path().display(),
                tool.program()
            ));
            return Ok(plan);
        }
        if need_drivers {
            self.persist(cx, &mut plan, tool)?;
        }
        for k in &todo {
            let spec = self.rebuild(k, tool);
            plan.run(
                spec,
                format!(
                    "kernel {}: {} {}; rebuild it with the guest's {}",
                    k.version,
                    k.initramfs.path.display(),
                    if stale_lvm.contains(&k.version) {
                        "carries the VMware disks' LVM devices file"
                    } else {
                        "lacks Hyper-V drivers"
                    },
                    tool.program()
                ),
            );
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::add_initrd_modules;

    #[test]
    fn initrd_modules_added_keeping_quotes_and_order() {
        assert_eq!(
            add_initrd_modules("# comment\nINITRD_MODULES=\"mptspi ata_piix\"\nOTHER=1\n"),
            "# comment\nINITRD_MODULES=\"mptspi ata_piix hv_vmbus hv_storvsc hv_netvsc\"\nOTHER=1\n"
        );
        assert_eq!(
            add_initrd_modules("INITRD_MODULES='hv_vmbus'"),
            "INITRD_MODULES='hv_vmbus hv_storvsc hv_netvsc'"
        );
        assert_eq!(
            add_initrd_modules("X=1"),
            "X=1\nINITRD_MODULES=\"hv_vmbus hv_storvsc hv_netvsc\"\n"
        );
        let once = add_initrd_modules("INITRD_MODULES=\"\"\n");
        assert_eq!(add_initrd_modules(&once), once);
    }
}
