//! Service enablement as file changes: enable, disable and inspect a service under systemd, SysV init and upstart without running `systemctl`, `chkconfig` or `update-rc.d`.
//!
//! Steps use this to switch services on and off offline. Every change is a
//! plain file change of the edit transaction (a symlink made or removed, a
//! small file written), so a rollback restores the guest exactly, and no
//! tool of the guest has to run in a chroot.
//!
//! A [`Service`] names the service for each init system (the names differ:
//! `NetworkManager.service`, `/etc/init.d/NetworkManager`,
//! `/etc/init/network-manager.conf`). Every mechanism whose files exist in
//! the guest is handled, so the result holds whichever init boots the guest
//! (RHEL 6 boots upstart but runs its services from SysV links; systemd runs
//! SysV scripts that have no unit through its generator).
//!
//! What the functions write, per init system, mirrors what the guest's own
//! tools write:
//! - systemd ([`SYSTEMD_ETC`] = `/etc/systemd/system`): *disable* removes the
//!   unit's enablement symlinks (`<target>.wants/<unit>`,
//!   `<target>.requires/<unit>`, and aliases: other names in
//!   `/etc/systemd/system` linking to the unit) like `systemctl disable`, and
//!   *masks* it (`/etc/systemd/system/<unit> -> /dev/null`, like
//!   `systemctl mask`), so that a preset, a dependency or a vendor `.wants`
//!   link cannot start it again. *Enable* removes a mask and creates the
//!   links the unit's `[Install]` section asks for (`WantedBy=`,
//!   `RequiredBy=`, `Alias=`), pointing at the unit file as `systemctl
//!   enable` does (`/usr/lib/systemd/system/<unit>` or `/lib/...`); a unit
//!   file that is not installed yet gets `WantedBy=` from the caller.
//! - SysV (`/etc/rc.d/rcN.d` on Red Hat, `/etc/init.d/rcN.d` on SUSE,
//!   `/etc/rcN.d` on Debian): *disable* turns every start link `SNNname` into
//!   a stop link `KMMname` with the same target, as `chkconfig off` and
//!   `update-rc.d disable` do (`MM` from the script's `# chkconfig:` stop
//!   priority, else `100-NN`); a later `chkconfig --add` or `insserv` keeps a
//!   service whose links say "off" off. *Enable* creates `SNNname` in the
//!   script's start runlevels (`# chkconfig: 2345 NN MM`, else LSB
//!   `Default-Start:`, else 2345; `NN` from the chkconfig header, else 20) and
//!   removes the `K` links there.
//! - upstart (`/etc/init/<job>.conf`): *disable* writes `manual` into
//!   `/etc/init/<job>.override` (kept lines stay), *enable* takes `manual`
//!   out of it again (removing the file when nothing else is left).
//!
//! Within one step each path is changed at most once by these functions
//! (a step's own planned changes are not visible to it through
//! [`Context`]), so do not disable and enable the same service in one step.

use std::path::{Path, PathBuf};

use crate::edit::error::EditError;
use crate::edit::plan::{Before, Context, StepPlan};
use crate::guest::FileKind;

/// Where units are enabled, masked and aliased.
pub const SYSTEMD_ETC: &str = "/etc/systemd/system";
/// Directories with the distribution's unit files, in lookup order.
pub const VENDOR_UNIT_DIRS: [&str; 2] = ["/usr/lib/systemd/system", "/lib/systemd/system"];
/// Upstart's job directory.
pub const UPSTART_DIR: &str = "/etc/init";
/// SysV runlevel directories scanned when disabling (`S`: Debian's `rcS.d`).
pub const SYSV_LEVELS: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "S"];

/// A service as each init system names it. Empty lists: the service does not
/// exist under that init system.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    /// Human name for messages (`NetworkManager`).
    pub label: &'a str,
    /// systemd unit names (`NetworkManager.service`).
    pub systemd: &'a [&'a str],
    /// SysV init script names (`NetworkManager` for `/etc/init.d/NetworkManager`).
    pub sysv: &'a [&'a str],
    /// Upstart job names (`network-manager` for `/etc/init/network-manager.conf`).
    pub upstart: &'a [&'a str],
}

/// What [`status`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// A unit file, init script or job file of the service exists (or a
    /// systemd mask or enablement link names it).
    pub installed: bool,
    /// Some init system would start it at boot.
    pub enabled: bool,
    /// Found and where (`NetworkManager.service: enabled (multi-user.target.wants)`).
    pub details: Vec<String>,
}

impl Status {
    /// The details in one line (`not installed` when there are none).
    pub fn describe(&self) -> String {
        if self.details.is_empty() {
            "not installed".to_string()
        } else {
            self.details.join("; ")
        }
    }
}

fn gerr(plan_step: &str) -> impl Fn(crate::guest::GuestError) -> EditError + '_ {
    move |e| EditError::guest(plan_step, e)
}

