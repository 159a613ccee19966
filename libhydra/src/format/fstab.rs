//! /etc/fstab: parse, resolve-ready entries, and byte-preserving edits.
//!
//! The parser follows util-linux libmount (`tab_parse.c`, `mnt_parse_table_line`),
//! which is what `mount -a` and systemd's fstab generator use:
//!
//! - a line is split at `\n`; one trailing `\r` is ignored (CRLF files work);
//! - a line that is empty or whose first non-blank byte is `#` is a comment;
//! - fields are separated by runs of spaces and tabs; a field is decoded by
//!   turning every `\ooo` (backslash and three octal digits) into that byte, so
//!   `\040` is a space and `\011` a tab (libmount `unmangle`);
//! - **spec, mount point and type are required**; options, freq (dump) and
//!   passno are optional; freq and passno must be whole numbers (`strtol`: an
//!   optional sign and decimal digits, nothing glued to them); anything after
//!   passno is ignored (kept here as [`Entry::extra`]);
//! - a line that does not parse is skipped by libmount (reported through its error
//!   callback). Here it is kept verbatim as [`LineKind::Invalid`] and listed by
//!   [`Fstab::problems`] with its line number.
//!
//! glibc's `getmntent` is laxer (it accepts one or two fields and fills in the
//! rest); nothing that boots a current guest uses it for fstab any more.
//!
//! Every line keeps its exact bytes. [`Fstab::to_bytes`] of an unedited file is the
//! input, byte for byte (also for non-UTF-8 bytes, NULs, a missing final newline).
//! Fields are exposed as strings (lossily decoded where the bytes are not UTF-8);
//! edits work on byte ranges of the original line, so they change only the field
//! they are about and keep every separator (spaces, tabs) as it was. Edits never
//! add or remove lines: line numbers stay valid across edits.

use std::fmt;
use std::ops::Range;

/// The default prefix [`Fstab::comment_out`] puts in front of a line Hydra disables
/// (network filesystems, L7). [`Fstab::restore_commented`] removes it again.
pub const DISABLED_MARKER: &str = "# hydra-disabled: ";

/// Filesystem types that need the network (union of libmount's
/// `mnt_fstype_is_netfs` and systemd's `fstype_is_network`). A `fuse.` prefix is
/// looked through; `nfs*` and `9p*` match by prefix as libmount does.
const NETWORK_FSTYPES: &[&str] = &[
    "afs",
    "ceph",
    "cifs",
    "coda",
    "davfs",
    "gfs",
    "gfs2",
    "glusterfs",
    "lustre",
    "ncp",
    "ncpfs",
    "ocfs2",
    "pvfs2",
    "smb3",
    "smbfs",
    "sshfs",
    "curlftpfs",
    "s3fs",
];

/// One line of an fstab: its bytes and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes of the line without its `\n` (a trailing `\r` stays here).
    text: Vec<u8>,
    /// Whether the line ended with `\n` (only the last line may not).
    newline: bool,
    /// What the text parses to.
    kind: LineKind,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// Empty or only spaces and tabs.
    Blank,
    /// First non-blank byte is `#`.
    Comment,
    /// A mount entry.
    Entry(Box<Entry>),
    /// Something libmount would skip as a syntax error; kept verbatim.
    Invalid {
        /// Why it does not parse.
        reason: String,
    },
}

/// One whitespace-separated field of an entry line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    raw: String,
    value: String,
    span: Range<usize>,
}

impl Field {
    /// The field as written in the file (octal escapes not decoded).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The field with `\ooo` escapes decoded (`\040` -> space).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Byte range of the field in the line's text.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }
}

/// A parsed mount entry: `spec file vfstype [mntops [freq [passno]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    spec: Field,
    file: Field,
    vfstype: Field,
    mntops: Option<Field>,
    freq: Option<Field>,
    passno: Option<Field>,
    extra: Vec<Field>,
}

impl Entry {
    /// The first field (`fs_spec`): what to mount, classified.
    pub fn spec(&self) -> Spec {
        Spec::parse(self.spec.value())
    }

    /// The first field as a [`Field`] (raw and decoded text, span).
    pub fn spec_field(&self) -> &Field {
        &self.spec
    }

    /// The mount point (`fs_file`), decoded. `none`/`swap` for swap entries.
    pub fn target(&self) -> &str {
        self.file.value()
    }

    /// The mount point field.
    pub fn target_field(&self) -> &Field {
        &self.file
    }

    /// The filesystem type (`fs_vfstype`), decoded (`xfs`, `ext4`, `nfs`,
    /// `udf,iso9660`, `auto`, ...).
    pub fn vfstype(&self) -> &str {
        self.vfstype.value()
    }

    /// The type field.
    pub fn vfstype_field(&self) -> &Field {
        &self.vfstype
    }

    /// The options field, when present.
    pub fn mntops_field(&self) -> Option<&Field> {
        self.mntops.as_ref()
    }

    /// The mount options (decoded; empty when the field is missing, which mount
    /// treats as `defaults`).
    pub fn options(&self) -> Options<'_> {
        Options::new(self.mntops.as_ref().map(Field::value).unwrap_or(""))
    }

    /// The dump frequency (fifth field), 0 when absent.
    pub fn freq(&self) -> i32 {
        self.freq.as_ref().map_or(0, |f| parse_c_int(f.value()))
    }

    /// The fsck pass number (sixth field), 0 when absent.
    pub fn passno(&self) -> i32 {
        self.passno.as_ref().map_or(0, |f| parse_c_int(f.value()))
    }

    /// The freq field, when present.
    pub fn freq_field(&self) -> Option<&Field> {
        self.freq.as_ref()
    }

    /// The passno field, when present.
    pub fn passno_field(&self) -> Option<&Field> {
        self.passno.as_ref()
    }

    /// Fields after passno (libmount ignores them; often a stray comment).
    pub fn extra(&self) -> &[Field] {
        &self.extra
    }

    /// A swap entry (`vfstype` is `swap`).
    pub fn is_swap(&self) -> bool {
        self.vfstype() == "swap"
    }

    /// The filesystem type is a network filesystem (nfs, nfs4, cifs, smbfs, smb3,
    /// ncpfs, glusterfs, ceph, 9p, sshfs, ..., also as `fuse.<type>` and the old
    /// `fuse` + `sshfs#user@host:` form).
    pub fn is_network_fs(&self) -> bool {
        is_network_fstype(self.vfstype())
            || (self.vfstype() == "fuse" && self.spec.value().contains('#'))
    }

    /// The mount needs the network: a network filesystem or the `_netdev` option
    /// (iSCSI and other network block devices).
    pub fn needs_network(&self) -> bool {
        self.is_network_fs() || self.options().has("_netdev")
    }

    /// `nofail` is set: boot goes on when the device is missing.
    pub fn nofail(&self) -> bool {
        self.options().nofail()
    }

    /// `noauto` is set: not mounted at boot.
    pub fn noauto(&self) -> bool {
        self.options().noauto()
    }

    /// A bind mount (`bind` or `rbind`).
    pub fn is_bind(&self) -> bool {
        self.options().bind()
    }
}

