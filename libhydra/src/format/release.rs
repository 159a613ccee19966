//! Release files (os-release, redhat-release, SuSE-release, lsb-release, debian_version): parse into an OS identity.
//!
//! Pure parsers, one per file kind; `inspect::os` decides which file wins.
//!
//! - **os-release** (`/etc/os-release`, `/usr/lib/os-release`) and
//!   **lsb-release**: "a newline-separated list of environment-like
//!   shell-compatible variable assignments" (os-release(5)). [`ShellVars`]
//!   reads them the way systemd's `parse_env_file` does:
//!   - leading blanks are skipped; a line whose first non-blank character is
//!     `#` (or `;`) is a comment; a line without `=` or with a key that is not
//!     an environment name (`[A-Za-z_][A-Za-z0-9_]*`) is ignored;
//!   - blanks around the key and after `=` are skipped;
//!   - `'...'` is literal; inside `"..."` a backslash escapes `"`, `\`, `` ` ``
//!     and `$` (other backslashes are kept), and a backslash-newline joins
//!     lines; unquoted, a backslash escapes any character and
//!     backslash-newline joins lines; quoted strings may span lines;
//!   - quoted and unquoted pieces next to each other are concatenated (as the
//!     shell does; the spec forbids writing it, real files never do);
//!   - blanks after the value (also after a closing quote, as Oracle Linux 6
//!     writes `VERSION="6.10" `) are dropped;
//!   - as the shell does, an unquoted `#` after a blank starts a comment
//!     (systemd would keep it; no real file has one);
//!   - a later assignment of the same key wins ([`ShellVars::get`]).
//! - **redhat-release** and its siblings (`centos-release`, `oracle-release`,
//!   `system-release`): one line `NAME release VERSION (CODENAME)`, e.g.
//!   `CentOS Linux release 7.9.2009 (Core)`, `Oracle Linux Server release
//!   6.10`, `CentOS Stream release 8`; old RHEL writes `release 4 (Nahant
//!   Update 9)`, read as 4.9 as libguestfs does ([`parse_redhat_release`]).
//! - **SuSE-release** (SLES 10-12, openSUSE before 15): a product line, then
//!   `VERSION = 11` and `PATCHLEVEL = 3` ([`parse_suse_release`]).
//! - **debian_version**: `7.11`, `12.2`, or a codename such as `bookworm/sid`
//!   on testing ([`parse_debian_version`]).
//!
//! Every parser takes any text and never panics; what it cannot read it
//! leaves out (`None`), it never guesses.

/// Most bytes of a release file worth reading: real ones are below 2 KiB.
/// Readers cap the file there; the parsers themselves take any length.
pub const MAX_RELEASE_FILE: u64 = 64 * 1024;

/// A numeric version: the leading `MAJOR[.MINOR]` of a version string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumericVersion {
    /// The number before the first dot.
    pub major: u32,
    /// The number after the first dot, when there is one (`7.9.2009` -> 9).
    pub minor: Option<u32>,
}

/// Parse the leading `MAJOR[.MINOR]` of `s` (blanks around ignored):
/// `"22.04"` -> 22, 4; `"7.9.2009"` -> 7, 9; `"15"` -> 15, none; `"2022.1"` ->
/// 2022, 1. Anything after the minor is ignored. `None` when `s` does not start
/// with a digit or a number overflows `u32`.
pub fn parse_numeric_version(s: &str) -> Option<NumericVersion> {
    let s = s.trim();
    let (major, rest) = leading_number(s)?;
    let minor = match rest.strip_prefix('.') {
        // Digits after the dot that overflow make the whole version unreadable.
        Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => {
            Some(leading_number(after)?.0)
        }
        _ => None,
    };
    Some(NumericVersion { major, minor })
}

/// The decimal number at the start of `s` and the rest; `None` when `s` does
/// not start with a digit or the number does not fit `u32`.
fn leading_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n = s[..end].parse::<u32>().ok()?;
    Some((n, &s[end..]))
}

// ----- shell-like KEY=value files --------------------------------------------

/// The assignments of a shell-like `KEY=value` file (os-release, lsb-release),
/// in file order, values unquoted and unescaped (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellVars {
    vars: Vec<(String, String)>,
}

impl ShellVars {
    /// Parse `text`. Lines that are not assignments are skipped.
    pub fn parse(text: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut p = Cursor {
            chars: text.chars().peekable(),
        };
        let mut vars = Vec::new();
        loop {
            p.skip_blanks();
            match p.peek() {
                None => break,
                Some('\n') => {
                    p.next();
                    continue;
                }
                Some('#') | Some(';') => {
                    p.skip_line();
                    continue;
                }
                Some(_) => {}
            }
            let mut key = String::new();
            while let Some(c) = p.peek() {
                if c == '=' || c == '\n' {
                    break;
                }
                key.push(c);
                p.next();
            }
            if p.peek() != Some('=') {
                continue; // no `=` on this line: not an assignment
            }
            p.next();
            let value = p.value();
            let key = key.trim_end_matches([' ', '\t', '\r']);
            if is_env_name(key) {
                vars.push((key.to_string(), value));
            }
        }
        ShellVars { vars }
    }

    /// The value of the last assignment of `key`, as the shell would see it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The assignments in file order (a key assigned twice appears twice).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of assignments.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether the file held no assignment.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

/// Whether `k` is an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Characters a backslash escapes inside double quotes (shell rules).
const DQUOTE_ESCAPED: [char; 4] = ['"', '\\', '`', '$'];

/// A character cursor for [`ShellVars::parse`].
struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn next(&mut self) -> Option<char> {
        self.chars.next()
    }

    /// Skip spaces, tabs and carriage returns (not newlines).
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.next();
        }
    }

    /// Skip to and including the next newline.
    fn skip_line(&mut self) {
        for c in self.chars.by_ref() {
            if c == '\n' {
                break;
            }
        }
    }

    /// Read a value after `=` up to the end of its (logical) line; consumes
    /// the newline.
    fn value(&mut self) -> String {
        self.skip_blanks();
        let mut out = String::new();
        // Length of `out` without unquoted trailing blanks.
        let mut keep = 0;
        // Whether the previous input character was an unquoted blank (or the
        // value has not started): then `#` starts a comment, as in the shell.
        let mut after_blank = true;
        while let Some(c) = self.next() {
            match c {
                '\n' => break,
                '\'' => {
                    for c in self.chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                        out.push(c);
                    }
                    keep = out.len();
                    after_blank = false;
                }
                '"' => {
                    while let Some(c) = self.next() {
                        match c {
                            '"' => break,
                            '\\' => match self.next() {
                                Some(e) if DQUOTE_ESCAPED.contains(&e) => out.push(e),
                                Some('\n') => {}
                                Some(e) => {
                                    out.push('\\');
                                    out.push(e);
                                }
                                None => out.push('\\'),
                            },
                            c => out.push(c),
                        }
                    }
                    keep = out.len();
                    after_blank = false;
                }
                '\\' => {
                    match self.next() {
                        Some('\n') | None => {}
                        Some(e) => out.push(e),
                    }
                    keep = out.len();
                    after_blank = false;
                }
                ' ' | '\t' | '\r' => {
                    out.push(c);
                    after_blank = true;
                }
                '#' if after_blank => {
                    self.skip_line();
                    break;
                }
                c => {
                    out.push(c);
                    keep = out.len();
                    after_blank = false;
                }
            }
        }
        out.truncate(keep);
        out
    }
}

/// `/etc/os-release` (or `/usr/lib/os-release`), parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    vars: ShellVars,
}

