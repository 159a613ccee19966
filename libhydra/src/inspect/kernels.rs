//! Installed kernels of a Linux guest and their Hyper-V driver facts (L4, the check half).
//!
//! [`list_kernels`] finds the kernels: directories under `/lib/modules` and
//! `/usr/lib/modules` (the same directory reached twice through a
//! `/lib -> usr/lib` symlink counts once) that look like a kernel's (they
//! hold `modules.dep` or `kernel/`, or `/boot` has a matching kernel image);
//! `extramodules`-style directories without a kernel are ignored. They are
//! sorted by version, oldest first ([`version_cmp`]).
//!
//! For each kernel it finds the kernel image (`/boot/vmlinuz-K`,
//! `vmlinux-K`, `Image-K`, BLS `/boot/<machine-id>/K/linux`, or
//! `vmlinuz` in the modules directory) and the initramfs by distribution
//! convention ([`InitramfsConvention`]), and whether each Hyper-V driver is
//! built in (`modules.builtin`), a module (`modules.dep`, else a `.ko*` file
//! under the modules directory), or absent.
//!
//! [`kernel_status`] then reads the initramfs (streaming, through
//! [`crate::format::initramfs`]) and says for each driver whether it is in
//! the image, built into the kernel, or missing; [`hyperv_status`] does both
//! for every kernel. Every guest file is read through [`GuestRoot`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::os::Family;
use crate::format::initramfs::{self, module_name, InitramfsError};
use crate::guest::{FileKind, GuestError, GuestRoot};

/// The Hyper-V drivers a guest needs in its initramfs to boot on Azure.
pub const REQUIRED_DRIVERS: [&str; 3] = ["hv_vmbus", "hv_storvsc", "hv_netvsc"];

/// LVM's devices file as a path inside an initramfs image.
pub const LVM_DEVICES_IN_IMAGE: &str = "etc/lvm/devices/system.devices";

/// Hyper-V drivers reported but not required (KVP, shutdown, time sync).
pub const OPTIONAL_DRIVERS: [&str; 1] = ["hv_utils"];

/// Where kernels keep their modules.
pub const MODULE_ROOTS: [&str; 2] = ["/lib/modules", "/usr/lib/modules"];

/// Largest `modules.dep` / `modules.builtin` read (real ones are < 1 MiB).
const MODULE_LIST_CAP: u64 = 16 << 20;

/// Most directory entries looked at when searching `.ko` files without a
/// `modules.dep`.
const MAX_WALK: usize = 200_000;

/// Largest file of the initramfs kept (`modules.builtin`).
const INITRAMFS_FILE_CAP: u64 = 4 << 20;

/// An error of kernel inspection.
#[derive(Debug, thiserror::Error)]
pub enum KernelsError {
    /// Reading a guest file failed for a reason other than its absence.
    #[error("inspect kernels: {0}")]
    Guest(#[from] GuestError),
    /// The initramfs of a kernel exists but could not be opened.
    #[error("kernel {kernel}: cannot open its initramfs {}: {source}", path.display())]
    InitramfsOpen {
        /// The kernel version.
        kernel: String,
        /// The guest path of the initramfs.
        path: PathBuf,
        /// The error (boxed: `GuestError` is large).
        #[source]
        source: Box<GuestError>,
    },
    /// The initramfs of a kernel could not be read (corrupt, truncated,
    /// unsupported compression, I/O error).
    #[error("kernel {kernel}: cannot read its initramfs {}: {source}", path.display())]
    InitramfsRead {
        /// The kernel version.
        kernel: String,
        /// The guest path of the initramfs.
        path: PathBuf,
        /// The error, naming the member.
        #[source]
        source: InitramfsError,
    },
}

/// How a distribution names a kernel's initramfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum InitramfsConvention {
    /// dracut on RHEL/CentOS/Oracle Linux 6+ and Fedora: `/boot/initramfs-K.img`.
    Dracut,
    /// mkinitrd on RHEL/CentOS 5: `/boot/initrd-K.img`.
    Mkinitrd,
    /// initramfs-tools on Debian, Ubuntu, Kali: `/boot/initrd.img-K`.
    Debian,
    /// SUSE (mkinitrd or dracut): `/boot/initrd-K`.
    Suse,
    /// Boot Loader Specification layout (kernel-install): `/boot/<machine-id>/K/initrd`.
    Bls,
}