fn is_dir(cx: &Context<'_>, path: &str) -> bool {
    cx.guest
        .symlink_metadata(path)
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

// ---- systemd -------------------------------------------------------------

/// The state of one systemd unit.
#[derive(Debug, Default)]
struct UnitState {
    /// The unit file (vendor dirs, or a real file/link in /etc/systemd/system).
    file: Option<PathBuf>,
    /// `/etc/systemd/system/<unit>` is a symlink to /dev/null.
    masked: bool,
    /// Enablement links in /etc/systemd/system (`.wants`/`.requires` and aliases).
    links: Vec<PathBuf>,
    /// Enabled statically by a vendor `.wants` link.
    vendor_wanted: Vec<PathBuf>,
}

fn link_names_unit(target: &Path, unit: &str) -> bool {
    target.file_name().and_then(|n| n.to_str()) == Some(unit)
}

fn unit_state(cx: &Context<'_>, step: &str, unit: &str) -> Result<UnitState, EditError> {
    let ge = gerr(step);
    let mut st = UnitState::default();
    let etc = Path::new(SYSTEMD_ETC).join(unit);
    match cx.before(&etc).map_err(&ge)? {
        Before::Symlink { target } if target == Path::new("/dev/null") => st.masked = true,
        Before::Symlink { .. } | Before::File { .. } => st.file = Some(etc.clone()),
        _ => {}
    }
    for dir in VENDOR_UNIT_DIRS {
        let p = Path::new(dir).join(unit);
        if st.file.is_none() && cx.exists(&p).map_err(&ge)? {
            st.file = Some(p);
        }
        if is_dir(cx, dir) {
            for (name, kind) in cx.list_dir(dir).map_err(&ge)? {
                if kind == FileKind::Dir
                    && (name.ends_with(".wants") || name.ends_with(".requires"))
                {
                    let l = Path::new(dir).join(&name).join(unit);
                    if cx.exists(&l).map_err(&ge)? {
                        st.vendor_wanted.push(l);
                    }
                }
            }
        }
    }
    for (name, kind) in cx.list_dir(SYSTEMD_ETC).map_err(&ge)? {
        let p = Path::new(SYSTEMD_ETC).join(&name);
        if (name.ends_with(".wants") || name.ends_with(".requires")) && kind == FileKind::Dir {
            for (n, k) in cx.list_dir(&p).map_err(&ge)? {
                if k != FileKind::Symlink {
                    continue;
                }
                let l = p.join(&n);
                let names = n == unit
                    || match cx.before(&l).map_err(&ge)? {
                        Before::Symlink { target } => link_names_unit(&target, unit),
                        _ => false,
                    };
                if names {
                    st.links.push(l);
                }
            }
        } else if kind == FileKind::Symlink && name != unit {
            if let Before::Symlink { target } = cx.before(&p).map_err(&ge)? {
                if link_names_unit(&target, unit) {
                    st.links.push(p);
                }
            }
        }
    }
    Ok(st)
}

/// `[Install]` keys of a unit file: (WantedBy, RequiredBy, Alias).
fn install_section(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut wanted, mut required, mut alias) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_install = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_install = l == "[Install]";
            continue;
        }
        if !in_install || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let vals = v.split_whitespace().map(str::to_string);
        match k.trim() {
            "WantedBy" => wanted.extend(vals),
            "RequiredBy" => required.extend(vals),
            "Alias" => alias.extend(vals),
            _ => {}
        }
    }
    (wanted, required, alias)
}

// ---- SysV ----------------------------------------------------------------

/// Where a guest keeps its init scripts and runlevel links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SysvLayout {
    /// `/etc/rc.d/{init.d,rcN.d}` (`/etc/init.d`, `/etc/rcN.d` are links to them).
    RedHat,
    /// `/etc/init.d/rcN.d/SNNname -> ../name`, `boot.d` for early boot.
    Suse,
    /// `/etc/rcN.d/SNNname -> ../init.d/name`, `rcS.d` for early boot.
    Debian,
}

impl SysvLayout {
    fn of(cx: &Context<'_>) -> Self {
        if is_dir(cx, "/etc/rc.d") {
            SysvLayout::RedHat
        } else if is_dir(cx, "/etc/init.d/rc3.d") {
            SysvLayout::Suse
        } else {
            SysvLayout::Debian
        }
    }

    fn initd(self) -> &'static str {
        match self {
            SysvLayout::RedHat => "/etc/rc.d/init.d",
            _ => "/etc/init.d",
        }
    }

    fn rc(self, level: &str) -> String {
        match self {
            SysvLayout::RedHat => format!("/etc/rc.d/rc{level}.d"),
            SysvLayout::Suse if level == "S" => "/etc/init.d/boot.d".to_string(),
            SysvLayout::Suse => format!("/etc/init.d/rc{level}.d"),
            SysvLayout::Debian => format!("/etc/rc{level}.d"),
        }
    }

    /// What a link's target starts with (`../init.d/`).
    fn prefix(self) -> &'static str {
        match self {
            SysvLayout::Suse => "../",
            _ => "../init.d/",
        }
    }
}