impl OsRelease {
    /// Parse the text of an os-release file.
    pub fn parse(text: &str) -> Self {
        OsRelease {
            vars: ShellVars::parse(text),
        }
    }

    /// The value of any field; an empty value counts as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).filter(|v| !v.is_empty())
    }

    /// `ID`: lower-case distribution identifier (`rhel`, `centos`, `ol`,
    /// `sles`, `ubuntu`, `debian`, `kali`, ...).
    pub fn id(&self) -> Option<&str> {
        self.get("ID")
    }

    /// `ID_LIKE`: the distributions this one derives from, space-separated.
    pub fn id_like(&self) -> Vec<&str> {
        self.get("ID_LIKE")
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// `NAME` (`CentOS Stream`, `SLES`, ...).
    pub fn name(&self) -> Option<&str> {
        self.get("NAME")
    }

    /// `PRETTY_NAME` (`Ubuntu 22.04.2 LTS`).
    pub fn pretty_name(&self) -> Option<&str> {
        self.get("PRETTY_NAME")
    }

    /// `VERSION` (`22.04.2 LTS (Jammy Jellyfish)`, `15-SP4`).
    pub fn version(&self) -> Option<&str> {
        self.get("VERSION")
    }

    /// `VERSION_ID` (`22.04`, `15.4`, `7`, `2022.1`).
    pub fn version_id(&self) -> Option<&str> {
        self.get("VERSION_ID")
    }

    /// `VERSION_CODENAME` (`jammy`, `bookworm`, `kali-rolling`).
    pub fn version_codename(&self) -> Option<&str> {
        self.get("VERSION_CODENAME")
    }

    /// All assignments.
    pub fn vars(&self) -> &ShellVars {
        &self.vars
    }
}

/// `/etc/lsb-release`, parsed (Ubuntu; Linux Mint, Kali and others write one
/// too; RHEL/CentOS 6 write only `LSB_VERSION=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsbRelease {
    /// `DISTRIB_ID` (`Ubuntu`).
    pub distrib_id: Option<String>,
    /// `DISTRIB_RELEASE` (`14.04`).
    pub distrib_release: Option<String>,
    /// `DISTRIB_CODENAME` (`trusty`).
    pub distrib_codename: Option<String>,
    /// `DISTRIB_DESCRIPTION` (`Ubuntu 14.04.4 LTS`).
    pub distrib_description: Option<String>,
}

/// Parse the text of an lsb-release file (shell-like, as os-release).
pub fn parse_lsb_release(text: &str) -> LsbRelease {
    let vars = ShellVars::parse(text);
    let field = |k: &str| vars.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    LsbRelease {
        distrib_id: field("DISTRIB_ID"),
        distrib_release: field("DISTRIB_RELEASE"),
        distrib_codename: field("DISTRIB_CODENAME"),
        distrib_description: field("DISTRIB_DESCRIPTION"),
    }
}

// ----- redhat-release and siblings ----------------------------------------------

/// The product a `*-release` line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RhProduct {
    /// `Red Hat Enterprise Linux [Server] release ...`.
    Rhel,
    /// `CentOS [Linux] release ...`.
    Centos,
    /// `CentOS Stream release ...`.
    CentosStream,
    /// `Oracle Linux Server release ...`.
    OracleLinux,
    /// `Fedora release ...`.
    Fedora,
    /// `Scientific Linux release ...`.
    Scientific,
    /// Anything else with a `release` word (AlmaLinux, Rocky, Amazon, ...).
    Other,
}

/// A parsed `redhat-release`-style line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedHatRelease {
    /// The product named.
    pub product: RhProduct,
    /// The words before `release` (`CentOS Linux`, `Oracle Linux Server`).
    pub name: String,
    /// The version word as written (`7.9.2009`, `6.10`, `8`), if any.
    pub version_text: Option<String>,
    /// Its numeric part. For old `release 4 (Nahant Update 9)` lines the
    /// update number is the minor.
    pub version: Option<NumericVersion>,
    /// The text in parentheses after the version (`Core`, `Maipo`, `Final`).
    pub codename: Option<String>,
    /// The whole line, blanks collapsed.
    pub line: String,
}

/// Parse the first non-empty line of a `redhat-release`, `centos-release`,
/// `oracle-release` or `system-release` file. `None` when the line has no
/// `release` word after a product name.
pub fn parse_redhat_release(text: &str) -> Option<RedHatRelease> {
    let line = first_line(text)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("release"))?;
    if at == 0 {
        return None;
    }
    let name = words[..at].join(" ");
    let rest = &words[at + 1..];
    let version_text = rest
        .first()
        .filter(|w| !w.starts_with('('))
        .map(|w| w.to_string());
    let after_version = if version_text.is_some() {
        &rest[1..]
    } else {
        rest
    };
    let tail = after_version.join(" ");
    let codename = tail
        .strip_prefix('(')
        .and_then(|t| t.rfind(')').map(|end| t[..end].trim().to_string()))
        .filter(|c| !c.is_empty());
    let mut version = version_text.as_deref().and_then(parse_numeric_version);
    if let (Some(v), Some(c)) = (version.as_mut(), codename.as_deref()) {
        if v.minor.is_none() {
            // `Red Hat Enterprise Linux AS release 4 (Nahant Update 9)`.
            if let Some(u) = c.split_whitespace().skip_while(|w| *w != "Update").nth(1) {
                v.minor = leading_number(u).map(|(n, _)| n);
            }
        }
    }
    Some(RedHatRelease {
        product: rh_product(&name),
        name,
        version_text,
        version,
        codename,
        line: words.join(" "),
    })
}

/// Classify the product name of a `*-release` line.
fn rh_product(name: &str) -> RhProduct {
    let n = name.to_ascii_lowercase();
    if n.starts_with("red hat") {
        RhProduct::Rhel
    } else if n.starts_with("centos stream") {
        RhProduct::CentosStream
    } else if n.starts_with("centos") {
        RhProduct::Centos
    } else if n.starts_with("oracle linux") {
        RhProduct::OracleLinux
    } else if n.starts_with("fedora") {
        RhProduct::Fedora
    } else if n.starts_with("scientific linux") {
        RhProduct::Scientific
    } else {
        RhProduct::Other
    }
}

/// The first line of `text` that is not blank, trimmed.
fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

// ----- SuSE-release --------------------------------------------------------------

/// The product a `SuSE-release` file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuseProduct {
    /// `SUSE Linux Enterprise Server ...`.
    Sles,
    /// `SUSE Linux Enterprise Desktop ...`.
    Sled,
    /// `openSUSE ...` (and the older `SuSE Linux` / `SUSE LINUX`).
    OpenSuse,
    /// Anything else.
    Other,
}

/// A parsed `/etc/SuSE-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuseRelease {
    /// The product named on the first line.
    pub product: SuseProduct,
    /// The first line (`SUSE Linux Enterprise Server 11 (x86_64)`).
    pub name: String,
    /// `VERSION = 11` (openSUSE: `VERSION = 42.1`).
    pub version: Option<NumericVersion>,
    /// `PATCHLEVEL = 3`: the service pack.
    pub patchlevel: Option<u32>,
}

/// Parse `/etc/SuSE-release`: the first non-blank, non-comment line is the
/// product; `VERSION = N` and `PATCHLEVEL = N` lines follow (in any order,
/// blanks around `=` optional). `None` without a product line.
pub fn parse_suse_release(text: &str) -> Option<SuseRelease> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let name = lines.next()?.to_string();
    let (mut version, mut patchlevel) = (None, None);
    for l in lines {
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        match k.trim() {
            "VERSION" => version = parse_numeric_version(v),
            "PATCHLEVEL" => patchlevel = leading_number(v.trim()).map(|(n, _)| n),
            _ => {}
        }
    }
    let n = name.to_ascii_lowercase();
    let product = if n.starts_with("suse linux enterprise server") {
        SuseProduct::Sles
    } else if n.starts_with("suse linux enterprise desktop") {
        SuseProduct::Sled
    } else if n.starts_with("opensuse") || n.starts_with("suse linux") {
        SuseProduct::OpenSuse
    } else {
        SuseProduct::Other
    };
    Some(SuseRelease {
        product,
        name,
        version,
        patchlevel,
    })
}