impl InitramfsConvention {
    /// Every convention, in the order they are looked for.
    pub const ALL: [InitramfsConvention; 5] = [
        InitramfsConvention::Dracut,
        InitramfsConvention::Debian,
        InitramfsConvention::Suse,
        InitramfsConvention::Mkinitrd,
        InitramfsConvention::Bls,
    ];

    /// The guest path of kernel `kver`'s initramfs under this convention
    /// (`None` for [`InitramfsConvention::Bls`] without a machine id).
    pub fn path(self, kver: &str, machine_id: Option<&str>) -> Option<PathBuf> {
        Some(PathBuf::from(match self {
            InitramfsConvention::Dracut => format!("/boot/initramfs-{kver}.img"),
            InitramfsConvention::Mkinitrd => format!("/boot/initrd-{kver}.img"),
            InitramfsConvention::Debian => format!("/boot/initrd.img-{kver}"),
            InitramfsConvention::Suse => format!("/boot/initrd-{kver}"),
            InitramfsConvention::Bls => format!("/boot/{}/{kver}/initrd", machine_id?),
        }))
    }

    /// The usual convention of a family (RHEL 5's mkinitrd is told apart only
    /// by the files found).
    pub fn of_family(family: Family) -> Option<Self> {
        match family {
            Family::RedHat => Some(InitramfsConvention::Dracut),
            Family::Debian => Some(InitramfsConvention::Debian),
            Family::Suse => Some(InitramfsConvention::Suse),
            _ => None,
        }
    }
}

/// Where a kernel's initramfs is, or would be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitramfsLocation {
    /// The guest path.
    pub path: PathBuf,
    /// The convention the path follows.
    pub convention: InitramfsConvention,
    /// Whether the file exists; when not, `path` is where the guest's tool
    /// is expected to write it.
    pub exists: bool,
}

/// Whether a kernel has a driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Availability {
    /// Built into the kernel (listed in `modules.builtin`).
    Builtin,
    /// A loadable module at this guest path.
    Module(PathBuf),
    /// Neither.
    Absent,
}

/// Whether a driver is available at boot from the initramfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InInitramfs {
    /// The module file is in the image.
    Module,
    /// Built into the kernel: present without being in the image.
    Builtin,
    /// Neither (or there is no initramfs).
    Missing,
}

/// One installed kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernel {
    /// The version (`uname -r`), the directory name under `lib/modules`.
    pub version: String,
    /// Its module directories (guest paths; two when `/lib/modules/K` and
    /// `/usr/lib/modules/K` are distinct directories).
    pub module_dirs: Vec<PathBuf>,
    /// The kernel image, when found.
    pub image: Option<PathBuf>,
    /// The initramfs, found or expected.
    pub initramfs: InitramfsLocation,
    /// Availability of each driver of [`REQUIRED_DRIVERS`] and
    /// [`OPTIONAL_DRIVERS`].
    pub drivers: BTreeMap<String, Availability>,
}

/// The Hyper-V facts of one driver for one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverStatus {
    /// The module name (`hv_vmbus`).
    pub name: String,
    /// Whether it is in [`REQUIRED_DRIVERS`].
    pub required: bool,
    /// Whether the kernel has it.
    pub available: Availability,
    /// Whether the initramfs provides it.
    pub in_initramfs: InInitramfs,
}

/// The Hyper-V status of one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelStatus {
    /// The kernel.
    pub kernel: Kernel,
    /// Every driver of [`REQUIRED_DRIVERS`] and [`OPTIONAL_DRIVERS`], in that order.
    pub drivers: Vec<DriverStatus>,
    /// Required drivers neither built in nor in the initramfs: rebuilding
    /// the initramfs is needed.
    pub missing: Vec<String>,
    /// Required drivers the kernel does not have at all (neither built in
    /// nor a module): rebuilding the initramfs cannot add them.
    pub unavailable: Vec<String>,
    /// The image carries LVM's devices file (`etc/lvm/devices/system.devices`,
    /// RHEL 9): with the VMware disks' IDs in it, the root VG is not
    /// activated on other disks.
    pub carries_lvm_devices: bool,
}

