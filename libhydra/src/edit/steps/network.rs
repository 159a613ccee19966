//! The `network` step (L6): no persistent NIC-name rules, NetworkManager off where it conflicts with the Azure agent, and a DHCP `eth0` in the guest's own network configuration, other NICs' configurations kept but switched off.
//!
//! On Azure the VM has one synthetic NIC (`hv_netvsc`). The kernel names it
//! `eth0`: predictable interface names do not apply to VMBus devices (no PCI
//! slot or path), so the VMware names (`ens192`, or `eth0` pinned to a VMware
//! MAC by a udev rule) are gone, and the address comes from Azure's DHCP.
//!
//! ## udev
//! `/etc/udev/rules.d/75-persistent-net-generator.rules -> /dev/null`
//! (masks the generator) and `/etc/udev/rules.d/70-persistent-net.rules`
//! removed (it pins `eth0` to the VMware MAC; its bytes are in the journal).
//! Only on guests that have the generator (`/lib/udev/rules.d/` or
//! `/usr/lib/udev/rules.d/75-persistent-net-generator.rules`) or the
//! generated rules; newer udev has neither and nothing is written.
//!
//! ## NetworkManager, per distribution and version
//!
//! The source (Azure Migrate's hydration) runs `rpm -e --nodeps
//! NetworkManager` "where it interferes with the Azure Linux agent; on Red
//! Hat and Ubuntu". Hydra *disables* instead of removing: package tools do
//! not run reliably in every guest offline, and a removal cannot be rolled
//! back by restoring files, while disabling is a set of file changes
//! ([`super::services::disable`]: systemd links removed and the unit
//! masked, SysV start links turned into stop links, upstart `manual`) that
//! [`crate::edit::txn::rollback`] restores exactly. Whether to do it is
//! decided per row:
//!
//! | guest | NetworkManager | why |
//! |---|---|---|
//! | RHEL/CentOS/OL 6 | disabled; `network` service on | the SysV `network` service runs `ifcfg-eth0`; NM on RHEL 6 is the desktop tool the Azure agent conflicts with (Microsoft's RHEL 6 preparation removes it) |
//! | RHEL/CentOS/OL 7 | kept | NM is the default stack and reads `ifcfg-eth0` (`NM_CONTROLLED=yes`, ifcfg-rh); Microsoft's RHEL 7 preparation keeps it and Azure's RHEL 7 images run it |
//! | RHEL/CentOS/Stream/OL 8, 9 | kept (enabled when nothing else would bring the network up) | NM is the only network stack (network-scripts are deprecated in 8, gone in 9); it reads `ifcfg-eth0` through ifcfg-rh; where the configuration drops ifcfg-rh, an `eth0` keyfile is written too |
//! | SLES 11 | `NETWORKMANAGER="no"` | the agent does not work with NM (SUSE); ifup reads `ifcfg-eth0` |
//! | SLES 12, 15 | kept, warned about when it is the network service | wicked is the default; switching `network.service` back to wicked is left to the user |
//! | Ubuntu 14.04 | upstart `manual` | ifupdown brings `eth0` up from `/etc/network/interfaces`; NM (desktop) conflicts with the agent |
//! | Ubuntu 15.04-17.04 (no netplan) | disabled (masked) | as 14.04, systemd |
//! | Ubuntu 17.10+ (netplan) | disabled (masked) | `eth0` is rendered by systemd-networkd; Azure's Ubuntu images have no NM |
//! | Debian 7-12, Kali | kept | not asked for by the source; NM leaves interfaces listed in `/etc/network/interfaces` to ifupdown (`[ifupdown] managed=false`, the default) |
//!
//! ## DHCP `eth0`, other NICs switched off (their files kept)
//! The journal holds a byte-exact copy of every file the step changes. A
//! configuration of another NIC is not deleted but switched off in place
//! (`ONBOOT=no`, `STARTMODE='off'`, `autoconnect=false`, stanzas commented
//! with `# hydra-disabled: `), so that it stays readable where it was and
//! turning it back on is one edit; files whose mere presence configures
//! something (static routes of `eth0`, netplan files) are renamed to
//! `<name>.hydra-disabled`, which no tool reads.
//! - Red Hat family: `/etc/sysconfig/network-scripts/ifcfg-eth0` is exactly
//!   [`IFCFG_ETH0`] and `/etc/sysconfig/network` exactly [`SYSCONFIG_NETWORK`]
//!   (the source's lines); every other `ifcfg-*` but `lo` (and backup names
//!   initscripts ignores) gets `ONBOOT=no` (alias files `ONPARENT=no` too);
//!   `route-eth0`, `route6-eth0`, `rule-eth0`, `rule6-eth0` are renamed.
//! - SUSE: `/etc/sysconfig/network/ifcfg-eth0` is exactly [`SUSE_IFCFG_ETH0`]
//!   (SUSE's quoting); every other `ifcfg-*` but `lo` gets `STARTMODE='off'`;
//!   `ifroute-eth0` is renamed.
//! - Debian, Ubuntu, Kali with netplan (`/etc/netplan/*.yaml`, or netplan
//!   installed and no `/etc/network/interfaces`): [`NETPLAN_FILE`] is
//!   [`NETPLAN_ETH0`] (mode 0600, as netplan wants); every other yaml file
//!   that defines devices is renamed; static stanzas in
//!   `/etc/network/interfaces` (if any) are commented as below.
//! - Debian, Ubuntu, Kali without netplan: `/etc/network/interfaces` keeps
//!   `lo`, `source` lines and comments, every other stanza is commented out,
//!   and `auto eth0` / `iface eth0 inet dhcp` is appended; the files in
//!   `/etc/network/interfaces.d/` get their stanzas commented the same way.
//! - Every family: NetworkManager keyfiles
//!   (`/etc/NetworkManager/system-connections/*`) of Ethernet profiles that
//!   are static or bound to another interface get `autoconnect=false`
//!   (their mode, 0600, kept).
//!
//! Planning again on the result plans nothing.

use std::path::Path;

use crate::edit::error::EditError;
use crate::edit::plan::{Before, Context, Step, StepPlan};
use crate::edit::steps::services::{self, Service};
use crate::format::fstab::DISABLED_MARKER;
use crate::guest::{FileAttrs, FileKind};
use crate::inspect::os::{Distro, Family, OsIdentity};

/// The generator rule masked in `/etc/udev/rules.d`.
pub const UDEV_GENERATOR: &str = "/etc/udev/rules.d/75-persistent-net-generator.rules";
/// The generated rules removed.
pub const UDEV_PERSISTENT_NET: &str = "/etc/udev/rules.d/70-persistent-net.rules";
/// Where the distribution ships the generator.
pub const UDEV_GENERATOR_VENDOR: [&str; 2] = [
    "/lib/udev/rules.d/75-persistent-net-generator.rules",
    "/usr/lib/udev/rules.d/75-persistent-net-generator.rules",
];

/// Red Hat's interface configuration directory.
pub const IFCFG_DIR: &str = "/etc/sysconfig/network-scripts";
/// `ifcfg-eth0` of the Red Hat family, exactly as the source writes it.
pub const IFCFG_ETH0: &str = "DEVICE=eth0\nONBOOT=yes\nBOOTPROTO=dhcp\nTYPE=Ethernet\nUSERCTL=no\nPEERDNS=yes\nIPV6INIT=no\nPERSISTENT_DHCLIENT=yes\nNM_CONTROLLED=yes\n";
/// Red Hat's global network settings.
pub const SYSCONFIG_NETWORK_FILE: &str = "/etc/sysconfig/network";
/// `/etc/sysconfig/network`, reset as the source does.
pub const SYSCONFIG_NETWORK: &str = "NETWORKING=yes\nHOSTNAME=localhost.localdomain\n";
/// SUSE's interface configuration directory.
pub const SUSE_DIR: &str = "/etc/sysconfig/network";
/// SUSE's `ifcfg-eth0` (DHCP at boot, the hostname stays the guest's).
pub const SUSE_IFCFG_ETH0: &str =
    "BOOTPROTO='dhcp'\nSTARTMODE='auto'\nDHCLIENT_SET_HOSTNAME='no'\n";