// ----- debian_version ----------------------------------------------------------

/// A parsed `/etc/debian_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebianVersion {
    /// A point release: `7.11`, `12.2`, `6.0.10`.
    Numbered {
        /// Its numeric part.
        version: NumericVersion,
        /// The text as written.
        raw: String,
    },
    /// A name: `bookworm/sid` (testing and unstable), `kali-rolling`.
    Named(String),
}

/// Parse the first non-empty line of `/etc/debian_version`.
pub fn parse_debian_version(text: &str) -> Option<DebianVersion> {
    let line = first_line(text)?;
    Some(match parse_numeric_version(line) {
        Some(version) => DebianVersion::Numbered {
            version,
            raw: line.to_string(),
        },
        None => DebianVersion::Named(line.to_string()),
    })
}

/// The Debian major release of a codename, also as written in the
/// `debian_version` of testing (`bookworm/sid` -> 12: the release being
/// prepared). `None` for `sid` alone and unknown names.
pub fn debian_codename_major(name: &str) -> Option<u32> {
    let code = name.split('/').next()?.trim().to_ascii_lowercase();
    Some(match code.as_str() {
        "squeeze" => 6,
        "wheezy" => 7,
        "jessie" => 8,
        "stretch" => 9,
        "buster" => 10,
        "bullseye" => 11,
        "bookworm" => 12,
        "trixie" => 13,
        "forky" => 14,
        _ => return None,
    })
}

/// Real release-file texts, one or more per supported row, copied verbatim
/// from public sources (named on each constant). Shared by the parser tests
/// here and the guest-tree tests of `inspect::os`.
#[cfg(test)]
pub(crate) mod vectors {
    // ----- RHEL ---------------------------------------------------------------

    /// ansible/ansible test/units/module_utils/facts/system/distribution/fixtures/redhat_6.7.json
    pub const RHEL_6_7_REDHAT_RELEASE: &str =
        "Red Hat Enterprise Linux Server release 6.7 (Santiago)\n";
    /// Same fixture: RHEL/CentOS 6 ship an lsb-release holding only LSB_VERSION.
    pub const EL6_LSB_RELEASE: &str = "LSB_VERSION=base-4.0-amd64:base-4.0-noarch:core-4.0-amd64:core-4.0-noarch:graphics-4.0-amd64:graphics-4.0-noarch:printing-4.0-amd64:printing-4.0-noarch\n";

    /// ansible/ansible .../fixtures/redhat_7.7.json
    pub const RHEL_7_7_OS_RELEASE: &str = r#"NAME="Red Hat Enterprise Linux Server"
VERSION="7.7 (Maipo)"
ID="rhel"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="7.7"
PRETTY_NAME="Red Hat Enterprise Linux Server 7.7 (Maipo)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:7.7:GA:server"
HOME_URL="https://www.redhat.com/"
BUG_REPORT_URL="https://bugzilla.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 7"
REDHAT_BUGZILLA_PRODUCT_VERSION=7.7
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="7.7"
"#;
    /// Same fixture.
    pub const RHEL_7_7_REDHAT_RELEASE: &str =
        "Red Hat Enterprise Linux Server release 7.7 (Maipo)\n";

    /// beeware/briefcase tests/platforms/linux/os_release.py ("rhel/ubi8:8.7").
    pub const RHEL_8_7_OS_RELEASE: &str = r#"NAME="Red Hat Enterprise Linux"
VERSION="8.7 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.7"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Red Hat Enterprise Linux 8.7 (Ootpa)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:8::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/red_hat_enterprise_linux/8/"
BUG_REPORT_URL="https://bugzilla.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 8"
REDHAT_BUGZILLA_PRODUCT_VERSION=8.7
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="8.7"
"#;
    /// A proxmox-backup-client build script's header (public code index):
    /// "last tested ... on Red Hat Enterprise Linux release 8.7 (Ootpa)".
    pub const RHEL_8_7_REDHAT_RELEASE: &str = "Red Hat Enterprise Linux release 8.7 (Ootpa)\n";

    /// python-distro/distro tests/resources/distros/rhel9/etc/os-release
    pub const RHEL_9_6_OS_RELEASE: &str = r#"NAME="Red Hat Enterprise Linux"
VERSION="9.6 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.6"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.6 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"
BUG_REPORT_URL="https://issues.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_BUGZILLA_PRODUCT_VERSION=9.6
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.6"
"#;
    /// A distro-collection README quoting /etc/redhat-release of RHEL 9.0
    /// (public code index; the same line appears in RHEL EUS docs).
    pub const RHEL_9_0_REDHAT_RELEASE: &str = "Red Hat Enterprise Linux release 9.0 (Plow)\n";

    // ----- CentOS ---------------------------------------------------------------

    /// ansible/ansible .../fixtures/centos_6.7.json (redhat-release and system-release).
    pub const CENTOS_6_7_REDHAT_RELEASE: &str = "CentOS release 6.7 (Final)\n";
    /// jxsl13/osfacts README.md ("CentOS (old) (/etc/centos-release)").
    pub const CENTOS_6_10_CENTOS_RELEASE: &str = "CentOS release 6.10 (Final)\n";

    /// ceph/ceph src/ceph-detect-init/tests/test_all.py (os_release_centos_7).
    pub const CENTOS_7_OS_RELEASE: &str = r#"NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"
"#;
    /// A CentOS 7.9 KVM guest session (public code index): `ls -l /etc/*release`
    /// shows os-release -> ../usr/lib/os-release, redhat-release ->
    /// centos-release; `cat /etc/centos-release` prints this.
    pub const CENTOS_7_9_CENTOS_RELEASE: &str = "CentOS Linux release 7.9.2009 (Core)\n";

    /// ansible/ansible .../fixtures/centos_8_1.json (note the blank before the newline).
    pub const CENTOS_8_1_OS_RELEASE: &str = "NAME=\"CentOS Linux\"\nVERSION=\"8 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"8\"\nPLATFORM_ID=\"platform:el8\"\nPRETTY_NAME=\"CentOS Linux 8 (Core)\"\nANSI_COLOR=\"0;31\"\nCPE_NAME=\"cpe:/o:centos:centos:8\"\nHOME_URL=\"https://www.centos.org/\"\nBUG_REPORT_URL=\"https://bugs.centos.org/\"\n\nCENTOS_MANTISBT_PROJECT=\"CentOS-8\"\nCENTOS_MANTISBT_PROJECT_VERSION=\"8\"\nREDHAT_SUPPORT_PRODUCT=\"centos\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"8\"\n\n";
    /// Same fixture (centos-release, redhat-release, system-release).
    pub const CENTOS_8_1_CENTOS_RELEASE: &str = "CentOS Linux release 8.1.1911 (Core) \n";

    /// ansible/ansible .../fixtures/centos_stream_8.json
    pub const CENTOS_STREAM_8_OS_RELEASE: &str = r#"NAME="CentOS Stream"
VERSION="8"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="CentOS Stream 8"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:8"
HOME_URL="https://centos.org/"
BUG_REPORT_URL="https://bugzilla.redhat.com/"
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux 8"
REDHAT_SUPPORT_PRODUCT_VERSION="CentOS Stream"
"#;
    /// Same fixture.
    pub const CENTOS_STREAM_8_CENTOS_RELEASE: &str = "CentOS Stream release 8\n";

