//! The `agent` step (L8): the Azure Linux agent (waagent) is installed and its service enabled.
//!
//! **Present** means the program (`/usr/sbin/waagent` or `/usr/bin/waagent`)
//! and a service definition for the guest's init system: a systemd unit
//! (`waagent.service` on RHEL and SUSE, `walinuxagent.service` on Debian and
//! Ubuntu), an upstart job (`/etc/init/walinuxagent.conf`, Ubuntu 14.04) or a
//! SysV script (`/etc/init.d/waagent` on RHEL 6 and SLES 11,
//! `/etc/init.d/walinuxagent`). The dpkg database (`/var/lib/dpkg/status`) is
//! read where there is one and reported; the rpm database cannot be read
//! without rpm, so on RPM distributions the package's files decide.
//!
//! **Present but not enabled**: enabled through file changes by the shared
//! [`services`] module (what `systemctl enable`, `chkconfig on` or removing an
//! upstart `manual` override would write), for the mechanism the guest's init
//! uses: the systemd unit on a systemd guest, the upstart job on an upstart
//! guest that has one, else the SysV script. Where `insserv` orders the boot
//! (`/etc/init.d/.depend.start`: SLES 11, Debian 7) a warning says that the
//! hand-made rc links may need an `insserv` run in the VM.
//!
//! **Missing**: installed in the chroot, then enabled with the distribution's
//! tool (`systemctl enable`, `chkconfig NAME on`, `insserv NAME`,
//! `update-rc.d NAME defaults`; upstart jobs need nothing). Enabling is a
//! command here, not a planned symlink, because the package's own scripts
//! may make the same link (a planned link would then find it there); the
//! `multi-user.target.wants` link is listed in the install command's
//! `affects`, so a rollback removes it whoever made it:
//! - with `--agent-package FILE` (a `.rpm` or `.deb` on the helper): the file
//!   is written into the guest under [`PACKAGE_DIR`] (a journaled write: a
//!   rollback removes it) and installed with `rpm -Uvh --replacepkgs` or
//!   `dpkg -i`;
//! - with `--network`: from the guest's repositories (`yum`/`dnf install
//!   WALinuxAgent`, `zypper install python-azure-agent`, `apt-get update` and
//!   `apt-get install waagent`/`walinuxagent`). These commands are marked
//!   [`RunSpec::network`]: each runs with the helper's `/etc/resolv.conf`
//!   bound read-only over the guest's (a migrated guest's names the source
//!   site's DNS servers), never written, in the command's own mount namespace
//!   ([`crate::edit::dns`]). When the guest's is missing or dangles, nothing
//!   is bound and the plan warns that name resolution in the chroot uses
//!   what the guest has;
//! - with neither: a blocker naming the distribution's package.
//!
//! Every install has an undo command that removes the package again (`rpm -e`
//! when it is installed, `dpkg --purge`); dependencies pulled in by a
//! repository install stay. On Debian and Ubuntu, a `policy-rc.d` that
//! refuses service starts is in place while dpkg runs (a SysV or upstart
//! guest's postinst would otherwise start the agent on the helper) and is
//! removed afterwards. Verification is by planning again: the files exist and
//! the service is enabled, so nothing is left to do.
//!
//! cloud-init does not replace the agent (extensions and health reporting
//! need it; Ubuntu's Azure images have both): a guest with cloud-init and no
//! agent gets the agent too. `/etc/waagent.conf` is not edited: the source
//! document asks for none of its settings.

use std::path::{Path, PathBuf};

use super::services;
use crate::edit::error::EditError;
use crate::edit::plan::{Action, Before, Change, Context, RunSpec, Step, StepPlan};
use crate::guest::{FileAttrs, GuestError};
use crate::inspect::os::{Distro, Family, OsIdentity};

/// Where the agent's program is installed.
pub const BINARIES: [&str; 2] = ["/usr/sbin/waagent", "/usr/bin/waagent"];
/// The agent's systemd unit names.
pub const UNITS: [&str; 2] = ["waagent.service", "walinuxagent.service"];
/// Where systemd units live, in the order systemd prefers them.
pub const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// The agent's SysV script and upstart job names.
pub const SCRIPTS: [&str; 2] = ["waagent", "walinuxagent"];
/// dpkg's database of installed packages.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
/// Where a package file given with `--agent-package` is put in the guest.
pub const PACKAGE_DIR: &str = "/var/lib/hydra/packages";
/// Debian's hook that allows or refuses service starts by maintainer scripts.
pub const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
/// The `policy-rc.d` in place while packages are installed: refuse every start.
pub const POLICY_RC_D_DENY: &str =
    "#!/bin/sh\n# Hydra: no service starts while packages are installed offline.\nexit 101\n";

/// The agent step.
pub struct Agent;

/// The guest's init system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// systemd (`/sbin/init` links to systemd).
    Systemd,
    /// upstart (Ubuntu 14.04, RHEL 6: `/sbin/initctl`).
    Upstart,
    /// SysV init.
    SysV,
}

/// How the agent's service is defined in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Service {
    /// A systemd unit (`name`) at `path`.
    Unit { name: String, path: PathBuf },
    /// An upstart job `/etc/init/<job>.conf`.
    Upstart { job: String },
    /// A SysV script `/etc/init.d/<name>`.
    SysV { name: String, path: PathBuf },
}

