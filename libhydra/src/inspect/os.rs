//! Which operating system a guest tree holds (L3) and whether it is a supported row.
//!
//! [`identify`] follows libguestfs (`daemon/inspect_fs_unix.ml`,
//! `linux_root_tests`), which tries the release files in this order and stops
//! at the first that identifies the system:
//!
//! 1. `/etc/os-release` (or, only when that is missing, `/usr/lib/os-release`,
//!    as os-release(5) says). It decides when it names the distribution (`ID=`)
//!    and a numeric `VERSION_ID`; it is *too vague* when `VERSION_ID` is missing
//!    (Debian testing) or, for Debian and CentOS, has no minor (`VERSION_ID="7"`):
//!    libguestfs then goes on to the legacy files, and so do we;
//! 2. `/etc/lsb-release` with `DISTRIB_ID=Ubuntu` (RHEL/CentOS 6 write an
//!    lsb-release holding only `LSB_VERSION`: not used);
//! 3. `/etc/oracle-release` (before redhat-release, which Oracle Linux also
//!    ships, naming Red Hat: Oracle wins);
//! 4. `/etc/centos-release` (CentOS also ships redhat-release);
//! 5. `/etc/redhat-release` (RHEL, CentOS, Oracle, or generic Red Hat-based),
//!    then `/etc/system-release` (same format);
//! 6. `/etc/debian_version` (`7.11`; `bookworm/sid` on testing reads as 12);
//! 7. `/etc/SuSE-release` (SLES 11 has only this: `VERSION = 11`,
//!    `PATCHLEVEL = 3` -> 11.3).
//!
//! When os-release was too vague, only a legacy file naming the *same*
//! distribution refines it (`centos-release` gives CentOS 7 its 7.9,
//! `debian_version` gives Debian 7 its 7.11); os-release's distribution stands.
//! Unlike libguestfs we also read `ID=ol` (Oracle Linux) from os-release.
//!
//! A Linux tree without any of these files is looked at as Windows
//! (`Windows/System32/config/SYSTEM`, case-insensitively); its version comes
//! from the registry, which this module does not read.
//!
//! Every file is read through [`GuestRoot`]: symlinks (`/etc/os-release ->
//! ../usr/lib/os-release`, or absolute ones) resolve inside the guest. A file
//! that is absent counts as absent; one that cannot be used (a symlink loop, a
//! refused magic link, a directory, larger than
//! [`MAX_RELEASE_FILE`]) is noted and
//! skipped, so `/usr/lib/os-release` is used when `/etc/os-release` is such a
//! link; any other read error (EIO, EACCES) is returned.

use std::fmt;

use serde::Serialize;

use super::InspectError;
use crate::format::release::{
    self, DebianVersion, NumericVersion, OsRelease, RhProduct, SuseProduct, MAX_RELEASE_FILE,
};
use crate::guest::{GuestError, GuestRoot};

/// The os-release file systemd and the spec put first.
pub const OS_RELEASE: &str = "/etc/os-release";
/// The vendor os-release, read only when [`OS_RELEASE`] is missing.
pub const USR_OS_RELEASE: &str = "/usr/lib/os-release";
/// Ubuntu's lsb-release.
pub const LSB_RELEASE: &str = "/etc/lsb-release";
/// Oracle Linux's release line.
pub const ORACLE_RELEASE: &str = "/etc/oracle-release";
/// CentOS's release line.
pub const CENTOS_RELEASE: &str = "/etc/centos-release";
/// The Red Hat family's release line.
pub const REDHAT_RELEASE: &str = "/etc/redhat-release";
/// Another name of the Red Hat family's release line.
pub const SYSTEM_RELEASE: &str = "/etc/system-release";
/// Debian's point release.
pub const DEBIAN_VERSION: &str = "/etc/debian_version";
/// SUSE's release file before os-release.
pub const SUSE_RELEASE: &str = "/etc/SuSE-release";
/// The registry hive that marks a Windows system volume (looked up case-insensitively).
pub const WINDOWS_SYSTEM_HIVE: &str = "/Windows/System32/config/SYSTEM";