    /// python-distro/distro tests/resources/distros/centosstream9/etc/os-release
    pub const CENTOS_STREAM_9_OS_RELEASE: &str = r#"NAME="CentOS Stream"
VERSION="9"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="9"
PLATFORM_ID="platform:el9"
PRETTY_NAME="CentOS Stream 9"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:centos:centos:9"
HOME_URL="https://centos.org/"
BUG_REPORT_URL="https://issues.redhat.com/"
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_SUPPORT_PRODUCT_VERSION="CentOS Stream"
"#;

    // ----- Oracle Linux -------------------------------------------------------------

    /// dekobon/distro-detect linux/distro_test.go (TestOracleLinuxOSRelease):
    /// Oracle Linux 6.10 writes a blank after most values.
    pub const OL_6_10_OS_RELEASE: &str = "NAME=\"Oracle Linux Server\" \nVERSION=\"6.10\" \nID=\"ol\" \nVERSION_ID=\"6.10\" \nPRETTY_NAME=\"Oracle Linux Server 6.10\"\nANSI_COLOR=\"0;31\" \nCPE_NAME=\"cpe:/o:oracle:linux:6:10:server\"\nHOME_URL=\"https://linux.oracle.com/\" \nBUG_REPORT_URL=\"https://bugzilla.oracle.com/\" \n\nORACLE_BUGZILLA_PRODUCT=\"Oracle Linux 6\" \nORACLE_BUGZILLA_PRODUCT_VERSION=6.10 \nORACLE_SUPPORT_PRODUCT=\"Oracle Linux\" \nORACLE_SUPPORT_PRODUCT_VERSION=6.10\n";
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverOracleLinux6).
    pub const OL_6_10_ORACLE_RELEASE: &str = "Oracle Linux Server release 6.10\n";
    /// Same test: "Oracle Linux impersonates Red Hat if you try to read /etc/redhat-release".
    pub const OL_6_10_REDHAT_RELEASE: &str =
        "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n";
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverOracleLinux7).
    pub const OL_7_9_ORACLE_RELEASE: &str = "Oracle Linux Server release 7.9\n";
    /// Same test.
    pub const OL_7_9_REDHAT_RELEASE: &str = "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n";
    /// quay/claircore oracle/distributionscanner_test.go (sevenOSRelease).
    pub const OL_7_7_OS_RELEASE: &str = r#"NAME="Oracle Linux Server"
VERSION="7.7"
ID="ol"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="7.7"
PRETTY_NAME="Oracle Linux Server 7.7"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:oracle:linux:7:7:server"
HOME_URL="https://linux.oracle.com/"
BUG_REPORT_URL="https://bugzilla.oracle.com/"

ORACLE_BUGZILLA_PRODUCT="Oracle Linux 7"
ORACLE_BUGZILLA_PRODUCT_VERSION=7.7
ORACLE_SUPPORT_PRODUCT="Oracle Linux"
ORACLE_SUPPORT_PRODUCT_VERSION=7.7"#;
    /// quay/claircore oracle/distributionscanner_test.go (eightOSRelease).
    pub const OL_8_0_OS_RELEASE: &str = r#"NAME="Oracle Linux Server"
VERSION="8.0"
ID="ol"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="8.0"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Oracle Linux Server 8.0"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:oracle:linux:8:0:server"
HOME_URL="https://linux.oracle.com/"
BUG_REPORT_URL="https://bugzilla.oracle.com/"

ORACLE_BUGZILLA_PRODUCT="Oracle Linux 8"
ORACLE_BUGZILLA_PRODUCT_VERSION=8.0
ORACLE_SUPPORT_PRODUCT="Oracle Linux"
ORACLE_SUPPORT_PRODUCT_VERSION=8.0"#;
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverOracleLinux8).
    pub const OL_8_2_ORACLE_RELEASE: &str = "Oracle Linux Server release 8.2\n";
    /// quay/claircore oracle/distributionscanner_test.go (nineOSRelease).
    pub const OL_9_2_OS_RELEASE: &str = r#"NAME="Oracle Linux Server"
VERSION="9.2"
ID="ol"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="9.2"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Oracle Linux Server 9.2"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:oracle:linux:9:2:server"
HOME_URL="https://linux.oracle.com/"
BUG_REPORT_URL="https://github.com/oracle/oracle-linux"

ORACLE_BUGZILLA_PRODUCT="Oracle Linux 9"
ORACLE_BUGZILLA_PRODUCT_VERSION=9.2
ORACLE_SUPPORT_PRODUCT="Oracle Linux"
ORACLE_SUPPORT_PRODUCT_VERSION=9.2"#;

    // ----- SLES ---------------------------------------------------------------------

    /// ansible/ansible .../fixtures/sles_11.3.json (SuSE-release only).
    pub const SLES_11_3_SUSE_RELEASE: &str =
        "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 3";
    /// ansible/ansible .../fixtures/sles_11.4.json (note the leading blank line).
    pub const SLES_11_4_SUSE_RELEASE: &str =
        "\nSUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4";
    /// Same fixture.
    pub const SLES_11_4_OS_RELEASE: &str = "NAME=\"SLES\"\nVERSION=\"11.4\"\nVERSION_ID=\"11.4\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 11 SP4\"\nID=\"sles\"\nANSI_COLOR=\"0;32\"\nCPE_NAME=\"cpe:/o:suse:sles:11:4\"";
    /// ansible/ansible .../fixtures/sles_12_sp0.json and sles_12_sp1.json (both
    /// say PATCHLEVEL = 0: the deprecated file is not kept up to date).
    pub const SLES_12_SUSE_RELEASE: &str = "\nSUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 0\n# This file is deprecated and will be removed in a future service pack or release.\n# Please check /etc/os-release for details about this release.";
    /// ansible/ansible .../fixtures/sles_12_sp0.json
    pub const SLES_12_0_OS_RELEASE: &str = "NAME=\"SLES\"\nVERSION=\"12\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 12\"\nID=\"sles\"\nANSI_COLOR=\"0;32\"\nCPE_NAME=\"cpe:/o:suse:sles:12\"";
    /// ansible/ansible .../fixtures/sles_12_sp1.json
    pub const SLES_12_1_OS_RELEASE: &str = "NAME=\"SLES\"\nVERSION=\"12-SP1\"\nVERSION_ID=\"12.1\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 12 SP1\"\nID=\"sles\"\nANSI_COLOR=\"0;32\"\nCPE_NAME=\"cpe:/o:suse:sles:12:sp1\"";
    /// ceph/ceph src/ceph-detect-init/tests/test_all.py (os_release_sles_12_3).
    pub const SLES_12_3_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="12-SP3"
VERSION_ID="12.3"
PRETTY_NAME="SUSE Linux Enterprise Server 12 SP3"
ID="sles"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:12:sp3"
"#;
    /// ceph/ceph src/ceph-detect-init/tests/test_all.py (os_release_sles_15).
    pub const SLES_15_0_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="15"
VERSION_ID="15"
PRETTY_NAME="SUSE Linux Enterprise Server 15"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15"
"#;
    /// quay/claircore suse/distributionscanner_test.go, an earlier version
    /// (enterpriseServer15OSRelease).
    pub const SLES_15_1_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="15-SP1"
VERSION_ID="15.1"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP1"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp1""#;
    /// A SLES 15 SP2 hostname walkthrough (`cat /etc/os-release`, public code index).
    pub const SLES_15_2_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="15-SP2"