/// Debian's ifupdown configuration.
pub const INTERFACES: &str = "/etc/network/interfaces";
/// Directory conventionally sourced from [`INTERFACES`].
pub const INTERFACES_D: &str = "/etc/network/interfaces.d";
/// Netplan's configuration directory.
pub const NETPLAN_DIR: &str = "/etc/netplan";
/// The netplan file Hydra writes.
pub const NETPLAN_FILE: &str = "/etc/netplan/90-hydra-eth0.yaml";
/// Its contents.
pub const NETPLAN_ETH0: &str = "# Written by Hydra for Azure: DHCP on the Hyper-V NIC (hv_netvsc), which the kernel names eth0.\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n      renderer: networkd\n      dhcp4: true\n";
/// NetworkManager keyfiles.
pub const NM_CONNECTIONS: &str = "/etc/NetworkManager/system-connections";
/// The keyfile written where NetworkManager does not read ifcfg files.
pub const NM_ETH0_KEYFILE: &str = "/etc/NetworkManager/system-connections/eth0.nmconnection";
/// Its contents.
pub const NM_ETH0: &str = "[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\nautoconnect=true\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=ignore\n";
/// Suffix of configuration files renamed out of the way.
pub const DISABLED_SUFFIX: &str = ".hydra-disabled";

/// Backup names the network tools skip (initscripts' and wicked's lists).
const IGNORED_SUFFIXES: [&str; 10] = [
    "~",
    ".bak",
    ".orig",
    ".rpmnew",
    ".rpmorig",
    ".rpmsave",
    ".old",
    ".rej",
    ".swp",
    DISABLED_SUFFIX,
];

/// NetworkManager under its names.
pub const NETWORK_MANAGER: Service<'static> = Service {
    label: "NetworkManager",
    systemd: &[
        "NetworkManager.service",
        "NetworkManager-wait-online.service",
        "NetworkManager-dispatcher.service",
    ],
    sysv: &["NetworkManager", "network-manager"],
    upstart: &["network-manager"],
};
/// Just the NetworkManager daemon (to enable it).
const NM_DAEMON: Service<'static> = Service {
    label: "NetworkManager",
    systemd: &["NetworkManager.service"],
    sysv: &["NetworkManager"],
    upstart: &[],
};
/// Red Hat's initscripts `network` service.
pub const RH_NETWORK: Service<'static> = Service {
    label: "network (initscripts)",
    systemd: &[],
    sysv: &["network"],
    upstart: &[],
};
/// Debian's ifupdown service.
const IFUPDOWN: Service<'static> = Service {
    label: "networking (ifupdown)",
    systemd: &["networking.service"],
    sysv: &["networking"],
    upstart: &["networking"],
};

/// What happens to NetworkManager on a guest (the table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NmPolicy {
    /// Disabled (Red Hat 6, Ubuntu).
    Disable,
    /// Kept (Red Hat 7).
    Keep,
    /// Kept, and enabled when nothing else brings the network up (Red Hat 8, 9).
    KeepEnabled,
    /// `NETWORKMANAGER="no"` in `/etc/sysconfig/network/config` (SLES 11).
    SuseConfigOff,
    /// Kept, warned about when it is `network.service` (SLES 12, 15).
    SuseWarn,
    /// Kept (Debian, Kali, others).
    KeepNotAsked,
}

/// The policy for `os` and the reason, as shown in the plan.
pub fn nm_policy(os: &OsIdentity) -> (NmPolicy, &'static str) {
    let major = os.version.major;
    match (os.family, &os.distro) {
        (Family::RedHat, _) if os.version.is_known() && major <= 6 => (
            NmPolicy::Disable,
            "Red Hat 6: the network service runs ifcfg-eth0; NetworkManager conflicts with the Azure agent: disabled",
        ),
        (Family::RedHat, _) if major == 7 => (
            NmPolicy::Keep,
            "Red Hat 7: NetworkManager reads ifcfg-eth0 (NM_CONTROLLED=yes) and works with the agent: kept",
        ),
        (Family::RedHat, _) => (
            NmPolicy::KeepEnabled,
            "Red Hat 8/9: NetworkManager is the only network stack and reads ifcfg-eth0: kept (and on)",
        ),
        (Family::Suse, _) if major == 11 => (
            NmPolicy::SuseConfigOff,
            "SLES 11: the agent does not work with NetworkManager; ifup runs ifcfg-eth0: NETWORKMANAGER=\"no\"",
        ),
        (Family::Suse, _) => (
            NmPolicy::SuseWarn,
            "SLES 12/15: wicked runs ifcfg-eth0; NetworkManager is not touched",
        ),
        (Family::Debian, Distro::Ubuntu) => (
            NmPolicy::Disable,
            "Ubuntu: ifupdown or netplan (networkd) runs eth0; NetworkManager conflicts with the Azure agent: disabled",
        ),
        _ => (
            NmPolicy::KeepNotAsked,
            "Debian/Kali: NetworkManager leaves eth0 of /etc/network/interfaces to ifupdown: kept",
        ),
    }
}

/// The network step.
pub struct Network;

fn ge(e: crate::guest::GuestError) -> EditError {
    EditError::guest("network", e)
}

fn ignored(name: &str) -> bool {
    IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Regular files in `dir` (sorted).
fn files_in(cx: &Context<'_>, dir: &str) -> Result<Vec<String>, EditError> {
    Ok(cx
        .list_dir(dir)
        .map_err(ge)?
        .into_iter()
        .filter(|(_, k)| *k == FileKind::File)
        .map(|(n, _)| n)
        .collect())
}

/// The value of a shell-style `KEY=value` (quotes removed, lowercased).
fn shell_value(line: &str, key: &str) -> Option<String> {
    let l = line.trim_start();
    let rest = l.strip_prefix(key)?.strip_prefix('=')?;
    Some(
        rest.trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_ascii_lowercase(),
    )
}

/// `text` with every `key=` line not `ok` set to `line`, or `line` appended
/// when the key is absent; `None` when nothing changes.
fn set_shell_var(text: &str, key: &str, line: &str, ok: &[&str]) -> Option<String> {
    let mut found = false;
    let mut changed = false;
    let mut out = String::new();
    for l in text.split_inclusive('\n') {
        match shell_value(l, key) {
            Some(v) => {
                found = true;
                if ok.contains(&v.as_str()) {
                    out.push_str(l);
                } else {
                    changed = true;
                    out.push_str(line);
                    out.push('\n');
                }
            }
            None => out.push_str(l),
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        changed = true;
    }
    changed.then_some(out)
}

/// Rename `dir/name` to `dir/name.hydra-disabled` (same bytes and mode).
fn move_aside(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    dir: &str,
    name: &str,
    why: &str,
) -> Result<(), EditError> {
    let from = Path::new(dir).join(name);
    let Before::File { bytes, attrs } = cx.before(&from).map_err(ge)? else {
        return Ok(());
    };
    let to = Path::new(dir).join(format!("{name}{DISABLED_SUFFIX}"));
    plan.write_with(
        cx,
        &to,
        bytes,
        Some(attrs),
        format!("{why}: kept as {}", to.display()),
    )?;
    plan.remove(cx, &from, format!("{why}: moved to {}", to.display()))?;
    Ok(())
}

/// Plan writing `bytes` to `path` (with `attrs`, see [`StepPlan::write_with`])
/// and record the check `what`: written, or as it should be.
fn write_checked(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    path: &str,
    bytes: &str,
    attrs: Option<FileAttrs>,
    why: &str,
    what: String,
) -> Result<(), EditError> {
    let w = plan.write_with(cx, path, bytes, attrs, why)?;
    plan.check(what, !w, if w { "written" } else { "as it should be" });
    Ok(())
}

/// The configurations of other NICs in `dir` (`ifcfg-*` but `lo` and
/// `eth0`, backups skipped) switched off by `off` (the new text from the
/// device name and the old text; `None`: off already), the check saying
/// `switched`; the files named in `routes` renamed. Returns the names of the
/// other files in `dir`.
fn other_nics_off(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    dir: &str,
    off: impl Fn(&str, &str) -> Option<String>,
    switched: &str,
    routes: &[&str],
) -> Result<Vec<String>, EditError> {
    let mut rest = Vec::new();
    for name in files_in(cx, dir)? {
        if ignored(&name) {
            continue;
        }
        let path = format!("{dir}/{name}");
        if let Some(dev) = name.strip_prefix("ifcfg-") {
            if dev == "lo" || dev == "eth0" {
                continue;
            }
            let text = cx.read_text(&path).map_err(ge)?.unwrap_or_default();
            let new = off(dev, &text);
            plan.check(
                format!("{path} does not start at boot"),
                new.is_none(),
                if new.is_some() {
                    switched
                } else {
                    "already off"
                },
            );
            if let Some(n) = new {
                plan.write(
                    cx,
                    &path,
                    n,
                    format!("{dev} is a VMware NIC: switched off, configuration kept"),
                )?;
            }
        } else if routes.contains(&name.as_str()) {
            plan.check(
                format!("no static routes for eth0 ({path})"),
                false,
                "renamed",
            );
            move_aside(
                plan,
                cx,
                dir,
                &name,
                "static routes of the VMware network would break eth0 on Azure",
            )?;
        } else {
            rest.push(name);
        }
    }
    Ok(rest)
}

impl Step for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn requirement(&self) -> &'static str {
        "L6"
    }

    fn summary(&self) -> &'static str {
        "udev NIC-name rules off, NetworkManager per version, DHCP eth0, other NICs' configs switched off"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut plan = StepPlan::new(self.name(), self.requirement());
        udev(&mut plan, cx)?;
        let (policy, reason) = nm_policy(cx.os);
        match cx.os.family {
            Family::RedHat => redhat(&mut plan, cx, policy)?,
            Family::Suse => suse(&mut plan, cx)?,
            Family::Debian => debian(&mut plan, cx)?,
            _ => plan.warn(format!(
                "{}: no network configuration is known for this family; only the udev rules were looked at",
                cx.os
            )),
        }
        keyfiles(&mut plan, cx)?;
        network_manager(&mut plan, cx, policy, reason)?;
        Ok(plan)
    }
}