/// `SNNname` / `KNNname`: the kind, priority and name of an rc link.
fn rc_link(name: &str) -> Option<(char, u32, &str)> {
    let mut c = name.chars();
    let kind = c.next().filter(|k| *k == 'S' || *k == 'K')?;
    let digits: String = name[1..]
        .chars()
        .take_while(|d| d.is_ascii_digit())
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some((kind, digits.parse().ok()?, &name[1 + digits.len()..]))
}

/// Header of an init script: (start levels, start priority, stop priority).
fn sysv_header(text: &str) -> (Option<Vec<String>>, Option<u32>, Option<u32>) {
    let mut levels = None;
    let (mut start, mut stop) = (None, None);
    for line in text.lines() {
        let l = line.trim_start_matches('#').trim();
        if let Some(rest) = l.strip_prefix("chkconfig:") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() >= 3 {
                if f[0] != "-" {
                    levels = Some(f[0].chars().map(|c| c.to_string()).collect());
                }
                start = f[1].parse().ok();
                stop = f[2].parse().ok();
            }
        } else if let Some(rest) = l.strip_prefix("Default-Start:") {
            if levels.is_none() {
                levels = Some(rest.split_whitespace().map(str::to_string).collect());
            }
        }
    }
    (levels, start, stop)
}

/// (rc dir, link name, kind, priority) of every rc link of `script`.
fn sysv_links(
    cx: &Context<'_>,
    step: &str,
    script: &str,
) -> Result<Vec<(String, String, char, u32)>, EditError> {
    let layout = SysvLayout::of(cx);
    let mut out = Vec::new();
    for level in SYSV_LEVELS {
        let dir = layout.rc(level);
        for (name, _) in cx.list_dir(&dir).map_err(gerr(step))? {
            if let Some((k, n, s)) = rc_link(&name) {
                if s == script {
                    out.push((dir.clone(), name.clone(), k, n));
                }
            }
        }
    }
    Ok(out)
}

// ---- upstart -------------------------------------------------------------

fn has_manual(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "manual")
}

/// `/etc/init/<job>.conf` and `/etc/init/<job>.override`.
fn upstart_files(job: &str) -> (PathBuf, PathBuf) {
    (
        Path::new(UPSTART_DIR).join(format!("{job}.conf")),
        Path::new(UPSTART_DIR).join(format!("{job}.override")),
    )
}

/// The upstart jobs of `svc` whose job file exists, with their override file.
fn upstart_jobs<'s>(
    cx: &Context<'_>,
    step: &str,
    svc: &Service<'s>,
) -> Result<Vec<(&'s str, PathBuf)>, EditError> {
    let mut out = Vec::new();
    for job in svc.upstart {
        let (conf, ovr) = upstart_files(job);
        if cx.exists(&conf).map_err(gerr(step))? {
            out.push((*job, ovr));
        }
    }
    Ok(out)
}

// ---- public API ----------------------------------------------------------

/// Whether `svc` is installed and enabled in the guest (see the module docs).
pub fn status(cx: &Context<'_>, step: &str, svc: &Service<'_>) -> Result<Status, EditError> {
    let ge = gerr(step);
    let mut out = Status::default();
    for unit in svc.systemd {
        let st = unit_state(cx, step, unit)?;
        if st.masked {
            out.installed = true;
            out.details.push(format!("{unit}: masked"));
        } else if st.file.is_some() || !st.links.is_empty() {
            out.installed = true;
            let mut how: Vec<String> = st
                .links
                .iter()
                .chain(&st.vendor_wanted)
                .map(|l| l.display().to_string())
                .collect();
            if how.is_empty() {
                out.details.push(format!("{unit}: not enabled"));
            } else {
                out.enabled = true;
                how.sort();
                out.details
                    .push(format!("{unit}: enabled ({})", how.join(", ")));
            }
        }
    }
    let initd = SysvLayout::of(cx).initd();
    for script in svc.sysv {
        let links = sysv_links(cx, step, script)?;
        let exists = cx.exists(Path::new(initd).join(script)).map_err(&ge)?;
        if !exists && links.is_empty() {
            continue;
        }
        out.installed = true;
        let starts: Vec<String> = links
            .iter()
            .filter(|l| l.2 == 'S')
            .map(|l| format!("{}/{}", l.0, l.1))
            .collect();
        if starts.is_empty() {
            out.details
                .push(format!("{initd}/{script}: off in every runlevel"));
        } else {
            out.enabled = true;
            out.details
                .push(format!("{initd}/{script}: on ({})", starts.join(", ")));
        }
    }
    for job in svc.upstart {
        let (conf, ovr) = upstart_files(job);
        let Some(text) = cx.read_text(&conf).map_err(&ge)? else {
            continue;
        };
        out.installed = true;
        let manual = has_manual(&text)
            || cx
                .read_text(&ovr)
                .map_err(&ge)?
                .is_some_and(|t| has_manual(&t));
        if manual {
            out.details.push(format!("{}: manual", conf.display()));
        } else {
            out.enabled = true;
            out.details
                .push(format!("{}: starts on its events", conf.display()));
        }
    }
    Ok(out)
}