/// The distribution's package of the agent: `WALinuxAgent` (RHEL, CentOS,
/// Oracle Linux), `python-azure-agent` (SLES), `walinuxagent` (Ubuntu),
/// `waagent` (Debian, Kali). `None` for an unknown family.
pub fn package_name(os: &OsIdentity) -> Option<&'static str> {
    match (os.family, &os.distro) {
        (Family::RedHat, _) => Some("WALinuxAgent"),
        (Family::Suse, _) => Some("python-azure-agent"),
        (Family::Debian, Distro::Ubuntu) => Some("walinuxagent"),
        (Family::Debian, _) => Some("waagent"),
        _ => None,
    }
}

/// The systemd unit and SysV script name the distribution's package installs.
fn default_service_names(os: &OsIdentity) -> (&'static str, &'static str) {
    match os.family {
        Family::Debian => ("walinuxagent.service", "walinuxagent"),
        _ => ("waagent.service", "waagent"),
    }
}

/// The first of `names` that dpkg's `status` lists as installed.
pub fn dpkg_installed(status: &str, names: &[&str]) -> Option<String> {
    let status = status.replace("\r\n", "\n");
    for stanza in status.split("\n\n") {
        let mut package = None;
        let mut state = None;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                package = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                state = Some(v.trim());
            }
        }
        if let (Some(p), Some(s)) = (package, state) {
            if names.contains(&p) && s.split_whitespace().last() == Some("installed") {
                return Some(p.to_string());
            }
        }
    }
    None
}

/// The package name in a package file name: `WALinuxAgent-2.2.49-1.el7.noarch.rpm`
/// is `WALinuxAgent`, `walinuxagent_2.2.45-0ubuntu1_amd64.deb` is `walinuxagent`.
pub fn package_of_file(file_name: &str) -> Option<String> {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".deb") {
        let stem = &file_name[..file_name.len() - 4];
        let name = stem.split('_').next()?;
        return (!name.is_empty() && stem.contains('_')).then(|| name.to_string());
    }
    if lower.ends_with(".rpm") {
        let stem = &file_name[..file_name.len() - 4];
        let parts: Vec<&str> = stem.rsplitn(3, '-').collect();
        return (parts.len() == 3 && !parts[2].is_empty()).then(|| parts[2].to_string());
    }
    None
}

impl Agent {
    fn gerr(&self, e: GuestError) -> EditError {
        EditError::guest(self.name(), e)
    }

    fn exists(&self, cx: &Context<'_>, path: &str) -> Result<bool, EditError> {
        cx.exists(path).map_err(|e| self.gerr(e))
    }