impl KernelStatus {
    /// Whether every required driver is present at boot.
    pub fn is_ready(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Compare kernel versions: runs of digits numerically, the rest bytewise
/// (`3.10.0-957` < `3.10.0-1160`, `5.4.0-9` < `5.4.0-10`).
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut v = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let d = b[i].is_ascii_digit();
            let j = b[i..]
                .iter()
                .position(|c| c.is_ascii_digit() != d)
                .map_or(b.len(), |p| i + p);
            v.push((d, &s[i..j]));
            i = j;
        }
        v
    }
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(rb.iter()) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (tx, ty) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.1.cmp(y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ra.len().cmp(&rb.len()).then_with(|| a.cmp(b))
}

/// `Ok(None)` for a guest path that is absent (or under a non-directory).
fn absent_ok<T>(r: Result<T, GuestError>) -> Result<Option<T>, GuestError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_file(root: &GuestRoot, p: &Path) -> Result<bool, GuestError> {
    Ok(absent_ok(root.metadata(p))?.is_some_and(|m| m.is_file()))
}

fn is_dir(root: &GuestRoot, p: &Path) -> Result<bool, GuestError> {
    Ok(absent_ok(root.metadata(p))?.is_some_and(|m| m.is_dir()))
}

/// The guest's machine id, when `/boot/<id>` exists (BLS layout).
fn bls_machine_id(root: &GuestRoot) -> Result<Option<String>, GuestError> {
    let Some(text) = absent_ok(root.read_capped("/etc/machine-id", 4096))? else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&text).trim().to_string();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    Ok(is_dir(root, &Path::new("/boot").join(&id))?.then_some(id))
}

/// Enumerate the installed kernels, sorted by version (oldest first), with
/// their image, initramfs location and driver availability. `family`
/// (from [`super::os::identify`]) chooses the expected initramfs path when a
/// kernel has none; without it the convention other kernels use, or the
/// guest's initramfs tool, decides.
pub fn list_kernels(root: &GuestRoot, family: Option<Family>) -> Result<Vec<Kernel>, KernelsError> {
    // version -> distinct module dirs; (dev, ino) dedupes the symlinked /lib.
    let mut seen: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut dirs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for top in MODULE_ROOTS {
        let Some(entries) = absent_ok(root.read_dir(top))? else {
            tracing::debug!(dir = top, "no module directory");
            continue;
        };
        for e in entries {
            let Some(name) = e.name.to_str() else {
                tracing::debug!(dir = top, name = ?e.name, "non-UTF-8 name under modules, skipped");
                continue;
            };
            let path = Path::new(top).join(name);
            let Some(meta) = absent_ok(root.metadata(&path))? else {
                continue; // dangling symlink
            };
            if !meta.is_dir() {
                continue;
            }
            if !seen.insert((meta.dev(), meta.ino())) {
                tracing::debug!(path = %path.display(), "same directory seen through another path");
                continue;
            }
            dirs.entry(name.to_string()).or_default().push(path);
        }
    }
    let machine_id = bls_machine_id(root)?;
    let mut kernels = Vec::new();
    for (version, module_dirs) in dirs {
        let mut has_kernel_files = false;
        for d in &module_dirs {
            if is_file(root, &d.join("modules.dep"))? || is_dir(root, &d.join("kernel"))? {
                has_kernel_files = true;
            }
        }
        let image = find_image(root, &version, &module_dirs, machine_id.as_deref())?;
        if !has_kernel_files && image.is_none() {
            tracing::debug!(
                version,
                "module directory without a kernel (extramodules?), ignored"
            );
            continue;
        }
        let drivers = driver_availability(root, &module_dirs)?;
        let found = find_initramfs(root, &version, machine_id.as_deref())?;
        kernels.push((version, module_dirs, image, found, drivers));
    }
    // The convention to expect where a kernel has no initramfs.
    let expected = match family.and_then(InitramfsConvention::of_family) {
        Some(c) => c,
        None => {
            let mut count: BTreeMap<InitramfsConvention, usize> = BTreeMap::new();
            for k in &kernels {
                if let Some((c, _)) = &k.3 {
                    *count.entry(*c).or_default() += 1;
                }
            }
            match count.into_iter().max_by_key(|(_, n)| *n) {
                Some((c, _)) => c,
                None => guess_convention(root)?,
            }
        }
    };
    let mut out: Vec<Kernel> = kernels
        .into_iter()
        .map(|(version, module_dirs, image, found, drivers)| {
            let initramfs = match found {
                Some((convention, path)) => InitramfsLocation {
                    path,
                    convention,
                    exists: true,
                },
                None => {
                    let convention = if expected == InitramfsConvention::Bls && machine_id.is_none()
                    {
                        InitramfsConvention::Dracut
                    } else {
                        expected
                    };
                    InitramfsLocation {
                        path: convention
                            .path(&version, machine_id.as_deref())
                            .expect("BLS only with a machine id"),
                        convention,
                        exists: false,
                    }
                }
            };
            tracing::debug!(
                version,
                image = ?image,
                initramfs = %initramfs.path.display(),
                exists = initramfs.exists,
                "kernel found"
            );
            Kernel {
                version,
                module_dirs,
                image,
                initramfs,
                drivers,
            }
        })
        .collect();
    out.sort_by(|a, b| version_cmp(&a.version, &b.version));
    Ok(out)
}