/// Whether `plan` already changes `path` (a path is changed once per step).
fn planned_in(plan: &StepPlan, path: &Path) -> bool {
    plan.changes.iter().any(|c| c.action.path() == Some(path))
}

/// Whether some init system of the guest would start `svc` at boot.
pub fn is_enabled(cx: &Context<'_>, step: &str, svc: &Service<'_>) -> Result<bool, EditError> {
    Ok(status(cx, step, svc)?.enabled)
}

/// Plan disabling `svc` everywhere it is installed (see the module docs).
/// Returns whether anything was planned.
pub fn disable(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    svc: &Service<'_>,
    why: &str,
) -> Result<bool, EditError> {
    let step = plan.step;
    let ge = gerr(step);
    let mut any = false;
    // Links first, then masks; a link that is itself the name of one of the
    // units (an alias `vmtoolsd.service -> open-vm-tools.service`) is masked,
    // not removed; a path is changed once.
    let mut masks = Vec::new();
    let mut removals = std::collections::BTreeSet::new();
    for unit in svc.systemd {
        let st = unit_state(cx, step, unit)?;
        for l in st.links {
            removals.insert((l, *unit));
        }
        if st.file.is_some() || st.masked {
            masks.push(*unit);
        }
    }
    for (_, unit) in &removals {
        if !masks.contains(unit) {
            masks.push(unit);
        }
    }
    let mask_paths: Vec<PathBuf> = masks
        .iter()
        .map(|u| Path::new(SYSTEMD_ETC).join(u))
        .collect();
    for (l, unit) in &removals {
        if mask_paths.contains(l) || planned_in(plan, l) {
            continue;
        }
        any |= plan.remove(cx, l, format!("{why}: disable {unit} (enablement link)"))?;
    }
    for (unit, path) in masks.iter().zip(&mask_paths) {
        if planned_in(plan, path) {
            continue;
        }
        any |= plan.symlink(
            cx,
            path,
            "/dev/null",
            format!("{why}: mask {unit} so that nothing starts it"),
        )?;
    }
    let initd = SysvLayout::of(cx).initd();
    for script in svc.sysv {
        let text = cx
            .read_text(Path::new(initd).join(script))
            .map_err(&ge)?
            .unwrap_or_default();
        let (_, _, stop) = sysv_header(&text);
        for (dir, name, kind, prio) in sysv_links(cx, step, script)? {
            if kind != 'S' {
                continue;
            }
            let from = Path::new(&dir).join(&name);
            let target = match cx.before(&from).map_err(&ge)? {
                Before::Symlink { target } => target,
                _ => continue,
            };
            let k = stop.unwrap_or(if prio == 0 || prio >= 100 {
                99
            } else {
                100 - prio
            });
            let to = Path::new(&dir).join(format!("K{k:02}{script}"));
            plan.remove(
                cx,
                &from,
                format!("{why}: {script} off in {dir} (start link)"),
            )?;
            plan.symlink(
                cx,
                &to,
                &target,
                format!("{why}: {script} off in {dir} (stop link)"),
            )?;
            any = true;
        }
    }
    for (job, ovr) in upstart_jobs(cx, step, svc)? {
        let old = cx.read_text(&ovr).map_err(&ge)?.unwrap_or_default();
        if has_manual(&old) {
            continue;
        }
        let mut new = old.clone();
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str("manual\n");
        any |= plan.write(
            cx,
            &ovr,
            new,
            format!("{why}: upstart job {job} only on request"),
        )?;
    }
    Ok(any)
}

/// [`enable_with`] with `WantedBy=multi-user.target` for a unit file that is
/// not installed yet.
pub fn enable(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    svc: &Service<'_>,
    why: &str,
) -> Result<bool, EditError> {
    enable_with(plan, cx, svc, &["multi-user.target"], why)
}

