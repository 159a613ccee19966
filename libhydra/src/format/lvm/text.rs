//! A parser of LVM's configuration text format (libdm `libdm-config.c`), the format of
//! VG metadata: `key = value`, `name { ... }` sections, `[ v, ... ]` arrays, `"strings"`
//! with `\"` and `\\` escapes, `'raw strings'`, integers, floats and `#` comments.
//!
//! The parser is bounded: section nesting is capped at [`MAX_DEPTH`], text ends at the
//! first NUL byte, and nothing is allocated in proportion to a number read from the text.

use crate::error::FormatError;

/// Deepest section nesting accepted (VG metadata uses 6 levels).
pub const MAX_DEPTH: usize = 32;

const WHAT: &str = "LVM2 metadata text";

/// A scalar value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer (`strtoll` base 0 semantics: a leading `0` means octal).
    Int(i64),
    /// A floating-point number, kept as written.
    Float(String),
    /// A string (quoted, with escapes removed, or a bare word).
    Str(String),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `key = value`.
    Value(Value),
    /// `key = [ ... ]` (possibly empty).
    Array(Vec<Value>),
    /// `key { ... }`.
    Section(Section),
}

/// One `key ...` entry of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key (or section name).
    pub key: String,
    /// Its value or contents.
    pub item: Item,
}