/// The convention of the guest's initramfs tool, when no kernel shows one.
fn guess_convention(root: &GuestRoot) -> Result<InitramfsConvention, GuestError> {
    if is_dir(root, Path::new("/etc/initramfs-tools"))? {
        return Ok(InitramfsConvention::Debian);
    }
    if is_file(root, Path::new("/etc/SuSE-release"))?
        || is_file(root, Path::new("/etc/SUSE-brand"))?
    {
        return Ok(InitramfsConvention::Suse);
    }
    Ok(InitramfsConvention::Dracut)
}

fn find_image(
    root: &GuestRoot,
    kver: &str,
    module_dirs: &[PathBuf],
    machine_id: Option<&str>,
) -> Result<Option<PathBuf>, GuestError> {
    let mut cands: Vec<PathBuf> = ["vmlinuz", "vmlinux", "Image"]
        .iter()
        .map(|p| PathBuf::from(format!("/boot/{p}-{kver}")))
        .collect();
    if let Some(id) = machine_id {
        cands.push(PathBuf::from(format!("/boot/{id}/{kver}/linux")));
    }
    cands.extend(module_dirs.iter().map(|d| d.join("vmlinuz")));
    for c in cands {
        if is_file(root, &c)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn find_initramfs(
    root: &GuestRoot,
    kver: &str,
    machine_id: Option<&str>,
) -> Result<Option<(InitramfsConvention, PathBuf)>, GuestError> {
    for c in InitramfsConvention::ALL {
        if let Some(p) = c.path(kver, machine_id) {
            if is_file(root, &p)? {
                return Ok(Some((c, p)));
            }
        }
    }
    Ok(None)
}

/// Module names of a `modules.builtin` or the first fields of a `modules.dep`,
/// with the relative path.
fn module_list(text: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let rel = l.split(':').next()?.trim();
            Some((module_name(rel)?, rel.to_string()))
        })
        .collect()
}

/// Where the Hyper-V modules usually are, relative to the modules directory.
const USUAL_DIRS: [&str; 4] = [
    "kernel/drivers/hv",
    "kernel/drivers/scsi",
    "kernel/drivers/net/hyperv",
    "kernel/drivers/net",
];

const KO_SUFFIXES: [&str; 5] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz", ".ko.bz2"];