fn udev(plan: &mut StepPlan, cx: &Context<'_>) -> Result<(), EditError> {
    let vendor = UDEV_GENERATOR_VENDOR
        .iter()
        .find(|p| cx.exists(p).unwrap_or(false));
    let generated = cx.exists(UDEV_PERSISTENT_NET).map_err(ge)?;
    let masked = matches!(cx.before(UDEV_GENERATOR).map_err(ge)?, Before::Symlink { ref target } if target == Path::new("/dev/null"));
    if vendor.is_none() && !generated {
        plan.check(
            "persistent-net generator masked",
            true,
            if masked {
                "masked".to_string()
            } else {
                "this udev has no persistent-net generator and there are no generated rules: nothing to mask".to_string()
            },
        );
    } else {
        let why = match vendor {
            Some(v) => format!("{v} would pin the Azure NIC's name to its MAC"),
            None => format!("{UDEV_PERSISTENT_NET} exists: the generator ran"),
        };
        let planned = plan.symlink(
            cx,
            UDEV_GENERATOR,
            "/dev/null",
            format!("{why}; masked so that eth0 stays eth0"),
        )?;
        plan.check(
            "persistent-net generator masked",
            !planned,
            if planned { why } else { "masked".to_string() },
        );
    }
    let removed = plan.remove(
        cx,
        UDEV_PERSISTENT_NET,
        "it pins eth0 to the VMware NIC's MAC; the Azure NIC would get another name (the journal keeps a copy)",
    )?;
    plan.check(
        format!("no {UDEV_PERSISTENT_NET}"),
        !removed,
        if removed {
            "present: removed"
        } else {
            "absent"
        },
    );
    Ok(())
}

fn redhat(plan: &mut StepPlan, cx: &Context<'_>, policy: NmPolicy) -> Result<(), EditError> {
    let eth0 = format!("{IFCFG_DIR}/ifcfg-eth0");
    write_checked(
        plan,
        cx,
        &eth0,
        IFCFG_ETH0,
        None,
        "DHCP on eth0, the Azure NIC (the source's ifcfg-eth0)",
        format!("{eth0} is DHCP"),
    )?;
    write_checked(
        plan,
        cx,
        SYSCONFIG_NETWORK_FILE,
        SYSCONFIG_NETWORK,
        None,
        "reset: no static gateway or hostname from VMware (the source's lines)",
        format!("{SYSCONFIG_NETWORK_FILE} reset"),
    )?;
    other_nics_off(
        plan,
        cx,
        IFCFG_DIR,
        |dev, text| {
            let mut new = set_shell_var(text, "ONBOOT", "ONBOOT=no", &["no"]);
            if dev.contains(':') {
                let base = new.clone().unwrap_or_else(|| text.to_string());
                if let Some(n) = set_shell_var(&base, "ONPARENT", "ONPARENT=no", &["no"]) {
                    new = Some(n);
                }
            }
            new
        },
        "ONBOOT=no (the file is kept)",
        &["route-eth0", "route6-eth0", "rule-eth0", "rule6-eth0"],
    )?;
    if policy == NmPolicy::Disable {
        // Red Hat 6: NetworkManager goes, so the network service must run.
        let st = services::status(cx, plan.step, &RH_NETWORK)?;
        if st.installed {
            let planned = services::enable(
                plan,
                cx,
                &RH_NETWORK,
                "the network service brings eth0 up once NetworkManager is off",
            )?;
            plan.check(
                "the network service starts at boot",
                !planned,
                st.describe(),
            );
        } else {
            plan.warn("/etc/init.d/network (initscripts) is missing: nothing would bring eth0 up with NetworkManager off");
        }
    }
    if policy == NmPolicy::KeepEnabled && !nm_reads_ifcfg(cx)? {
        write_checked(
            plan,
            cx,
            NM_ETH0_KEYFILE,
            NM_ETH0,
            Some(FileAttrs::root(0o600)),
            "NetworkManager here does not load ifcfg-rh: the DHCP eth0 profile as a keyfile too",
            format!("{NM_ETH0_KEYFILE} (NetworkManager without ifcfg-rh)"),
        )?;
    }
    Ok(())
}