/// A section: its entries in text order (the whole text is the root section).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Entries in the order written.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The item of `key`; when a key repeats, the last one wins (as in libdm).
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| &e.item)
    }

    /// The sub-section named `key`.
    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key) {
            Some(Item::Section(s)) => Some(s),
            _ => None,
        }
    }

    /// Every sub-section with its name, in text order.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.entries.iter().filter_map(|e| match &e.item {
            Item::Section(s) => Some((e.key.as_str(), s)),
            _ => None,
        })
    }

    /// The scalar value of `key` (not an array or section).
    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.get(key) {
            Some(Item::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// The string value of `key`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value(key).and_then(Value::as_str)
    }

    /// The integer value of `key`.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.value(key).and_then(Value::as_int)
    }

    /// The values of `key` as a list: an array's elements, or a lone scalar as a list of
    /// one (libdm treats both alike).
    pub fn list(&self, key: &str) -> Option<&[Value]> {
        match self.get(key) {
            Some(Item::Array(a)) => Some(a),
            Some(Item::Value(v)) => Some(std::slice::from_ref(v)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    SectionB,
    SectionE,
    ArrayB,
    ArrayE,
    Comma,
    Eq,
    /// `"..."`: escapes to remove.
    StrEscaped,
    /// `'...'`.
    Str,
    Int,
    Float,
    /// A bare word where a key is expected.
    Ident,
    /// A bare word where a value is expected.
    StrBare,
    Eof,
}

struct Parser<'a> {
    text: &'a [u8],
    /// Token start and end.
    tb: usize,
    te: usize,
    t: Tok,
    line: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a [u8]) -> Self {
        // Text ends at the first NUL (the on-disk copy is NUL-terminated).
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        let mut p = Parser {
            text: &text[..end],
            tb: 0,
            te: 0,
            t: Tok::Eof,
            line: 1,
        };
        p.next(Tok::Eof);
        p
    }

    fn err(&self, detail: impl std::fmt::Display) -> FormatError {
        FormatError::invalid(WHAT, format!("line {}: {detail}", self.line))
    }

    fn eat_space(&mut self) {
        let t = self.text;
        loop {
            if self.te < t.len() && t[self.te] == b'#' {
                while self.te < t.len() && t[self.te] != b'\n' {
                    self.te += 1;
                }
            } else if self.te >= t.len() || !is_space(t[self.te]) {
                break;
            }
            while self.te < t.len() && is_space(t[self.te]) {
                if t[self.te] == b'\n' {
                    self.line += 1;
                }
                self.te += 1;
            }
        }
        self.tb = self.te;
    }

    /// Read the next token; `prev` decides whether a bare word is a value.
    fn next(&mut self, prev: Tok) {
        self.eat_space();
        let t = self.text;
        if self.tb >= t.len() {
            self.t = Tok::Eof;
            return;
        }
        let values_allowed = matches!(prev, Tok::Eq | Tok::ArrayB | Tok::Comma);
        let mut te = self.tb;
        let c = t[te];
        self.t = match c {
            b'{' => {
                te += 1;
                Tok::SectionB
            }
            b'}' => {
                te += 1;
                Tok::SectionE
            }
            b'[' => {
                te += 1;
                Tok::ArrayB
            }
            b']' => {
                te += 1;
                Tok::ArrayE
            }
            b',' => {
                te += 1;
                Tok::Comma
            }
            b'=' => {
                te += 1;
                Tok::Eq
            }
            b'"' => {
                te += 1;
                while te < t.len() && t[te] != b'"' {
                    if t[te] == b'\\' && te + 1 < t.len() {
                        te += 1;
                    }
                    if t[te] == b'\n' {
                        self.line += 1;
                    }
                    te += 1;
                }
                if te < t.len() {
                    te += 1;
                }
                Tok::StrEscaped
            }
            b'\'' => {
                te += 1;
                while te < t.len() && t[te] != b'\'' {
                    if t[te] == b'\n' {
                        self.line += 1;
                    }
                    te += 1;
                }
                if te < t.len() {
                    te += 1;
                }
                Tok::Str
            }
            b'.' | b'0'..=b'9' | b'+' | b'-' if values_allowed => {
                let mut tok = if c == b'.' { Tok::Float } else { Tok::Int };
                te += 1;
                while te < t.len() {
                    if t[te].is_ascii_digit() {
                        te += 1;
                    } else if t[te] == b'.' && tok != Tok::Float {
                        tok = Tok::Float;
                        te += 1;
                    } else {
                        break;
                    }
                }
                tok
            }
            _ => {
                while te < t.len()
                    && !is_space(t[te])
                    && !matches!(t[te], b'#' | b'=' | b'{' | b'}')
                {
                    te += 1;
                }
                if values_allowed {
                    Tok::StrBare
                } else {
                    Tok::Ident
                }
            }
        };
        self.te = te;
    }

    fn tok_bytes(&self) -> &'a [u8] {
        &self.text[self.tb..self.te]
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<(), FormatError> {
        if self.t != t {
            return Err(self.err(format!("expected {what}")));
        }
        self.next(t);
        Ok(())
    }

    /// The contents of a quoted string token, unterminated strings rejected.
    fn quoted(&self, escaped: bool) -> Result<String, FormatError> {
        let b = self.tok_bytes();
        let q = b[0];
        if b.len() < 2 || b[b.len() - 1] != q || (escaped && is_escaped_end(b)) {
            return Err(self.err("unterminated string"));
        }
        let inner = &b[1..b.len() - 1];
        Ok(if escaped {
            unescape(inner)
        } else {
            String::from_utf8_lossy(inner).into_owned()
        })
    }

    fn file(&mut self) -> Result<Section, FormatError> {
        let mut root = Section::default();
        while self.t != Tok::Eof {
            root.entries.push(self.entry(1)?);
        }
        Ok(root)
    }

    fn entry(&mut self, depth: usize) -> Result<Entry, FormatError> {
        let key = match self.t {
            Tok::StrEscaped => self.quoted(true)?,
            Tok::Str => self.quoted(false)?,
            Tok::Ident => String::from_utf8_lossy(self.tok_bytes()).into_owned(),
            _ => return Err(self.err("expected a key or section name")),
        };
        let t = self.t;
        self.next(t);
        if self.t == Tok::SectionB {
            if depth > MAX_DEPTH {
                return Err(self.err(format!("sections nested deeper than {MAX_DEPTH}")));
            }
            self.next(Tok::SectionB);
            let mut sec = Section::default();
            while self.t != Tok::SectionE {
                if self.t == Tok::Eof {
                    return Err(self.err(format!("section {key:?} is not closed")));
                }
                sec.entries.push(self.entry(depth + 1)?);
            }
            self.next(Tok::SectionE);
            return Ok(Entry {
                key,
                item: Item::Section(sec),
            });
        }
        self.expect(Tok::Eq, &format!("'=' or '{{' after {key:?}"))?;
        let item = if self.t == Tok::ArrayB {
            self.next(Tok::ArrayB);
            let mut vals = Vec::new();
            while self.t != Tok::ArrayE {
                vals.push(self.scalar()?);
                if self.t == Tok::Comma {
                    self.next(Tok::Comma);
                }
            }
            self.next(Tok::ArrayE);
            Item::Array(vals)
        } else {
            Item::Value(self.scalar()?)
        };
        Ok(Entry { key, item })
    }

    fn scalar(&mut self) -> Result<Value, FormatError> {
        let v = match self.t {
            Tok::Int => Value::Int(
                parse_int(self.tok_bytes())
                    .ok_or_else(|| self.err("invalid or out-of-range integer"))?,
            ),
            Tok::Float => {
                let s = String::from_utf8_lossy(self.tok_bytes()).into_owned();
                if s.parse::<f64>().is_err() {
                    return Err(self.err(format!("invalid number {s:?}")));
                }
                Value::Float(s)
            }
            Tok::StrEscaped => Value::Str(self.quoted(true)?),
            Tok::Str => Value::Str(self.quoted(false)?),
            Tok::StrBare => Value::Str(String::from_utf8_lossy(self.tok_bytes()).into_owned()),
            _ => return Err(self.err("expected a value")),
        };
        let t = self.t;
        self.next(t);
        Ok(v)
    }
}

/// C's `isspace` in the C locale (Rust's `is_ascii_whitespace` lacks the vertical tab).
fn is_space(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b
}

/// Whether the closing quote of a `"..."` token is really an escaped quote (the token
/// then ran to the end of the text).
fn is_escaped_end(b: &[u8]) -> bool {
    // Count the backslashes before the last byte: odd means it is escaped.
    let n = b[1..b.len() - 1]
        .iter()
        .rev()
        .take_while(|&&c| c == b'\\')
        .count();
    n % 2 == 1
}

