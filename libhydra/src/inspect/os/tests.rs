//! Tests of OS identification: real release files in temp guest trees, read through `GuestRoot`.

use super::*;
use crate::format::release::vectors::*;
use crate::guest::Resolver;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use proptest::prelude::*;

/// A guest tree in a temp dir: `files` are (guest path, content), `links` are
/// (guest path of the link, target text).
fn tree(files: &[(&str, &str)], links: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (p, content) in files {
        let full = root.join(p.trim_start_matches('/'));
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, content).unwrap();
    }
    for (p, target) in links {
        let full = root.join(p.trim_start_matches('/'));
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        symlink(target, &full).unwrap();
    }
    tmp
}

/// The tree opened with each resolver (openat2 when the kernel has it, and the
/// userspace walker).
fn roots(dir: &Path) -> Vec<GuestRoot> {
    [Resolver::Auto, Resolver::UserspaceWalk]
        .into_iter()
        .map(|r| GuestRoot::open_with(dir, r).unwrap())
        .collect()
}

fn identify_all(files: &[(&str, &str)], links: &[(&str, &str)]) -> OsIdentity {
    let t = tree(files, links);
    let mut got = roots(t.path())
        .iter()
        .map(|g| identify(g).unwrap())
        .collect::<Vec<_>>();
    let first = got.remove(0);
    for other in got {
        assert_eq!(first, other, "resolvers disagree");
    }
    first
}