VERSION_ID="15.2"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP2"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp2"
"#;
    /// jxsl13/osfacts README.md ("SLES (/etc/os-release)").
    pub const SLES_15_3_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="15-SP3"
VERSION_ID="15.3"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP3"
ID="sles"
ID_LIKE="suse"
"#;
    /// An AWS SLES service-pack migration workshop (`cat /etc/os-release` after
    /// the SP4 migration; public code index). The CPE_NAME still says sp3 on
    /// that instance: VERSION_ID is what counts.
    pub const SLES_15_4_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="15-SP4"
VERSION_ID="15.4"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP4"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp3"
DOCUMENTATION_URL="https://documentation.suse.com/"
"#;
    /// ansible/ansible .../fixtures/sles_15_6.json (not a supported row).
    pub const SLES_15_6_OS_RELEASE: &str = r#"NAME="SLES"
VERSION="15-SP6"
VERSION_ID="15.6"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP6"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp6"
DOCUMENTATION_URL="https://documentation.suse.com/"
"#;

    // ----- Ubuntu -------------------------------------------------------------------

    /// ansible/ansible .../fixtures/ubuntu_14.04.json
    pub const UBUNTU_14_04_OS_RELEASE: &str = "NAME=\"Ubuntu\"\nVERSION=\"14.04.4 LTS, Trusty Tahr\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 14.04.4 LTS\"\nVERSION_ID=\"14.04\"\nHOME_URL=\"http://www.ubuntu.com/\"\nSUPPORT_URL=\"http://help.ubuntu.com/\"\nBUG_REPORT_URL=\"http://bugs.launchpad.net/ubuntu/\"";
    /// Same fixture.
    pub const UBUNTU_14_04_LSB_RELEASE: &str = "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\nDISTRIB_CODENAME=trusty\nDISTRIB_DESCRIPTION=\"Ubuntu 14.04.4 LTS\"";
    /// ansible/ansible .../fixtures/ubuntu_16.04.json
    pub const UBUNTU_16_04_OS_RELEASE: &str = r#"NAME="Ubuntu"
VERSION="16.04 LTS (Xenial Xerus)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 16.04 LTS"
VERSION_ID="16.04"
HOME_URL="http://www.ubuntu.com/"
SUPPORT_URL="http://help.ubuntu.com/"
BUG_REPORT_URL="http://bugs.launchpad.net/ubuntu/"
UBUNTU_CODENAME=xenial
"#;
    /// Same fixture.
    pub const UBUNTU_16_04_LSB_RELEASE: &str = r#"DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=16.04
DISTRIB_CODENAME=xenial
DISTRIB_DESCRIPTION="Ubuntu 16.04 LTS"
"#;
    /// ansible/ansible .../fixtures/ubuntu_18.04.json (/etc and /usr/lib copies identical).
    pub const UBUNTU_18_04_OS_RELEASE: &str = r#"NAME="Ubuntu"
VERSION="18.04.3 LTS (Bionic Beaver)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 18.04.3 LTS"
VERSION_ID="18.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=bionic
UBUNTU_CODENAME=bionic
"#;
    /// Same fixture.
    pub const UBUNTU_18_04_LSB_RELEASE: &str = r#"DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=18.04
DISTRIB_CODENAME=bionic
DISTRIB_DESCRIPTION="Ubuntu 18.04.3 LTS"
"#;
    /// A hackNos CTF write-up, `cat /etc/*-release` on Ubuntu 19.10 (public
    /// code index): lsb-release part.
    pub const UBUNTU_19_10_LSB_RELEASE: &str = r#"DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=19.10
DISTRIB_CODENAME=eoan
DISTRIB_DESCRIPTION="Ubuntu 19.10"
"#;
    /// Same session: os-release part.
    pub const UBUNTU_19_10_OS_RELEASE: &str = r#"NAME="Ubuntu"
VERSION="19.10 (Eoan Ermine)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 19.10"
VERSION_ID="19.10"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=eoan
UBUNTU_CODENAME=eoan
"#;
    /// secondlife/with-cloudsmith test/fixtures.sh (FOCAL_OS_RELEASE).
    pub const UBUNTU_20_04_OS_RELEASE: &str = r#"NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal"#;
    /// An installer test reading os-release of 21.04 (public code index).
    pub const UBUNTU_21_04_OS_RELEASE: &str = r#"NAME="Ubuntu"
VERSION="21.04 (Hirsute Hippo)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 21.04"
VERSION_ID="21.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=hirsute
UBUNTU_CODENAME=hirsute
"#;
    /// beeware/briefcase tests/platforms/linux/os_release.py ("ubuntu:22.04").
    pub const UBUNTU_22_04_OS_RELEASE: &str = r#"PRETTY_NAME="Ubuntu 22.04.2 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.2 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"#;
    /// megvadulthangya/nvidia-driver-assistant tests (ubuntu_os_release; not a supported row).
    pub const UBUNTU_23_10_OS_RELEASE: &str = r#"PRETTY_NAME="Ubuntu 23.10"
NAME="Ubuntu"
VERSION_ID="23.10"
VERSION="23.10 (Mantic Minotaur)"
VERSION_CODENAME=mantic
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=mantic
LOGO=ubuntu-logo"#;

    // ----- Debian -------------------------------------------------------------------

    /// ansible/ansible .../fixtures/debian_7.9.json (Debian 7 does ship os-release).
    pub const DEBIAN_7_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"7\"\nVERSION=\"7 (wheezy)\"\nID=debian\nANSI_COLOR=\"1;31\"\nHOME_URL=\"http://www.debian.org/\"\nSUPPORT_URL=\"http://www.debian.org/support/\"\nBUG_REPORT_URL=\"http://bugs.debian.org/\"";
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverDebian7).
    pub const DEBIAN_7_11_DEBIAN_VERSION: &str = "7.11\n";
    /// secondlife/with-cloudsmith test/fixtures.sh (JESSIE_OS_RELEASE).
    pub const DEBIAN_8_OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 8 (jessie)"
NAME="Debian GNU/Linux"
VERSION_ID="8"
VERSION="8 (jessie)"
ID=debian
HOME_URL="http://www.debian.org/"
SUPPORT_URL="http://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/""#;
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverDebian8).
    pub const DEBIAN_8_11_DEBIAN_VERSION: &str = "8.11\n";
    /// ceph/ceph src/ceph-detect-init/tests/test_all.py (os_release_debian_stretch).
    pub const DEBIAN_9_OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 9 (stretch)"
NAME="Debian GNU/Linux"
VERSION_ID="9"
VERSION="9 (stretch)"
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverDebian9).
    pub const DEBIAN_9_13_DEBIAN_VERSION: &str = "9.13\n";
    /// python-distro/distro tests/resources/distros/debian9/etc/os-release: a
    /// stretch/sid (testing) tree: no VERSION_ID at all.
    pub const DEBIAN_STRETCH_SID_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux stretch/sid\"\nNAME=\"Debian GNU/Linux\"\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"";
    /// ansible/ansible .../fixtures/debian_10.json
    pub const DEBIAN_10_OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 10 (buster)"