/// Whether a filesystem type names a network filesystem (see [`Entry::is_network_fs`]).
pub fn is_network_fstype(vfstype: &str) -> bool {
    let t = vfstype.strip_prefix("fuse.").unwrap_or(vfstype);
    t.starts_with("nfs") && t != "nfsd" || t.starts_with("9p") || NETWORK_FSTYPES.contains(&t)
}

/// What the first field of an entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Spec {
    /// `UUID=` (filesystem UUID), value with surrounding quotes removed.
    Uuid(String),
    /// `LABEL=` (filesystem label).
    Label(String),
    /// `PARTUUID=` (GPT partition GUID, or `<MBR signature>-<NN>`).
    PartUuid(String),
    /// `PARTLABEL=` (GPT partition name).
    PartLabel(String),
    /// `ID=` (the disk's hardware id as in `/dev/disk/by-id`; recent libmount only).
    Id(String),
    /// Any path under `/dev/`.
    DevPath(String),
    /// Any other absolute path: a swap file, a loop image, a bind-mount source.
    Path(String),
    /// Anything else: `host:/export` (nfs), `//server/share` (cifs), `none`,
    /// `tmpfs`, `proc`, `sysfs`, ...
    Other(String),
}

impl Spec {
    /// Classify a decoded spec field. Tag names are case-sensitive, as in libmount
    /// (`uuid=...` is not a tag); one pair of `"` or `'` around a tag value is
    /// removed, as `blkid_parse_tag_string` does.
    pub fn parse(value: &str) -> Spec {
        if let Some((name, v)) = value.split_once('=') {
            let v = strip_quotes(v);
            let tagged = match name {
                "UUID" => Some(Spec::Uuid(v.to_string())),
                "LABEL" => Some(Spec::Label(v.to_string())),
                "PARTUUID" => Some(Spec::PartUuid(v.to_string())),
                "PARTLABEL" => Some(Spec::PartLabel(v.to_string())),
                "ID" => Some(Spec::Id(v.to_string())),
                _ => None,
            };
            if let Some(t) = tagged {
                return t;
            }
        }
        if value.starts_with("/dev/") {
            Spec::DevPath(value.to_string())
        } else if value.starts_with('/') && !value.starts_with("//") {
            Spec::Path(value.to_string())
        } else {
            Spec::Other(value.to_string())
        }
    }

    /// A `/dev/...` path, `UUID=` ... : the spec names a block device (or may).
    pub fn names_device(&self) -> bool {
        !matches!(self, Spec::Path(_) | Spec::Other(_))
    }
}

impl fmt::Display for Spec {
    /// The spec as it is written in fstab (before octal escaping).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Uuid(v) => write!(f, "UUID={v}"),
            Spec::Label(v) => write!(f, "LABEL={v}"),
            Spec::PartUuid(v) => write!(f, "PARTUUID={v}"),
            Spec::PartLabel(v) => write!(f, "PARTLABEL={v}"),
            Spec::Id(v) => write!(f, "ID={v}"),
            Spec::DevPath(v) | Spec::Path(v) | Spec::Other(v) => f.write_str(v),
        }
    }
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// A mount option string (`rw,noatime,subvol=/@/var,context="a,b"`), read-only view.
///
/// Items are separated by commas outside double quotes (SELinux contexts contain
/// commas), as libmount's `mnt_optstr_next_option` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a>(&'a str);

impl<'a> Options<'a> {
    /// Wrap an option string.
    pub fn new(s: &'a str) -> Self {
        Options(s)
    }

    /// The whole string.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Every item as `(name, value)`; empty items are skipped.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        split_options(self.0)
            .into_iter()
            .map(|item| match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item, None),
            })
    }

    /// Whether an option with this name is present (`has("nofail")`, `has("subvol")`).
    pub fn has(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n == name)
    }

    /// The value of the *last* `name=value` item (later items override earlier
    /// ones, as for mount), without one pair of surrounding double quotes.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| v)
            .last()
            .map(|v| {
                v.strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(v)
            })
    }

    /// `nofail`.
    pub fn nofail(&self) -> bool {
        self.has("nofail")
    }

    /// `noauto`.
    pub fn noauto(&self) -> bool {
        self.has("noauto")
    }

    /// `bind` or `rbind`.
    pub fn bind(&self) -> bool {
        self.has("bind") || self.has("rbind")
    }

    /// btrfs `subvol=`.
    pub fn subvol(&self) -> Option<&'a str> {
        self.get("subvol")
    }

    /// btrfs `subvolid=` (decimal); `None` when absent or not a number.
    pub fn subvolid(&self) -> Option<u64> {
        self.get("subvolid").and_then(|v| v.parse().ok())
    }
}

fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                if i > start {
                    out.push(&s[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// A line that does not parse, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// The line as written (lossy UTF-8).
    pub text: String,
    /// Why libmount would skip it.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fstab line {}: {}: {:?}",
            self.line, self.reason, self.text
        )
    }
}