/// libdm's `dm_unescape_double_quotes`: `\"` becomes `"` and `\\` becomes `\`; other
/// backslashes stay.
fn unescape(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && matches!(b[i + 1], b'"' | b'\\') {
            i += 1;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `strtoll(s, NULL, 0)` on a token of `[+-]?[0-9]+`: a leading 0 means octal (parsing
/// stops at the first non-octal digit, as strtoll does). `None` on overflow or no digits.
fn parse_int(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() || !digits[0].is_ascii_digit() {
        return None;
    }
    let (radix, digits) = if digits.len() > 1 && digits[0] == b'0' {
        (8u32, &digits[1..])
    } else {
        (10u32, digits)
    };
    let mut v: i128 = 0;
    for &d in digits {
        let d = (d as char).to_digit(radix);
        let Some(d) = d else { break };
        v = v * radix as i128 + d as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Parse LVM configuration text (up to its first NUL byte) into its root section.
pub fn parse(text: &[u8]) -> Result<Section, FormatError> {
    Parser::new(text).file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_values_sections_arrays_and_comments() {
        let t = br#"
# comment
vg {   # trailing comment
    id = "abc"
    seqno = 12
    neg = -3
    oct = 010
    f = 1.5
    bare = word
    raw = 'a\"b'
    esc = "q\"uote\\back\slash"
    status = ["READ", "WRITE"]
    empty = []
    mixed = [ "pv0", 0, "pv1", 128 ]
    "quoted key" = 1
    sub { inner { x = 1 } }
}
contents = "Text Format Volume Group"
"#;
        let root = parse(t).unwrap();
        let vg = root.section("vg").unwrap();
        assert_eq!(vg.str("id"), Some("abc"));
        assert_eq!(vg.int("seqno"), Some(12));
        assert_eq!(vg.int("neg"), Some(-3));
        assert_eq!(vg.int("oct"), Some(8));
        assert_eq!(vg.value("f"), Some(&Value::Float("1.5".into())));
        assert_eq!(vg.str("bare"), Some("word"));
        assert_eq!(vg.str("raw"), Some(r#"a\"b"#));
        assert_eq!(vg.str("esc"), Some(r#"q"uote\back\slash"#));
        assert_eq!(
            vg.list("status").unwrap(),
            &[Value::Str("READ".into()), Value::Str("WRITE".into())]
        );
        assert_eq!(vg.list("empty").unwrap(), &[]);
        assert_eq!(vg.list("mixed").unwrap().len(), 4);
        assert_eq!(vg.list("seqno").unwrap(), &[Value::Int(12)]);
        assert_eq!(vg.int("quoted key"), Some(1));
        assert_eq!(
            vg.section("sub")
                .and_then(|s| s.section("inner"))
                .and_then(|s| s.int("x")),
            Some(1)
        );
        assert_eq!(root.str("contents"), Some("Text Format Volume Group"));
        let names: Vec<&str> = root.sections().map(|(k, _)| k).collect();
        assert_eq!(names, ["vg"]);
    }

    #[test]
    fn vertical_tab_is_space() {
        assert_eq!(parse(b"a\x0b=\x0b1").unwrap().int("a"), Some(1));
    }

    #[test]
    fn text_ends_at_nul() {
        let root = parse(b"a = 1\n\0b = {{{ garbage").unwrap();
        assert_eq!(root.int("a"), Some(1));
        assert!(root.get("b").is_none());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(b"a = 1\nb {\n c = \n}").unwrap_err();
        assert!(e.to_string().contains("line 4"), "{e}");
        assert!(parse(b"a { b = 1").is_err());
        assert!(parse(b"a = \"unterminated").is_err());
        assert!(parse(b"a = \"ends in escape\\\"").is_err());
        assert!(parse(b"a = 99999999999999999999").is_err());
        assert!(parse(b"a = -").is_err());
        assert!(parse(b"= 1").is_err());
        assert!(parse(b"a b").is_err());
        assert_eq!(
            parse(b"a = -9223372036854775808").unwrap().int("a"),
            Some(i64::MIN)
        );
    }

    #[test]
    fn nesting_is_capped() {
        let mut ok = String::new();
        for i in 0..MAX_DEPTH {
            ok.push_str(&format!("s{i} {{ "));
        }
        ok.push_str(&"} ".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "a { ".repeat(100_000);
        let e = parse(deep.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&b);
        }

        #[test]
        fn random_token_soup_never_panics(
            toks in proptest::collection::vec(
                prop_oneof![
                    Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just("="),
                    Just("\""), Just("'"), Just("\\"), Just("#"), Just("\n"), Just(" "),
                    Just("key"), Just("12"), Just("-"), Just("0.5"), Just("\"s\\\"\""),
                ],
                0..200,
            )
        ) {
            let _ = parse(toks.concat().as_bytes());
        }
    }
}