NAME="Debian GNU/Linux"
VERSION_ID="10"
VERSION="10 (buster)"
VERSION_CODENAME=buster
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverDebian10).
    pub const DEBIAN_10_6_DEBIAN_VERSION: &str = "10.6\n";
    /// beeware/briefcase tests/platforms/linux/os_release.py ("debian:11").
    pub const DEBIAN_11_OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;
    /// secondlife/with-cloudsmith test/fixtures.sh (BOOKWORM_OS_RELEASE).
    pub const DEBIAN_12_OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/""#;
    /// A Raspberry Pi OS README (`cat /etc/debian_version` beside the bookworm
    /// os-release above; public code index).
    pub const DEBIAN_12_9_DEBIAN_VERSION: &str = "12.9\n";

    // ----- Kali ---------------------------------------------------------------------

    /// ansible/ansible .../fixtures/kali_2019.1.json (/etc and /usr/lib identical).
    pub const KALI_2019_1_OS_RELEASE: &str = r#"PRETTY_NAME="Kali GNU/Linux Rolling"
NAME="Kali GNU/Linux"
ID=kali
VERSION="2019.1"
VERSION_ID="2019.1"
ID_LIKE=debian
ANSI_COLOR="1;31"
HOME_URL="https://www.kali.org/"
SUPPORT_URL="https://forums.kali.org/"
BUG_REPORT_URL="https://bugs.kali.org/"
"#;
    /// Same fixture.
    pub const KALI_2019_1_LSB_RELEASE: &str = r#"DISTRIB_ID=Kali
DISTRIB_RELEASE=kali-rolling
DISTRIB_CODENAME=kali-rolling
DISTRIB_DESCRIPTION="Kali GNU/Linux Rolling"
"#;
    /// A TryHackMe-style write-up, `cat /etc/os-release` on Kali 2022.3 (public code index).
    pub const KALI_2022_3_OS_RELEASE: &str = r#"PRETTY_NAME="Kali GNU/Linux Rolling"
NAME="Kali GNU/Linux"
ID=kali
VERSION="2022.3"
VERSION_ID="2022.3"
VERSION_CODENAME="kali-rolling"
ID_LIKE=debian
ANSI_COLOR="1;31"
HOME_URL="https://www.kali.org/"
SUPPORT_URL="https://forums.kali.org/"
BUG_REPORT_URL="https://bugs.kali.org/"
"#;
    /// A Kali VirtualBox setup note, `cat /etc/os-release` on 2022.4 (public code index).
    pub const KALI_2022_4_OS_RELEASE: &str = r#"PRETTY_NAME="Kali GNU/Linux Rolling"
NAME="Kali GNU/Linux"
VERSION="2022.4"
VERSION_ID="2022.4"
VERSION_CODENAME="kali-rolling"
ID=kali
ID_LIKE=debian
HOME_URL="https://www.kali.org/"
SUPPORT_URL="https://forums.kali.org/"
BUG_REPORT_URL="https://bugs.kali.org/"
ANSI_COLOR="1;31"
"#;
    /// chrisanthropic/packer-debian2kali-ec2 scripts/os-release.sh (Kali 1.1.0;
    /// before the supported range).
    pub const KALI_1_1_OS_RELEASE: &str = r#"PRETTY_NAME="Kali GNU/Linux 1.1.0 (moto)"
NAME="Kali GNU/Linux"
ID=kali
VERSION="1.1.0 (moto)"
VERSION_ID="1.1.0"
ID_LIKE=debian
ANSI_COLOR="1;31"
HOME_URL="http://www.kali.org/"
SUPPORT_URL="http://forums.kali.org/"
BUG_REPORT_URL="http://bugs.kali.org/"
"#;
    /// Happy2Golden/Defenders-Lab-00 00_intro_mission/system_baseline.md (after the range).
    pub const KALI_2025_2_OS_RELEASE: &str = r#"PRETTY_NAME="Kali GNU/Linux Rolling"
NAME="Kali GNU/Linux"
VERSION_ID="2025.2"
VERSION="2025.2"
VERSION_CODENAME=kali-rolling
ID=kali
ID_LIKE=debian
HOME_URL="https://www.kali.org/"
SUPPORT_URL="https://forums.kali.org/"
BUG_REPORT_URL="https://bugs.kali.org/"
ANSI_COLOR="1;31"
"#;

    // ----- not supported, for the negative rows ------------------------------------------

    /// beeware/briefcase tests/platforms/linux/os_release.py ("almalinux:9.1").
    pub const ALMA_9_1_OS_RELEASE: &str = r#"NAME="AlmaLinux"
VERSION="9.1 (Lime Lynx)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.1"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.1 (Lime Lynx)"
ANSI_COLOR="0;34"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"
HOME_URL="https://almalinux.org/"
DOCUMENTATION_URL="https://wiki.almalinux.org/"
BUG_REPORT_URL="https://bugs.almalinux.org/"

ALMALINUX_MANTISBT_PROJECT="AlmaLinux-9"
ALMALINUX_MANTISBT_PROJECT_VERSION="9.1"
REDHAT_SUPPORT_PRODUCT="AlmaLinux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.1"
"#;
    /// beeware/briefcase tests/platforms/linux/os_release.py ("opensuse/leap:15.4").
    pub const LEAP_15_4_OS_RELEASE: &str = r#"NAME="openSUSE Leap"
VERSION="15.4"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.4"
PRETTY_NAME="openSUSE Leap 15.4"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:opensuse:leap:15.4"
BUG_REPORT_URL="https://bugs.opensuse.org"
HOME_URL="https://www.opensuse.org/"
DOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"
LOGO="distributor-logo-Leap"
"#;
    /// beeware/briefcase tests/platforms/linux/os_release.py
    /// ("opensuse/tumbleweed:latest"): a commented-out VERSION line.
    pub const TUMBLEWEED_OS_RELEASE: &str = r#"NAME="openSUSE Tumbleweed"
# VERSION="20230304"
ID="opensuse-tumbleweed"
ID_LIKE="opensuse suse"
VERSION_ID="20230304"
PRETTY_NAME="openSUSE Tumbleweed"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:opensuse:tumbleweed:20230304"
BUG_REPORT_URL="https://bugs.opensuse.org"
HOME_URL="https://www.opensuse.org/"
DOCUMENTATION_URL="https://en.opensuse.org/Portal:Tumbleweed"
LOGO="distributor-logo-Tumbleweed"
"#;
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverOpenSuSEOld).
    pub const OPENSUSE_42_1_SUSE_RELEASE: &str = "openSUSE 42.1 (x86_64)\nVERSION = 42.1\nCODENAME = Malachite\n# /etc/SuSE-release is deprecated and will be removed in the future, use /etc/os-release instead\n";
    /// dekobon/distro-detect linux/distro_test.go (TestDiscoverDebian6).
    pub const DEBIAN_6_0_10_DEBIAN_VERSION: &str = "6.0.10\n";
}

#[cfg(test)]
mod tests {
    use super::vectors::*;
    use super::*;
    use proptest::prelude::*;

    fn nv(major: u32, minor: Option<u32>) -> Option<NumericVersion> {
        Some(NumericVersion { major, minor })
    }

    #[test]
    fn numeric_versions() {
        assert_eq!(parse_numeric_version("22.04"), nv(22, Some(4)));
        assert_eq!(parse_numeric_version(" 7.9.2009 "), nv(7, Some(9)));
        assert_eq!(parse_numeric_version("15"), nv(15, None));
        assert_eq!(parse_numeric_version("2022.1"), nv(2022, Some(1)));
        assert_eq!(parse_numeric_version("6.0.10"), nv(6, Some(0)));
        assert_eq!(parse_numeric_version("8."), nv(8, None));
        assert_eq!(parse_numeric_version("12-SP4"), nv(12, None));
        assert_eq!(parse_numeric_version("V10"), None);
        assert_eq!(parse_numeric_version(""), None);
        assert_eq!(parse_numeric_version("bookworm/sid"), None);
        assert_eq!(parse_numeric_version("99999999999"), None);
        assert_eq!(parse_numeric_version("7.99999999999"), None);
    }