/// Whether NetworkManager loads the ifcfg-rh plugin (`plugins=` in `[main]`
/// of its configuration; the last one read wins; none: the Red Hat default does).
fn nm_reads_ifcfg(cx: &Context<'_>) -> Result<bool, EditError> {
    let mut files = Vec::new();
    for dir in ["/usr/lib/NetworkManager/conf.d"] {
        for n in files_in(cx, dir)? {
            files.push(format!("{dir}/{n}"));
        }
    }
    files.push("/etc/NetworkManager/NetworkManager.conf".into());
    for n in files_in(cx, "/etc/NetworkManager/conf.d")? {
        files.push(format!("/etc/NetworkManager/conf.d/{n}"));
    }
    let mut plugins: Option<String> = None;
    for f in files.iter().filter(|f| f.ends_with(".conf")) {
        let Some(text) = cx.read_text(f).map_err(ge)? else {
            continue;
        };
        let mut main = false;
        for l in text.lines() {
            let l = l.trim();
            if l.starts_with('[') {
                main = l == "[main]";
            } else if main {
                if let Some(v) = l.strip_prefix("plugins") {
                    if let Some(v) = v.trim_start().strip_prefix('=') {
                        plugins = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    Ok(plugins.map_or(true, |p| {
        p.split([',', ' ']).any(|x| x.trim() == "ifcfg-rh")
    }))
}

fn suse(plan: &mut StepPlan, cx: &Context<'_>) -> Result<(), EditError> {
    let eth0 = format!("{SUSE_DIR}/ifcfg-eth0");
    write_checked(
        plan,
        cx,
        &eth0,
        SUSE_IFCFG_ETH0,
        None,
        "DHCP on eth0, the Azure NIC",
        format!("{eth0} is DHCP"),
    )?;
    let rest = other_nics_off(
        plan,
        cx,
        SUSE_DIR,
        |_, text| set_shell_var(text, "STARTMODE", "STARTMODE='off'", &["off", "manual"]),
        "STARTMODE='off' (the file is kept)",
        &["ifroute-eth0"],
    )?;
    if rest.iter().any(|n| n == "routes") {
        let path = format!("{SUSE_DIR}/routes");
        let text = cx.read_text(&path).map_err(ge)?.unwrap_or_default();
        if text.lines().any(|l| l.trim_start().starts_with("default")) {
            plan.warn(format!("{path} has a static default route (of the VMware network); Azure's DHCP gives one: check it after the move"));
        }
    }
    Ok(())
}

fn debian(plan: &mut StepPlan, cx: &Context<'_>) -> Result<(), EditError> {
    let has_yaml = files_in(cx, NETPLAN_DIR)?
        .iter()
        .any(|n| n.ends_with(".yaml"));
    let has_interfaces = cx.exists(INTERFACES).map_err(ge)?;
    let netplan_bin = ["/usr/sbin/netplan", "/sbin/netplan"]
        .iter()
        .any(|p| cx.exists(p).unwrap_or(false));
    if has_yaml || (netplan_bin && !has_interfaces) {
        for name in files_in(cx, NETPLAN_DIR)? {
            let path = format!("{NETPLAN_DIR}/{name}");
            if !name.ends_with(".yaml") || path == NETPLAN_FILE {
                continue;
            }
            let text = cx.read_text(&path).map_err(ge)?.unwrap_or_default();
            let defines = text.lines().any(|l| {
                let t = l.trim();
                [
                    "ethernets:",
                    "bonds:",
                    "bridges:",
                    "vlans:",
                    "wifis:",
                    "tunnels:",
                    "vrfs:",
                    "modems:",
                    "nm-devices:",
                ]
                .iter()
                .any(|k| t.starts_with(k))
            });
            plan.check(
                format!("{path} configures no VMware NIC"),
                !defines,
                if defines {
                    "renamed out of netplan's reach"
                } else {
                    "defines no devices"
                },
            );
            if defines {
                move_aside(
                    plan,
                    cx,
                    NETPLAN_DIR,
                    &name,
                    "its devices are the VMware NICs",
                )?;
            }
        }
        write_checked(
            plan,
            cx,
            NETPLAN_FILE,
            NETPLAN_ETH0,
            Some(FileAttrs::root(0o600)),
            "DHCP on eth0, the Azure NIC (netplan, rendered by systemd-networkd)",
            format!("{NETPLAN_FILE} is DHCP on eth0"),
        )?;
        if has_interfaces {
            interfaces_file(plan, cx, INTERFACES, false)?;
        }
    } else {
        interfaces_file(plan, cx, INTERFACES, true)?;
        for name in files_in(cx, INTERFACES_D)? {
            if name.starts_with('.') || ignored(&name) {
                continue;
            }
            interfaces_file(plan, cx, &format!("{INTERFACES_D}/{name}"), false)?;
        }
        if !["/sbin/ifup", "/usr/sbin/ifup"]
            .iter()
            .any(|p| cx.exists(p).unwrap_or(false))
        {
            plan.warn(
                "ifupdown (/sbin/ifup) is not installed: /etc/network/interfaces may not be read",
            );
        }
        let st = services::status(cx, plan.step, &IFUPDOWN)?;
        if st.installed && !st.enabled {
            plan.warn(format!(
                "ifupdown's networking service is not enabled ({}): eth0 may not come up",
                st.describe()
            ));
        }
    }
    Ok(())
}

/// Stanza keywords of interfaces(5).
fn stanza_word(w: &str) -> bool {
    matches!(
        w,
        "iface"
            | "mapping"
            | "auto"
            | "source"
            | "source-directory"
            | "source-dir"
            | "rename"
            | "no-auto-down"
            | "no-scripts"
    ) || w.starts_with("allow-")
}

/// `text` of an interfaces(5) file with every stanza but `lo`, `source`
/// lines and a plain `auto eth0` / `iface eth0 inet dhcp` commented out;
/// with `eth0`, those two lines are appended when missing.
fn rewrite_interfaces(text: &str, eth0: bool) -> String {
    // `auto eth0` stays only with a plain `iface eth0 inet dhcp` stanza.
    match rewrite_interfaces_with(text, eth0, true) {
        (out, true) => out,
        _ => rewrite_interfaces_with(text, eth0, false).0,
    }
}

/// [`rewrite_interfaces`], keeping a plain `auto eth0` when `keep_auto`;
/// also says whether a plain `iface eth0 inet dhcp` was kept.
fn rewrite_interfaces_with(text: &str, eth0: bool, keep_auto: bool) -> (String, bool) {
    #[derive(PartialEq)]
    enum Block {
        Keep,
        Drop,
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::new();
    let mut block = Block::Keep;
    let (mut have_auto, mut have_iface) = (false, false);
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let t = raw.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        i += 1;
        if t.is_empty() || t.starts_with('#') {
            out.push_str(raw);
            continue;
        }
        let nl = if raw.ends_with('\n') { "" } else { "\n" };
        if stanza_word(words[0]) {
            block = Block::Keep;
            match words[0] {
                "iface" | "mapping" => {
                    let name = words.get(1).copied().unwrap_or("");
                    // Options of this stanza follow until the next stanza.
                    let mut j = i;
                    let mut has_options = false;
                    while j < lines.len() {
                        let tt = lines[j].trim();
                        if let Some(w) = tt.split_whitespace().next() {
                            if !tt.starts_with('#') {
                                if stanza_word(w) {
                                    break;
                                }
                                has_options = true;
                            }
                        }
                        j += 1;
                    }
                    let ours = words == ["iface", "eth0", "inet", "dhcp"] && !has_options && eth0;
                    if name == "lo" || ours {
                        have_iface |= ours;
                        out.push_str(raw);
                    } else {
                        block = Block::Drop;
                        out.push_str(DISABLED_MARKER);
                        out.push_str(raw);
                        out.push_str(nl);
                    }
                }
                "auto" | "rename" => {
                    if words == ["auto", "eth0"] && eth0 && keep_auto {
                        have_auto = true;
                        out.push_str(raw);
                    } else if words[0] == "rename" || words[1..].iter().all(|n| *n == "lo") {
                        out.push_str(raw);
                    } else {
                        out.push_str(DISABLED_MARKER);
                        out.push_str(raw);
                        out.push_str(nl);
                        if words[1..].contains(&"lo") {
                            out.push_str(&format!("{} lo\n", words[0]));
                        }
                    }
                }
                w if w.starts_with("allow-") => {
                    if words[1..].iter().all(|n| *n == "lo") {
                        out.push_str(raw);
                    } else {
                        out.push_str(DISABLED_MARKER);
                        out.push_str(raw);
                        out.push_str(nl);
                        if words[1..].contains(&"lo") {
                            out.push_str(&format!("{} lo\n", words[0]));
                        }
                    }
                }
                _ => out.push_str(raw),
            }
            continue;
        }
        if block == Block::Drop {
            out.push_str(DISABLED_MARKER);
            out.push_str(raw.trim_start());
            out.push_str(nl);
        } else {
            out.push_str(raw);
        }
    }
    if eth0 && !(have_auto && have_iface) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str("# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\n");
        if !have_auto {
            out.push_str("auto eth0\n");
        }
        if !have_iface {
            out.push_str("iface eth0 inet dhcp\n");
        }
    }
    (out, have_iface)
}

fn interfaces_file(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    path: &str,
    eth0: bool,
) -> Result<(), EditError> {
    let old = cx.read_text(path).map_err(ge)?;
    if old.is_none() && !eth0 {
        return Ok(());
    }
    let old = old.unwrap_or_else(|| "auto lo\niface lo inet loopback\n".to_string());
    let new = rewrite_interfaces(&old, eth0);
    let what = if eth0 {
        format!("{path}: DHCP on eth0, other NICs' stanzas commented out")
    } else {
        format!("{path}: no stanza for a VMware NIC")
    };
    let w = plan.write(
        cx,
        path,
        new,
        if eth0 {
            "DHCP on eth0 (the Azure NIC); other NICs' stanzas commented out with `# hydra-disabled: `"
        } else {
            "stanzas of the VMware NICs commented out with `# hydra-disabled: `"
        },
    )?;
    plan.check(what, !w, if w { "rewritten" } else { "as it should be" });
    Ok(())
}

/// NetworkManager keyfiles of static or other-interface Ethernet profiles
/// get `autoconnect=false`.
fn keyfiles(plan: &mut StepPlan, cx: &Context<'_>) -> Result<(), EditError> {
    for name in files_in(cx, NM_CONNECTIONS)? {
        if ignored(&name) || name.starts_with('.') {
            continue;
        }
        let path = format!("{NM_CONNECTIONS}/{name}");
        let text = cx.read_text(&path).map_err(ge)?.unwrap_or_default();
        let mut section = String::new();
        let (mut ethernet, mut ifname, mut manual, mut off) = (false, None::<String>, false, false);
        for l in text.lines() {
            let l = l.trim();
            if l.starts_with('[') {
                section = l.to_string();
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            match (section.as_str(), k) {
                ("[connection]", "type") => ethernet = v == "ethernet" || v == "802-3-ethernet",
                ("[connection]", "interface-name") => ifname = Some(v.to_string()),
                ("[connection]", "autoconnect") => off = v == "false" || v == "0" || v == "no",
                ("[ipv4]", "method") => manual = v == "manual",
                _ => {}
            }
        }
        if !ethernet {
            continue;
        }
        let other = ifname.as_deref().is_some_and(|n| n != "eth0");
        if !(manual || other) {
            plan.check(
                format!("{path} may run on eth0"),
                true,
                "a DHCP profile for eth0 or any interface: kept",
            );
            continue;
        }
        plan.check(
            format!("{path} does not connect at boot"),
            off,
            if off {
                "autoconnect=false already"
            } else {
                "a static or VMware-NIC profile: autoconnect=false (the file is kept)"
            },
        );
        if off {
            continue;
        }
        // Set autoconnect=false in [connection].
        let mut out = String::new();
        let mut in_conn = false;
        let mut done = false;
        for l in text.split_inclusive('\n') {
            let t = l.trim();
            if t.starts_with('[') {
                if in_conn && !done {
                    out.push_str("autoconnect=false\n");
                    done = true;
                }
                in_conn = t == "[connection]";
                out.push_str(l);
                continue;
            }
            if in_conn
                && t.split_once('=')
                    .is_some_and(|(k, _)| k.trim() == "autoconnect")
            {
                out.push_str("autoconnect=false\n");
                done = true;
                continue;
            }
            out.push_str(l);
        }
        if !done {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("autoconnect=false\n");
        }
        plan.write(
            cx,
            &path,
            out,
            "a static or VMware-NIC profile: it must not take eth0 on Azure",
        )?;
    }
    Ok(())
}

fn network_manager(
    plan: &mut StepPlan,
    cx: &Context<'_>,
    policy: NmPolicy,
    reason: &str,
) -> Result<(), EditError> {
    let what = format!("NetworkManager per version ({})", cx.os);
    match policy {
        NmPolicy::Disable => {
            let st = services::status(cx, plan.step, &NETWORK_MANAGER)?;
            if !st.installed {
                plan.check(what, true, format!("{reason}; not installed"));
                return Ok(());
            }
            let planned = services::disable(plan, cx, &NETWORK_MANAGER, reason)?;
            plan.check(
                what,
                !planned,
                format!(
                    "{reason}; {}",
                    if planned {
                        st.describe()
                    } else {
                        "already off".into()
                    }
                ),
            );
        }
        NmPolicy::KeepEnabled => {
            let nm = services::status(cx, plan.step, &NM_DAEMON)?;
            let legacy = services::status(cx, plan.step, &RH_NETWORK)?;
            if nm.installed && !nm.enabled && !legacy.enabled {
                let planned =
                    services::enable(plan, cx, &NM_DAEMON, "nothing else would bring eth0 up")?;
                plan.check(
                    what,
                    !planned,
                    format!("{reason}; it was off ({})", nm.describe()),
                );
            } else {
                if !nm.installed && !legacy.installed {
                    plan.warn("neither NetworkManager nor the network service is installed: nothing would bring eth0 up");
                }
                plan.check(what, true, format!("{reason}; {}", nm.describe()));
            }
        }
        NmPolicy::SuseConfigOff => {
            let path = format!("{SUSE_DIR}/config");
            let Some(text) = cx.read_text(&path).map_err(ge)? else {
                plan.check(what, true, format!("{reason}; no {path}"));
                return Ok(());
            };
            let on = text
                .lines()
                .any(|l| shell_value(l, "NETWORKMANAGER").is_some_and(|v| v == "yes"));
            plan.check(
                what,
                !on,
                format!(
                    "{reason}; {}",
                    if on {
                        "NETWORKMANAGER=\"yes\""
                    } else {
                        "off already"
                    }
                ),
            );
            if on {
                if let Some(n) =
                    set_shell_var(&text, "NETWORKMANAGER", "NETWORKMANAGER=\"no\"", &["no"])
                {
                    plan.write(cx, &path, n, reason.to_string())?;
                }
            }
        }
        NmPolicy::SuseWarn => {
            let nm_is_network = matches!(
                cx.before(format!("{}/network.service", services::SYSTEMD_ETC)).map_err(ge)?,
                Before::Symlink { ref target } if target.ends_with("NetworkManager.service")
            );
            if nm_is_network {
                plan.warn("network.service is NetworkManager: it does not read ifcfg-eth0 and the Azure agent does not work with it; switch to wicked (yast lan) after the move");
            }
            plan.check(
                what,
                true,
                format!(
                    "{reason}; {}",
                    if nm_is_network {
                        "NetworkManager is the network service"
                    } else {
                        "wicked/ifup"
                    }
                ),
            );
        }
        NmPolicy::Keep | NmPolicy::KeepNotAsked => {
            let st = services::status(cx, plan.step, &NETWORK_MANAGER)?;
            plan.check(what, true, format!("{reason}; {}", st.describe()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::edit::steps::services::testutil::{changed, cycle, os, plan, rhel6_rc, Tree};

    const STATIC_ENS192: &str = "TYPE=Ethernet\nBOOTPROTO=none\nNAME=ens192\nDEVICE=ens192\nONBOOT=yes\nIPADDR=10.1.2.3\nPREFIX=24\nGATEWAY=10.1.2.1\nDNS1=10.1.2.10\n";
    const STATIC_ENS192_OFF: &str = "TYPE=Ethernet\nBOOTPROTO=none\nNAME=ens192\nDEVICE=ens192\nONBOOT=no\nIPADDR=10.1.2.3\nPREFIX=24\nGATEWAY=10.1.2.1\nDNS1=10.1.2.10\n";
    const OLD_NETWORK: &str =
        "NETWORKING=yes\nHOSTNAME=web01.corp.example\nGATEWAY=10.1.2.1\nNOZEROCONF=yes\n";
    const RULES70: &str = "# This file was automatically generated by the /lib/udev/write_net_rules\nSUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"00:50:56:aa:bb:cc\", ATTR{type}==\"1\", KERNEL==\"eth*\", NAME=\"eth0\"\n";
    const NM_UNIT: &str = "[Unit]\nDescription=Network Manager\n\n[Service]\nExecStart=/usr/sbin/NetworkManager --no-daemon\n\n[Install]\nWantedBy=multi-user.target\nAlias=dbus-org.freedesktop.NetworkManager.service\nAlso=NetworkManager-dispatcher.service\n";

    fn nm_systemd(t: &Tree, unit_dir: &str, enabled: bool) {
        t.file(&format!("{unit_dir}/NetworkManager.service"), NM_UNIT);
        t.file(
            &format!("{unit_dir}/NetworkManager-wait-online.service"),
            "[Install]\nWantedBy=network-online.target\n",
        );
        t.file(
            &format!("{unit_dir}/NetworkManager-dispatcher.service"),
            "[Install]\nWantedBy=multi-user.target\nAlias=dbus-org.freedesktop.nm-dispatcher.service\n",
        );
        if enabled {
            t.link(
                "/etc/systemd/system/multi-user.target.wants/NetworkManager.service",
                &format!("{unit_dir}/NetworkManager.service"),
            );
            t.link(
                "/etc/systemd/system/dbus-org.freedesktop.NetworkManager.service",
                &format!("{unit_dir}/NetworkManager.service"),
            );
            t.link(
                "/etc/systemd/system/network-online.target.wants/NetworkManager-wait-online.service",
                &format!("{unit_dir}/NetworkManager-wait-online.service"),
            );
            t.link(
                "/etc/systemd/system/dbus-org.freedesktop.nm-dispatcher.service",
                &format!("{unit_dir}/NetworkManager-dispatcher.service"),
            );
        }
    }

    fn assert_nm_masked(t: &Tree) {
        for u in [
            "NetworkManager.service",
            "NetworkManager-wait-online.service",
            "NetworkManager-dispatcher.service",
        ] {
            assert_eq!(
                t.target(&format!("/etc/systemd/system/{u}")),
                Some(PathBuf::from("/dev/null")),
                "{u}"
            );
        }
        for l in [
            "multi-user.target.wants/NetworkManager.service",
            "dbus-org.freedesktop.NetworkManager.service",
            "network-online.target.wants/NetworkManager-wait-online.service",
            "dbus-org.freedesktop.nm-dispatcher.service",
        ] {
            assert!(!t.exists(&format!("/etc/systemd/system/{l}")), "{l}");
        }
    }

    fn assert_nm_enabled_untouched(t: &Tree) {
        assert!(t.exists("/etc/systemd/system/multi-user.target.wants/NetworkManager.service"));
        assert!(!t.exists("/etc/systemd/system/NetworkManager.service"));
    }

    fn check_detail<'a>(p: &'a StepPlan, what: &str) -> &'a str {
        &p.checks
            .iter()
            .find(|c| c.what.contains(what))
            .unwrap_or_else(|| panic!("no check {what}: {:#?}", p.checks))
            .detail
    }

    /// The distribution's persistent-net generator and the rules it wrote.
    fn udev_generator(t: &Tree) {
        t.file(
            "/lib/udev/rules.d/75-persistent-net-generator.rules",
            "# generator\n",
        );
        t.file("/etc/udev/rules.d/70-persistent-net.rules", RULES70);
    }

    fn assert_udev_masked(t: &Tree) {
        assert_eq!(t.target(UDEV_GENERATOR), Some(PathBuf::from("/dev/null")));
        assert!(!t.exists(UDEV_PERSISTENT_NET));
    }

    fn rhel_common(t: &Tree) {
        t.file("/etc/sysconfig/network", OLD_NETWORK);
        t.file(
            "/etc/sysconfig/network-scripts/ifcfg-lo",
            "DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\n",
        );
        t.file("/etc/sysconfig/network-scripts/ifcfg-ens192", STATIC_ENS192);
        t.file(
            "/etc/sysconfig/network-scripts/ifcfg-ens192.bak",
            STATIC_ENS192,
        );
    }

    fn assert_rhel_common(t: &Tree) {
        assert_eq!(
            t.read("/etc/sysconfig/network-scripts/ifcfg-eth0"),
            IFCFG_ETH0
        );
        assert_eq!(
            t.read("/etc/sysconfig/network"),
            "NETWORKING=yes\nHOSTNAME=localhost.localdomain\n"
        );
        assert_eq!(
            t.read("/etc/sysconfig/network-scripts/ifcfg-ens192"),
            STATIC_ENS192_OFF
        );
        assert_eq!(
            t.read("/etc/sysconfig/network-scripts/ifcfg-ens192.bak"),
            STATIC_ENS192
        );
        assert_eq!(
            t.read("/etc/sysconfig/network-scripts/ifcfg-lo"),
            "DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\n"
        );
    }

    #[test]
    fn ifcfg_eth0_is_the_sources_text() {
        assert_eq!(
            IFCFG_ETH0.split('\n').filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "),
            "DEVICE=eth0 ONBOOT=yes BOOTPROTO=dhcp TYPE=Ethernet USERCTL=no PEERDNS=yes IPV6INIT=no PERSISTENT_DHCLIENT=yes NM_CONTROLLED=yes"
        );
    }

    #[test]
    fn rhel6_sysv_nm_disabled_network_on() {
        let t = Tree::new();
        rhel_common(&t);
        udev_generator(&t);
        t.file("/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nHWADDR=00:50:56:AA:BB:CC\nBOOTPROTO=static\nIPADDR=10.1.2.4\nONBOOT=yes\n");
        t.file(
            "/etc/sysconfig/network-scripts/ifcfg-eth1",
            "DEVICE=eth1\nONBOOT=\"yes\"\nBOOTPROTO=dhcp\n",
        );
        t.file(
            "/etc/sysconfig/network-scripts/ifcfg-eth0:1",
            "DEVICE=eth0:1\nIPADDR=10.1.2.5\n",
        );
        t.file(
            "/etc/sysconfig/network-scripts/route-eth0",
            "10.9.0.0/16 via 10.1.2.254\n",
        );
        rhel6_rc(&t);
        for l in 0..=6 {
            let on = (2..=5).contains(&l);
            let nm = if on {
                "S23NetworkManager"
            } else {
                "K84NetworkManager"
            };
            t.link(
                &format!("/etc/rc.d/rc{l}.d/{nm}"),
                "../init.d/NetworkManager",
            );
            let net = if on && l != 2 {
                "S10network"
            } else {
                "K90network"
            };
            t.link(&format!("/etc/rc.d/rc{l}.d/{net}"), "../init.d/network");
        }
        t.file_mode(
            "/etc/rc.d/init.d/NetworkManager",
            "#!/bin/sh\n# chkconfig: - 23 84\n",
            0o755,
        );
        t.file_mode(
            "/etc/rc.d/init.d/network",
            "#!/bin/bash\n# chkconfig: 2345 10 90\n",
            0o755,
        );
        let p = cycle(
            &Network,
            &t,
            &os(Family::RedHat, Distro::Rhel, 6, 10, "6.10"),
            |t| {
                assert_rhel_common(t);
                assert_udev_masked(t);
                assert_eq!(
                    t.read("/etc/sysconfig/network-scripts/ifcfg-eth1"),
                    "DEVICE=eth1\nONBOOT=no\nBOOTPROTO=dhcp\n"
                );
                assert_eq!(
                    t.read("/etc/sysconfig/network-scripts/ifcfg-eth0:1"),
                    "DEVICE=eth0:1\nIPADDR=10.1.2.5\nONBOOT=no\nONPARENT=no\n"
                );
                assert!(!t.exists("/etc/sysconfig/network-scripts/route-eth0"));
                assert_eq!(
                    t.read("/etc/sysconfig/network-scripts/route-eth0.hydra-disabled"),
                    "10.9.0.0/16 via 10.1.2.254\n"
                );
                for l in 0..=6 {
                    assert!(!t.exists(&format!("/etc/rc.d/rc{l}.d/S23NetworkManager")));
                    assert_eq!(
                        t.target(&format!("/etc/rc.d/rc{l}.d/K84NetworkManager")),
                        Some(PathBuf::from("../init.d/NetworkManager"))
                    );
                }
                assert_eq!(
                    t.target("/etc/rc.d/rc2.d/S10network"),
                    Some(PathBuf::from("../init.d/network"))
                );
                assert!(!t.exists("/etc/rc.d/rc2.d/K90network"));
                assert!(t.exists("/etc/rc.d/rc0.d/K90network"));
            },
        );
        assert!(check_detail(&p, "NetworkManager per version").contains("Red Hat 6"));
    }

    #[test]
    fn rhel7_nm_kept_no_udev_generator() {
        let t = Tree::new();
        rhel_common(&t);
        nm_systemd(&t, "/usr/lib/systemd/system", true);
        let p = cycle(
            &Network,
            &t,
            &os(Family::RedHat, Distro::Rhel, 7, 9, "7.9"),
            |t| {
                assert_rhel_common(t);
                assert_nm_enabled_untouched(t);
                assert!(!t.exists(UDEV_GENERATOR));
            },
        );
        assert!(
            check_detail(&p, "persistent-net generator").contains("no persistent-net generator")
        );
        assert!(check_detail(&p, "NetworkManager per version").contains("kept"));
        assert!(!changed(&p).iter().any(|c| c.contains("systemd")));
    }

    #[test]
    fn centos7_generated_rules_removed() {
        let t = Tree::new();
        rhel_common(&t);
        nm_systemd(&t, "/usr/lib/systemd/system", true);
        t.file("/etc/udev/rules.d/70-persistent-net.rules", RULES70);
        cycle(
            &Network,
            &t,
            &os(Family::RedHat, Distro::Centos, 7, 9, "7.9.2009"),
            |t| {
                assert_rhel_common(t);
                assert_udev_masked(t);
                assert_nm_enabled_untouched(t);
            },
        );
    }

    #[test]
    fn rhel8_nm_off_is_enabled() {
        let t = Tree::new();
        rhel_common(&t);
        nm_systemd(&t, "/usr/lib/systemd/system", false);
        let p = cycle(
            &Network,
            &t,
            &os(Family::RedHat, Distro::Rhel, 8, 8, "8.8"),
            |t| {
                assert_rhel_common(t);
                assert_eq!(
                    t.target("/etc/systemd/system/multi-user.target.wants/NetworkManager.service"),
                    Some(PathBuf::from(
                        "/usr/lib/systemd/system/NetworkManager.service"
                    ))
                );
                assert_eq!(
                    t.target("/etc/systemd/system/dbus-org.freedesktop.NetworkManager.service"),
                    Some(PathBuf::from(
                        "/usr/lib/systemd/system/NetworkManager.service"
                    ))
                );
                assert!(!t.exists(NM_ETH0_KEYFILE));
            },
        );
        assert!(check_detail(&p, "NetworkManager per version").contains("it was off"));
    }

    #[test]
    fn ol8_static_keyfile_autoconnect_off() {
        let t = Tree::new();
        rhel_common(&t);
        nm_systemd(&t, "/usr/lib/systemd/system", true);
        let kf = "[connection]\nid=ens192\nuuid=0a7e9f2c-1111-2222-3333-444455556666\ntype=ethernet\ninterface-name=ens192\n\n[ipv4]\naddress1=10.1.2.3/24,10.1.2.1\nmethod=manual\n";
        t.file_mode(
            "/etc/NetworkManager/system-connections/ens192.nmconnection",
            kf,
            0o600,
        );
        t.file_mode(
            "/etc/NetworkManager/system-connections/dhcp.nmconnection",
            "[connection]\nid=dhcp\ntype=ethernet\n\n[ipv4]\nmethod=auto\n",
            0o600,
        );
        cycle(
            &Network,
            &t,
            &os(Family::RedHat, Distro::OracleLinux, 8, 7, "8.7"),
            |t| {
                assert_rhel_common(t);
                let p = "/etc/NetworkManager/system-connections/ens192.nmconnection";
                assert_eq!(
                t.read(p),
                "[connection]\nid=ens192\nuuid=0a7e9f2c-1111-2222-3333-444455556666\ntype=ethernet\ninterface-name=ens192\n\nautoconnect=false\n[ipv4]\naddress1=10.1.2.3/24,10.1.2.1\nmethod=manual\n"
            );
                assert_eq!(t.mode(p), 0o600);
                assert_eq!(
                    t.read("/etc/NetworkManager/system-connections/dhcp.nmconnection"),
                    "[connection]\nid=dhcp\ntype=ethernet\n\n[ipv4]\nmethod=auto\n"
                );
                assert_nm_enabled_untouched(t);
            },
        );
    }

    #[test]
    fn rhel9_keyfile_only_nm_gets_an_eth0_keyfile() {
        let t = Tree::new();
        rhel_common(&t);
        nm_systemd(&t, "/usr/lib/systemd/system", true);
        t.file(
            "/etc/NetworkManager/NetworkManager.conf",
            "[main]\n#plugins=keyfile,ifcfg-rh\nplugins=keyfile\n\n[logging]\n",
        );
        t.file_mode(
            "/etc/NetworkManager/system-connections/ens192.nmconnection",
            "[connection]\nid=ens192\ntype=ethernet\nautoconnect=true\ninterface-name=ens192\n[ipv4]\nmethod=manual\naddress1=10.1.2.3/24\n",
            0o600,
        );
        cycle(
            &Network,
            &t,
            &os(Family::RedHat, Distro::Rhel, 9, 2, "9.2"),
            |t| {
                assert_rhel_common(t);
                assert_eq!(t.read(NM_ETH0_KEYFILE), NM_ETH0);
                assert_eq!(t.mode(NM_ETH0_KEYFILE), 0o600);
                assert_eq!(
                t.read("/etc/NetworkManager/system-connections/ens192.nmconnection"),
                "[connection]\nid=ens192\ntype=ethernet\nautoconnect=false\ninterface-name=ens192\n[ipv4]\nmethod=manual\naddress1=10.1.2.3/24\n"
            );
                assert_nm_enabled_untouched(t);
            },
        );
    }

    fn suse_common(t: &Tree) {
        t.file(
            "/etc/sysconfig/network/ifcfg-lo",
            "IPADDR=127.0.0.1\nNETMASK=255.0.0.0\nSTARTMODE=nfsroot\n",
        );
        t.file(
            "/etc/sysconfig/network/ifcfg-eth0",
            "BOOTPROTO='static'\nIPADDR='10.1.2.3/24'\nSTARTMODE='auto'\n",
        );
        t.file(
            "/etc/sysconfig/network/ifcfg-eth1",
            "BOOTPROTO='dhcp'\nSTARTMODE=\"onboot\"\n",
        );
        t.file(
            "/etc/sysconfig/network/ifroute-eth0",
            "10.9.0.0/16 10.1.2.254 - eth0\n",
        );
        t.file("/etc/sysconfig/network/routes", "default 10.1.2.1 - -\n");
    }

    fn assert_suse_common(t: &Tree) {
        assert_eq!(
            t.read("/etc/sysconfig/network/ifcfg-eth0"),
            "BOOTPROTO='dhcp'\nSTARTMODE='auto'\nDHCLIENT_SET_HOSTNAME='no'\n"
        );
        assert_eq!(
            t.read("/etc/sysconfig/network/ifcfg-eth1"),
            "BOOTPROTO='dhcp'\nSTARTMODE='off'\n"
        );
        assert_eq!(
            t.read("/etc/sysconfig/network/ifcfg-lo"),
            "IPADDR=127.0.0.1\nNETMASK=255.0.0.0\nSTARTMODE=nfsroot\n"
        );
        assert!(!t.exists("/etc/sysconfig/network/ifroute-eth0"));
        assert_eq!(
            t.read("/etc/sysconfig/network/ifroute-eth0.hydra-disabled"),
            "10.9.0.0/16 10.1.2.254 - eth0\n"
        );
        assert_eq!(
            t.read("/etc/sysconfig/network/routes"),
            "default 10.1.2.1 - -\n"
        );
    }

    #[test]
    fn sles11_networkmanager_config_off() {
        let t = Tree::new();
        suse_common(&t);
        udev_generator(&t);
        t.file(
            "/etc/sysconfig/network/config",
            "## Type: yesno\nNETWORKMANAGER=\"yes\"\nNETCONFIG_DNS_POLICY=\"auto\"\n",
        );
        let p = cycle(
            &Network,
            &t,
            &os(Family::Suse, Distro::Sles, 11, 4, "11.4"),
            |t| {
                assert_suse_common(t);
                assert_eq!(
                    t.read("/etc/sysconfig/network/config"),
                    "## Type: yesno\nNETWORKMANAGER=\"no\"\nNETCONFIG_DNS_POLICY=\"auto\"\n"
                );
                assert_udev_masked(t);
            },
        );
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("static default route")));
    }

    #[test]
    fn sles12_wicked_static_nic_without_startmode() {
        let t = Tree::new();
        t.file(
            "/etc/sysconfig/network/ifcfg-ens192",
            "BOOTPROTO='static'\nIPADDR='10.1.2.3/24'\n",
        );
        t.file(
            "/usr/lib/systemd/system/wicked.service",
            "[Install]\nWantedBy=multi-user.target\nAlias=network.service\n",
        );
        t.link(
            "/etc/systemd/system/network.service",
            "/usr/lib/systemd/system/wicked.service",
        );
        let p = cycle(
            &Network,
            &t,
            &os(Family::Suse, Distro::Sles, 12, 5, "12.5"),
            |t| {
                assert_eq!(t.read("/etc/sysconfig/network/ifcfg-eth0"), SUSE_IFCFG_ETH0);
                assert_eq!(
                    t.read("/etc/sysconfig/network/ifcfg-ens192"),
                    "BOOTPROTO='static'\nIPADDR='10.1.2.3/24'\nSTARTMODE='off'\n"
                );
                assert_eq!(
                    t.target("/etc/systemd/system/network.service"),
                    Some(PathBuf::from("/usr/lib/systemd/system/wicked.service"))
                );
            },
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn sles15_nm_as_network_service_is_warned_about() {
        let t = Tree::new();
        suse_common(&t);
        t.file("/usr/lib/systemd/system/NetworkManager.service", NM_UNIT);
        t.link(
            "/etc/systemd/system/network.service",
            "/usr/lib/systemd/system/NetworkManager.service",
        );
        let p = cycle(
            &Network,
            &t,
            &os(Family::Suse, Distro::Sles, 15, 4, "15.4"),
            |t| {
                assert_suse_common(t);
                assert!(t.exists("/etc/systemd/system/network.service"));
            },
        );
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("network.service is NetworkManager")));
    }

    const UBUNTU_STATIC: &str = "# interfaces(5) file used by ifup(8) and ifdown(8)\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 10.1.2.3\n    netmask 255.255.255.0\n    gateway 10.1.2.1\n    dns-nameservers 10.1.2.10\n";
    const UBUNTU_STATIC_DONE: &str = "# interfaces(5) file used by ifup(8) and ifdown(8)\nauto lo\niface lo inet loopback\n\n# hydra-disabled: auto eth0\n# hydra-disabled: iface eth0 inet static\n# hydra-disabled: address 10.1.2.3\n# hydra-disabled: netmask 255.255.255.0\n# hydra-disabled: gateway 10.1.2.1\n# hydra-disabled: dns-nameservers 10.1.2.10\n\n# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\nauto eth0\niface eth0 inet dhcp\n";

    #[test]
    fn ubuntu1404_upstart_nm_manual_interfaces_dhcp() {
        let t = Tree::new();
        udev_generator(&t);
        t.file("/etc/network/interfaces", UBUNTU_STATIC);
        t.file(
            "/etc/init/network-manager.conf",
            "start on (local-filesystems and started dbus)\n",
        );
        t.file_mode("/sbin/ifup", "", 0o755);
        cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Ubuntu, 14, 4, "14.04"),
            |t| {
                assert_eq!(t.read("/etc/network/interfaces"), UBUNTU_STATIC_DONE);
                assert_eq!(t.read("/etc/init/network-manager.override"), "manual\n");
                assert_udev_masked(t);
            },
        );
    }

    #[test]
    fn ubuntu1604_systemd_nm_masked() {
        let t = Tree::new();
        nm_systemd(&t, "/lib/systemd/system", true);
        t.link(
            "/etc/systemd/system/network-manager.service",
            "/lib/systemd/system/NetworkManager.service",
        );
        t.file(
            "/lib/systemd/system/networking.service",
            "[Install]\nWantedBy=multi-user.target network-online.target\n",
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/networking.service",
            "/lib/systemd/system/networking.service",
        );
        t.file_mode("/sbin/ifup", "", 0o755);
        t.file(
            "/etc/network/interfaces",
            "source /etc/network/interfaces.d/*\n\nauto lo ens160\niface lo inet loopback\n\niface ens160 inet static\n\taddress 10.1.2.3/24\n\tgateway 10.1.2.1\n",
        );
        let p = cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Ubuntu, 16, 4, "16.04"),
            |t| {
                assert_eq!(
                t.read("/etc/network/interfaces"),
                "source /etc/network/interfaces.d/*\n\n# hydra-disabled: auto lo ens160\nauto lo\niface lo inet loopback\n\n# hydra-disabled: iface ens160 inet static\n# hydra-disabled: address 10.1.2.3/24\n# hydra-disabled: gateway 10.1.2.1\n\n# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\nauto eth0\niface eth0 inet dhcp\n"
            );
                assert_nm_masked(t);
                assert!(!t.exists("/etc/systemd/system/network-manager.service"));
                assert!(t.exists("/etc/systemd/system/multi-user.target.wants/networking.service"));
            },
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn ubuntu1804_netplan_static_moved_aside() {
        let t = Tree::new();
        let y = "network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    ens160:\n      addresses: [10.1.2.3/24]\n      gateway4: 10.1.2.1\n";
        t.file("/etc/netplan/01-netcfg.yaml", y);
        let p = cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Ubuntu, 18, 4, "18.04"),
            |t| {
                assert!(!t.exists("/etc/netplan/01-netcfg.yaml"));
                assert_eq!(t.read("/etc/netplan/01-netcfg.yaml.hydra-disabled"), y);
                assert_eq!(t.mode("/etc/netplan/01-netcfg.yaml.hydra-disabled"), 0o644);
                assert_eq!(t.read(NETPLAN_FILE), NETPLAN_ETH0);
                assert_eq!(t.mode(NETPLAN_FILE), 0o600);
                assert!(!t.exists(UDEV_GENERATOR));
            },
        );
        assert!(check_detail(&p, "NetworkManager per version").contains("not installed"));
    }

    #[test]
    fn ubuntu2204_desktop_usrmerge_nm_masked_renderer_file_kept() {
        let t = Tree::new();
        t.mkdir("/usr/lib");
        t.link("/lib", "usr/lib");
        nm_systemd(&t, "/lib/systemd/system", true);
        t.file("/etc/netplan/01-network-manager-all.yaml", "# Let NetworkManager manage all devices on this system\nnetwork:\n  version: 2\n  renderer: NetworkManager\n");
        t.file_mode(
            "/etc/netplan/00-installer-config.yaml",
            "network:\n  ethernets:\n    ens33:\n      addresses:\n      - 10.1.2.3/24\n      routes:\n      - to: default\n        via: 10.1.2.1\n  version: 2\n",
            0o600,
        );
        cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Ubuntu, 22, 4, "22.04"),
            |t| {
                assert!(t.exists("/etc/netplan/01-network-manager-all.yaml"));
                assert!(!t.exists("/etc/netplan/00-installer-config.yaml"));
                assert_eq!(
                    t.mode("/etc/netplan/00-installer-config.yaml.hydra-disabled"),
                    0o600
                );
                assert_eq!(t.read(NETPLAN_FILE), NETPLAN_ETH0);
                assert_nm_masked(t);
            },
        );
    }

    #[test]
    fn debian7_sysv_allow_hotplug_static() {
        let t = Tree::new();
        udev_generator(&t);
        t.file_mode("/sbin/ifup", "", 0o755);
        t.file(
            "/etc/network/interfaces",
            "# The loopback network interface\nauto lo\niface lo inet loopback\n\n# The primary network interface\nallow-hotplug eth0\niface eth0 inet static\n\taddress 10.1.2.3\n\tnetmask 255.255.255.0\n\tgateway 10.1.2.1\n",
        );
        cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Debian, 7, 11, "7.11"),
            |t| {
                assert_eq!(
                t.read("/etc/network/interfaces"),
                "# The loopback network interface\nauto lo\niface lo inet loopback\n\n# The primary network interface\n# hydra-disabled: allow-hotplug eth0\n# hydra-disabled: iface eth0 inet static\n# hydra-disabled: address 10.1.2.3\n# hydra-disabled: netmask 255.255.255.0\n# hydra-disabled: gateway 10.1.2.1\n\n# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\nauto eth0\niface eth0 inet dhcp\n"
            );
                assert_eq!(t.target(UDEV_GENERATOR), Some(PathBuf::from("/dev/null")));
            },
        );
    }

    #[test]
    fn debian11_interfaces_d_stanzas_commented() {
        let t = Tree::new();
        t.file_mode("/sbin/ifup", "", 0o755);
        t.file(
            "/etc/network/interfaces",
            "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug ens192\niface ens192 inet static\n\taddress 10.1.2.3/24\n",
        );
        t.file(
            "/etc/network/interfaces.d/ens224",
            "auto ens224\niface ens224 inet dhcp\n",
        );
        cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Debian, 11, 7, "11.7"),
            |t| {
                assert_eq!(
                t.read("/etc/network/interfaces"),
                "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n# hydra-disabled: allow-hotplug ens192\n# hydra-disabled: iface ens192 inet static\n# hydra-disabled: address 10.1.2.3/24\n\n# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\nauto eth0\niface eth0 inet dhcp\n"
            );
                assert_eq!(
                    t.read("/etc/network/interfaces.d/ens224"),
                    "# hydra-disabled: auto ens224\n# hydra-disabled: iface ens224 inet dhcp\n"
                );
            },
        );
    }

    #[test]
    fn debian12_cloud_eth0_in_interfaces_d_not_duplicated() {
        let t = Tree::new();
        t.file_mode("/usr/sbin/ifup", "", 0o755);
        t.file(
            "/etc/network/interfaces",
            "source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n",
        );
        t.file(
            "/etc/network/interfaces.d/50-cloud-init",
            "auto eth0\nallow-hotplug eth0\niface eth0 inet dhcp\n",
        );
        cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Debian, 12, 0, "12"),
            |t| {
                assert_eq!(
                t.read("/etc/network/interfaces"),
                "source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n\n# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\nauto eth0\niface eth0 inet dhcp\n"
            );
                assert_eq!(
                t.read("/etc/network/interfaces.d/50-cloud-init"),
                "# hydra-disabled: auto eth0\n# hydra-disabled: allow-hotplug eth0\n# hydra-disabled: iface eth0 inet dhcp\n"
            );
            },
        );
    }

    #[test]
    fn kali_nm_kept_eth0_appended() {
        let t = Tree::new();
        t.file_mode("/usr/sbin/ifup", "", 0o755);
        nm_systemd(&t, "/lib/systemd/system", true);
        t.file("/etc/network/interfaces", "# This file describes the network interfaces available on your system\n\nsource /etc/network/interfaces.d/*\n\n# The loopback network interface\nauto lo\niface lo inet loopback\n");
        let p = cycle(
            &Network,
            &t,
            &os(Family::Debian, Distro::Kali, 2022, 1, "2022.1"),
            |t| {
                assert!(t.read("/etc/network/interfaces").ends_with("iface lo inet loopback\n\n# The Azure NIC (Hyper-V hv_netvsc), written by Hydra\nauto eth0\niface eth0 inet dhcp\n"));
                assert_nm_enabled_untouched(t);
            },
        );
        assert!(check_detail(&p, "NetworkManager per version").contains("kept"));
    }

    #[test]
    fn unknown_family_only_udev() {
        let t = Tree::new();
        let p = plan(
            &Network,
            &t,
            &os(Family::Unknown, Distro::Other("x".into()), 1, 0, "1"),
        );
        assert!(p.changes.is_empty());
        assert_eq!(p.warnings.len(), 1);
    }
}