/// The family of a guest OS: what tools and config layouts its hydration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Family {
    /// RHEL, CentOS, Oracle Linux and other Red Hat derivatives (dracut, ifcfg).
    RedHat,
    /// SLES and openSUSE (dracut or mkinitrd, wicked/ifcfg).
    Suse,
    /// Debian, Ubuntu, Kali (update-initramfs, interfaces/netplan).
    Debian,
    /// Windows.
    Windows,
    /// Anything else.
    Unknown,
}

/// The distribution of a guest OS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Distro {
    /// Red Hat Enterprise Linux.
    Rhel,
    /// CentOS Linux (6, 7, 8).
    Centos,
    /// CentOS Stream.
    CentosStream,
    /// Oracle Linux.
    OracleLinux,
    /// SUSE Linux Enterprise Server.
    Sles,
    /// Ubuntu.
    Ubuntu,
    /// Debian.
    Debian,
    /// Kali Linux.
    Kali,
    /// Any other: the os-release `ID` (`almalinux`, `opensuse-leap`), the
    /// product of a legacy release file (`Scientific Linux`, `openSUSE`), or
    /// `Windows`.
    Other(String),
}

impl Distro {
    /// The name used in messages: `RHEL`, `CentOS Stream`, `SLES`, ...
    pub fn name(&self) -> &str {
        match self {
            Distro::Rhel => "RHEL",
            Distro::Centos => "CentOS",
            Distro::CentosStream => "CentOS Stream",
            Distro::OracleLinux => "Oracle Linux",
            Distro::Sles => "SLES",
            Distro::Ubuntu => "Ubuntu",
            Distro::Debian => "Debian",
            Distro::Kali => "Kali",
            Distro::Other(s) => s,
        }
    }

    /// The family of the named distributions; `None` for [`Distro::Other`].
    pub fn family(&self) -> Option<Family> {
        match self {
            Distro::Rhel | Distro::Centos | Distro::CentosStream | Distro::OracleLinux => {
                Some(Family::RedHat)
            }
            Distro::Sles => Some(Family::Suse),
            Distro::Ubuntu | Distro::Debian | Distro::Kali => Some(Family::Debian),
            Distro::Other(_) => None,
        }
    }
}

impl fmt::Display for Distro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A release version.
///
/// `major.minor` as numbers, with the text it came from: Ubuntu `22.04` is
/// 22, 4 (raw `22.04`); a SLES service pack is the minor (15 SP4 is 15, 4);
/// Kali `2022.1` is 2022, 1; CentOS `7.9.2009` is 7, 9. A missing minor is 0
/// (`VERSION_ID="12"`: 12, 0, raw `12`). An unknown version is 0, 0 with an
/// empty `raw` ([`Version::is_known`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number (service pack on SLES), 0 when absent.
    pub minor: u32,
    /// The version as the deciding file wrote it (`22.04`, `7.9.2009`,
    /// `bookworm/sid`); for SuSE-release `11.3` from VERSION and PATCHLEVEL.
    pub raw: String,
}

impl Version {
    /// Whether the version is known (`raw` is not empty).
    pub fn is_known(&self) -> bool {
        !self.raw.is_empty()
    }

    fn from_numeric(n: NumericVersion, raw: &str) -> Self {
        Version {
            major: n.major,
            minor: n.minor.unwrap_or(0),
            raw: raw.trim().to_string(),
        }
    }

    /// The version as written for `distro`: `22.04`, `15 SP4`, `7.9.2009`,
    /// `(version unknown)`.
    pub fn display_for(&self, distro: &Distro) -> String {
        if !self.is_known() {
            return "(version unknown)".to_string();
        }
        match distro {
            Distro::Sles if self.minor == 0 => self.major.to_string(),
            Distro::Sles => format!("{} SP{}", self.major, self.minor),
            Distro::Ubuntu => format!("{}.{:02}", self.major, self.minor),
            _ => self.raw.clone(),
        }
    }
}