/// One supported (or deliberately unsupported) row.
struct Row {
    name: &'static str,
    files: Vec<(&'static str, &'static str)>,
    links: Vec<(&'static str, &'static str)>,
    distro: Distro,
    family: Family,
    version: (u32, u32, &'static str),
    sources: Vec<&'static str>,
    supported: bool,
}

fn row(
    name: &'static str,
    files: &[(&'static str, &'static str)],
    distro: Distro,
    version: (u32, u32, &'static str),
    sources: &[&'static str],
) -> Row {
    Row {
        name,
        files: files.to_vec(),
        links: Vec::new(),
        family: distro.family().unwrap_or(Family::Unknown),
        distro,
        version,
        sources: sources.to_vec(),
        supported: true,
    }
}

impl Row {
    fn links(mut self, links: &[(&'static str, &'static str)]) -> Self {
        self.links = links.to_vec();
        self
    }
    fn unsupported(mut self) -> Self {
        self.supported = false;
        self
    }
    fn family(mut self, f: Family) -> Self {
        self.family = f;
        self
    }
}

const OSR: &str = OS_RELEASE;
const USR: &str = USR_OS_RELEASE;
/// The modern layout: /etc/os-release is a relative link to the vendor file.
const OSR_LINK: (&str, &str) = (OS_RELEASE, "../usr/lib/os-release");

fn rows() -> Vec<Row> {
    use Distro::*;
    let other = |s: &str| Other(s.to_string());
    vec![
        // ----- RHEL 6-9
        row(
            "RHEL 6.7: redhat-release only; lsb-release with LSB_VERSION only",
            &[
                (REDHAT_RELEASE, RHEL_6_7_REDHAT_RELEASE),
                (SYSTEM_RELEASE, RHEL_6_7_REDHAT_RELEASE),
                (LSB_RELEASE, EL6_LSB_RELEASE),
            ],
            Rhel,
            (6, 7, "6.7"),
            &[REDHAT_RELEASE],
        ),
        row(
            "RHEL 7.7",
            &[
                (OSR, RHEL_7_7_OS_RELEASE),
                (REDHAT_RELEASE, RHEL_7_7_REDHAT_RELEASE),
            ],
            Rhel,
            (7, 7, "7.7"),
            &[OSR],
        ),
        row(
            "RHEL 8.7",
            &[
                (OSR, RHEL_8_7_OS_RELEASE),
                (REDHAT_RELEASE, RHEL_8_7_REDHAT_RELEASE),
            ],
            Rhel,
            (8, 7, "8.7"),
            &[OSR],
        ),
        row(
            "RHEL 9.6",
            &[(USR, RHEL_9_6_OS_RELEASE)],
            Rhel,
            (9, 6, "9.6"),
            &[OSR],
        )
        .links(&[OSR_LINK]),
        row(
            "RHEL 9.0 line without os-release",
            &[(REDHAT_RELEASE, RHEL_9_0_REDHAT_RELEASE)],
            Rhel,
            (9, 0, "9.0"),
            &[REDHAT_RELEASE],
        ),
        // ----- CentOS 6, 7, 8, Stream
        row(
            "CentOS 6.7",
            &[
                (REDHAT_RELEASE, CENTOS_6_7_REDHAT_RELEASE),
                (SYSTEM_RELEASE, CENTOS_6_7_REDHAT_RELEASE),
                (LSB_RELEASE, EL6_LSB_RELEASE),
            ],
            Centos,
            (6, 7, "6.7"),
            &[REDHAT_RELEASE],
        ),
        row(
            "CentOS 6.10",
            &[(CENTOS_RELEASE, CENTOS_6_10_CENTOS_RELEASE)],
            Centos,
            (6, 10, "6.10"),
            &[CENTOS_RELEASE],
        )
        .links(&[(REDHAT_RELEASE, "centos-release")]),
        row(
            "CentOS 7.9: os-release too vague, centos-release refines",
            &[
                (USR, CENTOS_7_OS_RELEASE),
                (CENTOS_RELEASE, CENTOS_7_9_CENTOS_RELEASE),
            ],
            Centos,
            (7, 9, "7.9.2009"),
            &[OSR, CENTOS_RELEASE],
        )
        .links(&[
            OSR_LINK,
            (REDHAT_RELEASE, "centos-release"),
            (SYSTEM_RELEASE, "centos-release"),
        ]),
        row(
            "CentOS 8.1",
            &[
                (OSR, CENTOS_8_1_OS_RELEASE),
                (CENTOS_RELEASE, CENTOS_8_1_CENTOS_RELEASE),
                (REDHAT_RELEASE, CENTOS_8_1_CENTOS_RELEASE),
                (SYSTEM_RELEASE, CENTOS_8_1_CENTOS_RELEASE),
            ],
            Centos,
            (8, 1, "8.1.1911"),
            &[OSR, CENTOS_RELEASE],
        ),
        row(
            "CentOS Stream 8",
            &[
                (OSR, CENTOS_STREAM_8_OS_RELEASE),
                (USR, CENTOS_STREAM_8_OS_RELEASE),
                (CENTOS_RELEASE, CENTOS_STREAM_8_CENTOS_RELEASE),
                (REDHAT_RELEASE, CENTOS_STREAM_8_CENTOS_RELEASE),
                (SYSTEM_RELEASE, CENTOS_STREAM_8_CENTOS_RELEASE),
            ],
            CentosStream,
            (8, 0, "8"),
            &[OSR],
        ),
        row(
            "CentOS Stream 9",
            &[(USR, CENTOS_STREAM_9_OS_RELEASE)],
            CentosStream,
            (9, 0, "9"),
            &[OSR],
        )
        .links(&[OSR_LINK]),
        // ----- Oracle Linux 6-9
        row(
            "Oracle Linux 6.10 (blanks after values)",
            &[
                (OSR, OL_6_10_OS_RELEASE),
                (ORACLE_RELEASE, OL_6_10_ORACLE_RELEASE),
                (REDHAT_RELEASE, OL_6_10_REDHAT_RELEASE),
            ],
            OracleLinux,
            (6, 10, "6.10"),
            &[OSR],
        ),
        row(
            "Oracle Linux 6.10 without os-release: oracle-release beats redhat-release",
            &[
                (ORACLE_RELEASE, OL_6_10_ORACLE_RELEASE),
                (REDHAT_RELEASE, OL_6_10_REDHAT_RELEASE),
            ],
            OracleLinux,
            (6, 10, "6.10"),
            &[ORACLE_RELEASE],
        ),
        row(
            "Oracle Linux 7.7",
            &[(OSR, OL_7_7_OS_RELEASE)],
            OracleLinux,
            (7, 7, "7.7"),
            &[OSR],
        ),
        row(
            "Oracle Linux 7.9 legacy files",
            &[
                (ORACLE_RELEASE, OL_7_9_ORACLE_RELEASE),
                (REDHAT_RELEASE, OL_7_9_REDHAT_RELEASE),
            ],
            OracleLinux,
            (7, 9, "7.9"),
            &[ORACLE_RELEASE],
        ),
        row(
            "Oracle Linux 8.0",
            &[(OSR, OL_8_0_OS_RELEASE)],
            OracleLinux,
            (8, 0, "8.0"),
            &[OSR],
        ),
        row(
            "Oracle Linux 8.2 oracle-release",
            &[(ORACLE_RELEASE, OL_8_2_ORACLE_RELEASE)],
            OracleLinux,
            (8, 2, "8.2"),
            &[ORACLE_RELEASE],
        ),
        row(
            "Oracle Linux 9.2",
            &[(OSR, OL_9_2_OS_RELEASE)],
            OracleLinux,
            (9, 2, "9.2"),
            &[OSR],
        ),
        // ----- SLES 11 SP3/SP4, 12, 15 SP0-SP4
        row(
            "SLES 11 SP3: SuSE-release only",
            &[(SUSE_RELEASE, SLES_11_3_SUSE_RELEASE)],
            Sles,
            (11, 3, "11.3"),
            &[SUSE_RELEASE],
        ),
        row(
            "SLES 11 SP4",
            &[
                (OSR, SLES_11_4_OS_RELEASE),
                (SUSE_RELEASE, SLES_11_4_SUSE_RELEASE),
            ],
            Sles,
            (11, 4, "11.4"),
            &[OSR],
        ),
        row(
            "SLES 11 SP4: SuSE-release with a leading blank line",
            &[(SUSE_RELEASE, SLES_11_4_SUSE_RELEASE)],
            Sles,
            (11, 4, "11.4"),
            &[SUSE_RELEASE],
        ),
        row(
            "SLES 12",
            &[
                (OSR, SLES_12_0_OS_RELEASE),
                (SUSE_RELEASE, SLES_12_SUSE_RELEASE),
            ],
            Sles,
            (12, 0, "12"),
            &[OSR],
        ),
        row(
            "SLES 12 SP1: stale SuSE-release (PATCHLEVEL = 0) loses to os-release",
            &[
                (OSR, SLES_12_1_OS_RELEASE),
                (SUSE_RELEASE, SLES_12_SUSE_RELEASE),
            ],
            Sles,
            (12, 1, "12.1"),
            &[OSR],
        ),
        row(
            "SLES 12 SP3",
            &[(OSR, SLES_12_3_OS_RELEASE)],
            Sles,
            (12, 3, "12.3"),
            &[OSR],
        ),
        row(
            "SLES 15",
            &[(OSR, SLES_15_0_OS_RELEASE)],
            Sles,
            (15, 0, "15"),
            &[OSR],
        ),
        row(
            "SLES 15 SP1",
            &[(OSR, SLES_15_1_OS_RELEASE)],
            Sles,
            (15, 1, "15.1"),
            &[OSR],
        ),
        row(
            "SLES 15 SP2",
            &[(OSR, SLES_15_2_OS_RELEASE)],
            Sles,
            (15, 2, "15.2"),
            &[OSR],
        ),
        row(
            "SLES 15 SP3",
            &[(OSR, SLES_15_3_OS_RELEASE)],
            Sles,
            (15, 3, "15.3"),
            &[OSR],
        ),
        row(
            "SLES 15 SP4",
            &[(USR, SLES_15_4_OS_RELEASE)],
            Sles,
            (15, 4, "15.4"),
            &[OSR],
        )
        .links(&[OSR_LINK]),
        row(
            "SLES 15 SP6",
            &[(OSR, SLES_15_6_OS_RELEASE)],
            Sles,
            (15, 6, "15.6"),
            &[OSR],
        )
        .unsupported(),
        // ----- Ubuntu 14.04-22.04
        row(
            "Ubuntu 14.04",
            &[
                (OSR, UBUNTU_14_04_OS_RELEASE),
                (LSB_RELEASE, UBUNTU_14_04_LSB_RELEASE),
            ],
            Ubuntu,
            (14, 4, "14.04"),
            &[OSR],
        ),
        row(
            "Ubuntu 14.04 from lsb-release alone",
            &[(LSB_RELEASE, UBUNTU_14_04_LSB_RELEASE)],
            Ubuntu,
            (14, 4, "14.04"),
            &[LSB_RELEASE],
        ),
        row(
            "Ubuntu 16.04",
            &[
                (OSR, UBUNTU_16_04_OS_RELEASE),
                (LSB_RELEASE, UBUNTU_16_04_LSB_RELEASE),
            ],
            Ubuntu,
            (16, 4, "16.04"),
            &[OSR],
        ),
        row(
            "Ubuntu 18.04",
            &[
                (USR, UBUNTU_18_04_OS_RELEASE),
                (LSB_RELEASE, UBUNTU_18_04_LSB_RELEASE),
                (DEBIAN_VERSION, "buster/sid\n"),
            ],
            Ubuntu,
            (18, 4, "18.04"),
            &[OSR],
        )
        .links(&[OSR_LINK]),
        row(
            "Ubuntu 19.10",
            &[
                (OSR, UBUNTU_19_10_OS_RELEASE),
                (LSB_RELEASE, UBUNTU_19_10_LSB_RELEASE),
            ],
            Ubuntu,
            (19, 10, "19.10"),
            &[OSR],
        ),
        row(
            "Ubuntu 20.04",
            &[(OSR, UBUNTU_20_04_OS_RELEASE)],
            Ubuntu,
            (20, 4, "20.04"),
            &[OSR],
        ),
        row(
            "Ubuntu 21.04",
            &[(OSR, UBUNTU_21_04_OS_RELEASE)],
            Ubuntu,
            (21, 4, "21.04"),
            &[OSR],
        ),
        row(
            "Ubuntu 22.04",
            &[(USR, UBUNTU_22_04_OS_RELEASE)],
            Ubuntu,
            (22, 4, "22.04"),
            &[OSR],
        )
        .links(&[OSR_LINK]),
        row(
            "Ubuntu 23.10",
            &[(OSR, UBUNTU_23_10_OS_RELEASE)],
            Ubuntu,
            (23, 10, "23.10"),
            &[OSR],
        )
        .unsupported(),
        // ----- Debian 7-12
        row(
            "Debian 7: os-release VERSION_ID=7, debian_version refines",
            &[
                (OSR, DEBIAN_7_OS_RELEASE),
                (DEBIAN_VERSION, DEBIAN_7_11_DEBIAN_VERSION),
            ],
            Debian,
            (7, 11, "7.11"),
            &[OSR, DEBIAN_VERSION],
        ),
        row(
            "Debian 7 without os-release",
            &[(DEBIAN_VERSION, DEBIAN_7_11_DEBIAN_VERSION)],
            Debian,
            (7, 11, "7.11"),
            &[DEBIAN_VERSION],
        ),
        row(
            "Debian 8",
            &[
                (OSR, DEBIAN_8_OS_RELEASE),
                (DEBIAN_VERSION, DEBIAN_8_11_DEBIAN_VERSION),
            ],
            Debian,
            (8, 11, "8.11"),
            &[OSR, DEBIAN_VERSION],
        ),
        row(
            "Debian 9",
            &[
                (OSR, DEBIAN_9_OS_RELEASE),
                (DEBIAN_VERSION, DEBIAN_9_13_DEBIAN_VERSION),
            ],
            Debian,
            (9, 13, "9.13"),
            &[OSR, DEBIAN_VERSION],
        ),
        row(
            "Debian stretch/sid (testing): no VERSION_ID",
            &[
                (OSR, DEBIAN_STRETCH_SID_OS_RELEASE),
                (DEBIAN_VERSION, "stretch/sid\n"),
            ],
            Debian,
            (9, 0, "stretch/sid"),
            &[OSR, DEBIAN_VERSION],
        ),
        row(
            "Debian 10",
            &[
                (USR, DEBIAN_10_OS_RELEASE),
                (DEBIAN_VERSION, DEBIAN_10_6_DEBIAN_VERSION),
            ],
            Debian,
            (10, 6, "10.6"),
            &[OSR, DEBIAN_VERSION],
        )
        .links(&[OSR_LINK]),
        row(
            "Debian 11 (no debian_version: os-release's major stands)",
            &[(OSR, DEBIAN_11_OS_RELEASE)],
            Debian,
            (11, 0, "11"),
            &[OSR],
        ),
        row(
            "Debian 12",
            &[
                (USR, DEBIAN_12_OS_RELEASE),
                (DEBIAN_VERSION, DEBIAN_12_9_DEBIAN_VERSION),
            ],
            Debian,
            (12, 9, "12.9"),
            &[OSR, DEBIAN_VERSION],
        )
        .links(&[OSR_LINK]),
        row(
            "Debian 6.0.10",
            &[(DEBIAN_VERSION, DEBIAN_6_0_10_DEBIAN_VERSION)],
            Debian,
            (6, 0, "6.0.10"),
            &[DEBIAN_VERSION],
        )
        .unsupported(),
        // ----- Kali 2016-2022
        row(
            "Kali 2019.1",
            &[
                (USR, KALI_2019_1_OS_RELEASE),
                (LSB_RELEASE, KALI_2019_1_LSB_RELEASE),
                (DEBIAN_VERSION, "kali-rolling\n"),
            ],
            Kali,
            (2019, 1, "2019.1"),
            &[OSR],
        )
        .links(&[OSR_LINK]),
        row(
            "Kali 2022.3",
            &[(OSR, KALI_2022_3_OS_RELEASE)],
            Kali,
            (2022, 3, "2022.3"),
            &[OSR],
        ),
        row(
            "Kali 2022.4",
            &[(OSR, KALI_2022_4_OS_RELEASE)],
            Kali,
            (2022, 4, "2022.4"),
            &[OSR],
        ),
        row(
            "Kali 1.1.0",
            &[(OSR, KALI_1_1_OS_RELEASE)],
            Kali,
            (1, 1, "1.1.0"),
            &[OSR],
        )
        .unsupported(),
        row(
            "Kali 2025.2",
            &[(OSR, KALI_2025_2_OS_RELEASE)],
            Kali,
            (2025, 2, "2025.2"),
            &[OSR],
        )
        .unsupported(),
        // ----- other distributions: identified, not supported
        row(
            "AlmaLinux 9.1",
            &[(OSR, ALMA_9_1_OS_RELEASE)],
            other("almalinux"),
            (9, 1, "9.1"),
            &[OSR],
        )
        .family(Family::RedHat)
        .unsupported(),
        row(
            "openSUSE Leap 15.4",
            &[(OSR, LEAP_15_4_OS_RELEASE)],
            other("opensuse-leap"),
            (15, 4, "15.4"),
            &[OSR],
        )
        .family(Family::Suse)
        .unsupported(),
        row(
            "openSUSE Tumbleweed (commented-out VERSION)",
            &[(OSR, TUMBLEWEED_OS_RELEASE)],
            other("opensuse-tumbleweed"),
            (20230304, 0, "20230304"),
            &[OSR],
        )
        .family(Family::Suse)
        .unsupported(),
        row(
            "openSUSE 42.1 SuSE-release",
            &[(SUSE_RELEASE, OPENSUSE_42_1_SUSE_RELEASE)],
            other("openSUSE"),
            (42, 1, "42.1"),
            &[SUSE_RELEASE],
        )
        .family(Family::Suse)
        .unsupported(),
        row(
            "Scientific Linux redhat-release",
            &[(REDHAT_RELEASE, "Scientific Linux release 6.10 (Carbon)\n")],
            other("Scientific Linux"),
            (6, 10, "6.10"),
            &[REDHAT_RELEASE],
        )
        .family(Family::RedHat)
        .unsupported(),
    ]
}

#[test]
fn every_row_with_real_release_files() {
    for r in rows() {
        let id = identify_all(&r.files, &r.links);
        let what = format!("{}: {id:?}", r.name);
        assert_eq!(id.distro, r.distro, "{what}");
        assert_eq!(id.family, r.family, "{what}");
        assert_eq!(
            (id.version.major, id.version.minor, id.version.raw.as_str()),
            r.version,
            "{what}"
        );
        assert_eq!(id.sources, r.sources, "{what}");
        assert!(!id.pretty.is_empty(), "{what}");
        assert_eq!(
            supported(&id).is_ok(),
            r.supported,
            "{what}: {:?}",
            supported(&id)
        );
    }
}

#[test]
fn pretty_names_and_display() {
    let id = identify_all(
        &[
            (USR, CENTOS_7_OS_RELEASE),
            (CENTOS_RELEASE, CENTOS_7_9_CENTOS_RELEASE),
        ],
        &[OSR_LINK],
    );
    assert_eq!(id.pretty, "CentOS Linux release 7.9.2009 (Core)");
    assert_eq!(id.to_string(), "CentOS 7.9.2009");

    let id = identify_all(&[(OSR, UBUNTU_22_04_OS_RELEASE)], &[]);
    assert_eq!(id.pretty, "Ubuntu 22.04.2 LTS");
    assert_eq!(id.to_string(), "Ubuntu 22.04");

    let id = identify_all(&[(SUSE_RELEASE, SLES_11_3_SUSE_RELEASE)], &[]);
    assert_eq!(id.pretty, "SUSE Linux Enterprise Server 11 SP3");
    assert_eq!(id.to_string(), "SLES 11 SP3");

    let id = identify_all(&[(OSR, SLES_15_4_OS_RELEASE)], &[]);
    assert_eq!(id.to_string(), "SLES 15 SP4");

    let id = identify_all(
        &[(OSR, DEBIAN_7_OS_RELEASE), (DEBIAN_VERSION, "7.11\n")],
        &[],
    );
    assert_eq!(id.pretty, "Debian GNU/Linux 7 (wheezy)");
    assert_eq!(id.to_string(), "Debian 7.11");

    let id = identify_all(&[(OSR, KALI_2022_4_OS_RELEASE)], &[]);
    assert_eq!(id.to_string(), "Kali 2022.4");
}

#[test]
fn unsupported_messages_name_what_was_found() {
    let msg = |files: &[(&'static str, &'static str)]| {
        supported(&identify_all(files, &[]))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        msg(&[(OSR, UBUNTU_23_10_OS_RELEASE)]),
        "Ubuntu 23.10 is not a supported guest (supported Ubuntu: 14.04-22.04); use --force to proceed"
    );
    assert_eq!(
        msg(&[(OSR, SLES_15_6_OS_RELEASE)]),
        "SLES 15 SP6 is not a supported guest (supported SLES: 11 SP3, 11 SP4, 12, 15 SP0-SP4); use --force to proceed"
    );
    assert_eq!(
        msg(&[(OSR, KALI_2025_2_OS_RELEASE)]),
        "Kali 2025.2 is not a supported guest (supported Kali: 2016-2022); use --force to proceed"
    );
    let alma = msg(&[(OSR, ALMA_9_1_OS_RELEASE)]);
    assert!(
        alma.starts_with(
            "AlmaLinux 9.1 (Lime Lynx) is not a supported guest (supported guests: RHEL 6-9,"
        ),
        "{alma}"
    );
    assert!(alma.ends_with("use --force to proceed"), "{alma}");
}

/// Version boundaries of every row, on synthetic identities (the real files
/// above cover the middle of each range).
#[test]
fn supported_boundaries() {
    fn id(distro: Distro, major: u32, minor: u32, raw: &str) -> OsIdentity {
        OsIdentity {
            family: distro.family().unwrap_or(Family::Unknown),
            distro,
            version: Version {
                major,
                minor,
                raw: raw.into(),
            },
            pretty: String::new(),
            sources: vec![],
        }
    }
    use Distro::*;
    let table: &[(Distro, u32, u32, &str, bool)] = &[
        (Rhel, 5, 11, "5.11", false),
        (Rhel, 6, 0, "6.0", true),
        (Rhel, 7, 0, "7.0", true),
        (Rhel, 9, 4, "9.4", true),
        (Rhel, 10, 0, "10.0", false),
        (Rhel, 0, 0, "", false),
        (Centos, 5, 11, "5.11", false),
        (Centos, 8, 5, "8.5.2111", true),
        (Centos, 9, 0, "9", false),
        (CentosStream, 8, 0, "8", true),
        (CentosStream, 9, 0, "9", true),
        (CentosStream, 10, 0, "10", false),
        (OracleLinux, 5, 11, "5.11", false),
        (OracleLinux, 9, 5, "9.5", true),
        (Sles, 11, 2, "11.2", false),
        (Sles, 11, 3, "11.3", true),
        (Sles, 11, 4, "11.4", true),
        (Sles, 12, 0, "12", true),
        (Sles, 12, 5, "12.5", true),
        (Sles, 15, 0, "15", true),
        (Sles, 15, 4, "15.4", true),
        (Sles, 15, 5, "15.5", false),
        (Sles, 16, 0, "16.0", false),
        (Ubuntu, 13, 10, "13.10", false),
        (Ubuntu, 14, 4, "14.04", true),
        (Ubuntu, 19, 4, "19.04", true),
        (Ubuntu, 21, 10, "21.10", true),
        (Ubuntu, 22, 4, "22.04", true),
        (Ubuntu, 22, 10, "22.10", false),
        (Debian, 6, 0, "6.0.10", false),
        (Debian, 7, 0, "7", true),
        (Debian, 12, 2, "12.2", true),
        (Debian, 13, 0, "13", false),
        (Kali, 2015, 2, "2.0", false),
        (Kali, 2016, 1, "2016.1", true),
        (Kali, 2022, 4, "2022.4", true),
        (Kali, 2023, 1, "2023.1", false),
        (Kali, 0, 0, "", false),
        (Other("fedora".into()), 38, 0, "38", false),
    ];
    for (d, major, minor, raw, ok) in table {
        let i = id(d.clone(), *major, *minor, raw);
        assert_eq!(supported(&i).is_ok(), *ok, "{i}: {:?}", supported(&i));
    }
    let mut win = id(Other("Windows".into()), 0, 0, "");
    win.family = Family::Windows;
    assert!(supported(&win).is_ok(), "version checked from the registry");
    win.version = Version {
        major: 5,
        minor: 2,
        raw: "5.2".into(),
    };
    let e = supported(&win).unwrap_err().to_string();
    assert!(e.contains("Windows 5.2 is not a supported guest"), "{e}");
}

#[test]
fn os_release_with_comments_and_escapes() {
    let text = concat!(
        "# hand-edited by an admin\n",
        "  # indented comment\n",
        "ID=\"ubuntu\" # trailing comment\n",
        "VERSION_ID='20.04'\n",
        "PRETTY_NAME=\"Ubuntu \\\"Focal\\\" \\$HOME \\\\ 20.04\"\n",
        "NAME=Ubuntu\\ Linux\n",
    );
    let id = identify_all(&[(OSR, text)], &[]);
    assert_eq!(id.distro, Distro::Ubuntu);
    assert_eq!((id.version.major, id.version.minor), (20, 4));
    assert_eq!(id.pretty, "Ubuntu \"Focal\" $HOME \\ 20.04");
}

#[test]
fn missing_files_are_a_clear_error_listing_what_was_looked_at() {
    let t = tree(&[("etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n")], &[]);
    for g in roots(t.path()) {
        let e = identify(&g).unwrap_err();
        let InspectError::UnknownOs { looked_at, root } = &e else {
            panic!("{e}");
        };
        assert_eq!(root, t.path());
        for p in [
            OS_RELEASE,
            USR_OS_RELEASE,
            LSB_RELEASE,
            ORACLE_RELEASE,
            CENTOS_RELEASE,
            REDHAT_RELEASE,
            SYSTEM_RELEASE,
            DEBIAN_VERSION,
            SUSE_RELEASE,
            WINDOWS_SYSTEM_HIVE,
        ] {
            assert!(
                looked_at.contains(&format!("{p}: absent")),
                "{p}: {looked_at:?}"
            );
        }
        let msg = e.to_string();
        assert!(
            msg.contains("cannot identify the guest operating system"),
            "{msg}"
        );
        assert!(msg.contains("/etc/redhat-release: absent"), "{msg}");
    }
}

#[test]
fn unreadable_contents_are_named_in_the_error() {
    let t = tree(
        &[
            (OSR, "NAME=\"Some OS\"\n"),
            (SUSE_RELEASE, "\n# nothing but comments\n"),
            (LSB_RELEASE, "DISTRIB_ID=Mageia\nDISTRIB_RELEASE=3\n"),
        ],
        &[],
    );
    for g in roots(t.path()) {
        let InspectError::UnknownOs { looked_at, .. } = identify(&g).unwrap_err() else {
            panic!()
        };
        assert!(looked_at.contains(&"/etc/os-release: read, but it has no ID=".to_string()));
        assert!(
            looked_at
                .contains(&"/etc/lsb-release: not recognised: \"DISTRIB_ID=Mageia\"".to_string()),
            "{looked_at:?}"
        );
        assert!(
            !looked_at
                .iter()
                .any(|l| l.starts_with("/usr/lib/os-release")),
            "/usr/lib/os-release is read only when /etc/os-release is missing: {looked_at:?}"
        );
    }
}

#[test]
fn symlinks_resolve_inside_the_guest() {
    // Relative, as on modern distributions.
    let id = identify_all(&[(USR, KALI_2022_4_OS_RELEASE)], &[OSR_LINK]);
    assert_eq!(
        (id.distro, id.version.raw.as_str()),
        (Distro::Kali, "2022.4")
    );
    assert_eq!(id.sources, vec![OSR]);

    // Absolute: the guest's /usr/lib/os-release, never the helper's.
    let id = identify_all(
        &[(USR, KALI_2022_4_OS_RELEASE)],
        &[(OSR, "/usr/lib/os-release")],
    );
    assert_eq!(
        (id.distro, id.version.raw.as_str()),
        (Distro::Kali, "2022.4")
    );

    // Absolute links through `..` past the root stay in the guest too.
    let id = identify_all(
        &[(USR, SLES_15_3_OS_RELEASE)],
        &[(OSR, "../../../../../../usr/lib/os-release")],
    );
    assert_eq!((id.distro, id.version.raw.as_str()), (Distro::Sles, "15.3"));
}

#[test]
fn absolute_self_link_reads_the_guest_path_not_the_hosts() {
    // `/etc/os-release -> /etc/os-release` is a loop *in the guest*; followed on
    // the host it would read the helper's own os-release. Skipped as unusable;
    // /usr/lib/os-release is used instead.
    let id = identify_all(&[(USR, DEBIAN_12_OS_RELEASE)], &[(OSR, "/etc/os-release")]);
    assert_eq!((id.distro, id.version.major), (Distro::Debian, 12));
    assert_eq!(id.sources, vec![USR]);

    // Without a fallback: an error naming the loop, not the helper's OS.
    let t = tree(&[], &[(OSR, "/etc/os-release")]);
    for g in roots(t.path()) {
        let InspectError::UnknownOs { looked_at, .. } = identify(&g).unwrap_err() else {
            panic!()
        };
        let osr = looked_at
            .iter()
            .find(|l| l.starts_with("/etc/os-release: "))
            .unwrap();
        assert!(osr.starts_with("/etc/os-release: unusable ("), "{osr}");
        assert!(osr.contains("symbolic links"), "{osr}");
    }
}

#[test]
fn absolute_link_to_a_host_path_stays_in_the_guest() {
    // A decoy outside the guest tree, pointed at by its absolute host path.
    let top = tempfile::tempdir().unwrap();
    let decoy = top.path().join("decoy");
    fs::create_dir(&decoy).unwrap();
    fs::write(decoy.join("os-release"), "ID=decoy\nVERSION_ID=\"1.0\"\n").unwrap();
    let guest = top.path().join("guest");
    fs::create_dir_all(guest.join("etc")).unwrap();
    fs::create_dir_all(guest.join("usr/lib")).unwrap();
    fs::write(guest.join("usr/lib/os-release"), OL_9_2_OS_RELEASE).unwrap();
    symlink(decoy.join("os-release"), guest.join("etc/os-release")).unwrap();
    for g in roots(&guest) {
        let id = identify(&g).unwrap();
        assert_eq!(id.distro, Distro::OracleLinux, "{id:?}");
        assert_eq!(id.sources, vec![USR]);
    }
}

#[test]
fn unusable_os_release_falls_back() {
    // A directory in place of the file.
    let t = tree(
        &[(USR, UBUNTU_20_04_OS_RELEASE), ("etc/os-release/x", "")],
        &[],
    );
    for g in roots(t.path()) {
        let id = identify(&g).unwrap();
        assert_eq!(
            (id.distro, id.sources),
            (Distro::Ubuntu, vec![USR.to_string()])
        );
    }
    // Larger than any release file.
    let big = "# padding\n".repeat(8000);
    let t = tree(&[(USR, UBUNTU_20_04_OS_RELEASE), (OSR, &big)], &[]);
    for g in roots(t.path()) {
        let id = identify(&g).unwrap();
        assert_eq!(id.sources, vec![USR]);
    }
    // Not UTF-8: read lossily.
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("etc")).unwrap();
    fs::write(
        t.path().join("etc/os-release"),
        b"ID=debian\nVERSION_ID=\"11\"\nPRETTY_NAME=\"Deb\xffian\"\n",
    )
    .unwrap();
    for g in roots(t.path()) {
        let id = identify(&g).unwrap();
        assert_eq!((id.distro, id.version.major), (Distro::Debian, 11));
        assert_eq!(id.pretty, "Deb\u{fffd}ian");
    }
}

#[test]
fn oracle_release_wins_over_redhat_release() {
    // Order must not depend on which file is read first.
    let id = identify_all(
        &[
            (REDHAT_RELEASE, OL_7_9_REDHAT_RELEASE),
            (SYSTEM_RELEASE, OL_7_9_ORACLE_RELEASE),
            (ORACLE_RELEASE, OL_7_9_ORACLE_RELEASE),
        ],
        &[],
    );
    assert_eq!(id.distro, Distro::OracleLinux);
    assert_eq!(id.pretty, "Oracle Linux Server release 7.9");
}

#[test]
fn vague_os_release_ignores_legacy_files_of_another_distribution() {
    // os-release says CentOS 7; a stray redhat-release naming RHEL 7.9 must not
    // turn it into RHEL (only a CentOS line may refine it).
    let id = identify_all(
        &[
            (OSR, CENTOS_7_OS_RELEASE),
            (REDHAT_RELEASE, RHEL_7_7_REDHAT_RELEASE),
        ],
        &[],
    );
    assert_eq!(id.distro, Distro::Centos);
    assert_eq!((id.version.major, id.version.raw.as_str()), (7, "7"));
    assert_eq!(id.sources, vec![OSR]);
}

#[test]
fn windows_tree() {
    let t = tree(&[("Windows/System32/config/SYSTEM", "regf")], &[]);
    for g in roots(t.path()) {
        let id = identify(&g).unwrap();
        assert_eq!(id.family, Family::Windows);
        assert_eq!(id.distro, Distro::Other("Windows".into()));
        assert!(!id.version.is_known());
        assert_eq!(id.sources, vec![WINDOWS_SYSTEM_HIVE]);
        assert!(supported(&id).is_ok());
    }
    // NTFS case as stored.
    let t = tree(&[("WINDOWS/system32/CONFIG/system", "regf")], &[]);
    for g in roots(t.path()) {
        let id = identify(&g).unwrap();
        assert_eq!(id.family, Family::Windows);
        assert_eq!(id.sources, vec!["/WINDOWS/system32/CONFIG/system"]);
    }
}

#[test]
fn serializes_for_reports() {
    let id = identify_all(&[(OSR, SLES_15_4_OS_RELEASE)], &[]);
    let j = serde_json::to_value(&id).unwrap();
    assert_eq!(j["family"], "Suse");
    assert_eq!(j["distro"], "Sles");
    assert_eq!(j["version"]["raw"], "15.4");
    assert_eq!(j["sources"][0], "/etc/os-release");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random text in every release file never panics; a success names its sources.
    #[test]
    fn proptest_random_release_files_never_panic(
        texts in proptest::collection::vec(proptest::option::of("(\\PC|\n){0,120}"), 9),
    ) {
        let paths = [
            OS_RELEASE, USR_OS_RELEASE, LSB_RELEASE, ORACLE_RELEASE, CENTOS_RELEASE,
            REDHAT_RELEASE, SYSTEM_RELEASE, DEBIAN_VERSION, SUSE_RELEASE,
        ];
        let files: Vec<(&str, &str)> = paths
            .iter()
            .zip(&texts)
            .filter_map(|(p, t)| t.as_deref().map(|t| (*p, t)))
            .collect();
        let t = tree(&files, &[]);
        let g = GuestRoot::open_with(t.path(), Resolver::UserspaceWalk).unwrap();
        match identify(&g) {
            Ok(id) => {
                prop_assert!(!id.sources.is_empty());
                let _ = supported(&id).map_err(|e| e.to_string());
                let _ = id.to_string();
            }
            Err(InspectError::UnknownOs { looked_at, .. }) => prop_assert!(!looked_at.is_empty()),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// Random os-release values in a plausible layout never panic.
    #[test]
    fn proptest_random_os_release_fields(
        id in "[a-z]{0,8}|rhel|centos|ol|sles|ubuntu|debian|kali",
        vid in "[0-9.]{0,12}|\\PC{0,6}",
        name in "\\PC{0,20}",
    ) {
        let text = format!("ID={id}\nVERSION_ID=\"{vid}\"\nNAME='{name}'\n");
        let t = tree(&[(OS_RELEASE, &text)], &[]);
        let g = GuestRoot::open_with(t.path(), Resolver::UserspaceWalk).unwrap();
        if let Ok(id) = identify(&g) {
            let _ = supported(&id);
        }
    }
}