/// Why an edit was refused. Nothing is changed when an edit fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The line number is 0 or past the end.
    #[error("fstab has no line {line} ({count} lines)")]
    NoSuchLine {
        /// The line asked for (1-based).
        line: usize,
        /// Number of lines in the file.
        count: usize,
    },
    /// The line is a comment, blank or does not parse.
    #[error("fstab line {line} is not a mount entry")]
    NotAnEntry {
        /// The line asked for (1-based).
        line: usize,
    },
    /// The new text cannot be written as asked.
    #[error("fstab line {line}: {detail}")]
    Invalid {
        /// The line asked for (1-based).
        line: usize,
        /// What is wrong with the argument.
        detail: String,
    },
}

/// A whole fstab file: every line with its bytes, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fstab {
    lines: Vec<Line>,
}

impl Fstab {
    /// Parse fstab bytes. Never fails: lines that do not parse are kept verbatim
    /// and reported by [`Fstab::problems`].
    pub fn parse(bytes: &[u8]) -> Fstab {
        let mut lines = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (text, newline, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true, &rest[i + 1..]),
                None => (rest, false, &rest[rest.len()..]),
            };
            lines.push(Line::new(text.to_vec(), newline));
            rest = next;
        }
        Fstab { lines }
    }

    /// The file's bytes, with edits applied. Unedited: exactly the parsed input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.text.len() + 1).sum());
        for l in &self.lines {
            out.extend_from_slice(&l.text);
            if l.newline {
                out.push(b'\n');
            }
        }
        out
    }

    /// All lines in order (line number = index + 1).
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The line with this 1-based number.
    pub fn line(&self, line_no: usize) -> Option<&Line> {
        line_no.checked_sub(1).and_then(|i| self.lines.get(i))
    }

    /// Mount entries with their 1-based line numbers, in file order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.entry().map(|e| (i + 1, e)))
    }

    /// Entries whose mount point is `target` (trailing slashes ignored:
    /// `/boot/` is `/boot`), in file order. Several entries for one mount point
    /// happen (a stale line left behind); the caller decides.
    pub fn entries_for(&self, target: &str) -> Vec<(usize, &Entry)> {
        let want = normalize_target(target);
        self.entries()
            .filter(|(_, e)| normalize_target(e.target()) == want)
            .collect()
    }

    /// Lines that do not parse, with the reason.
    pub fn problems(&self) -> Vec<Problem> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.kind {
                LineKind::Invalid { reason } => Some(Problem {
                    line: i + 1,
                    text: l.text_lossy(),
                    reason: reason.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Replace the spec (first field) of entry `line_no` by `new_spec` (plain
    /// text: spaces, tabs, newlines and backslashes are written as octal escapes).
    /// Everything else on the line, separators included, stays as it was.
    pub fn replace_spec(&mut self, line_no: usize, new_spec: &str) -> Result<(), EditError> {
        if new_spec.is_empty() || new_spec.starts_with('#') {
            return Err(EditError::Invalid {
                line: line_no,
                detail: format!("{new_spec:?} cannot be a spec (empty or starts with '#')"),
            });
        }
        let span = self.entry_at(line_no)?.spec.span();
        self.splice(line_no, span, &mangle(new_spec));
        Ok(())
    }

    /// Add `option` (`nofail`, `x-systemd.device-timeout=10s`) to entry `line_no`:
    /// appended as `,option` to the options field, or, on a three-field line, written
    /// as a fourth field after the type with the same separator that precedes the
    /// type. Returns `false` (and changes nothing) when the exact item is already
    /// there.
    pub fn add_option(&mut self, line_no: usize, option: &str) -> Result<bool, EditError> {
        if option.is_empty() || option.contains(',') || option.starts_with('=') {
            return Err(EditError::Invalid {
                line: line_no,
                detail: format!("{option:?} is not a single mount option"),
            });
        }
        let entry = self.entry_at(line_no)?;
        if let Some(ops) = &entry.mntops {
            if split_options(ops.value()).contains(&option) {
                return Ok(false);
            }
            let end = ops.span.end;
            let ins = format!(",{}", mangle(option));
            self.splice(line_no, end..end, &ins);
        } else {
            let t = entry.vfstype.span();
            let sep_start = entry.file.span.end;
            let text = &self.lines[line_no - 1].text;
            let sep = String::from_utf8_lossy(&text[sep_start..t.start]).into_owned();
            let ins = format!("{sep}{}", mangle(option));
            self.splice(line_no, t.end..t.end, &ins);
        }
        Ok(true)
    }

    /// Disable entry `line_no` by prefixing the whole line with `marker` (which must
    /// start with `#`, e.g. [`DISABLED_MARKER`]). The original bytes follow the
    /// marker unchanged, so [`Fstab::restore_commented`] gives them back exactly.
    pub fn comment_out(&mut self, line_no: usize, marker: &str) -> Result<(), EditError> {
        check_marker(line_no, marker)?;
        self.entry_at(line_no)?;
        let line = &mut self.lines[line_no - 1];
        let mut text = marker.as_bytes().to_vec();
        text.extend_from_slice(&line.text);
        line.set_text(text);
        Ok(())
    }

    /// Undo [`Fstab::comment_out`]: remove `marker` from the start of every line
    /// that begins with it. Returns the line numbers restored.
    pub fn restore_commented(&mut self, marker: &str) -> Vec<usize> {
        let mut done = Vec::new();
        if marker.is_empty() {
            return done;
        }
        for (i, line) in self.lines.iter_mut().enumerate() {
            if let Some(rest) = line.text.strip_prefix(marker.as_bytes()) {
                let rest = rest.to_vec();
                line.set_text(rest);
                done.push(i + 1);
            }
        }
        done
    }

    /// Lines currently disabled with `marker`, with the entry they hold.
    pub fn commented_entries(&self, marker: &str) -> Vec<(usize, Entry)> {
        if marker.is_empty() {
            return Vec::new();
        }
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let rest = l.text.strip_prefix(marker.as_bytes())?;
                match parse_line(logical(rest)) {
                    LineKind::Entry(e) => Some((i + 1, *e)),
                    _ => None,
                }
            })
            .collect()
    }

    fn entry_at(&self, line_no: usize) -> Result<&Entry, EditError> {
        let line = self.line(line_no).ok_or(EditError::NoSuchLine {
            line: line_no,
            count: self.lines.len(),
        })?;
        line.entry().ok_or(EditError::NotAnEntry { line: line_no })
    }

    /// Replace `range` of line `line_no`'s text by `with` and re-parse the line.
    fn splice(&mut self, line_no: usize, range: Range<usize>, with: &str) {
        let line = &mut self.lines[line_no - 1];
        let mut text = line.text.clone();
        text.splice(range, with.bytes());
        line.set_text(text);
    }
}

fn check_marker(line_no: usize, marker: &str) -> Result<(), EditError> {
    if !marker.starts_with('#') || marker.contains(['\n', '\r']) {
        return Err(EditError::Invalid {
            line: line_no,
            detail: format!("marker {marker:?} must start with '#' and be one line"),
        });
    }
    Ok(())
}

impl Line {
    fn new(text: Vec<u8>, newline: bool) -> Line {
        let kind = parse_line(logical(&text));
        Line {
            text,
            newline,
            kind,
        }
    }

    fn set_text(&mut self, text: Vec<u8>) {
        self.kind = parse_line(logical(&text));
        self.text = text;
    }

    /// The bytes of the line without its `\n`.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The line as a string (lossy for non-UTF-8 bytes), without `\n` and `\r`.
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(logical(&self.text)).into_owned()
    }

    /// Whether the line ends with `\n`.
    pub fn has_newline(&self) -> bool {
        self.newline
    }

    /// What the line is.
    pub fn kind(&self) -> &LineKind {
        &self.kind
    }

    /// The entry, when the line is one.
    pub fn entry(&self) -> Option<&Entry> {
        match &self.kind {
            LineKind::Entry(e) => Some(e),
            _ => None,
        }
    }
}