/// Plan enabling `svc` (see the module docs). systemd units that exist are
/// enabled as their `[Install]` says; when none of `svc.systemd` is installed
/// but the guest has systemd and no init script or job of the service, the
/// first unit is enabled for `wanted_by` at the vendor unit path (for a
/// package a command of the same transaction installs). Returns whether
/// anything was planned.
pub fn enable_with(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    svc: &Service<'_>,
    wanted_by: &[&str],
    why: &str,
) -> Result<bool, EditError> {
    let step = plan.step;
    let ge = gerr(step);
    let mut any = false;
    let layout = SysvLayout::of(cx);
    let (initd, prefix) = (layout.initd(), layout.prefix());
    let mut found_other = false;
    for script in svc.sysv {
        let path = Path::new(initd).join(script);
        let Some(text) = cx.read_text(&path).map_err(&ge)? else {
            continue;
        };
        found_other = true;
        let (levels, start, _) = sysv_header(&text);
        let levels = levels.unwrap_or_else(|| ["2", "3", "4", "5"].map(String::from).to_vec());
        let links = sysv_links(cx, step, script)?;
        for level in &levels {
            let dir = layout.rc(level);
            if links.iter().any(|l| l.0 == dir && l.2 == 'S') {
                continue;
            }
            for l in links.iter().filter(|l| l.0 == dir && l.2 == 'K') {
                plan.remove(
                    cx,
                    Path::new(&dir).join(&l.1),
                    format!("{why}: {script} on in {dir} (stop link)"),
                )?;
            }
            let n = start.unwrap_or(20);
            plan.symlink(
                cx,
                Path::new(&dir).join(format!("S{n:02}{script}")),
                format!("{prefix}{script}"),
                format!("{why}: {script} on in {dir}"),
            )?;
            any = true;
        }
    }
    for (job, ovr) in upstart_jobs(cx, step, svc)? {
        found_other = true;
        let Some(old) = cx.read_text(&ovr).map_err(&ge)? else {
            continue;
        };
        if !has_manual(&old) {
            continue;
        }
        let kept: String = old
            .lines()
            .filter(|l| l.trim() != "manual")
            .map(|l| format!("{l}\n"))
            .collect();
        let reason = format!("{why}: upstart job {job} starts on its events");
        if kept.trim().is_empty() {
            any |= plan.remove(cx, &ovr, reason)?;
        } else {
            any |= plan.write(cx, &ovr, kept, reason)?;
        }
    }
    let mut enabled_unit = false;
    for unit in svc.systemd {
        let st = unit_state(cx, step, unit)?;
        let vendor = VENDOR_UNIT_DIRS
            .iter()
            .map(|d| Path::new(d).join(unit))
            .find(|p| cx.exists(p).unwrap_or(false));
        let file = if st.masked { vendor } else { st.file.clone() };
        let Some(file) = file else { continue };
        enabled_unit = true;
        let text = cx.read_text(&file).map_err(&ge)?.unwrap_or_default();
        let (wanted, required, alias) = install_section(&text);
        if st.masked {
            any |= plan.remove(
                cx,
                Path::new(SYSTEMD_ETC).join(unit),
                format!("{why}: unmask {unit}"),
            )?;
        }
        any |= enable_links(plan, cx, unit, &file, &wanted, &required, &alias, why)?;
    }
    if !enabled_unit && !found_other {
        if let Some(unit) = svc.systemd.first() {
            let dir = VENDOR_UNIT_DIRS.iter().find(|d| is_dir(cx, d));
            if let Some(dir) = dir {
                let file = Path::new(dir).join(unit);
                let wanted: Vec<String> = wanted_by.iter().map(|s| s.to_string()).collect();
                any |= enable_links(plan, cx, unit, &file, &wanted, &[], &[], why)?;
            }
        }
    }
    Ok(any)
}

#[allow(clippy::too_many_arguments)]
fn enable_links(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    unit: &str,
    file: &Path,
    wanted: &[String],
    required: &[String],
    alias: &[String],
    why: &str,
) -> Result<bool, EditError> {
    let mut any = false;
    // A unit file in /etc/systemd/system is linked by its plain path.
    let target = file.to_path_buf();
    for (targets, kind) in [(wanted, "wants"), (required, "requires")] {
        for t in targets {
            let l = Path::new(SYSTEMD_ETC)
                .join(format!("{t}.{kind}"))
                .join(unit);
            any |= plan.symlink(
                cx,
                &l,
                &target,
                format!("{why}: enable {unit} ({t}.{kind})"),
            )?;
        }
    }
    for a in alias {
        if a == unit {
            continue;
        }
        let l = Path::new(SYSTEMD_ETC).join(a);
        any |= plan.symlink(cx, &l, &target, format!("{why}: enable {unit} (alias {a})"))?;
    }
    Ok(any)
}

/// Test helpers shared by the step tests: guest trees in temp dirs, plan,
/// commit, re-plan and rollback with full tree listings.
#[cfg(test)]
pub(crate) mod testutil {
    use std::collections::BTreeMap;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::{Path, PathBuf};

    use crate::edit::facts::SystemFacts;
    use crate::edit::plan::{Context, Pending, Step, StepOptions, StepPlan};
    use crate::edit::txn::{self, CommitOptions};
    use crate::guest::GuestRoot;
    use crate::inspect::os::{Distro, Family, OsIdentity, Version};