    #[test]
    fn os_release_quoting_escapes_and_comments() {
        let text = concat!(
            "\u{feff}# a comment\n",
            "   # an indented comment\n",
            "; a systemd-style comment\n",
            "NAME='Single $quoted \\n'\n",
            "PRETTY_NAME=\"Esc \\\"q\\\" \\$d \\\\b \\`t\\` \\x kept\"\n",
            "VERSION=un\\ quoted\\ \\\"x\\\"\n",
            "ID=foo # trailing comment\n",
            "ID_LIKE=\"a b\"   \n",
            "HASH=a#b\n",
            "  KEY_SPACES =  value  \n",
            "BAD LINE WITHOUT EQUALS\n",
            "1BAD=x\n",
            "BAD-KEY=x\n",
            "MULTI=\"line1\nline2\"\n",
            "CONT=\"a\\\nb\"\n",
            "UCONT=a\\\nb\n",
            "CONCAT=\"a\"'b'c\n",
            "EMPTY=\n",
            "DUP=first\n",
            "DUP=second\n",
            "CRLF=\"x\"\r\n",
            "LAST=\"unterminated",
        );
        let v = ShellVars::parse(text);
        assert_eq!(v.get("NAME"), Some("Single $quoted \\n"));
        assert_eq!(v.get("PRETTY_NAME"), Some("Esc \"q\" $d \\b `t` \\x kept"));
        assert_eq!(v.get("VERSION"), Some("un quoted \"x\""));
        assert_eq!(v.get("ID"), Some("foo"));
        assert_eq!(v.get("ID_LIKE"), Some("a b"));
        assert_eq!(v.get("HASH"), Some("a#b"));
        assert_eq!(v.get("KEY_SPACES"), Some("value"));
        assert_eq!(v.get("1BAD"), None);
        assert_eq!(v.get("BAD-KEY"), None);
        assert_eq!(v.get("MULTI"), Some("line1\nline2"));
        assert_eq!(v.get("CONT"), Some("ab"));
        assert_eq!(v.get("UCONT"), Some("ab"));
        assert_eq!(v.get("CONCAT"), Some("abc"));
        assert_eq!(v.get("EMPTY"), Some(""));
        assert_eq!(v.get("DUP"), Some("second"));
        assert_eq!(v.get("CRLF"), Some("x"));
        assert_eq!(v.get("LAST"), Some("unterminated"));
        assert_eq!(v.iter().filter(|(k, _)| *k == "DUP").count(), 2);

        let o = OsRelease::parse(text);
        assert_eq!(o.get("EMPTY"), None, "empty counts as absent");
        assert_eq!(o.id_like(), vec!["a", "b"]);
    }

    #[test]
    fn os_release_real_files() {
        let o = OsRelease::parse(UBUNTU_22_04_OS_RELEASE);
        assert_eq!(o.id(), Some("ubuntu"));
        assert_eq!(o.version_id(), Some("22.04"));
        assert_eq!(o.pretty_name(), Some("Ubuntu 22.04.2 LTS"));
        assert_eq!(o.version_codename(), Some("jammy"));
        assert_eq!(o.id_like(), vec!["debian"]);

        // Oracle Linux 6.10: blanks after closing quotes and after an unquoted value.
        let o = OsRelease::parse(OL_6_10_OS_RELEASE);
        assert_eq!(o.id(), Some("ol"));
        assert_eq!(o.version(), Some("6.10"));
        assert_eq!(o.version_id(), Some("6.10"));
        assert_eq!(o.get("ORACLE_BUGZILLA_PRODUCT_VERSION"), Some("6.10"));
        assert_eq!(o.get("HOME_URL"), Some("https://linux.oracle.com/"));
        assert_eq!(o.vars().len(), 13);

        // A commented-out VERSION stays out.
        let o = OsRelease::parse(TUMBLEWEED_OS_RELEASE);
        assert_eq!(o.version(), None);
        assert_eq!(o.version_id(), Some("20230304"));
        assert_eq!(o.id_like(), vec!["opensuse", "suse"]);

        let o = OsRelease::parse(SLES_15_4_OS_RELEASE);
        assert_eq!((o.id(), o.version_id()), (Some("sles"), Some("15.4")));
        assert_eq!(o.version(), Some("15-SP4"));

        let o = OsRelease::parse(DEBIAN_STRETCH_SID_OS_RELEASE);
        assert_eq!(o.version_id(), None);
        assert_eq!(o.pretty_name(), Some("Debian GNU/Linux stretch/sid"));

        let o = OsRelease::parse(CENTOS_8_1_OS_RELEASE);
        assert_eq!(o.get("REDHAT_SUPPORT_PRODUCT_VERSION"), Some("8"));
        assert_eq!(o.name(), Some("CentOS Linux"));
    }

    #[test]
    fn lsb_release() {
        let l = parse_lsb_release(UBUNTU_14_04_LSB_RELEASE);
        assert_eq!(l.distrib_id.as_deref(), Some("Ubuntu"));
        assert_eq!(l.distrib_release.as_deref(), Some("14.04"));
        assert_eq!(l.distrib_codename.as_deref(), Some("trusty"));
        assert_eq!(l.distrib_description.as_deref(), Some("Ubuntu 14.04.4 LTS"));
        let l = parse_lsb_release(EL6_LSB_RELEASE);
        assert_eq!(l, LsbRelease::default());
        let l = parse_lsb_release(KALI_2019_1_LSB_RELEASE);
        assert_eq!(l.distrib_id.as_deref(), Some("Kali"));
        assert_eq!(l.distrib_release.as_deref(), Some("kali-rolling"));
    }