fn driver_availability(
    root: &GuestRoot,
    module_dirs: &[PathBuf],
) -> Result<BTreeMap<String, Availability>, GuestError> {
    let wanted: Vec<&str> = REQUIRED_DRIVERS
        .iter()
        .chain(OPTIONAL_DRIVERS.iter())
        .copied()
        .collect();
    let mut builtin: BTreeSet<String> = BTreeSet::new();
    let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut have_dep = false;
    for d in module_dirs {
        if let Some(b) = absent_ok(root.read_capped(d.join("modules.builtin"), MODULE_LIST_CAP))? {
            builtin.extend(module_list(&b).into_iter().map(|(n, _)| n));
        }
        if let Some(dep) = absent_ok(root.read_capped(d.join("modules.dep"), MODULE_LIST_CAP))? {
            have_dep = true;
            for (n, rel) in module_list(&dep) {
                // modules.dep paths are relative to the modules dir (old depmod: absolute).
                let p = if rel.starts_with('/') {
                    PathBuf::from(rel)
                } else {
                    d.join(rel)
                };
                modules.entry(n).or_insert(p);
            }
        }
    }
    // Not in modules.dep (stale, or none): the usual places.
    for name in &wanted {
        if builtin.contains(*name) || modules.contains_key(*name) {
            continue;
        }
        'found: for d in module_dirs {
            for sub in USUAL_DIRS {
                for suf in KO_SUFFIXES {
                    for n in [name.to_string(), name.replace('_', "-")] {
                        let p = d.join(sub).join(format!("{n}{suf}"));
                        if is_file(root, &p)? {
                            modules.insert(name.to_string(), p);
                            break 'found;
                        }
                    }
                }
            }
        }
    }
    // No modules.dep at all: walk the module directories.
    if !have_dep
        && wanted
            .iter()
            .any(|n| !builtin.contains(*n) && !modules.contains_key(*n))
    {
        let mut budget = MAX_WALK;
        for d in module_dirs {
            walk_modules(root, d, &mut budget, &mut modules)?;
        }
    }
    Ok(wanted
        .into_iter()
        .map(|n| {
            let a = if builtin.contains(n) {
                Availability::Builtin
            } else if let Some(p) = modules.get(n) {
                Availability::Module(p.clone())
            } else {
                Availability::Absent
            };
            (n.to_string(), a)
        })
        .collect())
}

