//! The `uefi` step: a UEFI guest gets the removable-media loader `EFI/BOOT/BOOTX64.EFI`, so that it boots on Azure (Hyper-V generation 2) without a firmware boot entry.
//!
//! The source VM's firmware boot entries (NVRAM: `\EFI\redhat\shimx64.efi`)
//! do not move with the disks. A generation 2 VM on Azure starts with empty
//! NVRAM, and its firmware then boots the default path of the EFI system
//! partition, `\EFI\BOOT\BOOTX64.EFI`. Many installs (Debian and Ubuntu
//! without `--force-extra-removable`, SLES, hand-made ones) do not have it.
//!
//! When it is missing, the vendor's loader is copied there the way the
//! distributions' own removable-path installs do it (`grub-install
//! --removable`, Debian's `--force-extra-removable`, SUSE's `shim-install
//! --removable`):
//! - with Secure Boot shim (`EFI/<vendor>/shimx64.efi`, SUSE `shim.efi`): the
//!   shim becomes `EFI/BOOT/BOOTX64.EFI`, and the GRUB image it chain-loads
//!   (`grubx64.efi`, SUSE `grub.efi`) is copied next to it, because shim loads
//!   GRUB from its own directory; MokManager (`mmx64.efi`, `MokManager.efi`)
//!   too when present. Shim's fallback (`fbx64.efi`, which re-creates NVRAM
//!   entries from `BOOTX64.CSV` and reboots) is not copied: booting GRUB
//!   directly is simpler and needs no reboot;
//! - without shim: the GRUB image itself becomes `EFI/BOOT/BOOTX64.EFI`.
//!
//! GRUB finds its configuration either way: the distributions' signed GRUB
//! images are built with the prefix `/EFI/<vendor>` (Red Hat, Debian, Ubuntu)
//! on the device they were loaded from, and images made by `grub-install`
//! embed a `search` for the `/boot` filesystem. SUSE's `grub.efi` has an empty
//! prefix and reads `grub.cfg` from its own directory, so with a SUSE-style
//! loader (`grub.efi`) the vendor's `grub.cfg` (a stub that searches `/boot`)
//! is copied too.
//!
//! The vendor directory is the distribution's own (`redhat`, `centos`,
//! `sles`, `ubuntu`, `debian`, `kali`, ...) when it holds a loader, else the
//! first other one that does. Names on the FAT filesystem are matched
//! case-insensitively. Files are written without owner or mode (FAT has
//! none). A UEFI guest with no loader at all cannot be fixed here: blocker.
//! A BIOS guest needs nothing.

use std::path::{Path, PathBuf};

use crate::edit::error::EditError;
use crate::edit::plan::{Context, Step, StepPlan};
use crate::guest::{FileKind, GuestError};
use crate::inspect::os::{Distro, OsIdentity};

/// Where the EFI system partition is mounted in the guest, in the order looked at.
pub const ESP_MOUNTS: [&str; 2] = ["/boot/efi", "/efi"];
/// The removable-media loader, relative to the `EFI` directory.
pub const DEFAULT_LOADER: &str = "BOOT/BOOTX64.EFI";

/// The uefi step.
pub struct Uefi;

/// Shim images, preferred first.
const SHIMS: [&str; 2] = ["shimx64.efi", "shim.efi"];
/// GRUB images, preferred first.
const GRUBS: [&str; 2] = ["grubx64.efi", "grub.efi"];
/// MokManager images.
const MOKMANAGERS: [&str; 2] = ["mmx64.efi", "MokManager.efi"];

/// The vendor directories (under `EFI/`) the distribution installs to.
pub fn vendor_dirs(os: &OsIdentity) -> &'static [&'static str] {
    match &os.distro {
        Distro::Rhel => &["redhat"],
        Distro::Centos | Distro::CentosStream => &["centos", "redhat"],
        Distro::OracleLinux => &["redhat", "ol", "oracle"],
        Distro::Sles => &["sles", "opensuse"],
        Distro::Ubuntu => &["ubuntu"],
        Distro::Debian => &["debian"],
        Distro::Kali => &["kali", "debian"],
        Distro::Other(id) if id.to_ascii_lowercase().contains("suse") => &["opensuse", "sles"],
        Distro::Other(_) => &[],
    }
}

/// A vendor directory and the loader files in it (names as stored).
#[derive(Debug, Clone)]
struct Vendor {
    /// Guest path of the directory.
    dir: PathBuf,
    /// Its name.
    name: String,
    shim: Option<String>,
    grub: Option<String>,
    mokmanager: Option<String>,
    grub_cfg: Option<String>,
}