    #[test]
    fn redhat_release_lines() {
        use RhProduct::*;
        /// (text, product, name, version text, version, codename)
        type Case = (
            &'static str,
            RhProduct,
            &'static str,
            Option<&'static str>,
            Option<NumericVersion>,
            Option<&'static str>,
        );
        let table: &[Case] = &[
            (
                "Red Hat Enterprise Linux Server release 7.9 (Maipo)",
                Rhel,
                "Red Hat Enterprise Linux Server",
                Some("7.9"),
                nv(7, Some(9)),
                Some("Maipo"),
            ),
            (
                RHEL_6_7_REDHAT_RELEASE,
                Rhel,
                "Red Hat Enterprise Linux Server",
                Some("6.7"),
                nv(6, Some(7)),
                Some("Santiago"),
            ),
            (
                RHEL_7_7_REDHAT_RELEASE,
                Rhel,
                "Red Hat Enterprise Linux Server",
                Some("7.7"),
                nv(7, Some(7)),
                Some("Maipo"),
            ),
            (
                RHEL_8_7_REDHAT_RELEASE,
                Rhel,
                "Red Hat Enterprise Linux",
                Some("8.7"),
                nv(8, Some(7)),
                Some("Ootpa"),
            ),
            (
                RHEL_9_0_REDHAT_RELEASE,
                Rhel,
                "Red Hat Enterprise Linux",
                Some("9.0"),
                nv(9, Some(0)),
                Some("Plow"),
            ),
            (
                "Red Hat Enterprise Linux AS release 4 (Nahant Update 9)",
                Rhel,
                "Red Hat Enterprise Linux AS",
                Some("4"),
                nv(4, Some(9)),
                Some("Nahant Update 9"),
            ),
            (
                CENTOS_6_7_REDHAT_RELEASE,
                Centos,
                "CentOS",
                Some("6.7"),
                nv(6, Some(7)),
                Some("Final"),
            ),
            (
                CENTOS_6_10_CENTOS_RELEASE,
                Centos,
                "CentOS",
                Some("6.10"),
                nv(6, Some(10)),
                Some("Final"),
            ),
            (
                CENTOS_7_9_CENTOS_RELEASE,
                Centos,
                "CentOS Linux",
                Some("7.9.2009"),
                nv(7, Some(9)),
                Some("Core"),
            ),
            (
                CENTOS_8_1_CENTOS_RELEASE,
                Centos,
                "CentOS Linux",
                Some("8.1.1911"),
                nv(8, Some(1)),
                Some("Core"),
            ),
            (
                CENTOS_STREAM_8_CENTOS_RELEASE,
                CentosStream,
                "CentOS Stream",
                Some("8"),
                nv(8, None),
                None,
            ),
            (
                OL_6_10_ORACLE_RELEASE,
                OracleLinux,
                "Oracle Linux Server",
                Some("6.10"),
                nv(6, Some(10)),
                None,
            ),
            (
                OL_7_9_ORACLE_RELEASE,
                OracleLinux,
                "Oracle Linux Server",
                Some("7.9"),
                nv(7, Some(9)),
                None,
            ),
            (
                OL_8_2_ORACLE_RELEASE,
                OracleLinux,
                "Oracle Linux Server",
                Some("8.2"),
                nv(8, Some(2)),
                None,
            ),
            (
                "Fedora release 20 (Heisenbug)",
                Fedora,
                "Fedora",
                Some("20"),
                nv(20, None),
                Some("Heisenbug"),
            ),
            (
                "Scientific Linux release 6.10 (Carbon)",
                Scientific,
                "Scientific Linux",
                Some("6.10"),
                nv(6, Some(10)),
                Some("Carbon"),
            ),
            (
                "AlmaLinux release 9.1 (Lime Lynx)",
                Other,
                "AlmaLinux",
                Some("9.1"),
                nv(9, Some(1)),
                Some("Lime Lynx"),
            ),
            (
                "\n\n  CentOS   release\t5.11  (Final)  \n",
                Centos,
                "CentOS",
                Some("5.11"),
                nv(5, Some(11)),
                Some("Final"),
            ),
            (
                "Red Hat Enterprise Linux release (unknown)",
                Rhel,
                "Red Hat Enterprise Linux",
                None,
                None,
                Some("unknown"),
            ),
        ];
        for (text, product, name, vtext, version, codename) in table {
            let r = parse_redhat_release(text).unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(r.product, *product, "{text:?}");
            assert_eq!(r.name, *name, "{text:?}");
            assert_eq!(r.version_text.as_deref(), *vtext, "{text:?}");
            assert_eq!(r.version, *version, "{text:?}");
            assert_eq!(r.codename.as_deref(), *codename, "{text:?}");
        }
        assert_eq!(
            parse_redhat_release(CENTOS_8_1_CENTOS_RELEASE)
                .unwrap()
                .line,
            "CentOS Linux release 8.1.1911 (Core)"
        );
        for bad in [
            "",
            "\n \n",
            "release 7",
            "Some text without the word",
            "7.9",
        ] {
            assert_eq!(parse_redhat_release(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn suse_release() {
        let s = parse_suse_release(SLES_11_3_SUSE_RELEASE).unwrap();
        assert_eq!(s.product, SuseProduct::Sles);
        assert_eq!(s.name, "SUSE Linux Enterprise Server 11 (x86_64)");
        assert_eq!(s.version, nv(11, None));
        assert_eq!(s.patchlevel, Some(3));
        let s = parse_suse_release(SLES_11_4_SUSE_RELEASE).unwrap();
        assert_eq!((s.product, s.patchlevel), (SuseProduct::Sles, Some(4)));
        let s = parse_suse_release(SLES_12_SUSE_RELEASE).unwrap();
        assert_eq!((s.version, s.patchlevel), (nv(12, None), Some(0)));
        let s = parse_suse_release(OPENSUSE_42_1_SUSE_RELEASE).unwrap();
        assert_eq!(s.product, SuseProduct::OpenSuse);
        assert_eq!((s.version, s.patchlevel), (nv(42, Some(1)), None));
        let s = parse_suse_release(
            "SUSE Linux Enterprise Desktop 11 (x86_64)\nPATCHLEVEL=2\nVERSION=11\n",
        )
        .unwrap();
        assert_eq!(s.product, SuseProduct::Sled);
        assert_eq!((s.version, s.patchlevel), (nv(11, None), Some(2)));
        assert_eq!(parse_suse_release("\n# only a comment\n"), None);
    }

    #[test]
    fn debian_version() {
        let num = |t: &str| match parse_debian_version(t) {
            Some(DebianVersion::Numbered { version, raw }) => (version, raw),
            other => panic!("{t:?}: {other:?}"),
        };
        assert_eq!(
            num(DEBIAN_7_11_DEBIAN_VERSION),
            (nv(7, Some(11)).unwrap(), "7.11".into())
        );
        assert_eq!(num("12.2\n"), (nv(12, Some(2)).unwrap(), "12.2".into()));
        assert_eq!(num(DEBIAN_12_9_DEBIAN_VERSION).0, nv(12, Some(9)).unwrap());
        assert_eq!(
            num(DEBIAN_6_0_10_DEBIAN_VERSION),
            (nv(6, Some(0)).unwrap(), "6.0.10".into())
        );
        assert_eq!(
            parse_debian_version("bookworm/sid\n"),
            Some(DebianVersion::Named("bookworm/sid".into()))
        );
        assert_eq!(parse_debian_version("  \n"), None);
        assert_eq!(debian_codename_major("bookworm/sid"), Some(12));
        assert_eq!(debian_codename_major("stretch/sid"), Some(9));
        assert_eq!(debian_codename_major("Wheezy"), Some(7));
        assert_eq!(debian_codename_major("sid"), None);
        assert_eq!(debian_codename_major("kali-rolling"), None);
    }

    proptest! {
        #[test]
        fn proptest_parsers_never_panic(text in ".{0,400}") {
            let _ = ShellVars::parse(&text);
            let _ = OsRelease::parse(&text).id_like();
            let _ = parse_lsb_release(&text);
            let _ = parse_redhat_release(&text);
            let _ = parse_suse_release(&text);
            let _ = parse_debian_version(&text);
            let _ = debian_codename_major(&text);
            let _ = parse_numeric_version(&text);
        }

        #[test]
        fn proptest_shell_syntax_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\"".to_string()), Just("'".to_string()), Just("\\".to_string()),
                    Just("=".to_string()), Just("\n".to_string()), Just("#".to_string()),
                    Just(" ".to_string()), Just("KEY".to_string()), Just("release".to_string()),
                    Just("VERSION = ".to_string()), Just("(".to_string()), Just(")".to_string()),
                    "[0-9.]{1,12}", "\\PC{0,4}",
                ],
                0..60,
            )
        ) {
            let text = parts.concat();
            let v = ShellVars::parse(&text);
            // Values never grow beyond the input.
            for (k, val) in v.iter() {
                prop_assert!(k.len() + val.len() <= text.len());
            }
            let _ = parse_redhat_release(&text);
            let _ = parse_suse_release(&text);
        }

        #[test]
        fn proptest_simple_assignments_round_trip(
            key in "[A-Z_][A-Z0-9_]{0,12}",
            value in "[A-Za-z0-9 .,:/()_+-]{0,30}",
        ) {
            let quoted = format!("{key}=\"{value}\"\n");
            let parsed = ShellVars::parse(&quoted);
            prop_assert_eq!(parsed.get(&key), Some(value.as_str()));
            let single = format!("{key}='{value}'\n");
            let parsed = ShellVars::parse(&single);
            prop_assert_eq!(parsed.get(&key), Some(value.as_str()));
        }
    }
}