    /// An identity built directly.
    pub fn os(family: Family, distro: Distro, major: u32, minor: u32, raw: &str) -> OsIdentity {
        OsIdentity {
            family,
            distro,
            version: Version {
                major,
                minor,
                raw: raw.to_string(),
            },
            pretty: raw.to_string(),
            sources: Vec::new(),
        }
    }

    /// A guest tree in a temp dir.
    pub struct Tree {
        pub dir: tempfile::TempDir,
    }

    impl Tree {
        pub fn new() -> Self {
            let t = Tree {
                dir: tempfile::tempdir().unwrap(),
            };
            t.mkdir("/var/lib");
            t.mkdir("/etc");
            t
        }
        pub fn host(&self, p: &str) -> PathBuf {
            self.dir.path().join(p.trim_start_matches('/'))
        }
        pub fn mkdir(&self, p: &str) {
            std::fs::create_dir_all(self.host(p)).unwrap();
        }
        pub fn file(&self, p: &str, text: &str) {
            self.file_mode(p, text, 0o644);
        }
        pub fn file_mode(&self, p: &str, text: &str, mode: u32) {
            let h = self.host(p);
            std::fs::create_dir_all(h.parent().unwrap()).unwrap();
            std::fs::write(&h, text).unwrap();
            std::fs::set_permissions(&h, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        pub fn link(&self, p: &str, target: &str) {
            let h = self.host(p);
            std::fs::create_dir_all(h.parent().unwrap()).unwrap();
            symlink(target, h).unwrap();
        }
        pub fn read(&self, p: &str) -> String {
            std::fs::read_to_string(self.host(p)).unwrap()
        }
        pub fn target(&self, p: &str) -> Option<PathBuf> {
            std::fs::read_link(self.host(p)).ok()
        }
        pub fn exists(&self, p: &str) -> bool {
            self.host(p).symlink_metadata().is_ok()
        }
        pub fn mode(&self, p: &str) -> u32 {
            self.host(p)
                .symlink_metadata()
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        }
        /// Every path with its kind, mode, bytes or link target.
        pub fn listing(&self) -> BTreeMap<PathBuf, String> {
            fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
                let mut entries: Vec<_> = std::fs::read_dir(dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                entries.sort();
                for p in entries {
                    let m = p.symlink_metadata().unwrap();
                    let rel = p.strip_prefix(root).unwrap().to_path_buf();
                    let mode = m.permissions().mode() & 0o7777;
                    if m.file_type().is_symlink() {
                        out.insert(
                            rel,
                            format!("link -> {}", std::fs::read_link(&p).unwrap().display()),
                        );
                    } else if m.is_dir() {
                        out.insert(rel, format!("dir {mode:o}"));
                        walk(root, &p, out);
                    } else {
                        out.insert(
                            rel,
                            format!("file {mode:o} {:?}", std::fs::read(&p).unwrap()),
                        );
                    }
                }
            }
            let mut out = BTreeMap::new();
            walk(self.dir.path(), self.dir.path(), &mut out);
            out
        }
    }

    /// Red Hat's SysV layout: `/etc/rc.d/{init.d,rc0.d..rc6.d}`, with
    /// `/etc/init.d` and `/etc/rcN.d` links to them.
    pub fn rhel6_rc(t: &Tree) {
        t.mkdir("/etc/rc.d/init.d");
        t.link("/etc/init.d", "rc.d/init.d");
        for l in 0..=6 {
            t.mkdir(&format!("/etc/rc.d/rc{l}.d"));
            t.link(&format!("/etc/rc{l}.d"), &format!("rc.d/rc{l}.d"));
        }
    }

    /// Plan `step` on `tree`.
    pub fn plan(step: &dyn Step, tree: &Tree, os: &OsIdentity) -> StepPlan {
        let guest = GuestRoot::open(tree.dir.path()).unwrap();
        let facts = SystemFacts::none();
        let opts = StepOptions::default();
        let pending = Pending::default();
        let cx = Context::new(&guest, os, &facts, &opts, &pending);
        step.plan(&cx).unwrap()
    }

    /// Plan, commit, check that a second plan is empty, take the committed
    /// tree's listing, roll back and check the tree is as before. Returns
    /// the first plan; `after` runs on the committed tree.
    pub fn cycle(
        step: &dyn Step,
        tree: &Tree,
        os: &OsIdentity,
        after: impl FnOnce(&Tree),
    ) -> StepPlan {
        let before = tree.listing();
        let p = plan(step, tree, os);
        assert!(p.blockers.is_empty(), "blocked: {:?}", p.blockers);
        let guest = GuestRoot::open(tree.dir.path()).unwrap();
        txn::commit(&guest, std::slice::from_ref(&p), &CommitOptions::default()).unwrap();
        let again = plan(step, tree, os);
        let left: Vec<String> = again
            .changes
            .iter()
            .map(|c| format!("{} {:?}: {}", c.action.kind(), c.action.path(), c.why))
            .collect();
        assert!(left.is_empty(), "second plan not empty: {left:#?}");
        after(tree);
        let rb = txn::rollback(&guest, None).unwrap();
        assert!(rb.is_some() || p.changes.is_empty());
        assert_eq!(tree.listing(), before, "rollback did not restore the tree");
        p
    }

    /// The paths a plan changes, as `kind path`.
    pub fn changed(p: &StepPlan) -> Vec<String> {
        p.changes
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.action.kind(),
                    c.action
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::testutil::{cycle, os, rhel6_rc, Tree};
    use super::*;
    use crate::edit::plan::Step;
    use crate::inspect::os::{Distro, Family};

    struct Dis(Service<'static>);
    struct En(Service<'static>);

    impl Step for Dis {
        fn name(&self) -> &'static str {
            "test"
        }
        fn requirement(&self) -> &'static str {
            "T"
        }
        fn summary(&self) -> &'static str {
            "disable"
        }
        fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
            let mut p = StepPlan::new("test", "T");
            disable(&mut p, cx, &self.0, "test")?;
            assert!(!status(cx, "test", &self.0)?.details.is_empty());
            Ok(p)
        }
    }
    impl Step for En {
        fn name(&self) -> &'static str {
            "test"
        }
        fn requirement(&self) -> &'static str {
            "T"
        }
        fn summary(&self) -> &'static str {
            "enable"
        }
        fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
            let mut p = StepPlan::new("test", "T");
            enable(&mut p, cx, &self.0, "test")?;
            Ok(p)
        }
    }

    const NM: Service<'static> = Service {
        label: "NetworkManager",
        systemd: &["NetworkManager.service"],
        sysv: &["NetworkManager"],
        upstart: &["network-manager"],
    };
    const AGENT: Service<'static> = Service {
        label: "waagent",
        systemd: &["waagent.service"],
        sysv: &["waagent"],
        upstart: &["walinuxagent"],
    };

    fn st(t: &Tree, svc: &Service<'_>) -> Status {
        struct S<'a>(&'a Service<'a>, std::sync::Mutex<Option<Status>>);
        impl Step for S<'_> {
            fn name(&self) -> &'static str {
                "s"
            }
            fn requirement(&self) -> &'static str {
                "T"
            }
            fn summary(&self) -> &'static str {
                "s"
            }
            fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
                *self.1.lock().unwrap() = Some(status(cx, "s", self.0)?);
                Ok(StepPlan::new("s", "T"))
            }
        }
        let s = S(svc, std::sync::Mutex::new(None));
        super::testutil::plan(&s, t, &os(Family::RedHat, Distro::Rhel, 9, 0, "9.0"));
        s.1.into_inner().unwrap().unwrap()
    }

    #[test]
    fn systemd_disable_removes_links_and_masks() {
        let t = Tree::new();
        t.file(
            "/usr/lib/systemd/system/NetworkManager.service",
            "[Unit]\nDescription=NM\n[Install]\nWantedBy=multi-user.target\nAlias=dbus-org.freedesktop.NetworkManager.service\n",
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/NetworkManager.service",
            "/usr/lib/systemd/system/NetworkManager.service",
        );
        t.link(
            "/etc/systemd/system/dbus-org.freedesktop.NetworkManager.service",
            "/usr/lib/systemd/system/NetworkManager.service",
        );
        t.link(
            "/etc/systemd/system/sshd.service",
            "/usr/lib/systemd/system/sshd.service",
        );
        assert!(st(&t, &NM).enabled);
        let os = os(Family::RedHat, Distro::Rhel, 9, 0, "9.0");
        cycle(&Dis(NM), &t, &os, |t| {
            assert!(!t.exists("/etc/systemd/system/multi-user.target.wants/NetworkManager.service"));
            assert!(!t.exists("/etc/systemd/system/dbus-org.freedesktop.NetworkManager.service"));
            assert_eq!(
                t.target("/etc/systemd/system/NetworkManager.service"),
                Some(PathBuf::from("/dev/null"))
            );
            assert!(t.exists("/etc/systemd/system/sshd.service"));
            let s = st(t, &NM);
            assert!(s.installed && !s.enabled, "{s:?}");
        });
    }

    #[test]
    fn systemd_enable_unmasks_and_links_per_install_section() {
        let t = Tree::new();
        t.file(
            "/usr/lib/systemd/system/waagent.service",
            "[Unit]\nDescription=Azure Linux Agent\n\n[Service]\nExecStart=/usr/sbin/waagent -daemon\n\n[Install]\nWantedBy=multi-user.target\n",
        );
        t.link("/etc/systemd/system/waagent.service", "/dev/null");
        assert!(!st(&t, &AGENT).enabled);
        let os = os(Family::RedHat, Distro::Rhel, 8, 6, "8.6");
        cycle(&En(AGENT), &t, &os, |t| {
            assert!(!t.exists("/etc/systemd/system/waagent.service"));
            assert_eq!(
                t.target("/etc/systemd/system/multi-user.target.wants/waagent.service"),
                Some(PathBuf::from("/usr/lib/systemd/system/waagent.service"))
            );
            assert!(st(t, &AGENT).enabled);
        });
    }

    #[test]
    fn systemd_enable_of_a_unit_not_installed_yet_uses_the_fallback() {
        let t = Tree::new();
        t.mkdir("/lib/systemd/system");
        let os = os(Family::Debian, Distro::Debian, 11, 0, "11");
        cycle(&En(AGENT), &t, &os, |t| {
            assert_eq!(
                t.target("/etc/systemd/system/multi-user.target.wants/waagent.service"),
                Some(PathBuf::from("/lib/systemd/system/waagent.service"))
            );
        });
    }

    #[test]
    fn sysv_enable_and_disable_on_red_hat_layout() {
        let t = Tree::new();
        rhel6_rc(&t);
        t.file_mode(
            "/etc/rc.d/init.d/waagent",
            "#!/bin/sh\n# chkconfig: 2345 75 25\n",
            0o755,
        );
        t.file_mode(
            "/etc/rc.d/init.d/NetworkManager",
            "#!/bin/sh\n# chkconfig: - 23 84\n",
            0o755,
        );
        for l in 0..=6 {
            t.link(
                &format!("/etc/rc.d/rc{l}.d/K25waagent"),
                "../init.d/waagent",
            );
            let nm = if (2..=5).contains(&l) {
                "S23NetworkManager"
            } else {
                "K84NetworkManager"
            };
            t.link(
                &format!("/etc/rc.d/rc{l}.d/{nm}"),
                "../init.d/NetworkManager",
            );
        }
        let os = os(Family::RedHat, Distro::Rhel, 6, 10, "6.10");
        cycle(&En(AGENT), &t, &os, |t| {
            for l in 0..=6 {
                let on = (2..=5).contains(&l);
                assert_eq!(
                    t.exists(&format!("/etc/rc.d/rc{l}.d/S75waagent")),
                    on,
                    "rc{l}"
                );
                assert_eq!(
                    t.exists(&format!("/etc/rc.d/rc{l}.d/K25waagent")),
                    !on,
                    "rc{l}"
                );
            }
            assert_eq!(
                t.target("/etc/rc.d/rc3.d/S75waagent"),
                Some(PathBuf::from("../init.d/waagent"))
            );
        });
        cycle(&Dis(NM), &t, &os, |t| {
            for l in 0..=6 {
                assert!(!t.exists(&format!("/etc/rc.d/rc{l}.d/S23NetworkManager")));
                assert_eq!(
                    t.target(&format!("/etc/rc.d/rc{l}.d/K84NetworkManager")),
                    Some(PathBuf::from("../init.d/NetworkManager"))
                );
            }
            assert!(!st(t, &NM).enabled);
        });
    }

    #[test]
    fn sysv_on_debian_layout_uses_lsb_header() {
        let t = Tree::new();
        t.file_mode("/etc/init.d/waagent", "#!/bin/sh\n### BEGIN INIT INFO\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\n", 0o755);
        for l in ["0", "1", "2", "3", "4", "5", "6", "S"] {
            t.mkdir(&format!("/etc/rc{l}.d"));
        }
        let os = os(Family::Debian, Distro::Debian, 7, 11, "7.11");
        cycle(&En(AGENT), &t, &os, |t| {
            assert_eq!(
                t.target("/etc/rc2.d/S20waagent"),
                Some(PathBuf::from("../init.d/waagent"))
            );
            assert!(!t.exists("/etc/rc1.d/S20waagent"));
        });
    }

    #[test]
    fn upstart_manual_override() {
        let t = Tree::new();
        t.file("/etc/init/network-manager.conf", "start on started dbus\n");
        t.file("/etc/init/walinuxagent.conf", "start on runlevel [2345]\n");
        t.file("/etc/init/walinuxagent.override", "env X=1\nmanual\n");
        let os = os(Family::Debian, Distro::Ubuntu, 14, 4, "14.04");
        cycle(&Dis(NM), &t, &os, |t| {
            assert_eq!(t.read("/etc/init/network-manager.override"), "manual\n");
        });
        cycle(&En(AGENT), &t, &os, |t| {
            assert_eq!(t.read("/etc/init/walinuxagent.override"), "env X=1\n");
        });
    }

    #[test]
    fn rc_link_names() {
        assert_eq!(
            rc_link("S23NetworkManager"),
            Some(('S', 23, "NetworkManager"))
        );
        assert_eq!(rc_link("K01vmware-tools"), Some(('K', 1, "vmware-tools")));
        assert_eq!(rc_link("README"), None);
        assert_eq!(rc_link("Sx"), None);
    }
}