/// What [`identify`] found in a guest tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsIdentity {
    /// The family (from the distribution, else from os-release `ID_LIKE`).
    pub family: Family,
    /// The distribution.
    pub distro: Distro,
    /// The version.
    pub version: Version,
    /// A human name: os-release `PRETTY_NAME`, or the release line that
    /// decided (`CentOS Linux release 7.9.2009 (Core)`).
    pub pretty: String,
    /// The guest files that decided, in the order they were used
    /// (`["/etc/os-release", "/etc/centos-release"]`).
    pub sources: Vec<String>,
}

impl fmt::Display for OsIdentity {
    /// `Ubuntu 22.04`, `SLES 15 SP4`, `CentOS 7.9.2009`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.distro,
            self.version.display_for(&self.distro)
        )
    }
}

/// The guest is not one of the supported rows (REQUIREMENTS.md, "Supported
/// guests"). The message names what was found and what is supported:
/// `Ubuntu 23.10 is not a supported guest (supported Ubuntu: 14.04-22.04); use
/// --force to proceed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{found} is not a supported guest (supported {allowed}); use --force to proceed")]
pub struct Unsupported {
    /// What was found (`Ubuntu 23.10`, `AlmaLinux 9.1 (Lime Lynx)`).
    pub found: String,
    /// The supported versions of that distribution, or all supported guests
    /// (`Ubuntu: 14.04-22.04`).
    pub allowed: String,
}

/// Every supported row, for messages about other distributions.
const ALL_SUPPORTED: &str = "guests: RHEL 6-9, CentOS 6, 7, 8, CentOS Stream 8, 9, \
    Oracle Linux 6-9, SLES 11 SP3, 11 SP4, 12, 15 SP0-SP4, Ubuntu 14.04-22.04, \
    Debian 7-12, Kali 2016-2022, Windows Server 2008 and later";

/// Whether `id` is a supported row: RHEL 6-9; CentOS 6, 7, 8; CentOS Stream
/// 8, 9; Oracle Linux 6-9; SLES 11 SP3/SP4, 12 (any service pack), 15
/// SP0-SP4; Ubuntu 14.04-22.04 (interim releases between included); Debian
/// 7-12; Kali 2016-2022 (any point release of those years). A Linux
/// distribution whose version is unknown is not supported.
///
/// Windows: Server 2008 (NT 6.0) and later. [`identify`] does not read the
/// registry, so a Windows identity with an unknown version passes here; the
/// Windows steps check the version from the SYSTEM/SOFTWARE hives.
pub fn supported(id: &OsIdentity) -> Result<(), Unsupported> {
    let v = &id.version;
    let known = v.is_known();
    let (major, minor) = (v.major, v.minor);
    let (ok, allowed) = match &id.distro {
        Distro::Rhel => (known && (6..=9).contains(&major), "RHEL: 6-9"),
        Distro::Centos => (
            known && (6..=8).contains(&major),
            "CentOS: 6, 7, 8 (and CentOS Stream 8, 9)",
        ),
        Distro::CentosStream => (known && (8..=9).contains(&major), "CentOS Stream: 8, 9"),
        Distro::OracleLinux => (known && (6..=9).contains(&major), "Oracle Linux: 6-9"),
        Distro::Sles => (
            known
                && match major {
                    11 => minor == 3 || minor == 4,
                    12 => true,
                    15 => minor <= 4,
                    _ => false,
                },
            "SLES: 11 SP3, 11 SP4, 12, 15 SP0-SP4",
        ),
        Distro::Ubuntu => (
            known && (14, 4) <= (major, minor) && (major, minor) <= (22, 4),
            "Ubuntu: 14.04-22.04",
        ),
        Distro::Debian => (known && (7..=12).contains(&major), "Debian: 7-12"),
        Distro::Kali => (known && (2016..=2022).contains(&major), "Kali: 2016-2022"),
        Distro::Other(_) if id.family == Family::Windows => (
            !known || major >= 6,
            "Windows: Server 2008 (NT 6.0) and later",
        ),
        Distro::Other(_) => (false, ALL_SUPPORTED),
    };
    if ok {
        return Ok(());
    }
    let found = match &id.distro {
        Distro::Other(_) if !id.pretty.is_empty() && id.family != Family::Windows => {
            id.pretty.clone()
        }
        _ => id.to_string(),
    };
    Err(Unsupported {
        found,
        allowed: allowed.to_string(),
    })
}