/// Record every `.ko*` file under `dir` (not following symlinks: `build`
/// and `source` point at the sources), looking at `budget` entries at most.
fn walk_modules(
    root: &GuestRoot,
    dir: &Path,
    budget: &mut usize,
    out: &mut BTreeMap<String, PathBuf>,
) -> Result<(), GuestError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Some(entries) = absent_ok(root.read_dir(&d))? else {
            continue;
        };
        for e in entries {
            if *budget == 0 {
                tracing::debug!(dir = %dir.display(), "module walk stopped at its entry cap");
                return Ok(());
            }
            *budget -= 1;
            let p = d.join(&e.name);
            match e.kind {
                FileKind::Dir => stack.push(p),
                FileKind::File | FileKind::Unknown => {
                    if let Some(n) = std::str::from_utf8(e.name.as_bytes())
                        .ok()
                        .and_then(module_name)
                    {
                        out.entry(n).or_insert(p);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Read `kernel`'s initramfs (when it exists) and give the status of each
/// Hyper-V driver. A driver built into the kernel counts as present; one the
/// image's own `modules.builtin` lists as built in too.
pub fn kernel_status(root: &GuestRoot, kernel: &Kernel) -> Result<KernelStatus, KernelsError> {
    let mut lvm_devices = false;
    let (in_image, image_builtin) = if kernel.initramfs.exists {
        let path = &kernel.initramfs.path;
        let file = root
            .open_file(path)
            .map_err(|source| KernelsError::InitramfsOpen {
                kernel: kernel.version.clone(),
                path: path.clone(),
                source: Box::new(source),
            })?;
        let img = initramfs::read_entries(file, initramfs::want_module_lists, INITRAMFS_FILE_CAP)
            .map_err(|source| KernelsError::InitramfsRead {
            kernel: kernel.version.clone(),
            path: path.clone(),
            source,
        })?;
        tracing::debug!(
            kernel = kernel.version,
            path = %path.display(),
            members = img.members.len(),
            entries = img.entries.len(),
            "initramfs read"
        );
        lvm_devices = img.entries.iter().any(|e| e.path == LVM_DEVICES_IN_IMAGE);
        (
            img.modules_of(&kernel.version),
            img.builtin_modules_of(&kernel.version),
        )
    } else {
        tracing::debug!(kernel = kernel.version, path = %kernel.initramfs.path.display(), "no initramfs");
        (BTreeSet::new(), BTreeSet::new())
    };
    let mut drivers = Vec::new();
    let (mut missing, mut unavailable) = (Vec::new(), Vec::new());
    for (name, required) in REQUIRED_DRIVERS
        .iter()
        .map(|n| (*n, true))
        .chain(OPTIONAL_DRIVERS.iter().map(|n| (*n, false)))
    {
        let available = kernel
            .drivers
            .get(name)
            .cloned()
            .unwrap_or(Availability::Absent);
        let in_initramfs = if available == Availability::Builtin || image_builtin.contains(name) {
            InInitramfs::Builtin
        } else if in_image.contains(name) {
            InInitramfs::Module
        } else {
            InInitramfs::Missing
        };
        if required && in_initramfs == InInitramfs::Missing {
            missing.push(name.to_string());
            if available == Availability::Absent {
                unavailable.push(name.to_string());
            }
        }
        drivers.push(DriverStatus {
            name: name.to_string(),
            required,
            available,
            in_initramfs,
        });
    }
    Ok(KernelStatus {
        kernel: kernel.clone(),
        drivers,
        missing,
        unavailable,
        carries_lvm_devices: lvm_devices,
    })
}

/// [`list_kernels`] then [`kernel_status`] for each kernel.
pub fn hyperv_status(
    root: &GuestRoot,
    family: Option<Family>,
) -> Result<Vec<KernelStatus>, KernelsError> {
    list_kernels(root, family)?
        .iter()
        .map(|k| kernel_status(root, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    fn newc(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        let mut push = |name: &str, mode: u32, data: &[u8]| {
            v.extend(
                format!(
                    "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                    1, mode, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
                )
                .into_bytes(),
            );
            v.extend_from_slice(name.as_bytes());
            v.push(0);
            while v.len() % 4 != 0 {
                v.push(0);
            }
            v.extend_from_slice(data);
            while v.len() % 4 != 0 {
                v.push(0);
            }
        };
        for (n, m, d) in entries {
            push(n, *m, d);
        }
        push("TRAILER!!!", 0, b"");
        v
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn write(root: &Path, p: &str, data: &[u8]) {
        let p = root.join(p.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec![
            "3.10.0-1160.el7.x86_64",
            "3.10.0-957.el7.x86_64",
            "5.4.0-10-generic",
            "5.4.0-9-generic",
            "4.18.0-80.el8.x86_64",
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            [
                "3.10.0-957.el7.x86_64",
                "3.10.0-1160.el7.x86_64",
                "4.18.0-80.el8.x86_64",
                "5.4.0-9-generic",
                "5.4.0-10-generic"
            ]
        );
        assert_eq!(version_cmp("5.4.0", "5.4.0"), Ordering::Equal);
        assert_eq!(version_cmp("5.4", "5.4.0"), Ordering::Less);
    }

    /// A RHEL-like tree: usr-merged (/lib -> usr/lib), dracut names, one
    /// kernel with every driver, one without an initramfs, an extramodules
    /// directory, and a third kernel whose image lacks hv_netvsc.
    #[test]
    fn rhel_like_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let g = tmp.path();
        fs::create_dir_all(g.join("usr/lib/modules")).unwrap();
        std::os::unix::fs::symlink("usr/lib", g.join("lib")).unwrap();
        let (k1, k2, k3) = (
            "4.18.0-80.el8.x86_64",
            "4.18.0-513.el8.x86_64",
            "4.18.0-100.el8.x86_64",
        );
        for k in [k1, k2, k3] {
            write(
                g,
                &format!("/usr/lib/modules/{k}/modules.dep"),
                b"kernel/drivers/hv/hv_vmbus.ko.xz:\nkernel/drivers/scsi/hv_storvsc.ko.xz: kernel/drivers/hv/hv_vmbus.ko.xz\nkernel/drivers/net/hyperv/hv_netvsc.ko.xz: kernel/drivers/hv/hv_vmbus.ko.xz\n",
            );
            write(
                g,
                &format!("/usr/lib/modules/{k}/modules.builtin"),
                b"kernel/fs/ext4/ext4.ko\n",
            );
            write(g, &format!("/boot/vmlinuz-{k}"), b"MZ");
        }
        write(g, "/usr/lib/modules/extramodules-4.18/foo.ko", b"");
        let full = |k: &str, with_netvsc: bool| {
            let mut e: Vec<(String, u32, &[u8])> = vec![
                (
                    format!("usr/lib/modules/{k}/kernel/drivers/hv/hv_vmbus.ko.xz"),
                    0o100644,
                    b"x",
                ),
                (
                    format!("usr/lib/modules/{k}/kernel/drivers/scsi/hv_storvsc.ko.xz"),
                    0o100644,
                    b"x",
                ),
            ];
            if with_netvsc {
                e.push((
                    format!("usr/lib/modules/{k}/kernel/drivers/net/hyperv/hv_netvsc.ko.xz"),
                    0o100644,
                    b"x",
                ));
            }
            // a module of another kernel must not count
            e.push((
                "usr/lib/modules/9.9/kernel/drivers/net/hyperv/hv_netvsc.ko".into(),
                0o100644,
                b"x",
            ));
            let refs: Vec<(&str, u32, &[u8])> =
                e.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
            gz(&newc(&refs))
        };
        write(g, &format!("/boot/initramfs-{k2}.img"), &full(k2, true));
        write(g, &format!("/boot/initramfs-{k3}.img"), &full(k3, false));

        let root = GuestRoot::open(g).unwrap();
        let ks = list_kernels(&root, None).unwrap();
        let names: Vec<&str> = ks.iter().map(|k| k.version.as_str()).collect();
        assert_eq!(names, [k1, k3, k2]);
        for k in &ks {
            assert_eq!(k.module_dirs.len(), 1, "{:?}", k.module_dirs);
            assert_eq!(
                k.image,
                Some(PathBuf::from(format!("/boot/vmlinuz-{}", k.version)))
            );
            assert_eq!(k.initramfs.convention, InitramfsConvention::Dracut);
            assert_eq!(
                k.drivers["hv_vmbus"],
                Availability::Module(k.module_dirs[0].join("kernel/drivers/hv/hv_vmbus.ko.xz"))
            );
            assert_eq!(k.drivers["hv_utils"], Availability::Absent);
        }
        assert!(!ks[0].initramfs.exists);
        assert_eq!(
            ks[0].initramfs.path,
            PathBuf::from(format!("/boot/initramfs-{k1}.img"))
        );

        let st = hyperv_status(&root, None).unwrap();
        assert_eq!(st[0].missing, REQUIRED_DRIVERS);
        assert!(st[0].unavailable.is_empty());
        assert_eq!(st[1].missing, ["hv_netvsc"]);
        assert!(st[2].is_ready(), "{:?}", st[2]);
        assert_eq!(st[2].drivers[0].in_initramfs, InInitramfs::Module);
        assert_eq!(st[2].drivers[3].name, "hv_utils");
        assert_eq!(st[2].drivers[3].in_initramfs, InInitramfs::Missing);
        assert!(!st[2].drivers[3].required);
    }

    /// Debian names, built-in drivers, no modules.dep (walked), a corrupt
    /// initramfs named in the error, and the expected path from the family.
    #[test]
    fn debian_like_tree_builtin_walk_and_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let g = tmp.path();
        let k = "6.1.0-9-amd64";
        write(
            g,
            &format!("/lib/modules/{k}/modules.builtin"),
            b"kernel/drivers/hv/hv_vmbus.ko\nkernel/drivers/hv/hv_utils.ko\n",
        );
        write(
            g,
            &format!("/lib/modules/{k}/kernel/drivers/scsi/hv_storvsc.ko"),
            b"",
        );
        write(
            g,
            &format!("/lib/modules/{k}/updates/dkms/hv-netvsc.ko.zst"),
            b"",
        );
        write(
            g,
            &format!("/boot/initrd.img-{k}"),
            b"\x1f\x8b\x08\0garbage",
        );
        let k2 = "5.10.0-20-amd64";
        fs::create_dir_all(g.join(format!("lib/modules/{k2}/kernel"))).unwrap();
        let root = GuestRoot::open(g).unwrap();

        let ks = list_kernels(&root, Some(Family::Debian)).unwrap();
        assert_eq!(ks.len(), 2);
        assert_eq!(ks[0].version, k2);
        assert_eq!(
            ks[0].initramfs.path,
            PathBuf::from(format!("/boot/initrd.img-{k2}"))
        );
        assert!(!ks[0].initramfs.exists);
        let d = &ks[1].drivers;
        assert_eq!(d["hv_vmbus"], Availability::Builtin);
        assert_eq!(d["hv_utils"], Availability::Builtin);
        assert_eq!(
            d["hv_storvsc"],
            Availability::Module(PathBuf::from(format!(
                "/lib/modules/{k}/kernel/drivers/scsi/hv_storvsc.ko"
            )))
        );
        assert_eq!(
            d["hv_netvsc"],
            Availability::Module(PathBuf::from(format!(
                "/lib/modules/{k}/updates/dkms/hv-netvsc.ko.zst"
            )))
        );
        assert_eq!(ks[1].initramfs.convention, InitramfsConvention::Debian);

        let st0 = kernel_status(&root, &ks[0]).unwrap();
        assert_eq!(st0.missing, REQUIRED_DRIVERS);
        assert_eq!(st0.unavailable, REQUIRED_DRIVERS);
        let e = kernel_status(&root, &ks[1]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, KernelsError::InitramfsRead { .. }), "{msg}");
        assert!(
            msg.contains(k) && msg.contains(&format!("/boot/initrd.img-{k}")),
            "{msg}"
        );

        // Now a good image with only storvsc: vmbus built in, netvsc missing.
        write(
            g,
            &format!("/boot/initrd.img-{k}"),
            &gz(&newc(&[(
                &format!("usr/lib/modules/{k}/kernel/drivers/scsi/hv_storvsc.ko"),
                0o100644,
                b"",
            )])),
        );
        let st = kernel_status(&root, &ks[1]).unwrap();
        let got: Vec<(&str, InInitramfs)> = st
            .drivers
            .iter()
            .map(|d| (d.name.as_str(), d.in_initramfs))
            .collect();
        assert_eq!(
            got,
            [
                ("hv_vmbus", InInitramfs::Builtin),
                ("hv_storvsc", InInitramfs::Module),
                ("hv_netvsc", InInitramfs::Missing),
                ("hv_utils", InInitramfs::Builtin)
            ]
        );
        assert_eq!(st.missing, ["hv_netvsc"]);
        assert!(st.unavailable.is_empty());
    }

    #[test]
    fn suse_and_bls_names() {
        let tmp = tempfile::tempdir().unwrap();
        let g = tmp.path();
        let id = "0123456789abcdef0123456789abcdef";
        write(g, "/etc/machine-id", format!("{id}\n").as_bytes());
        let (k1, k2) = ("5.14.21-150400.24.46-default", "6.5.6-300.fc39.x86_64");
        write(g, &format!("/lib/modules/{k1}/modules.dep"), b"");
        write(g, &format!("/boot/initrd-{k1}"), b"");
        write(g, &format!("/usr/lib/modules/{k2}/modules.dep"), b"");
        write(g, &format!("/usr/lib/modules/{k2}/vmlinuz"), b"MZ");
        write(g, &format!("/boot/{id}/{k2}/initrd"), b"");
        let root = GuestRoot::open(g).unwrap();
        let ks = list_kernels(&root, None).unwrap();
        assert_eq!(ks[0].initramfs.convention, InitramfsConvention::Suse);
        assert_eq!(ks[1].initramfs.convention, InitramfsConvention::Bls);
        assert_eq!(
            ks[1].initramfs.path,
            PathBuf::from(format!("/boot/{id}/{k2}/initrd"))
        );
        assert_eq!(
            ks[1].image,
            Some(PathBuf::from(format!("/usr/lib/modules/{k2}/vmlinuz")))
        );
        // Empty images are empty archives: nothing in them.
        let st = kernel_status(&root, &ks[0]).unwrap();
        assert_eq!(st.missing, REQUIRED_DRIVERS);
    }
}