/// The text libmount looks at: without one trailing `\r`.
fn logical(text: &[u8]) -> &[u8] {
    text.strip_suffix(b"\r").unwrap_or(text)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn parse_line(text: &[u8]) -> LineKind {
    match text.iter().position(|&b| !is_blank(b)) {
        None => return LineKind::Blank,
        Some(i) if text[i] == b'#' => return LineKind::Comment,
        Some(_) => {}
    }
    if text.contains(&0) {
        // C parsers stop at a NUL: what follows would silently vanish.
        return LineKind::Invalid {
            reason: "contains a NUL byte".into(),
        };
    }
    let mut fields = Vec::new();
    let mut i = 0;
    while i < text.len() {
        while i < text.len() && is_blank(text[i]) {
            i += 1;
        }
        let start = i;
        while i < text.len() && !is_blank(text[i]) {
            i += 1;
        }
        if i > start {
            fields.push(field(text, start..i));
        }
    }
    if fields.len() < 3 {
        return LineKind::Invalid {
            reason: format!(
                "{} field(s): an entry needs at least spec, mount point and type",
                fields.len()
            ),
        };
    }
    let mut it = fields.into_iter();
    let (spec, file, vfstype) = (
        it.next().expect("3"),
        it.next().expect("3"),
        it.next().expect("3"),
    );
    let mntops = it.next();
    let freq = it.next();
    let passno = it.next();
    for (name, f) in [("freq (dump)", &freq), ("passno", &passno)] {
        if let Some(f) = f {
            if !is_c_int(f.raw()) {
                return LineKind::Invalid {
                    reason: format!("{name} field {:?} is not a number", f.raw()),
                };
            }
        }
    }
    LineKind::Entry(Box::new(Entry {
        spec,
        file,
        vfstype,
        mntops,
        freq,
        passno,
        extra: it.collect(),
    }))
}

fn field(text: &[u8], span: Range<usize>) -> Field {
    let raw = &text[span.clone()];
    Field {
        raw: String::from_utf8_lossy(raw).into_owned(),
        value: String::from_utf8_lossy(&unmangle(raw)).into_owned(),
        span,
    }
}

/// Decode `\ooo` octal escapes (libmount `unmangle_to_buffer`: any three octal
/// digits, the value truncated to a byte as C does).
pub fn unmangle(raw: &[u8]) -> Vec<u8> {
    let is_oct = |b: u8| (b'0'..=b'7').contains(&b);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 3 < raw.len() {
            let (a, b, c) = (raw[i + 1], raw[i + 2], raw[i + 3]);
            if is_oct(a) && is_oct(b) && is_oct(c) {
                let v = 64 * u32::from(a - b'0') + 8 * u32::from(b - b'0') + u32::from(c - b'0');
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Encode a field for fstab: space, tab, newline and backslash as `\ooo`
/// (libmount `mangle`).
pub fn mangle(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// `strtol`-style whole number as libmount accepts for freq/passno.
fn is_c_int(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn parse_c_int(s: &str) -> i32 {
    let neg = s.starts_with('-');
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    let v = d
        .bytes()
        .try_fold(0i64, |acc, b| {
            acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
        })
        .unwrap_or(i64::MAX);
    let v = if neg { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// A mount point with trailing slashes removed (`/` stays `/`).
pub fn normalize_target(target: &str) -> &str {
    let t = target.trim_end_matches('/');
    if t.is_empty() && target.starts_with('/') {
        "/"
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RHEL7: &str = "
#
# /etc/fstab
# Created by anaconda on Thu Jan 16 09:14:25 2020
#
# Accessible filesystems, by reference, are maintained under '/dev/disk'
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info
#
/dev/mapper/rhel-root   /                       xfs     defaults        0 0
UUID=6b0e0ac0-1d3e-4b63-8f5d-8a6f6a3a2c1e /boot                   xfs     defaults        0 0
/dev/mapper/rhel-swap   swap                    swap    defaults        0 0
";

    const RHEL9: &str = "
#
# /etc/fstab
# Created by anaconda on Mon Jun 12 10:21:13 2023
#
# Accessible filesystems, by reference, are maintained under '/dev/disk/'.
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info.
#
# After editing this file, run 'systemctl daemon-reload' to update systemd
# units generated from this file.
#
/dev/mapper/rhel-root   /                       xfs     defaults        0 0
UUID=0f9b8e7a-2c4d-4e6f-8a1b-3c5d7e9f1a2b /boot                   xfs     defaults        0 0
UUID=7C3A-1F2B          /boot/efi               vfat    umask=0077,shortname=winnt 0 2
/dev/mapper/rhel-home   /home                   xfs     defaults        0 0
/dev/mapper/rhel-swap   none                    swap    defaults        0 0
";

    const UBUNTU_1804: &str = "# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
# / was on /dev/sda1 during installation
UUID=15fbc63d-3d37-40fb-8578-5ef7f467bc6c /               ext4    errors=remount-ro 0       1
/swapfile                                 none            swap    sw              0       0
";

    const UBUNTU_2204_LVM: &str = "# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
# / was on /dev/ubuntu-vg/ubuntu-lv during curtin installation
/dev/disk/by-id/dm-uuid-LVM-Kx3bYwQb1rX0yC9p0aZ6QeF7wT2uV8sLd4kR5mN1oP3qS6tU9vW0xY2zA4bC6dE8 / ext4 defaults 0 1
# /boot was on /dev/sda2 during curtin installation
/dev/disk/by-uuid/3e4d1b2a-9c8f-4a6b-b1d2-e3f4a5b6c7d8 /boot ext4 defaults 0 1
# /boot/efi was on /dev/sda1 during curtin installation
/dev/disk/by-uuid/A1B2-C3D4 /boot/efi vfat defaults 0 1
/swap.img\tnone\tswap\tsw\t0\t0
";

    const SLES15: &str = "UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /                       btrfs  defaults                      0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /var                    btrfs  subvol=/@/var                 0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /usr/local              btrfs  subvol=/@/usr/local           0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /tmp                    btrfs  subvol=/@/tmp                 0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /srv                    btrfs  subvol=/@/srv                 0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /root                   btrfs  subvol=/@/root                0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /opt                    btrfs  subvol=/@/opt                 0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /boot/grub2/x86_64-efi  btrfs  subvol=/@/boot/grub2/x86_64-efi  0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /boot/grub2/i386-pc     btrfs  subvol=/@/boot/grub2/i386-pc  0  0
UUID=8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8  /.snapshots             btrfs  subvol=/@/.snapshots          0  0
UUID=2d4e6f80-1a2b-3c4d-5e6f-708192a3b4c5  /home                   xfs    defaults                      0  0
UUID=9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9  swap                    swap   defaults                      0  0
UUID=5C1D-7E2F                             /boot/efi               vfat   utf8                          0  2
";

    const SLES12_BY_ID: &str =
        "/dev/disk/by-id/scsi-36000c29a1b2c3d4e5f60718293a4b5c6-part1 swap swap defaults 0 0
/dev/disk/by-id/scsi-36000c29a1b2c3d4e5f60718293a4b5c6-part2 / btrfs defaults 0 0
/dev/disk/by-path/pci-0000:00:10.0-scsi-0:0:1:0-part1 /data xfs defaults 1 2
";

    const DEBIAN7: &str = "# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
proc            /proc           proc    defaults        0       0
# / was on /dev/sda1 during installation
/dev/sda1       /               ext4    errors=remount-ro 0       1
# swap was on /dev/sda5 during installation
UUID=b84f39d8-c6f7-4d71-9509-a4d20a1179fb none            swap    sw              0       0
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0
/dev/fd0        /media/floppy0  auto    rw,user,noauto  0       0
";

    const NETWORK: &str = "nfs.example.com:/export/home\t/home\tnfs\trw,hard,intr,_netdev\t0 0
filer:/vol/data   /data   nfs4   defaults   0 0
//fileserver/share\\040name /mnt/my\\040share cifs credentials=/root/.smb,uid=1000,_netdev 0 0
tmpfs /dev/shm tmpfs defaults 0 0
/dev/sdb1 /iscsi ext4 _netdev,nofail 0 0
";

    const ALL: &[&str] = &[
        RHEL7,
        RHEL9,
        UBUNTU_1804,
        UBUNTU_2204_LVM,
        SLES15,
        SLES12_BY_ID,
        DEBIAN7,
        NETWORK,
    ];

    fn entries(f: &Fstab) -> Vec<(usize, Entry)> {
        f.entries().map(|(n, e)| (n, e.clone())).collect()
    }

    #[test]
    fn real_world_files_round_trip_and_parse_cleanly() {
        for text in ALL {
            let f = Fstab::parse(text.as_bytes());
            assert_eq!(f.to_bytes(), text.as_bytes());
            assert!(f.problems().is_empty(), "{:?}", f.problems());
            assert!(f.entries().count() >= 2);
        }
    }

    #[test]
    fn rhel9_fields() {
        let f = Fstab::parse(RHEL9.as_bytes());
        let e = entries(&f);
        assert_eq!(e.len(), 5);
        let (n, root) = &e[0];
        assert_eq!(*n, 12);
        assert_eq!(root.spec(), Spec::DevPath("/dev/mapper/rhel-root".into()));
        assert_eq!(root.target(), "/");
        assert_eq!(root.vfstype(), "xfs");
        assert_eq!(root.options().as_str(), "defaults");
        assert_eq!((root.freq(), root.passno()), (0, 0));
        let esp = &f.entries_for("/boot/efi/")[0].1;
        assert_eq!(esp.spec(), Spec::Uuid("7C3A-1F2B".into()));
        assert_eq!(esp.options().get("umask"), Some("0077"));
        assert_eq!(esp.passno(), 2);
        assert!(e[4].1.is_swap());
        assert_eq!(f.line(1).map(|l| l.kind()), Some(&LineKind::Blank));
        assert_eq!(f.line(2).map(|l| l.kind()), Some(&LineKind::Comment));
    }

    #[test]
    fn sles15_subvolumes() {
        let f = Fstab::parse(SLES15.as_bytes());
        let subvols: Vec<_> = f
            .entries()
            .filter_map(|(_, e)| e.options().subvol().map(str::to_string))
            .collect();
        assert_eq!(subvols.len(), 9);
        assert_eq!(subvols[0], "/@/var");
        assert_eq!(subvols[6], "/@/boot/grub2/x86_64-efi");
        assert_eq!(f.entries_for("/").len(), 1);
    }

    #[test]
    fn ubuntu_specs() {
        let f = Fstab::parse(UBUNTU_2204_LVM.as_bytes());
        let specs: Vec<Spec> = f.entries().map(|(_, e)| e.spec()).collect();
        assert!(
            matches!(&specs[0], Spec::DevPath(p) if p.starts_with("/dev/disk/by-id/dm-uuid-LVM-"))
        );
        assert_eq!(specs[3], Spec::Path("/swap.img".into()));
        let f = Fstab::parse(UBUNTU_1804.as_bytes());
        // The "/ was on /dev/sda1" comment stays a comment.
        assert_eq!(f.line(8).unwrap().kind(), &LineKind::Comment);
        assert_eq!(f.entries().count(), 2);
    }

    #[test]
    fn network_and_escapes() {
        let f = Fstab::parse(NETWORK.as_bytes());
        let e = entries(&f);
        assert!(e[0].1.is_network_fs() && e[0].1.needs_network());
        assert_eq!(
            e[0].1.spec(),
            Spec::Other("nfs.example.com:/export/home".into())
        );
        assert!(e[1].1.is_network_fs());
        let cifs = &e[2].1;
        assert!(cifs.is_network_fs());
        assert_eq!(cifs.spec_field().raw(), "//fileserver/share\\040name");
        assert_eq!(cifs.spec(), Spec::Other("//fileserver/share name".into()));
        assert_eq!(cifs.target(), "/mnt/my share");
        assert_eq!(cifs.target_field().raw(), "/mnt/my\\040share");
        assert!(!e[3].1.is_network_fs());
        let iscsi = &e[4].1;
        assert!(!iscsi.is_network_fs() && iscsi.needs_network() && iscsi.nofail());
        assert!(!iscsi.noauto());
    }

    #[test]
    fn network_types() {
        for t in [
            "nfs",
            "nfs4",
            "cifs",
            "smbfs",
            "smb3",
            "ncpfs",
            "glusterfs",
            "fuse.glusterfs",
            "ceph",
            "9p",
            "fuse.sshfs",
            "afs",
            "davfs",
        ] {
            assert!(is_network_fstype(t), "{t}");
        }
        for t in [
            "nfsd", "ext4", "xfs", "btrfs", "tmpfs", "fuseblk", "fuse", "vfat",
        ] {
            assert!(!is_network_fstype(t), "{t}");
        }
        let f = Fstab::parse(b"sshfs#me@host:/ /mnt/h fuse defaults 0 0\n");
        assert!(f.entries().next().unwrap().1.is_network_fs());
    }

    #[test]
    fn spec_classification() {
        let cases = [
            ("UUID=abc", Spec::Uuid("abc".into())),
            ("UUID=\"abc\"", Spec::Uuid("abc".into())),
            ("LABEL='my root'", Spec::Label("my root".into())),
            ("PARTUUID=5e3da5c1-02", Spec::PartUuid("5e3da5c1-02".into())),
            ("PARTLABEL=EFI", Spec::PartLabel("EFI".into())),
            ("ID=scsi-123", Spec::Id("scsi-123".into())),
            ("uuid=abc", Spec::Other("uuid=abc".into())),
            ("/dev/sda1", Spec::DevPath("/dev/sda1".into())),
            ("/swapfile", Spec::Path("/swapfile".into())),
            ("//srv/share", Spec::Other("//srv/share".into())),
            ("host:/export", Spec::Other("host:/export".into())),
            ("tmpfs", Spec::Other("tmpfs".into())),
            ("none", Spec::Other("none".into())),
        ];
        for (s, want) in cases {
            assert_eq!(Spec::parse(s), want, "{s}");
        }
        assert_eq!(Spec::Uuid("x".into()).to_string(), "UUID=x");
        assert!(Spec::DevPath("/dev/sda".into()).names_device());
        assert!(!Spec::Path("/swapfile".into()).names_device());
    }

    #[test]
    fn options() {
        let o = Options::new("rw,context=\"system_u:object_r:tmp_t:s0:c127,c456\",subvol=@,subvolid=256,,nofail,subvol=/@/x");
        assert!(o.has("rw") && o.nofail() && !o.noauto() && !o.bind());
        assert_eq!(
            o.get("context"),
            Some("system_u:object_r:tmp_t:s0:c127,c456")
        );
        assert_eq!(o.subvol(), Some("/@/x"), "the last one wins");
        assert_eq!(o.subvolid(), Some(256));
        assert_eq!(o.iter().count(), 6);
        assert!(Options::new("rbind").bind());
        assert_eq!(Options::new("").iter().count(), 0);
    }

    #[test]
    fn what_libmount_rejects_and_accepts() {
        let text = "UUID=x /\nsingle\nUUID=x / ext4 defaults zero 1\nUUID=x / ext4 defaults 0 1x\n\
                    UUID=x / ext4\nUUID=x / ext4 defaults 0 1 # trailing comment\n   # indented comment\n\
                    \t \nUUID=x / ext4 defaults -1 +2\n";
        let f = Fstab::parse(text.as_bytes());
        let p: Vec<usize> = f.problems().iter().map(|p| p.line).collect();
        assert_eq!(p, vec![1, 2, 3, 4]);
        assert!(f.problems()[0].reason.contains("2 field(s)"));
        assert!(f.problems()[2].reason.contains("freq"));
        assert!(f.problems()[3].reason.contains("passno"));
        let e5 = f.line(5).unwrap().entry().unwrap();
        assert!(e5.mntops_field().is_none() && e5.freq_field().is_none());
        let e6 = f.line(6).unwrap().entry().unwrap();
        assert_eq!(e6.extra().len(), 3);
        assert_eq!(f.line(7).unwrap().kind(), &LineKind::Comment);
        assert_eq!(f.line(8).unwrap().kind(), &LineKind::Blank);
        let e9 = f.line(9).unwrap().entry().unwrap();
        assert_eq!((e9.freq(), e9.passno()), (-1, 2));
        assert_eq!(f.to_bytes(), text.as_bytes());
        assert!(f.problems()[0].to_string().starts_with("fstab line 1:"));
    }

    #[test]
    fn crlf_nul_non_utf8_and_no_final_newline() {
        let mut text = b"UUID=a / ext4 defaults 0 1\r\n/dev/sdb1 /d\xff xfs defaults 0 0\r\nbad\0line here x\nLABEL=x /x xfs".to_vec();
        let f = Fstab::parse(&text);
        assert_eq!(f.to_bytes(), text);
        let e: Vec<_> = entries(&f);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].1.passno(), 1, "the \\r is not part of passno");
        assert_eq!(e[1].1.target(), "/d\u{fffd}");
        assert_eq!(f.problems()[0].line, 3);
        assert!(!f.line(4).unwrap().has_newline());
        // Edits keep the CR.
        let mut g = f.clone();
        g.add_option(1, "nofail").unwrap();
        assert!(g
            .to_bytes()
            .starts_with(b"UUID=a / ext4 defaults,nofail 0 1\r\n"));
        text.clear();
        assert!(Fstab::parse(&text).lines().is_empty());
    }

    #[test]
    fn unmangle_and_mangle() {
        assert_eq!(
            unmangle(b"a\\040b\\011c\\134d\\\\e\\08"),
            b"a b\tc\\d\\\\e\\08"
        );
        assert_eq!(unmangle(b"\\777"), vec![0xff]);
        assert_eq!(mangle("my share\\x\t"), "my\\040share\\134x\\011");
        assert_eq!(unmangle(mangle("a b\n").as_bytes()), b"a b\n");
    }

    #[test]
    fn replace_spec_keeps_the_rest_of_the_line() {
        let mut f = Fstab::parse(DEBIAN7.as_bytes());
        let (n, _) = f.entries_for("/")[0];
        assert_eq!(n, 10);
        f.replace_spec(n, "UUID=15fbc63d-3d37-40fb-8578-5ef7f467bc6c")
            .unwrap();
        let out = String::from_utf8(f.to_bytes()).unwrap();
        let want = DEBIAN7.replace(
            "/dev/sda1       /               ext4",
            "UUID=15fbc63d-3d37-40fb-8578-5ef7f467bc6c       /               ext4",
        );
        assert_eq!(out, want);
        assert_eq!(
            f.line(n).unwrap().entry().unwrap().spec(),
            Spec::Uuid("15fbc63d-3d37-40fb-8578-5ef7f467bc6c".into())
        );
        f.replace_spec(n, "LABEL=my root").unwrap();
        assert!(f
            .line(n)
            .unwrap()
            .text_lossy()
            .starts_with("LABEL=my\\040root       /"));
        assert_eq!(
            f.line(n).unwrap().entry().unwrap().spec(),
            Spec::Label("my root".into())
        );
    }

    #[test]
    fn comment_out_and_restore() {
        let mut f = Fstab::parse(NETWORK.as_bytes());
        let nets: Vec<usize> = f
            .entries()
            .filter(|(_, e)| e.is_network_fs())
            .map(|(n, _)| n)
            .collect();
        assert_eq!(nets, vec![1, 2, 3]);
        for n in &nets {
            f.comment_out(*n, DISABLED_MARKER).unwrap();
        }
        let out = String::from_utf8(f.to_bytes()).unwrap();
        assert!(out.starts_with(
            "# hydra-disabled: nfs.example.com:/export/home\t/home\tnfs\trw,hard,intr,_netdev\t0 0\n"
        ));
        assert_eq!(f.entries().count(), 2);
        assert_eq!(f.commented_entries(DISABLED_MARKER).len(), 3);
        // Commenting a comment is refused.
        assert_eq!(
            f.comment_out(1, DISABLED_MARKER),
            Err(EditError::NotAnEntry { line: 1 })
        );
        assert_eq!(f.restore_commented(DISABLED_MARKER), nets);
        assert_eq!(f.to_bytes(), NETWORK.as_bytes());
        assert!(f.restore_commented(DISABLED_MARKER).is_empty());
    }

    #[test]
    fn add_option_cases() {
        let mut f = Fstab::parse(
            b"UUID=a /data xfs defaults 0 0\nUUID=b\t/x\txfs\nUUID=c /y ext4 nofail 0 2\n",
        );
        assert_eq!(f.add_option(1, "nofail"), Ok(true));
        assert_eq!(f.add_option(2, "nofail"), Ok(true));
        assert_eq!(f.add_option(3, "nofail"), Ok(false));
        assert_eq!(f.add_option(3, "x-systemd.device-timeout=10s"), Ok(true));
        assert_eq!(
            String::from_utf8(f.to_bytes()).unwrap(),
            "UUID=a /data xfs defaults,nofail 0 0\nUUID=b\t/x\txfs\tnofail\nUUID=c /y ext4 nofail,x-systemd.device-timeout=10s 0 2\n"
        );
        assert!(f.line(2).unwrap().entry().unwrap().nofail());
    }

    #[test]
    fn edit_errors_change_nothing() {
        let mut f = Fstab::parse(DEBIAN7.as_bytes());
        let before = f.clone();
        assert_eq!(
            f.replace_spec(0, "x"),
            Err(EditError::NoSuchLine { line: 0, count: 14 })
        );
        assert_eq!(
            f.replace_spec(99, "x"),
            Err(EditError::NoSuchLine {
                line: 99,
                count: 14
            })
        );
        assert_eq!(
            f.replace_spec(1, "x"),
            Err(EditError::NotAnEntry { line: 1 })
        );
        assert!(matches!(
            f.replace_spec(10, ""),
            Err(EditError::Invalid { .. })
        ));
        assert!(matches!(
            f.replace_spec(10, "#x"),
            Err(EditError::Invalid { .. })
        ));
        assert!(matches!(
            f.comment_out(10, "hydra"),
            Err(EditError::Invalid { .. })
        ));
        assert!(matches!(
            f.comment_out(10, "#a\nb"),
            Err(EditError::Invalid { .. })
        ));
        assert!(matches!(
            f.add_option(10, "a,b"),
            Err(EditError::Invalid { .. })
        ));
        assert!(matches!(
            f.add_option(10, ""),
            Err(EditError::Invalid { .. })
        ));
        assert_eq!(f, before);
    }

    #[test]
    fn normalize_targets() {
        assert_eq!(normalize_target("/"), "/");
        assert_eq!(normalize_target("//"), "/");
        assert_eq!(normalize_target("/boot/"), "/boot");
        assert_eq!(normalize_target("none"), "none");
    }

    fn ws() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(" ".to_string()),
            Just("\t".to_string()),
            Just("  \t ".to_string())
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        let spec = prop_oneof![
            Just("UUID=1234-ABCD"),
            Just("/dev/sda1"),
            Just("LABEL=a\\040b"),
            Just("host:/x"),
            Just("tmpfs"),
        ];
        let entry = (
            ws(),
            spec,
            ws(),
            prop_oneof![Just("/"), Just("/boot"), Just("/mnt/a\\040b")],
            ws(),
            prop_oneof![Just("xfs"), Just("nfs"), Just("swap")],
            proptest::option::of((ws(), prop_oneof![Just("defaults"), Just("rw,noatime")])),
            proptest::option::of((ws(), Just("0"), ws(), Just("2"))),
            ws(),
            any::<bool>(),
        )
            .prop_map(|(w0, s, w1, t, w2, ty, ops, nums, w3, trail)| {
                let mut l = format!("{}{s}{w1}{t}{w2}{ty}", if trail { w0.as_str() } else { "" });
                if let Some((w, o)) = ops {
                    l += &format!("{w}{o}");
                    if let Some((a, b, c, d)) = nums {
                        l += &format!("{a}{b}{c}{d}");
                    }
                }
                if trail {
                    l += &w3;
                }
                l
            });
        prop_oneof![
            4 => entry,
            1 => Just("# comment".to_string()),
            1 => Just(String::new()),
            1 => Just("broken line".to_string()),
        ]
    }

    fn fstab_text() -> impl Strategy<Value = (String, usize)> {
        (
            proptest::collection::vec(line(), 1..12),
            any::<bool>(),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(lines, final_nl, idx)| {
                let mut t = lines.join("\n");
                if final_nl {
                    t.push('\n');
                }
                (t, idx.index(1 << 16))
            })
    }

    fn lines_except(f: &Fstab, n: usize) -> Vec<Vec<u8>> {
        f.lines()
            .iter()
            .enumerate()
            .filter(|(i, _)| i + 1 != n)
            .map(|(_, l)| {
                let mut b = l.text().to_vec();
                b.push(u8::from(l.has_newline()));
                b
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_round_trip(
            bytes in proptest::collection::vec(
                prop_oneof![
                    4 => prop_oneof![Just(b' '), Just(b'\t'), Just(b'\n'), Just(b'#'), Just(b'\\'), Just(b'\r'), Just(b'0'), Just(b'4')],
                    4 => b'a'..=b'z',
                    1 => any::<u8>(),
                ],
                0..400,
            )
        ) {
            let f = Fstab::parse(&bytes);
            prop_assert_eq!(f.to_bytes(), bytes.clone());
            let _ = f.problems();
            for (_, e) in f.entries() {
                let _ = (e.spec(), e.options().iter().count(), e.freq(), e.passno(), e.needs_network());
            }
        }

        #[test]
        fn edits_change_only_their_line((text, pick) in fstab_text()) {
            let f = Fstab::parse(text.as_bytes());
            prop_assert_eq!(f.to_bytes(), text.as_bytes());
            let entries: Vec<usize> = f.entries().map(|(n, _)| n).collect();
            prop_assume!(!entries.is_empty());
            let n = entries[pick % entries.len()];
            let orig = f.line(n).unwrap().clone();
            let oe = orig.entry().unwrap().clone();

            // replace_spec: bytes before and after the spec are untouched.
            let mut g = f.clone();
            g.replace_spec(n, "UUID=new uuid").unwrap();
            prop_assert_eq!(lines_except(&g, n), lines_except(&f, n));
            let nl = g.line(n).unwrap();
            let sp = oe.spec_field().span();
            prop_assert_eq!(&nl.text()[..sp.start], &orig.text()[..sp.start]);
            prop_assert_eq!(&nl.text()[sp.start..sp.start + 16], b"UUID=new\\040uuid".as_slice());
            prop_assert_eq!(&nl.text()[sp.start + 16..], &orig.text()[sp.end..]);
            prop_assert_eq!(nl.entry().unwrap().spec(), Spec::Uuid("new uuid".into()));
            prop_assert_eq!(nl.entry().unwrap().target(), oe.target());

            // add_option: the line gains exactly the option, nothing else moves.
            let mut g = f.clone();
            let added = g.add_option(n, "nofail").unwrap();
            prop_assert!(added);
            prop_assert_eq!(lines_except(&g, n), lines_except(&f, n));
            let ne = g.line(n).unwrap().entry().unwrap().clone();
            prop_assert!(ne.nofail());
            prop_assert_eq!(ne.target(), oe.target());
            prop_assert_eq!(ne.vfstype(), oe.vfstype());
            prop_assert_eq!(ne.passno(), oe.passno());
            let want = match oe.mntops_field() {
                Some(m) => {
                    let end = m.span().end;
                    [&orig.text()[..end], b",nofail", &orig.text()[end..]].concat()
                }
                None => {
                    let (f_end, t) = (oe.target_field().span().end, oe.vfstype_field().span());
                    let sep = &orig.text()[f_end..t.start];
                    [&orig.text()[..t.end], sep, b"nofail", &orig.text()[t.end..]].concat()
                }
            };
            prop_assert_eq!(g.line(n).unwrap().text(), want.as_slice());
            prop_assert_eq!(g.add_option(n, "nofail"), Ok(false));

            // comment_out + restore is the identity.
            let mut g = f.clone();
            g.comment_out(n, DISABLED_MARKER).unwrap();
            prop_assert_eq!(lines_except(&g, n), lines_except(&f, n));
            prop_assert_eq!(g.line(n).unwrap().kind(), &LineKind::Comment);
            prop_assert_eq!(g.restore_commented(DISABLED_MARKER), vec![n]);
            prop_assert_eq!(g.to_bytes(), text.as_bytes());
        }
    }
}