/// Identify the OS of the guest tree `guest` from its release files (see the
/// module docs for the order). An I/O error reading a file is returned; no
/// identifying file at all is [`InspectError::UnknownOs`], listing every file
/// looked at and what was there.
pub fn identify(guest: &GuestRoot) -> Result<OsIdentity, InspectError> {
    let mut r = Reader::new(guest);

    let mut from_os = None;
    for path in [OS_RELEASE, USR_OS_RELEASE] {
        if let Some(text) = r.read(path)? {
            let o = OsRelease::parse(&text);
            from_os = from_os_release(path, &o);
            match &from_os {
                Some(f) => r.note(path, format!("names {}", f.distro)),
                None => r.note(path, "read, but it has no ID="),
            }
            break; // os-release(5): /usr/lib only when /etc has none
        }
    }

    let found = match from_os {
        Some(f) if !f.is_vague() => f,
        os => {
            let want = os
                .as_ref()
                .map(|f| f.distro.clone())
                .filter(|d| !matches!(d, Distro::Other(_)));
            let legacy = legacy_chain(&mut r, want.as_ref())?;
            match (os, legacy) {
                (Some(o), Some(l)) => merge(o, l),
                (Some(o), None) => o,
                (None, Some(l)) => l,
                (None, None) => match windows(guest, &mut r)? {
                    Some(w) => w,
                    None => {
                        return Err(InspectError::UnknownOs {
                            root: guest.host_path().to_path_buf(),
                            looked_at: r.looked_at(),
                        })
                    }
                },
            }
        }
    };
    let id = found.finish();
    tracing::debug!(os = %id, sources = ?id.sources, "guest OS identified");
    Ok(id)
}

// ----- internals ---------------------------------------------------------------

/// An identification in progress.
#[derive(Debug)]
struct Found {
    distro: Distro,
    version: Option<Version>,
    /// Whether the version text had a minor (`7.9`, not `7`).
    minor_known: bool,
    pretty: Option<String>,
    family_hint: Option<Family>,
    sources: Vec<String>,
}

impl Found {
    fn new(distro: Distro, source: &str) -> Self {
        Found {
            distro,
            version: None,
            minor_known: false,
            pretty: None,
            family_hint: None,
            sources: vec![source.to_string()],
        }
    }

    fn version(mut self, n: Option<NumericVersion>, raw: Option<&str>) -> Self {
        if let (Some(n), Some(raw)) = (n, raw) {
            self.version = Some(Version::from_numeric(n, raw));
            self.minor_known = n.minor.is_some();
        }
        self
    }

    fn pretty(mut self, p: Option<impl Into<String>>) -> Self {
        self.pretty = p.map(Into::into).filter(|p: &String| !p.is_empty());
        self
    }

    fn family(mut self, f: Family) -> Self {
        self.family_hint = Some(f);
        self
    }

    /// Too vague to stop at (libguestfs: Debian and CentOS write only the
    /// major in `VERSION_ID`; no version at all).
    fn is_vague(&self) -> bool {
        self.version.is_none()
            || (matches!(
                self.distro,
                Distro::Debian | Distro::Centos | Distro::CentosStream
            ) && !self.minor_known)
    }

    fn finish(self) -> OsIdentity {
        let family = self
            .distro
            .family()
            .or(self.family_hint)
            .unwrap_or(Family::Unknown);
        let version = self.version.unwrap_or_default();
        let pretty = self
            .pretty
            .unwrap_or_else(|| format!("{} {}", self.distro, version.display_for(&self.distro)));
        OsIdentity {
            family,
            distro: self.distro,
            version,
            pretty,
            sources: self.sources,
        }
    }
}