    /// Whether `path` names a file, following symlinks (a dangling link is not one).
    fn resolves(&self, cx: &Context<'_>, path: &Path) -> Result<bool, EditError> {
        match cx.read(path) {
            Ok(b) => Ok(b.is_some()),
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTDIR)
                    || e.raw_os_error() == Some(libc::EISDIR) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.gerr(e)),
        }
    }

    /// The init system and why.
    fn init_system(&self, cx: &Context<'_>) -> Result<(Init, String), EditError> {
        let init = cx.before("/sbin/init").map_err(|e| self.gerr(e))?;
        Ok(match init {
            Before::Symlink { target } if target.to_string_lossy().contains("systemd") => {
                (Init::Systemd, format!("/sbin/init -> {}", target.display()))
            }
            Before::Symlink { target } if target.to_string_lossy().contains("upstart") => {
                (Init::Upstart, format!("/sbin/init -> {}", target.display()))
            }
            Before::File { .. } | Before::Symlink { .. } if self.exists(cx, "/sbin/initctl")? => {
                (Init::Upstart, "/sbin/init with /sbin/initctl".into())
            }
            Before::Absent
                if self.exists(cx, "/usr/lib/systemd/systemd")?
                    || self.exists(cx, "/lib/systemd/systemd")? =>
            {
                (Init::Systemd, "no /sbin/init, systemd installed".into())
            }
            _ => (Init::SysV, "/sbin/init is not systemd or upstart".into()),
        })
    }

    /// A mask of `unit` in `/etc/systemd/system`.
    fn mask_of(&self, cx: &Context<'_>, unit: &str) -> Result<Option<PathBuf>, EditError> {
        let p = Path::new("/etc/systemd/system").join(unit);
        Ok(match cx.before(&p).map_err(|e| self.gerr(e))? {
            Before::Symlink { target } if target == Path::new("/dev/null") => Some(p),
            Before::File { bytes, .. } if bytes.is_empty() => Some(p),
            _ => None,
        })
    }

    /// The agent's service for `init`, if defined.
    fn find_service(&self, cx: &Context<'_>, init: Init) -> Result<Option<Service>, EditError> {
        if init == Init::Systemd {
            for unit in UNITS {
                for dir in UNIT_DIRS {
                    let p = Path::new(dir).join(unit);
                    if dir == "/etc/systemd/system" && self.mask_of(cx, unit)?.is_some() {
                        continue;
                    }
                    if self.resolves(cx, &p)? {
                        return Ok(Some(Service::Unit {
                            name: unit.to_string(),
                            path: p,
                        }));
                    }
                }
            }
        }
        if init == Init::Upstart {
            for job in SCRIPTS {
                if self.resolves(cx, &Path::new("/etc/init").join(format!("{job}.conf")))? {
                    return Ok(Some(Service::Upstart {
                        job: job.to_string(),
                    }));
                }
            }
        }
        // SysV scripts (systemd runs them through its sysv generator).
        for name in SCRIPTS {
            let p = Path::new("/etc/init.d").join(name);
            if self.resolves(cx, &p)? {
                return Ok(Some(Service::SysV {
                    name: name.to_string(),
                    path: p,
                }));
            }
        }
        Ok(None)
    }

    /// Plan enabling an installed service through file changes
    /// ([`services::enable`]), for the mechanism the guest's init uses.
    fn enable_existing(
        &self,
        cx: &Context<'_>,
        plan: &mut StepPlan,
        service: &Service,
    ) -> Result<(), EditError> {
        let one: [&str; 1];
        let svc = match service {
            Service::Unit { name, .. } => {
                one = [name.as_str()];
                services::Service {
                    label: "waagent",
                    systemd: &one,
                    sysv: &[],
                    upstart: &[],
                }
            }
            Service::Upstart { job } => {
                one = [job.as_str()];
                services::Service {
                    label: "waagent",
                    systemd: &[],
                    sysv: &[],
                    upstart: &one,
                }
            }
            Service::SysV { name, .. } => {
                one = [name.as_str()];
                services::Service {
                    label: "waagent",
                    systemd: &[],
                    sysv: &one,
                    upstart: &[],
                }
            }
        };
        let status = services::status(cx, self.name(), &svc)?;
        plan.check(
            "the agent's service is enabled",
            status.enabled,
            status.describe(),
        );
        if status.enabled {
            return Ok(());
        }
        services::enable(plan, cx, &svc, "L8 Azure Linux agent")?;
        if matches!(service, Service::SysV { .. })
            && self.exists(cx, "/etc/init.d/.depend.start")?
        {
            plan.warn(format!(
                "insserv orders this guest's boot (/etc/init.d/.depend.start): the rc links for {} are made by hand; \
                 if the agent does not start on Azure, run `insserv {}` in the VM",
                one[0], one[0]
            ));
        }
        Ok(())
    }

    /// Plan installing the agent (see the module docs), then enabling it.
    fn install(&self, cx: &Context<'_>, plan: &mut StepPlan, init: Init) -> Result<(), EditError> {
        let os = cx.os;
        let pkg = package_name(os);
        let what = "the Azure Linux agent is installed";
        let debian = os.family == Family::Debian;
        let rpm_remove = |name: &str| {
            vec![
                "sh".to_string(),
                "-c".to_string(),
                format!("if rpm -q {name} >/dev/null 2>&1; then rpm -e {name}; fi"),
            ]
        };
        let mut installs: Vec<(RunSpec, String)> = Vec::new();
        let mut via_dpkg = false;
        if let Some(file) = &cx.options.agent_package {
            let file_name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let lower = file_name.to_ascii_lowercase();
            let kind = if lower.ends_with(".rpm") {
                "rpm"
            } else if lower.ends_with(".deb") {
                "deb"
            } else {
                plan.check(what, false, "missing");
                plan.block(format!(
                    "--agent-package {}: not a .rpm or .deb file",
                    file.display()
                ));
                return Ok(());
            };
            let fits = match os.family {
                Family::Debian => kind == "deb",
                Family::RedHat | Family::Suse => kind == "rpm",
                _ => true,
            };
            if !fits {
                plan.check(what, false, "missing");
                plan.block(format!(
                    "--agent-package {}: a .{kind} package does not install on {os}{}",
                    file.display(),
                    pkg.map(|p| format!(" (its package is `{p}`)"))
                        .unwrap_or_default()
                ));
                return Ok(());
            }
            let bytes = match std::fs::read(file) {
                Ok(b) => b,
                Err(e) => {
                    plan.check(what, false, "missing");
                    plan.block(format!(
                        "--agent-package {}: cannot read it: {e}",
                        file.display()
                    ));
                    return Ok(());
                }
            };
            let name = package_of_file(&file_name)
                .or_else(|| pkg.map(str::to_string))
                .unwrap_or_else(|| "WALinuxAgent".into());
            let dest = Path::new(PACKAGE_DIR).join(&file_name);
            let dest_s = dest.to_string_lossy().into_owned();
            plan.write(
                cx,
                &dest,
                bytes,
                format!(
                    "the agent package {} from the helper, to install in the chroot",
                    file.display()
                ),
            )?;
            let mut spec = if kind == "rpm" {
                let mut s = RunSpec::new(["rpm", "-Uvh", "--replacepkgs", dest_s.as_str()]);
                s.undo = Some(rpm_remove(&name));
                s
            } else {
                via_dpkg = true;
                let mut s = RunSpec::new(["dpkg", "-i", dest_s.as_str()]);
                s.env
                    .push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
                s.undo = Some(vec!["dpkg".into(), "--purge".into(), name.clone()]);
                s
            };
            spec.timeout = std::time::Duration::from_secs(900);
            installs.push((
                spec,
                format!("install the Azure Linux agent ({name}) from {file_name}"),
            ));
        } else if cx.options.network {
            let Some(pkg) = pkg else {
                plan.check(what, false, "missing");
                plan.block(format!(
                    "the Azure Linux agent (waagent) is not installed and Hydra does not know {os}'s package of it: \
                     pass --agent-package FILE"
                ));
                return Ok(());
            };
            // The installs run with the helper's DNS when the guest's
            // resolv.conf allows a bind over it; else the plan says so.
            match crate::edit::dns::plan_warning(cx.guest) {
                Some(w) => plan.warn(w),
                None => plan.check(
                    "the helper's DNS is used in the chroot",
                    true,
                    "the helper's /etc/resolv.conf is bound read-only over the guest's while the install runs",
                ),
            }
            match os.family {
                Family::RedHat => {
                    let tool = if os.version.is_known() && os.version.major >= 8 {
                        "dnf"
                    } else {
                        "yum"
                    };
                    let mut s = RunSpec::new([tool, "-y", "install", pkg]);
                    s.undo = Some(rpm_remove(pkg));
                    s.network = true;
                    installs.push((
                        s,
                        format!("install the Azure Linux agent ({pkg}) from {os}'s repositories"),
                    ));
                }
                Family::Suse => {
                    let mut s = RunSpec::new(["zypper", "--non-interactive", "install", pkg]);
                    s.undo = Some(rpm_remove(pkg));
                    s.network = true;
                    installs.push((
                        s,
                        format!("install the Azure Linux agent ({pkg}) from {os}'s repositories"),
                    ));
                }
                _ => {
                    via_dpkg = true;
                    // A list that cannot be fetched is an error here (apt
                    // 2.1+; older apt ignores the option), not a later
                    // "Unable to locate package".
                    let mut u =
                        RunSpec::new(["apt-get", "-o", "APT::Update::Error-Mode=any", "update"]);
                    u.env
                        .push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
                    u.network = true;
                    installs.push((
                        u,
                        "refresh the package lists to install the Azure Linux agent".into(),
                    ));
                    let mut s = RunSpec::new(["apt-get", "install", "-y", pkg]);
                    s.env
                        .push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
                    s.undo = Some(vec!["dpkg".into(), "--purge".into(), pkg.into()]);
                    s.network = true;
                    installs.push((
                        s,
                        format!("install the Azure Linux agent ({pkg}) from {os}'s repositories"),
                    ));
                }
            }
        } else {
            plan.check(what, false, "missing");
            let which = match pkg {
                Some(p) => format!("{os}'s package is `{p}`"),
                None => format!("Hydra does not know {os}'s package of it"),
            };
            let kind = if debian { ".deb" } else { ".rpm" };
            plan.block(format!(
                "the Azure Linux agent (waagent) is not installed and there is no way to install it offline ({which}): \
                 pass --agent-package FILE (the {kind} file) or --network (install it from the guest's repositories)"
            ));
            return Ok(());
        }

        // Enable it after the install, with the distribution's tool.
        let (unit, script) = default_service_names(os);
        let mut enable: Option<RunSpec> = None;
        match init {
            Init::Systemd => {
                if let Some(mask) = self.mask_of(cx, unit)? {
                    plan.remove(
                        cx,
                        &mask,
                        format!("{unit} is masked; unmasked so that it can be enabled"),
                    )?;
                }
                // A rollback removes the link the install or enable makes.
                if let Some((spec, _)) = installs.last_mut() {
                    spec.affects
                        .push(Path::new("/etc/systemd/system/multi-user.target.wants").join(unit));
                }
                enable = Some(RunSpec::new(["systemctl", "enable", unit]));
            }
            Init::Upstart => {}
            Init::SysV => {
                enable = Some(match os.family {
                    Family::Suse => RunSpec::new(["insserv", script]),
                    Family::Debian => RunSpec::new(["update-rc.d", script, "defaults"]),
                    _ => RunSpec::new(["chkconfig", script, "on"]),
                });
            }
        }

        // A Debian guest's postinst would start the agent on the helper
        // (SysV, upstart): refuse service starts while dpkg runs.
        let policy = if via_dpkg && !self.exists(cx, POLICY_RC_D)? {
            let attrs = FileAttrs::root(0o755);
            plan.write_with(
                cx,
                POLICY_RC_D,
                POLICY_RC_D_DENY,
                Some(attrs),
                "refuse service starts while the agent package is installed in the chroot",
            )?;
            Some(attrs)
        } else {
            None
        };
        let n = installs.len();
        for (spec, why) in installs {
            plan.run(spec, why);
        }
        if let Some(attrs) = policy {
            plan.changes.push(Change {
                action: Action::Remove {
                    path: PathBuf::from(POLICY_RC_D),
                },
                why: "the install is done; services may start again".into(),
                before: Before::File {
                    bytes: POLICY_RC_D_DENY.as_bytes().to_vec(),
                    attrs,
                },
            });
        }
        let detail = match &enable {
            Some(e) => format!(
                "missing; {n} install command(s), then `{}`",
                e.command_line()
            ),
            None => format!("missing; {n} install command(s); the upstart job starts by itself"),
        };
        if let Some(e) = enable {
            let line = e.command_line();
            plan.run(e, format!("enable the agent's service ({line})"));
        }
        plan.check(what, false, detail);
        Ok(())
    }
}