impl Vendor {
    fn usable(&self) -> bool {
        self.grub.is_some()
    }
}

/// Resolve `path` case-insensitively; `None` when it does not exist.
fn find_ci(cx: &Context<'_>, path: &Path) -> Result<Option<PathBuf>, GuestError> {
    match cx.guest.find_case_insensitive(path) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The stored name in `entries` matching one of `wanted` (case-insensitively,
/// earlier `wanted` first), among regular files.
fn pick(entries: &[(String, FileKind)], wanted: &[&str]) -> Option<String> {
    wanted.iter().find_map(|w| {
        entries
            .iter()
            .find(|(n, k)| *k == FileKind::File && n.eq_ignore_ascii_case(w))
            .map(|(n, _)| n.clone())
    })
}

impl Uefi {
    fn gerr(&self, e: GuestError) -> EditError {
        EditError::guest(self.name(), e)
    }

    /// The `EFI` directory of the ESP, if the tree has one.
    fn efi_dir(&self, cx: &Context<'_>, plan: &mut StepPlan) -> Result<Option<PathBuf>, EditError> {
        for m in ESP_MOUNTS {
            match find_ci(cx, &Path::new(m).join("EFI")) {
                Ok(Some(p)) => {
                    let is_dir = cx.guest.metadata(&p).map(|m| m.is_dir()).unwrap_or(false);
                    if is_dir {
                        return Ok(Some(p));
                    }
                }
                Ok(None) => {}
                Err(e @ GuestError::Ambiguous { .. }) => {
                    plan.block(format!("{e}: cannot tell which is the EFI directory"));
                    return Ok(None);
                }
                Err(e) => return Err(self.gerr(e)),
            }
        }
        Ok(None)
    }

    /// The vendor directories with their loaders: the distribution's first.
    fn vendors(&self, cx: &Context<'_>, efi: &Path) -> Result<Vec<Vendor>, EditError> {
        let entries = cx.list_dir(efi).map_err(|e| self.gerr(e))?;
        let mut dirs: Vec<String> = entries
            .into_iter()
            .filter(|(n, k)| *k == FileKind::Dir && !n.eq_ignore_ascii_case("BOOT"))
            .map(|(n, _)| n)
            .collect();
        let prefs = vendor_dirs(cx.os);
        let rank = |n: &String| {
            prefs
                .iter()
                .position(|p| n.eq_ignore_ascii_case(p))
                .unwrap_or(prefs.len())
        };
        dirs.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        let mut out = Vec::new();
        for name in dirs {
            let dir = efi.join(&name);
            let files = cx.list_dir(&dir).map_err(|e| self.gerr(e))?;
            out.push(Vendor {
                shim: pick(&files, &SHIMS),
                grub: pick(&files, &GRUBS),
                mokmanager: pick(&files, &MOKMANAGERS),
                grub_cfg: pick(&files, &["grub.cfg"]),
                dir,
                name,
            });
        }
        Ok(out)
    }

    fn read(&self, cx: &Context<'_>, path: &Path) -> Result<Vec<u8>, EditError> {
        cx.read(path).map_err(|e| self.gerr(e))?.ok_or_else(|| {
            EditError::refused(
                self.name(),
                format!("{} vanished while planning", path.display()),
            )
        })
    }

    /// Plan copying `src` to `dst.dir/name` (an existing file of that name in
    /// any case is replaced under its stored name).
    fn copy(
        &self,
        cx: &Context<'_>,
        plan: &mut StepPlan,
        src: &Path,
        dst: (&Path, &[(String, FileKind)]),
        name: &str,
        why: &str,
    ) -> Result<bool, EditError> {
        let (dir, existing) = dst;
        let stored = existing
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(name, |(n, _)| n.as_str());
        let bytes = self.read(cx, src)?;
        plan.write(cx, dir.join(stored), bytes, why)
    }
}

impl Step for Uefi {
    fn name(&self) -> &'static str {
        "uefi"
    }

    fn requirement(&self) -> &'static str {
        "UEFI"
    }

    fn summary(&self) -> &'static str {
        "a UEFI guest gets EFI/BOOT/BOOTX64.EFI (the vendor's shim or GRUB), so that it boots without NVRAM boot entries"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut plan = StepPlan::new(self.name(), self.requirement());
        let efi = self.efi_dir(cx, &mut plan)?;
        if !plan.blockers.is_empty() {
            return Ok(plan);
        }
        if !cx.facts.uefi && efi.is_none() {
            plan.check(
                "BIOS guest: no EFI loader needed",
                true,
                "no EFI system partition at /boot/efi or /efi",
            );
            return Ok(plan);
        }
        let Some(efi) = efi else {
            plan.block(
                "the guest boots with UEFI but there is no EFI directory under /boot/efi or /efi: \
                 the EFI system partition is not mounted in the tree, or it is empty",
            );
            return Ok(plan);
        };
        let efi_rel = |p: &Path| {
            p.strip_prefix(efi.parent().unwrap_or(Path::new("/")))
                .unwrap_or(p)
                .display()
                .to_string()
        };

        let boot_dir = match find_ci(cx, &efi.join("BOOT")) {
            Ok(p) => p,
            Err(e @ GuestError::Ambiguous { .. }) => {
                plan.block(format!("{e}: cannot tell which is EFI/BOOT"));
                return Ok(plan);
            }
            Err(e) => return Err(self.gerr(e)),
        };
        let boot_entries = match &boot_dir {
            Some(d) => cx.list_dir(d).map_err(|e| self.gerr(e))?,
            None => Vec::new(),
        };
        let vendors = self.vendors(cx, &efi)?;
        let what = "EFI/BOOT/BOOTX64.EFI exists (the loader UEFI firmware boots when it has no boot entry)";

        if let Some(loader) = pick(&boot_entries, &["BOOTX64.EFI"]) {
            let dir = boot_dir.clone().unwrap_or_else(|| efi.join("BOOT"));
            let path = dir.join(&loader);
            plan.check(what, true, format!("{} is there", efi_rel(&path)));
            // A shim copied there without the GRUB it loads does not boot.
            let bytes = self.read(cx, &path)?;
            let has_next = pick(&boot_entries, &GRUBS).is_some()
                || pick(&boot_entries, &["fbx64.efi"]).is_some();
            if !has_next {
                for v in &vendors {
                    let (Some(shim), Some(grub)) = (&v.shim, &v.grub) else {
                        continue;
                    };
                    if self.read(cx, &v.dir.join(shim))? == bytes {
                        let src = v.dir.join(grub);
                        plan.check(
                            format!("{} has the GRUB image the shim loads", efi_rel(&dir)),
                            false,
                            format!(
                                "{} is {}'s shim; {} is missing next to it",
                                efi_rel(&path),
                                v.name,
                                grub
                            ),
                        );
                        self.copy(
                            cx,
                            &mut plan,
                            &src,
                            (&dir, &boot_entries),
                            grub,
                            &format!("{} is the shim of EFI/{}; shim loads {grub} from its own directory", efi_rel(&path), v.name),
                        )?;
                        break;
                    }
                }
            }
            return Ok(plan);
        }

        let Some(v) = vendors.iter().find(|v| v.usable()) else {
            let looked: Vec<String> = vendors.iter().map(|v| format!("EFI/{}", v.name)).collect();
            plan.check(what, false, "missing, and no loader to copy");
            plan.block(format!(
                "the guest boots with UEFI but {} has no EFI/BOOT/BOOTX64.EFI and no boot loader \
                 (shimx64.efi, grubx64.efi, grub.efi) in {}: reinstall the boot loader in the guest \
                 (e.g. grub-install --removable) before moving it",
                efi_rel(&efi),
                if looked.is_empty() { "any vendor directory".to_string() } else { looked.join(", ") }
            ));
            return Ok(plan);
        };
        for other in vendors
            .iter()
            .filter(|o| o.shim.is_some() && o.grub.is_none())
        {
            plan.warn(format!(
                "EFI/{} has a shim but no GRUB image next to it; not used",
                other.name
            ));
        }
        let dir = boot_dir.unwrap_or_else(|| efi.join("BOOT"));
        let grub = v.grub.clone().unwrap_or_default();
        let mut copied = Vec::new();
        match &v.shim {
            Some(shim) => {
                let src = v.dir.join(shim);
                self.copy(cx, &mut plan, &src, (&dir, &boot_entries), "BOOTX64.EFI",
                    &format!("no EFI/BOOT/BOOTX64.EFI: the Secure Boot shim of EFI/{} becomes the default loader", v.name))?;
                copied.push(format!("{} as BOOTX64.EFI", efi_rel(&src)));
                let src = v.dir.join(&grub);
                self.copy(
                    cx,
                    &mut plan,
                    &src,
                    (&dir, &boot_entries),
                    &grub,
                    &format!("shim loads {grub} from its own directory"),
                )?;
                copied.push(efi_rel(&src));
                if let Some(mm) = &v.mokmanager {
                    let src = v.dir.join(mm);
                    self.copy(cx, &mut plan, &src, (&dir, &boot_entries), mm,
                        &format!("shim starts {mm} (MokManager) from its own directory when a key enrollment is pending"))?;
                    copied.push(efi_rel(&src));
                }
            }
            None => {
                let src = v.dir.join(&grub);
                self.copy(cx, &mut plan, &src, (&dir, &boot_entries), "BOOTX64.EFI",
                    &format!("no EFI/BOOT/BOOTX64.EFI: the GRUB image of EFI/{} becomes the default loader", v.name))?;
                copied.push(format!("{} as BOOTX64.EFI", efi_rel(&src)));
            }
        }
        if grub.eq_ignore_ascii_case("grub.efi") {
            if let Some(cfg) = &v.grub_cfg {
                let src = v.dir.join(cfg);
                self.copy(cx, &mut plan, &src, (&dir, &boot_entries), "grub.cfg",
                    &format!("SUSE's grub.efi reads grub.cfg from its own directory; EFI/{}/{cfg} finds /boot", v.name))?;
                copied.push(efi_rel(&src));
            } else {
                plan.warn(format!(
                    "EFI/{}/grub.efi has no grub.cfg next to it; the copy in EFI/BOOT may stop at a GRUB prompt",
                    v.name
                ));
            }
        }
        plan.check(
            what,
            false,
            format!("missing; copying {}", copied.join(", ")),
        );
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::edit::facts::SystemFacts;
    use crate::edit::plan::{Action, Pending, StepOptions};
    use crate::edit::testtree::put;
    use crate::edit::txn::{commit, rollback, CommitOptions};
    use crate::guest::GuestRoot;
    use crate::inspect::os::{Family, Version};

    fn os(distro: Distro, major: u32) -> OsIdentity {
        OsIdentity {
            family: distro.family().unwrap_or(Family::Unknown),
            distro,
            version: Version {
                major,
                minor: 0,
                raw: major.to_string(),
            },
            pretty: String::new(),
            sources: Vec::new(),
        }
    }

    fn snapshot(root: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let mode = m.permissions().mode() & 0o7777;
                if m.is_dir() {
                    out.insert(rel, format!("dir {mode:o}"));
                    walk(root, &p, out);
                } else {
                    out.insert(rel, format!("{mode:o} {:?}", std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }

    fn plan_for(root: &Path, id: &OsIdentity, uefi: bool) -> StepPlan {
        let g = GuestRoot::open(root).unwrap();
        let facts = SystemFacts::none().with_uefi(uefi);
        let opts = StepOptions::default();
        let pending = Pending::default();
        let cx = Context::new(&g, id, &facts, &opts, &pending);
        Uefi.plan(&cx).unwrap()
    }

    /// (path, bytes) of every write.
    fn writes(p: &StepPlan) -> Vec<(String, Vec<u8>)> {
        p.changes
            .iter()
            .map(|c| match &c.action {
                Action::Write { path, bytes, attrs } => {
                    assert!(attrs.is_none());
                    (path.display().to_string(), bytes.clone())
                }
                a => panic!("{a:?}"),
            })
            .collect()
    }

    fn commit_verify_rollback(root: &Path, id: &OsIdentity, p: StepPlan) {
        let before = snapshot(root);
        let g = GuestRoot::open(root).unwrap();
        commit(&g, &[p], &CommitOptions::default()).unwrap();
        let again = plan_for(root, id, true);
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert!(again.blockers.is_empty(), "{:?}", again.blockers);
        rollback(&g, None).unwrap().unwrap();
        assert_eq!(snapshot(root), before);
    }

    fn base(root: &Path) {
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
    }

    #[test]
    fn shim_is_copied_with_grub_and_mokmanager() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        base(r);
        put(r, "/boot/efi/EFI/ubuntu/shimx64.efi", b"SHIM");
        put(r, "/boot/efi/EFI/ubuntu/grubx64.efi", b"GRUB");
        put(r, "/boot/efi/EFI/ubuntu/mmx64.efi", b"MM");
        put(r, "/boot/efi/EFI/ubuntu/grub.cfg", b"configfile");
        // Another vendor's leftovers come after the distribution's own.
        put(r, "/boot/efi/EFI/centos/shimx64.efi", b"OTHER");
        put(r, "/boot/efi/EFI/centos/grubx64.efi", b"OTHER");
        let id = os(Distro::Ubuntu, 22);
        let p = plan_for(r, &id, true);
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        assert_eq!(
            writes(&p),
            [
                (
                    "/boot/efi/EFI/BOOT/BOOTX64.EFI".to_string(),
                    b"SHIM".to_vec()
                ),
                (
                    "/boot/efi/EFI/BOOT/grubx64.efi".to_string(),
                    b"GRUB".to_vec()
                ),
                ("/boot/efi/EFI/BOOT/mmx64.efi".to_string(), b"MM".to_vec()),
            ]
        );
        assert!(p
            .checks
            .iter()
            .any(|c| !c.ok && c.detail.contains("EFI/ubuntu/shimx64.efi")));
        commit_verify_rollback(r, &id, p);
    }

    #[test]
    fn grub_alone_becomes_the_default_loader() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        base(r);
        put(r, "/boot/efi/EFI/debian/grubx64.efi", b"GRUB");
        let id = os(Distro::Debian, 12);
        let p = plan_for(r, &id, true);
        assert_eq!(
            writes(&p),
            [(
                "/boot/efi/EFI/BOOT/BOOTX64.EFI".to_string(),
                b"GRUB".to_vec()
            )]
        );
        commit_verify_rollback(r, &id, p);
    }

    #[test]
    fn suse_shim_gets_grub_efi_and_its_config() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        base(r);
        put(r, "/boot/efi/EFI/sles/shim.efi", b"SHIM");
        put(r, "/boot/efi/EFI/sles/grub.efi", b"GRUB");
        put(r, "/boot/efi/EFI/sles/MokManager.efi", b"MM");
        put(r, "/boot/efi/EFI/sles/grub.cfg", b"search --fs-uuid");
        let id = os(Distro::Sles, 15);
        let p = plan_for(r, &id, true);
        let paths: Vec<String> = writes(&p).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "/boot/efi/EFI/BOOT/BOOTX64.EFI",
                "/boot/efi/EFI/BOOT/grub.efi",
                "/boot/efi/EFI/BOOT/MokManager.efi",
                "/boot/efi/EFI/BOOT/grub.cfg"
            ]
        );
        commit_verify_rollback(r, &id, p);
    }

    #[test]
    fn an_existing_loader_in_any_case_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        put(r, "/boot/efi/efi/boot/bootx64.efi", b"LOADER");
        put(r, "/boot/efi/efi/redhat/shimx64.efi", b"SHIM");
        put(r, "/boot/efi/efi/redhat/grubx64.efi", b"GRUB");
        let p = plan_for(r, &os(Distro::Rhel, 9), true);
        assert!(p.changes.is_empty(), "{:?}", p.changes);
        assert!(p.blockers.is_empty());
        assert!(p.checks.iter().all(|c| c.ok), "{:?}", p.checks);
    }

    #[test]
    fn a_copied_shim_without_its_grub_gets_it() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        base(r);
        put(r, "/boot/efi/EFI/Boot/bootx64.efi", b"SHIM");
        put(r, "/boot/efi/EFI/centos/shimx64.efi", b"SHIM");
        put(r, "/boot/efi/EFI/centos/grubx64.efi", b"GRUB");
        let id = os(Distro::Centos, 7);
        let p = plan_for(r, &id, true);
        assert_eq!(
            writes(&p),
            [(
                "/boot/efi/EFI/Boot/grubx64.efi".to_string(),
                b"GRUB".to_vec()
            )]
        );
        commit_verify_rollback(r, &id, p);
    }

    #[test]
    fn uefi_without_any_loader_is_blocked() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        put(r, "/boot/efi/EFI/ubuntu/grub.cfg", b"cfg");
        put(r, "/boot/efi/EFI/other/shimx64.efi", b"SHIM");
        let p = plan_for(r, &os(Distro::Ubuntu, 20), true);
        assert!(p.changes.is_empty());
        assert_eq!(p.blockers.len(), 1);
        assert!(
            p.blockers[0].contains("no boot loader"),
            "{}",
            p.blockers[0]
        );

        // UEFI by the facts, but no ESP in the tree.
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("boot/efi")).unwrap();
        let p = plan_for(t.path(), &os(Distro::Ubuntu, 20), true);
        assert!(p.blockers[0].contains("not mounted"), "{:?}", p.blockers);
    }

    #[test]
    fn bios_guest_needs_nothing() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("boot/grub2")).unwrap();
        std::fs::create_dir_all(t.path().join("boot/efi")).unwrap();
        let p = plan_for(t.path(), &os(Distro::Rhel, 7), false);
        assert!(p.changes.is_empty() && p.blockers.is_empty());
        assert_eq!(p.checks.len(), 1);
        assert!(p.checks[0].ok && p.checks[0].what.starts_with("BIOS guest"));
    }
}