/// The identity os-release gives, if it has an `ID`.
fn from_os_release(path: &str, o: &OsRelease) -> Option<Found> {
    let id = o.id()?.trim().to_ascii_lowercase();
    let says_stream =
        |s: Option<&str>| s.is_some_and(|s| s.to_ascii_lowercase().contains("stream"));
    let distro = match id.as_str() {
        "rhel" => Distro::Rhel,
        "centos" if says_stream(o.name()) || says_stream(o.pretty_name()) => Distro::CentosStream,
        "centos" => Distro::Centos,
        "ol" => Distro::OracleLinux,
        "sles" => Distro::Sles,
        "ubuntu" => Distro::Ubuntu,
        "debian" => Distro::Debian,
        "kali" => Distro::Kali,
        _ => Distro::Other(id.clone()),
    };
    let vid = o.version_id();
    let pretty = o.pretty_name().map(str::to_string).or_else(|| {
        o.name().map(|n| match o.version() {
            Some(v) => format!("{n} {v}"),
            None => n.to_string(),
        })
    });
    let mut f = Found::new(distro, path)
        .version(vid.and_then(release::parse_numeric_version), vid)
        .pretty(pretty);
    f.family_hint = std::iter::once(id.as_str())
        .chain(o.id_like())
        .find_map(family_of_id);
    Some(f)
}

/// The family an os-release `ID` or `ID_LIKE` word stands for.
fn family_of_id(id: &str) -> Option<Family> {
    match id {
        "rhel" | "fedora" | "centos" => Some(Family::RedHat),
        "suse" | "opensuse" | "sles" => Some(Family::Suse),
        "debian" | "ubuntu" => Some(Family::Debian),
        _ => None,
    }
}

/// One legacy release file and how it is read.
#[derive(Debug, Clone, Copy)]
enum Legacy {
    Lsb,
    Oracle,
    Centos,
    Redhat,
    System,
    Debian,
    Suse,
}

/// The legacy files in libguestfs's order (after os-release).
const LEGACY: [Legacy; 7] = [
    Legacy::Lsb,
    Legacy::Oracle,
    Legacy::Centos,
    Legacy::Redhat,
    Legacy::System,
    Legacy::Debian,
    Legacy::Suse,
];