impl Step for Agent {
    fn name(&self) -> &'static str {
        "agent"
    }

    fn requirement(&self) -> &'static str {
        "L8"
    }

    fn summary(&self) -> &'static str {
        "the Azure Linux agent (waagent) is installed (package file or repositories) and its service enabled"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut plan = StepPlan::new(self.name(), self.requirement());
        let mut binary = None;
        for b in BINARIES {
            if self.resolves(cx, Path::new(b))? {
                binary = Some(b);
                break;
            }
        }
        let rpm_note = if matches!(cx.os.family, Family::RedHat | Family::Suse) {
            " (the rpm database is not read: that needs rpm; the package's files decide)"
        } else {
            ""
        };
        plan.check(
            "the waagent program is installed",
            binary.is_some(),
            match binary {
                Some(b) => format!("{b}{rpm_note}"),
                None => format!("no {}{rpm_note}", BINARIES.join(" or ")),
            },
        );
        let dpkg = if cx.os.family == Family::Debian || self.exists(cx, DPKG_STATUS)? {
            cx.read_text(DPKG_STATUS).map_err(|e| self.gerr(e))?
        } else {
            None
        };
        let dpkg_pkg = dpkg
            .as_deref()
            .and_then(|s| dpkg_installed(s, &["walinuxagent", "waagent"]));
        if dpkg.is_some() {
            plan.check(
                "dpkg lists the agent package as installed",
                dpkg_pkg.is_some(),
                match &dpkg_pkg {
                    Some(p) => format!("{p}: install ok installed"),
                    None => format!(
                        "neither walinuxagent nor waagent is installed according to {DPKG_STATUS}"
                    ),
                },
            );
        }

        let (init, why) = self.init_system(cx)?;
        let service = self.find_service(cx, init)?;
        plan.check(
            "the agent's service is defined",
            service.is_some(),
            match &service {
                Some(Service::Unit { path, .. }) => format!("{} ({why})", path.display()),
                Some(Service::Upstart { job }) => format!("/etc/init/{job}.conf ({why})"),
                Some(Service::SysV { path, .. }) => format!("{} ({why})", path.display()),
                None => format!("no waagent/walinuxagent unit, job or script ({why})"),
            },
        );
        if self.exists(cx, "/etc/cloud/cloud.cfg")? {
            plan.check(
                "cloud-init",
                true,
                "present; it does not replace the agent (extensions, health reporting), which is installed as well",
            );
        }

        match (binary, &service) {
            (Some(_), Some(s)) => self.enable_existing(cx, &mut plan, s)?,
            _ => {
                if let (Some(p), None) = (&dpkg_pkg, binary) {
                    plan.warn(format!(
                        "dpkg lists {p} as installed, but waagent is missing: reinstalling it"
                    ));
                } else if binary.is_some() || service.is_some() {
                    plan.warn("the agent is installed only in part (program or service missing): reinstalling it");
                }
                self.install(cx, &mut plan, init)?;
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;
    use crate::edit::facts::SystemFacts;
    use crate::edit::plan::{Pending, StepOptions};
    use crate::edit::testtree::{dir, link, put, resolved_stub};
    use crate::edit::txn::{commit, rollback, CommitOptions};
    use crate::guest::GuestRoot;
    use crate::inspect::os::Version;

    fn os(distro: Distro, major: u32, minor: u32) -> OsIdentity {
        OsIdentity {
            family: distro.family().unwrap_or(Family::Unknown),
            distro,
            version: Version {
                major,
                minor,
                raw: format!("{major}.{minor}"),
            },
            pretty: String::new(),
            sources: Vec::new(),
        }
    }

    /// Every path under `root` with its kind, contents or link text, and mode.
    fn snapshot(root: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
            for e in std::fs::read_dir(d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let mode = m.permissions().mode() & 0o7777;
                if m.file_type().is_symlink() {
                    out.insert(
                        rel,
                        format!("link {}", std::fs::read_link(&p).unwrap().display()),
                    );
                } else if m.is_dir() {
                    out.insert(rel, format!("dir {mode:o}"));
                    walk(root, &p, out);
                } else {
                    let b = std::fs::read(&p).unwrap();
                    out.insert(
                        rel,
                        format!("file {mode:o} {}", String::from_utf8_lossy(&b)),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }

    fn plan_with(root: &Path, id: &OsIdentity, opts: &StepOptions) -> StepPlan {
        let g = GuestRoot::open(root).unwrap();
        let facts = SystemFacts::none();
        let pending = Pending::default();
        let cx = Context::new(&g, id, &facts, opts, &pending);
        Agent.plan(&cx).unwrap()
    }

    fn plan(root: &Path, id: &OsIdentity) -> StepPlan {
        plan_with(root, id, &StepOptions::default())
    }

    fn runs(p: &StepPlan) -> Vec<String> {
        p.changes
            .iter()
            .filter_map(|c| match &c.action {
                Action::Run(r) => Some(r.command_line()),
                _ => None,
            })
            .collect()
    }

    fn undos(p: &StepPlan) -> Vec<String> {
        p.changes
            .iter()
            .filter_map(|c| match &c.action {
                Action::Run(r) => r.undo.as_ref().map(|u| u.join(" ")),
                _ => None,
            })
            .collect()
    }

    /// Commit `p`, plan again (nothing left), roll back (the tree as before).
    fn commit_verify_rollback(root: &Path, id: &OsIdentity, p: StepPlan) {
        let before = snapshot(root);
        let g = GuestRoot::open(root).unwrap();
        let applied = commit(&g, &[p], &CommitOptions::default()).unwrap();
        assert!(applied.journal.is_some());
        let again = plan(root, id);
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert!(again.blockers.is_empty(), "{:?}", again.blockers);
        rollback(&g, None).unwrap().unwrap();
        assert_eq!(snapshot(root), before);
    }

    const RH_UNIT: &str = "[Unit]\nDescription=Azure Linux Agent\n\n[Service]\nExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon\n\n[Install]\nWantedBy=multi-user.target\n";

    /// A systemd guest (RHEL layout) without the agent.
    fn systemd_tree(root: &Path) {
        dir(root, "/var/lib");
        dir(root, "/etc/systemd/system");
        dir(root, "/usr/lib/systemd/system");
        put(root, "/usr/lib/systemd/systemd", "");
        link(root, "/sbin/init", "../usr/lib/systemd/systemd");
        put(root, "/etc/fstab", "");
    }

    fn rhel_agent(root: &Path) {
        put(root, "/usr/sbin/waagent", "#!/usr/bin/python3\n");
        put(root, "/usr/lib/systemd/system/waagent.service", RH_UNIT);
    }

    #[test]
    fn present_and_enabled_needs_nothing() {
        let t = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        rhel_agent(t.path());
        link(
            t.path(),
            "/etc/systemd/system/multi-user.target.wants/waagent.service",
            "/usr/lib/systemd/system/waagent.service",
        );
        let p = plan(t.path(), &os(Distro::Rhel, 8, 6));
        assert!(p.changes.is_empty(), "{:?}", p.changes);
        assert!(p.blockers.is_empty());
        assert!(p.checks.iter().all(|c| c.ok), "{:?}", p.checks);
    }

    #[test]
    fn present_but_disabled_is_enabled_by_a_link() {
        let t = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        rhel_agent(t.path());
        let id = os(Distro::Rhel, 8, 6);
        let p = plan(t.path(), &id);
        assert!(p.blockers.is_empty());
        assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
        match &p.changes[0].action {
            Action::Symlink { path, target } => {
                assert_eq!(
                    path,
                    Path::new("/etc/systemd/system/multi-user.target.wants/waagent.service")
                );
                assert_eq!(target, Path::new("/usr/lib/systemd/system/waagent.service"));
            }
            a => panic!("{a:?}"),
        }
        commit_verify_rollback(t.path(), &id, p);
    }

    #[test]
    fn a_masked_agent_is_unmasked_and_enabled() {
        let t = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        rhel_agent(t.path());
        link(t.path(), "/etc/systemd/system/waagent.service", "/dev/null");
        let id = os(Distro::CentosStream, 9, 0);
        let p = plan(t.path(), &id);
        let kinds: Vec<&str> = p.changes.iter().map(|c| c.action.kind()).collect();
        assert_eq!(kinds, ["remove", "symlink"], "{:?}", p.changes);
        commit_verify_rollback(t.path(), &id, p);
    }

    #[test]
    fn missing_without_a_source_is_blocked_naming_the_package() {
        for (distro, major, minor, pkg) in [
            (Distro::Rhel, 7, 9, "WALinuxAgent"),
            (Distro::OracleLinux, 8, 6, "WALinuxAgent"),
            (Distro::Sles, 15, 4, "python-azure-agent"),
            (Distro::Ubuntu, 20, 4, "walinuxagent"),
            (Distro::Debian, 11, 0, "waagent"),
            (Distro::Kali, 2022, 1, "waagent"),
        ] {
            let t = tempfile::tempdir().unwrap();
            systemd_tree(t.path());
            let p = plan(t.path(), &os(distro.clone(), major, minor));
            assert!(p.changes.is_empty(), "{distro}: {:?}", p.changes);
            assert_eq!(p.blockers.len(), 1, "{distro}");
            let b = &p.blockers[0];
            assert!(b.contains(&format!("`{pkg}`")), "{b}");
            assert!(
                b.contains("--agent-package") && b.contains("--network"),
                "{b}"
            );
        }
    }

    fn package_file(dir: &Path, name: &str) -> PathBuf {
        let f = dir.join(name);
        std::fs::write(&f, b"\x7fpackage bytes\0").unwrap();
        f
    }

    #[test]
    fn missing_with_a_deb_writes_it_and_installs_it_with_dpkg() {
        let t = tempfile::tempdir().unwrap();
        let helper = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        let file = package_file(helper.path(), "walinuxagent_2.2.45-0ubuntu1_all.deb");
        let opts = StepOptions {
            agent_package: Some(file),
            network: true,
            jobs: 1,
            ..StepOptions::default()
        };
        let p = plan_with(t.path(), &os(Distro::Ubuntu, 20, 4), &opts);
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        let dest = Path::new("/var/lib/hydra/packages/walinuxagent_2.2.45-0ubuntu1_all.deb");
        let write = p
            .changes
            .iter()
            .find(|c| c.action.path() == Some(dest))
            .expect("the package is written");
        match &write.action {
            Action::Write { bytes, .. } => assert_eq!(bytes, b"\x7fpackage bytes\0"),
            a => panic!("{a:?}"),
        }
        assert_eq!(
            runs(&p),
            [
                format!("dpkg -i {}", dest.display()),
                "systemctl enable walinuxagent.service".to_string()
            ]
        );
        assert_eq!(undos(&p), ["dpkg --purge walinuxagent"]);
        // dpkg runs with service starts refused.
        let order: Vec<(&str, Option<&Path>)> = p
            .changes
            .iter()
            .map(|c| (c.action.kind(), c.action.path()))
            .collect();
        let policy = Some(Path::new(POLICY_RC_D));
        assert_eq!(
            order,
            [
                ("write", Some(dest)),
                ("write", policy),
                ("run", None),
                ("remove", policy),
                ("run", None)
            ]
        );
        let install = p.changes.iter().find_map(|c| match &c.action {
            Action::Run(r) if r.argv[0] == "dpkg" => Some(r),
            _ => None,
        });
        assert_eq!(
            install.unwrap().affects,
            [PathBuf::from(
                "/etc/systemd/system/multi-user.target.wants/walinuxagent.service"
            )]
        );
    }

    #[test]
    fn missing_with_an_rpm_writes_it_and_installs_it_with_rpm() {
        let t = tempfile::tempdir().unwrap();
        let helper = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        let file = package_file(helper.path(), "WALinuxAgent-2.2.49-1.el7.noarch.rpm");
        let opts = StepOptions {
            agent_package: Some(file),
            ..StepOptions::default()
        };
        let p = plan_with(t.path(), &os(Distro::Rhel, 7, 9), &opts);
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        let dest = "/var/lib/hydra/packages/WALinuxAgent-2.2.49-1.el7.noarch.rpm";
        assert_eq!(p.changes[0].action.path(), Some(Path::new(dest)));
        assert_eq!(
            runs(&p),
            [
                format!("rpm -Uvh --replacepkgs {dest}"),
                "systemctl enable waagent.service".to_string()
            ]
        );
        let u = undos(&p);
        assert_eq!(u.len(), 1);
        assert!(u[0].contains("rpm -e WALinuxAgent"), "{u:?}");
        assert!(!p
            .changes
            .iter()
            .any(|c| c.action.path() == Some(Path::new(POLICY_RC_D))));

        // A .deb does not install on RHEL.
        let deb = package_file(helper.path(), "walinuxagent_2.2.45_all.deb");
        let opts = StepOptions {
            agent_package: Some(deb),
            ..StepOptions::default()
        };
        let p = plan_with(t.path(), &os(Distro::Rhel, 7, 9), &opts);
        assert!(p.changes.is_empty());
        assert!(
            p.blockers[0].contains("does not install"),
            "{:?}",
            p.blockers
        );
    }

    #[test]
    fn missing_with_network_uses_the_distribution_tool() {
        for (distro, major, minor, want) in [
            (
                Distro::Rhel,
                7,
                9,
                vec![
                    "yum -y install WALinuxAgent",
                    "systemctl enable waagent.service",
                ],
            ),
            (
                Distro::OracleLinux,
                8,
                6,
                vec![
                    "dnf -y install WALinuxAgent",
                    "systemctl enable waagent.service",
                ],
            ),
            (
                Distro::Sles,
                15,
                4,
                vec![
                    "zypper --non-interactive install python-azure-agent",
                    "systemctl enable waagent.service",
                ],
            ),
            (
                Distro::Ubuntu,
                22,
                4,
                vec![
                    "apt-get -o APT::Update::Error-Mode=any update",
                    "apt-get install -y walinuxagent",
                    "systemctl enable walinuxagent.service",
                ],
            ),
            (
                Distro::Debian,
                11,
                0,
                vec![
                    "apt-get -o APT::Update::Error-Mode=any update",
                    "apt-get install -y waagent",
                    "systemctl enable walinuxagent.service",
                ],
            ),
        ] {
            let t = tempfile::tempdir().unwrap();
            systemd_tree(t.path());
            let opts = StepOptions {
                network: true,
                ..StepOptions::default()
            };
            let p = plan_with(t.path(), &os(distro.clone(), major, minor), &opts);
            assert!(p.blockers.is_empty(), "{distro}: {:?}", p.blockers);
            assert_eq!(runs(&p), want, "{distro}");
            let u = undos(&p);
            assert_eq!(u.len(), 1, "{distro}: {u:?}");
            assert!(
                u[0].contains("rpm -e") || u[0].starts_with("dpkg --purge"),
                "{u:?}"
            );
            // The repository commands use the network; enabling does not.
            for c in &p.changes {
                if let Action::Run(r) = &c.action {
                    assert_eq!(
                        r.network,
                        r.argv[0] != "systemctl",
                        "{distro}: {}",
                        r.command_line()
                    );
                }
            }
        }
    }

    #[test]
    fn a_network_install_warns_when_the_guest_dns_cannot_be_replaced() {
        let opts = StepOptions {
            network: true,
            ..StepOptions::default()
        };
        let id = os(Distro::Debian, 12, 0);
        let warned = |p: &StepPlan| {
            p.warnings
                .iter()
                .any(|w| w.contains("/etc/resolv.conf") && w.contains("uses what the guest has"))
        };
        // A regular file: the helper's is bound over it, no warning.
        let t = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        put(t.path(), "/etc/resolv.conf", "nameserver 192.0.2.1\n");
        let p = plan_with(t.path(), &id, &opts);
        if Path::new("/etc/resolv.conf").is_file() {
            assert!(!warned(&p), "{:?}", p.warnings);
            assert!(
                p.checks
                    .iter()
                    .any(|c| c.what.contains("helper's DNS") && c.ok),
                "{:?}",
                p.checks
            );
        }
        // Into /run: bound over as well (in the command's own namespace).
        let t = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        resolved_stub(t.path());
        let p = plan_with(t.path(), &id, &opts);
        if Path::new("/etc/resolv.conf").is_file() {
            assert!(!warned(&p), "{:?}", p.warnings);
        }
        // The stub link dangling (a helper without systemd-resolved): a
        // warning naming where it leads; the install is still planned.
        std::fs::remove_file(t.path().join("run/systemd/resolve/stub-resolv.conf")).unwrap();
        let p = plan_with(t.path(), &id, &opts);
        assert!(warned(&p), "{:?}", p.warnings);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("/run/systemd/resolve/stub-resolv.conf")),
            "{:?}",
            p.warnings
        );
        assert!(p.blockers.is_empty());
        // Missing: a warning too; the install is still planned.
        let t = tempfile::tempdir().unwrap();
        systemd_tree(t.path());
        let p = plan_with(t.path(), &id, &opts);
        assert!(warned(&p), "{:?}", p.warnings);
        assert_eq!(runs(&p)[0], "apt-get -o APT::Update::Error-Mode=any update");
    }

    /// Ubuntu 14.04: upstart, `/etc/init/walinuxagent.conf`.
    fn trusty_tree(root: &Path) {
        dir(root, "/var/lib");
        put(root, "/sbin/init", "upstart");
        put(root, "/sbin/initctl", "initctl");
        dir(root, "/etc/init");
        put(
            root,
            "/var/lib/dpkg/status",
            "Package: bash\nStatus: install ok installed\n\n",
        );
    }

    #[test]
    fn ubuntu_14_04_upstart_job_manual_override_is_lifted() {
        let t = tempfile::tempdir().unwrap();
        trusty_tree(t.path());
        put(t.path(), "/usr/sbin/waagent", "");
        put(
            t.path(),
            "/etc/init/walinuxagent.conf",
            "start on runlevel [2345]\n",
        );
        put(t.path(), "/etc/init/walinuxagent.override", "manual\n");
        put(
            t.path(),
            "/var/lib/dpkg/status",
            "Package: bash\nStatus: install ok installed\n\nPackage: walinuxagent\nStatus: install ok installed\nVersion: 2.2.32\n",
        );
        let id = os(Distro::Ubuntu, 14, 4);
        let p = plan(t.path(), &id);
        assert!(p.blockers.is_empty());
        assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
        assert_eq!(p.changes[0].action.kind(), "remove");
        assert_eq!(
            p.changes[0].action.path(),
            Some(Path::new("/etc/init/walinuxagent.override"))
        );
        assert!(p.checks.iter().any(|c| c.what.contains("dpkg") && c.ok));
        commit_verify_rollback(t.path(), &id, p);
    }

    #[test]
    fn ubuntu_14_04_missing_installs_without_an_enable_command() {
        let t = tempfile::tempdir().unwrap();
        trusty_tree(t.path());
        let opts = StepOptions {
            network: true,
            ..StepOptions::default()
        };
        let p = plan_with(t.path(), &os(Distro::Ubuntu, 14, 4), &opts);
        assert!(p.blockers.is_empty());
        assert_eq!(
            runs(&p),
            [
                "apt-get -o APT::Update::Error-Mode=any update",
                "apt-get install -y walinuxagent"
            ]
        );
        assert!(p.checks.iter().any(|c| c.what.contains("dpkg") && !c.ok));
        // policy-rc.d around the install (upstart postinst would start the job).
        let kinds: Vec<&str> = p.changes.iter().map(|c| c.action.kind()).collect();
        assert_eq!(kinds, ["write", "run", "run", "remove"]);
    }

    #[test]
    fn rhel_6_sysv_script_gets_start_links() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        dir(r, "/var/lib");
        put(r, "/sbin/init", "upstart");
        put(r, "/sbin/initctl", "initctl");
        put(r, "/usr/sbin/waagent", "");
        put(
            r,
            "/etc/rc.d/init.d/waagent",
            "#!/bin/sh\n# chkconfig: 2345 95 20\n",
        );
        link(r, "/etc/init.d", "rc.d/init.d");
        for n in 0..=6 {
            link(
                r,
                &format!("/etc/rc.d/rc{n}.d/K20waagent"),
                "../init.d/waagent",
            );
        }
        let id = os(Distro::Rhel, 6, 10);
        let p = plan(r, &id);
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        for n in 2..=5 {
            let s = PathBuf::from(format!("/etc/rc.d/rc{n}.d/S95waagent"));
            assert!(
                p.changes
                    .iter()
                    .any(|c| c.action.path() == Some(s.as_path()) && c.action.kind() == "symlink"),
                "{:?}",
                p.changes
            );
        }
        commit_verify_rollback(r, &id, p);
    }

    #[test]
    fn dpkg_status_and_package_file_names() {
        let s = "Package: waagent\nStatus: deinstall ok config-files\n\nPackage: walinuxagent\nStatus: install ok installed\n";
        assert_eq!(
            dpkg_installed(s, &["walinuxagent", "waagent"]),
            Some("walinuxagent".into())
        );
        assert_eq!(
            dpkg_installed(
                "Package: waagent\nStatus: deinstall ok config-files\n",
                &["waagent"]
            ),
            None
        );
        assert_eq!(
            package_of_file("WALinuxAgent-2.2.49-1.el7.noarch.rpm").as_deref(),
            Some("WALinuxAgent")
        );
        assert_eq!(
            package_of_file("python-azure-agent-2.2.45-lp152.1.noarch.rpm").as_deref(),
            Some("python-azure-agent")
        );
        assert_eq!(
            package_of_file("waagent_2.7.3.0-4.1_all.deb").as_deref(),
            Some("waagent")
        );
        assert_eq!(package_of_file("agent.deb"), None);
    }
}