impl Legacy {
    fn path(self) -> &'static str {
        match self {
            Legacy::Lsb => LSB_RELEASE,
            Legacy::Oracle => ORACLE_RELEASE,
            Legacy::Centos => CENTOS_RELEASE,
            Legacy::Redhat => REDHAT_RELEASE,
            Legacy::System => SYSTEM_RELEASE,
            Legacy::Debian => DEBIAN_VERSION,
            Legacy::Suse => SUSE_RELEASE,
        }
    }

    /// What this file says, if it identifies a system.
    fn parse(self, text: &str) -> Option<Found> {
        let path = self.path();
        match self {
            Legacy::Lsb => {
                let l = release::parse_lsb_release(text);
                if !l.distrib_id.as_deref()?.eq_ignore_ascii_case("ubuntu") {
                    return None;
                }
                let rel = l.distrib_release.as_deref();
                Some(
                    Found::new(Distro::Ubuntu, path)
                        .version(rel.and_then(release::parse_numeric_version), rel)
                        .pretty(l.distrib_description),
                )
            }
            Legacy::Oracle => rh_line(path, text, |p| p == RhProduct::OracleLinux),
            Legacy::Centos => rh_line(path, text, |p| {
                matches!(p, RhProduct::Centos | RhProduct::CentosStream)
            }),
            Legacy::Redhat | Legacy::System => rh_line(path, text, |_| true).or_else(|| {
                // libguestfs: a redhat-release it cannot read still means a
                // Red Hat-based system.
                let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
                Some(
                    Found::new(Distro::Other(line.to_string()), path)
                        .pretty(Some(line))
                        .family(Family::RedHat),
                )
            }),
            Legacy::Debian => Some(match release::parse_debian_version(text)? {
                DebianVersion::Numbered { version, raw } => {
                    Found::new(Distro::Debian, path).version(Some(version), Some(&raw))
                }
                DebianVersion::Named(name) if name.to_ascii_lowercase().starts_with("kali") => {
                    Found::new(Distro::Kali, path)
                }
                DebianVersion::Named(name) => {
                    let major = release::debian_codename_major(&name);
                    Found::new(Distro::Debian, path).version(
                        major.map(|major| NumericVersion { major, minor: None }),
                        Some(&name),
                    )
                }
            }),
            Legacy::Suse => {
                let s = release::parse_suse_release(text)?;
                let f = match s.product {
                    SuseProduct::Sles => {
                        let pl = s.patchlevel.unwrap_or(0);
                        let raw = s.version.map(|v| format!("{}.{pl}", v.major));
                        let n = s.version.map(|v| NumericVersion {
                            major: v.major,
                            minor: Some(pl),
                        });
                        let product = match s.name.rfind(" (") {
                            Some(i) if s.name.ends_with(')') => &s.name[..i],
                            _ => s.name.as_str(),
                        };
                        let pretty = if pl > 0 {
                            format!("{product} SP{pl}")
                        } else {
                            product.to_string()
                        };
                        Found::new(Distro::Sles, path)
                            .version(n, raw.as_deref())
                            .pretty(Some(pretty))
                    }
                    other => {
                        let name = match other {
                            SuseProduct::Sled => "SLED".to_string(),
                            SuseProduct::OpenSuse => "openSUSE".to_string(),
                            _ => s.name.clone(),
                        };
                        let raw = s
                            .version
                            .map(|v| format!("{}.{}", v.major, v.minor.unwrap_or(0)));
                        Found::new(Distro::Other(name), path)
                            .version(s.version, raw.as_deref())
                            .pretty(Some(s.name.clone()))
                    }
                };
                Some(f.family(Family::Suse))
            }
        }
    }
}

/// A `*-release` line whose product `accept` takes.
fn rh_line(path: &str, text: &str, accept: impl Fn(RhProduct) -> bool) -> Option<Found> {
    let r = release::parse_redhat_release(text)?;
    if !accept(r.product) {
        return None;
    }
    let distro = match r.product {
        RhProduct::Rhel => Distro::Rhel,
        RhProduct::Centos => Distro::Centos,
        RhProduct::CentosStream => Distro::CentosStream,
        RhProduct::OracleLinux => Distro::OracleLinux,
        RhProduct::Fedora | RhProduct::Scientific | RhProduct::Other => {
            Distro::Other(r.name.clone())
        }
    };
    Some(
        Found::new(distro, path)
            .version(r.version, r.version_text.as_deref())
            .pretty(Some(r.line))
            .family(Family::RedHat),
    )
}

/// Whether a legacy file naming `got` may refine an os-release naming `want`.
fn compatible(want: &Distro, got: &Distro) -> bool {
    want == got
        || matches!(
            (want, got),
            (Distro::Centos, Distro::CentosStream) | (Distro::CentosStream, Distro::Centos)
        )
}

/// Run the legacy files in order; the first that identifies a system (of the
/// distribution `want`, when given) wins.
fn legacy_chain(r: &mut Reader<'_>, want: Option<&Distro>) -> Result<Option<Found>, InspectError> {
    for step in LEGACY {
        let path = step.path();
        let Some(text) = r.read(path)? else {
            continue;
        };
        match step.parse(&text) {
            Some(f) if want.map_or(true, |w| compatible(w, &f.distro)) => {
                r.note(path, format!("names {}", f.distro));
                return Ok(Some(f));
            }
            Some(f) => r.note(
                path,
                format!(
                    "names {} (ignored: os-release names {})",
                    f.distro,
                    want.map(Distro::name).unwrap_or_default()
                ),
            ),
            None => r.note(path, format!("not recognised: {:?}", excerpt(&text))),
        }
    }
    Ok(None)
}

/// Combine a too-vague os-release with the legacy file that refines it.
fn merge(os: Found, legacy: Found) -> Found {
    if matches!(os.distro, Distro::Other(_)) {
        // os-release named something we do not know and had no version: the
        // legacy file decides alone (libguestfs overwrites the distro too).
        return legacy;
    }
    let refines = match (&os.version, &legacy.version) {
        (None, Some(_)) => true,
        (Some(o), Some(l)) if legacy.minor_known && o.major == l.major => true,
        (Some(o), Some(l)) if legacy.minor_known => {
            tracing::warn!(
                os_release = %o.raw,
                legacy = %l.raw,
                file = %legacy.sources.join(","),
                "release files disagree on the major version; keeping os-release's"
            );
            false
        }
        _ => false,
    };
    if !refines {
        return os;
    }
    let mut sources = os.sources;
    sources.extend(legacy.sources);
    Found {
        // os-release's distribution stands (it was compatible with the file).
        distro: os.distro,
        minor_known: legacy.minor_known,
        version: legacy.version,
        // A release line carrying the full version is the better name.
        pretty: legacy.pretty.or(os.pretty),
        family_hint: os.family_hint.or(legacy.family_hint),
        sources,
    }
}

/// A Windows system volume, when its SYSTEM hive is there.
fn windows(guest: &GuestRoot, r: &mut Reader<'_>) -> Result<Option<Found>, InspectError> {
    match guest.find_case_insensitive(WINDOWS_SYSTEM_HIVE) {
        Ok(p) => Ok(Some(
            Found::new(Distro::Other("Windows".into()), &p.display().to_string())
                .pretty(Some("Windows"))
                .family(Family::Windows),
        )),
        Err(e) if is_absent(&e) => {
            r.note(WINDOWS_SYSTEM_HIVE, "absent");
            Ok(None)
        }
        Err(e) if is_unusable(&e) || matches!(e, GuestError::Ambiguous { .. }) => {
            r.note(WINDOWS_SYSTEM_HIVE, format!("unusable ({e})"));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads release files and remembers what it saw, for the unknown-OS error.
struct Reader<'a> {
    guest: &'a GuestRoot,
    notes: Vec<(&'static str, String)>,
}

impl<'a> Reader<'a> {
    fn new(guest: &'a GuestRoot) -> Self {
        Reader {
            guest,
            notes: Vec::new(),
        }
    }

    /// The text of `path` (lossily decoded), `None` when absent or unusable.
    fn read(&mut self, path: &'static str) -> Result<Option<String>, InspectError> {
        match self.guest.read_capped(path, MAX_RELEASE_FILE) {
            Ok(bytes) => {
                self.note(path, "read");
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(e) if is_absent(&e) => {
                self.note(path, "absent");
                Ok(None)
            }
            Err(e) if is_unusable(&e) => {
                tracing::warn!(file = path, error = %e, "guest release file skipped");
                self.note(path, format!("unusable ({e})"));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Record (or replace) what was seen at `path`.
    fn note(&mut self, path: &'static str, what: impl Into<String>) {
        let what = what.into();
        match self.notes.iter_mut().find(|(p, _)| *p == path) {
            Some(n) => n.1 = what,
            None => self.notes.push((path, what)),
        }
    }

    fn looked_at(&self) -> Vec<String> {
        self.notes
            .iter()
            .map(|(p, w)| format!("{p}: {w}"))
            .collect()
    }
}

/// The file (or a directory on the way) does not exist.
fn is_absent(e: &GuestError) -> bool {
    e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The file exists but cannot be a release file: a symlink loop, a refused
/// magic link, not a regular file, too large.
fn is_unusable(e: &GuestError) -> bool {
    matches!(
        e,
        GuestError::SymlinkEscape { .. }
            | GuestError::SymlinkLoop { .. }
            | GuestError::TooLarge { .. }
            | GuestError::Invalid { .. }
    ) || e.raw_os_error() == Some(libc::ELOOP)
}

/// The first line of `text`, at most 80 characters, for messages.
fn excerpt(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests;
