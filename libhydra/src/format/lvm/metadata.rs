//! The VG model read from LVM2 metadata text (lvm2's `format_text/import_vsn1.c`).
//!
//! Sizes stay in LVM's units here (512-byte sectors, extents); `probe::lvm` turns them
//! into byte offsets on disks.

use super::label::normalize_uuid;
use super::text::{self, Section, Value};
use crate::error::FormatError;
use crate::layout::SegmentKind;
use std::collections::HashSet;

const WHAT: &str = "LVM2 metadata";

/// Bytes in one LVM sector (the unit of `extent_size`, `pe_start`, `dev_size`, `stripe_size`).
pub const SECTOR: u64 = 512;

/// A VG's metadata as parsed from one PV's metadata text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgMetadata {
    /// VG name.
    pub name: String,
    /// VG UUID, dashed.
    pub id: String,
    /// Metadata sequence number (higher is newer).
    pub seqno: u64,
    /// VG status flags (`RESIZEABLE`, `READ`, `WRITE`, ...).
    pub status: Vec<String>,
    /// VG flags (compatibility flags, usually empty).
    pub flags: Vec<String>,
    /// Extent size in 512-byte sectors.
    pub extent_size: u64,
    /// PVs in metadata order (`pv0`, `pv1`, ...).
    pub pvs: Vec<PvMetadata>,
    /// LVs in metadata order (visible ones first, as lvm2 writes them).
    pub lvs: Vec<LvMetadata>,
    /// `creation_host` of this metadata copy, if recorded.
    pub creation_host: Option<String>,
    /// `creation_time` (Unix seconds) of this metadata copy, if recorded.
    pub creation_time: Option<i64>,
    /// `description` of this metadata copy (the command that wrote it), if recorded.
    pub description: Option<String>,
}

impl VgMetadata {
    /// Extent size in bytes.
    pub fn extent_bytes(&self) -> u64 {
        self.extent_size * SECTOR
    }

    /// The PV named `name` (`pv0`, ...).
    pub fn pv(&self, name: &str) -> Option<&PvMetadata> {
        self.pvs.iter().find(|p| p.name == name)
    }

    /// The LV named `name`.
    pub fn lv(&self, name: &str) -> Option<&LvMetadata> {
        self.lvs.iter().find(|l| l.name == name)
    }
}

/// A PV as the VG metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvMetadata {
    /// Name inside the metadata (`pv0`, ...).
    pub name: String,
    /// PV UUID, dashed.
    pub id: String,
    /// The device path when the metadata was written (a hint only).
    pub device: Option<String>,
    /// PV status flags (`ALLOCATABLE`, `MISSING`, ...).
    pub status: Vec<String>,
    /// Device size in sectors (0 when not recorded).
    pub dev_size: u64,
    /// Start of the first extent, in sectors from the start of the PV.
    pub pe_start: u64,
    /// Number of physical extents.
    pub pe_count: u64,
}

/// An LV as the VG metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvMetadata {
    /// LV name.
    pub name: String,
    /// LV UUID, dashed.
    pub id: String,
    /// LV status flags (`READ`, `WRITE`, `VISIBLE`, ...).
    pub status: Vec<String>,
    /// LV flags.
    pub flags: Vec<String>,
    /// LV tags.
    pub tags: Vec<String>,
    /// Segments sorted by `start_extent`, contiguous from extent 0.
    pub segments: Vec<SegmentMetadata>,
}

impl LvMetadata {
    /// Whether the LV has the `VISIBLE` status flag.
    pub fn visible(&self) -> bool {
        self.status.iter().any(|s| s == "VISIBLE")
    }

    /// Logical extents in the LV (sum of its segments).
    pub fn extent_count(&self) -> u64 {
        self.segments.iter().map(|s| s.extent_count).sum()
    }
}

/// Where one area of a segment lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaRef {
    /// Extents on a PV of the VG.
    Pv {
        /// PV name in the metadata (`pv0`, ...).
        pv: String,
        /// First physical extent.
        start_extent: u64,
    },
    /// Extents of another LV (mirror legs, raid images).
    Lv {
        /// LV name.
        lv: String,
        /// First logical extent in that LV.
        start_extent: u64,
    },
}

/// One `segmentN { }` of an LV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMetadata {
    /// First logical extent of the segment in its LV.
    pub start_extent: u64,
    /// Number of logical extents.
    pub extent_count: u64,
    /// Segment type without flags (`striped`, `thin-pool`, `raid1`, ...).
    pub seg_type: String,
    /// Flags appended to the type with `+` (e.g. `METADATA_FORMAT`).
    pub type_flags: Vec<String>,
    /// Stripe size in sectors, when the segment records one.
    pub stripe_size: Option<u64>,
    /// The data areas: `stripes` (striped), `mirrors` (mirror) or the images of `raids`
    /// (raid), in order. Empty for types that reference LVs by key (thin, cache, ...).
    pub areas: Vec<AreaRef>,
    /// Extents of each area: `extent_count / stripes` for striped, `extent_count` for
    /// mirror legs; 0 when there are no areas or they are raid images.
    pub area_len: u64,
    /// Raid metadata sub-LVs (`*_rmeta_N`), in order.
    pub raid_meta: Vec<String>,
    /// Every other string field of the segment that names an LV of the VG, in text order
    /// (`pool`, `metadata`, `thin_pool`, `origin`, `cache_pool`, `data`, `cow_store`,
    /// `mirror_log`, ...).
    pub lv_refs: Vec<(String, String)>,
}

impl SegmentMetadata {
    /// The mapping kind, as the layout model names it.
    pub fn kind(&self) -> SegmentKind {
        SegmentKind::from_metadata(&self.seg_type, self.areas.len())
    }

    /// The LV named by field `key` (e.g. `"thin_pool"`), if any.
    pub fn lv_ref(&self, key: &str) -> Option<&str> {
        self.lv_refs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn invalid(detail: impl Into<String>) -> FormatError {
    FormatError::invalid(WHAT, detail)
}

fn req_u64(sec: &Section, key: &str, ctx: &str) -> Result<u64, FormatError> {
    opt_u64(sec, key, ctx)?.ok_or_else(|| invalid(format!("{ctx}: missing integer {key:?}")))
}

fn opt_u64(sec: &Section, key: &str, ctx: &str) -> Result<Option<u64>, FormatError> {
    match sec.get(key) {
        None => Ok(None),
        Some(_) => match sec.int(key) {
            Some(v) if v >= 0 => Ok(Some(v as u64)),
            _ => Err(invalid(format!(
                "{ctx}: {key:?} is not a non-negative integer"
            ))),
        },
    }
}

fn req_str<'a>(sec: &'a Section, key: &str, ctx: &str) -> Result<&'a str, FormatError> {
    sec.str(key)
        .ok_or_else(|| invalid(format!("{ctx}: missing string {key:?}")))
}

fn req_id(sec: &Section, ctx: &str) -> Result<String, FormatError> {
    let raw = req_str(sec, "id", ctx)?;
    normalize_uuid(raw).ok_or_else(|| invalid(format!("{ctx}: invalid id {raw:?}")))
}

fn str_list(sec: &Section, key: &str, ctx: &str) -> Result<Vec<String>, FormatError> {
    match sec.list(key) {
        None => Ok(Vec::new()),
        Some(vals) => vals
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("{ctx}: {key:?} holds a non-string")))
            })
            .collect(),
    }
}

/// `a * b` in bytes, or an error naming what overflowed.
fn mul(a: u64, b: u64, ctx: &str) -> Result<u64, FormatError> {
    a.checked_mul(b)
        .ok_or_else(|| invalid(format!("{ctx}: size overflows")))
}

/// Parse the metadata text of one VG (as found in a metadata area, or a
/// `vgcfgbackup` file) into its model.
pub fn parse_vg(text: &[u8]) -> Result<VgMetadata, FormatError> {
    let root = text::parse(text)?;
    vg_from_tree(&root)
}

/// Build the VG model from an already parsed metadata tree.
pub fn vg_from_tree(root: &Section) -> Result<VgMetadata, FormatError> {
    match root.str("contents") {
        Some("Text Format Volume Group") => {}
        _ => {
            return Err(invalid(
                "not VG metadata (no contents = \"Text Format Volume Group\")",
            ))
        }
    }
    if root.int("version") != Some(1) {
        return Err(invalid(
            "unsupported metadata version (expected version = 1)",
        ));
    }
    let (name, vg) = root
        .sections()
        .next()
        .ok_or_else(|| invalid("no volume group section"))?;
    let ctx = format!("VG {name}");
    let id = req_id(vg, &ctx)?;
    let seqno = req_u64(vg, "seqno", &ctx)?;
    let extent_size = req_u64(vg, "extent_size", &ctx)?;
    if extent_size == 0 {
        return Err(invalid(format!("{ctx}: extent_size is 0")));
    }
    let extent_bytes = mul(extent_size, SECTOR, &ctx)?;
    let status = str_list(vg, "status", &ctx)?;
    let flags = str_list(vg, "flags", &ctx)?;

    let pv_sec = vg
        .section("physical_volumes")
        .ok_or_else(|| invalid(format!("{ctx}: no physical_volumes section")))?;
    let mut pvs = Vec::new();
    let mut pv_names = HashSet::new();
    for (pname, p) in pv_sec.sections() {
        let pctx = format!("{ctx} PV {pname}");
        if !pv_names.insert(pname) {
            return Err(invalid(format!("{pctx}: defined twice")));
        }
        let pv = PvMetadata {
            name: pname.to_string(),
            id: req_id(p, &pctx)?,
            device: p.str("device").map(str::to_string),
            status: str_list(p, "status", &pctx)?,
            dev_size: opt_u64(p, "dev_size", &pctx)?.unwrap_or(0),
            pe_start: req_u64(p, "pe_start", &pctx)?,
            pe_count: req_u64(p, "pe_count", &pctx)?,
        };
        // The whole data area must be addressable in bytes.
        mul(pv.pe_start, SECTOR, &pctx)?
            .checked_add(mul(pv.pe_count, extent_bytes, &pctx)?)
            .ok_or_else(|| invalid(format!("{pctx}: size overflows")))?;
        pvs.push(pv);
    }

    let lv_sections: Vec<(&str, &Section)> = vg
        .section("logical_volumes")
        .map(|s| s.sections().collect())
        .unwrap_or_default();
    let mut lv_names = HashSet::new();
    for (lname, _) in &lv_sections {
        if !lv_names.insert(*lname) {
            return Err(invalid(format!("{ctx}: LV {lname} defined twice")));
        }
    }
    let mut lvs = Vec::new();
    for (lname, l) in &lv_sections {
        lvs.push(parse_lv(lname, l, &ctx, extent_bytes, &pvs, &lv_names)?);
    }

    Ok(VgMetadata {
        name: name.to_string(),
        id,
        seqno,
        status,
        flags,
        extent_size,
        pvs,
        lvs,
        creation_host: root.str("creation_host").map(str::to_string),
        creation_time: root.int("creation_time"),
        description: root.str("description").map(str::to_string),
    })
}

fn parse_lv(
    name: &str,
    l: &Section,
    vg_ctx: &str,
    extent_bytes: u64,
    pvs: &[PvMetadata],
    lv_names: &HashSet<&str>,
) -> Result<LvMetadata, FormatError> {
    let ctx = format!("{vg_ctx} LV {name}");
    let id = req_id(l, &ctx)?;
    if l.get("status").is_none() {
        return Err(invalid(format!("{ctx}: missing status")));
    }
    let status = str_list(l, "status", &ctx)?;
    let flags = str_list(l, "flags", &ctx)?;
    let tags = str_list(l, "tags", &ctx)?;
    let mut segments = Vec::new();
    for (sname, s) in l.sections() {
        let sctx = format!("{ctx} {sname}");
        segments.push(parse_segment(s, &sctx, pvs, lv_names)?);
    }
    let count = req_u64(l, "segment_count", &ctx)?;
    if count != segments.len() as u64 {
        return Err(invalid(format!(
            "{ctx}: segment_count = {count} but {} segments",
            segments.len()
        )));
    }
    segments.sort_by_key(|s| s.start_extent);
    let mut next = 0u64;
    for s in &segments {
        if s.start_extent != next {
            return Err(invalid(format!(
                "{ctx}: segments leave a gap or overlap at extent {}",
                s.start_extent
            )));
        }
        next = s
            .start_extent
            .checked_add(s.extent_count)
            .ok_or_else(|| invalid(format!("{ctx}: extent count overflows")))?;
    }
    mul(next, extent_bytes, &ctx)?;
    Ok(LvMetadata {
        name: name.to_string(),
        id,
        status,
        flags,
        tags,
        segments,
    })
}

/// Read `[ "name", N, "name", N, ... ]` pairs, exactly `count` of them.
fn name_offset_pairs(
    vals: &[Value],
    count: u64,
    key: &str,
    ctx: &str,
) -> Result<Vec<(String, u64)>, FormatError> {
    if vals.len() as u64 != count.saturating_mul(2) {
        return Err(invalid(format!(
            "{ctx}: {key:?} holds {} entries, expected {count} name/offset pairs",
            vals.len()
        )));
    }
    vals.chunks_exact(2)
        .map(|p| match (&p[0], &p[1]) {
            (Value::Str(n), Value::Int(o)) if *o >= 0 => Ok((n.clone(), *o as u64)),
            _ => Err(invalid(format!("{ctx}: bad name/offset pair in {key:?}"))),
        })
        .collect()
}

fn parse_segment(
    s: &Section,
    ctx: &str,
    pvs: &[PvMetadata],
    lv_names: &HashSet<&str>,
) -> Result<SegmentMetadata, FormatError> {
    let start_extent = req_u64(s, "start_extent", ctx)?;
    let extent_count = req_u64(s, "extent_count", ctx)?;
    let full_type = req_str(s, "type", ctx)?;
    let mut parts = full_type.split('+');
    let seg_type = parts.next().unwrap_or_default().to_string();
    let type_flags: Vec<String> = parts.map(str::to_string).collect();
    let stripe_size = opt_u64(s, "stripe_size", ctx)?;

    let is_pv = |n: &str| pvs.iter().any(|p| p.name == n);
    let to_area = |(name, start): (String, u64)| -> Result<AreaRef, FormatError> {
        if is_pv(&name) {
            Ok(AreaRef::Pv {
                pv: name,
                start_extent: start,
            })
        } else if lv_names.contains(name.as_str()) {
            Ok(AreaRef::Lv {
                lv: name,
                start_extent: start,
            })
        } else {
            Err(invalid(format!("{ctx}: unknown volume {name:?}")))
        }
    };

    let mut areas = Vec::new();
    let mut raid_meta = Vec::new();
    let mut area_len = 0;
    let mut area_keys: &[&str] = &[];
    if seg_type == "striped" {
        let n = req_u64(s, "stripe_count", ctx)?;
        if n == 0 {
            return Err(invalid(format!("{ctx}: stripe_count is 0")));
        }
        if n > 1 && stripe_size.is_none() {
            return Err(invalid(format!(
                "{ctx}: striped segment without stripe_size"
            )));
        }
        if extent_count % n != 0 {
            return Err(invalid(format!(
                "{ctx}: extent_count {extent_count} is not a multiple of {n} stripes"
            )));
        }
        let vals = s
            .list("stripes")
            .ok_or_else(|| invalid(format!("{ctx}: missing stripes")))?;
        for pair in name_offset_pairs(vals, n, "stripes", ctx)? {
            areas.push(to_area(pair)?);
        }
        area_len = extent_count / n;
        area_keys = &["stripes"];
    } else if seg_type == "mirror" {
        let n = req_u64(s, "mirror_count", ctx)?;
        let vals = s
            .list("mirrors")
            .ok_or_else(|| invalid(format!("{ctx}: missing mirrors")))?;
        for pair in name_offset_pairs(vals, n, "mirrors", ctx)? {
            areas.push(to_area(pair)?);
        }
        area_len = extent_count;
        area_keys = &["mirrors"];
    } else if seg_type.starts_with("raid") {
        let n = match (
            opt_u64(s, "device_count", ctx)?,
            opt_u64(s, "stripe_count", ctx)?,
        ) {
            (Some(n), None) | (None, Some(n)) => n,
            _ => {
                return Err(invalid(format!(
                    "{ctx}: raid segment needs exactly one of device_count and stripe_count"
                )))
            }
        };
        let vals = s
            .list("raids")
            .ok_or_else(|| invalid(format!("{ctx}: missing raids")))?;
        let mut it = vals.iter();
        for _ in 0..n {
            let mut name = it
                .next()
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{ctx}: raids holds too few LV names")))?;
            // A metadata sub-LV (or "-" for none) comes before its data image.
            if name == "-" || name.contains("_rmeta_") {
                if name != "-" {
                    raid_meta.push(checked_lv(name, lv_names, ctx)?);
                }
                name = it
                    .next()
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{ctx}: raids lacks a data image")))?;
            }
            areas.push(AreaRef::Lv {
                lv: checked_lv(name, lv_names, ctx)?,
                start_extent: 0,
            });
        }
        if it.next().is_some() {
            return Err(invalid(format!("{ctx}: raids holds more than {n} images")));
        }
        area_keys = &["raids"];
    }

    for a in &areas {
        if let AreaRef::Pv { pv, start_extent } = a {
            let pe_count = pvs.iter().find(|p| &p.name == pv).map_or(0, |p| p.pe_count);
            if start_extent.saturating_add(area_len) > pe_count {
                return Err(invalid(format!(
                    "{ctx}: extents {start_extent}+{area_len} lie beyond {pv}'s {pe_count} extents"
                )));
            }
        }
    }

    let lv_refs = s
        .entries
        .iter()
        .filter(|e| e.key != "type" && !area_keys.contains(&e.key.as_str()))
        .filter_map(|e| match &e.item {
            text::Item::Value(Value::Str(v)) if lv_names.contains(v.as_str()) => {
                Some((e.key.clone(), v.clone()))
            }
            _ => None,
        })
        .collect();

    Ok(SegmentMetadata {
        start_extent,
        extent_count,
        seg_type,
        type_flags,
        stripe_size,
        areas,
        area_len,
        raid_meta,
        lv_refs,
    })
}

fn checked_lv(name: &str, lv_names: &HashSet<&str>, ctx: &str) -> Result<String, FormatError> {
    if lv_names.contains(name) {
        Ok(name.to_string())
    } else {
        Err(invalid(format!("{ctx}: unknown LV {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::lvm::samples;
    use proptest::prelude::*;

    fn handwritten(name: &str) -> VgMetadata {
        parse_vg(&samples::bytes(&format!("handwritten/{name}"))).unwrap()
    }

    fn lv<'a>(vg: &'a VgMetadata, name: &str) -> &'a LvMetadata {
        vg.lv(name).unwrap_or_else(|| panic!("no LV {name}"))
    }

    fn pv_area(pv: &str, start_extent: u64) -> AreaRef {
        AreaRef::Pv {
            pv: pv.into(),
            start_extent,
        }
    }

    fn lv_area(lv: &str, start_extent: u64) -> AreaRef {
        AreaRef::Lv {
            lv: lv.into(),
            start_extent,
        }
    }

    #[test]
    fn real_metadata_text_matches_lvm_reports() {
        let pvs = samples::pvs("two_pv");
        let vg = parse_vg(pvs[0].region(13312)).unwrap();
        let vgr = &samples::report("two_pv/vgs.json", "vg")[0];
        assert_eq!(vg.name, vgr["vg_name"].as_str().unwrap());
        assert_eq!(vg.id, vgr["vg_uuid"].as_str().unwrap());
        assert_eq!(vg.seqno, samples::report_u64(&vgr["vg_seqno"]));
        assert_eq!(
            vg.extent_bytes(),
            samples::report_bytes(&vgr["vg_extent_size"])
        );
        assert_eq!(vg.status, ["RESIZEABLE", "READ", "WRITE"]);
        assert!(vg.description.as_deref().unwrap().contains("lvcreate"));
        assert_eq!(vg.creation_host.as_deref(), Some("vm"));
        for (p, r) in vg.pvs.iter().zip(samples::report("two_pv/pvs.json", "pv")) {
            assert_eq!(p.id, r["pv_uuid"].as_str().unwrap());
            assert_eq!(p.pe_start * SECTOR, samples::report_bytes(&r["pe_start"]));
            assert_eq!(p.dev_size * SECTOR, samples::report_bytes(&r["dev_size"]));
            assert_eq!(p.pe_count, samples::report_u64(&r["pv_pe_count"]));
            assert_eq!(p.device.as_deref(), r["pv_name"].as_str());
        }
        let names: Vec<&str> = vg.lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["st", "a", "b", "lin"], "metadata order");
        let st = &lv(&vg, "st").segments[0];
        assert_eq!(st.kind(), SegmentKind::Striped);
        assert_eq!(st.stripe_size, Some(128));
        assert_eq!(st.area_len, 2);
        assert_eq!(st.areas, [pv_area("pv0", 0), pv_area("pv1", 0)]);
        let a = lv(&vg, "a");
        assert_eq!(a.segments.len(), 2);
        assert_eq!(a.segments[1].start_extent, 2);
        assert_eq!(a.segments[1].areas, [pv_area("pv0", 6)]);
        assert_eq!(a.segments[1].kind(), SegmentKind::Linear);
        assert_eq!(a.extent_count(), 5);
        assert!(a.visible());
    }

    #[test]
    fn thin_pool_and_thin() {
        let vg = handwritten("thin.vg");
        let pool = &lv(&vg, "pool").segments[0];
        assert_eq!(pool.kind(), SegmentKind::ThinPool);
        assert_eq!(pool.lv_ref("pool"), Some("pool_tdata"));
        assert_eq!(pool.lv_ref("metadata"), Some("pool_tmeta"));
        assert!(pool.areas.is_empty());
        let t = &lv(&vg, "thin1").segments[0];
        assert_eq!(t.kind(), SegmentKind::Thin);
        assert_eq!(t.lv_refs, [("thin_pool".to_string(), "pool".to_string())]);
        let s = &lv(&vg, "snap1").segments[0];
        assert_eq!(s.lv_ref("origin"), Some("thin1"));
        assert_eq!(s.lv_ref("thin_pool"), Some("pool"));
        assert!(!lv(&vg, "pool_tdata").visible());
        assert_eq!(lv(&vg, "pool_tdata").segments[0].areas, [pv_area("pv0", 1)]);
        assert_eq!(vg.lvs.len(), 7);
    }

    #[test]
    fn raid() {
        let vg = handwritten("raid1.vg");
        let r1 = &lv(&vg, "r1").segments[0];
        assert_eq!(r1.kind(), SegmentKind::Raid("raid1".into()));
        assert_eq!(
            r1.areas,
            [lv_area("r1_rimage_0", 0), lv_area("r1_rimage_1", 0)]
        );
        assert_eq!(r1.raid_meta, ["r1_rmeta_0", "r1_rmeta_1"]);
        let r0 = &lv(&vg, "r0").segments[0];
        assert_eq!(r0.kind(), SegmentKind::Raid("raid0".into()));
        assert_eq!(
            r0.areas,
            [lv_area("r0_rimage_0", 0), lv_area("r0_rimage_1", 0)]
        );
        assert!(r0.raid_meta.is_empty());
        assert_eq!(r0.stripe_size, Some(128));
    }

    #[test]
    fn cache() {
        let vg = handwritten("cache.vg");
        let c = &lv(&vg, "data").segments[0];
        assert_eq!(c.kind(), SegmentKind::Cache);
        assert_eq!(c.lv_ref("cache_pool"), Some("cpool"));
        assert_eq!(c.lv_ref("origin"), Some("data_corig"));
        let p = &lv(&vg, "cpool").segments[0];
        assert_eq!(p.seg_type, "cache-pool");
        assert_eq!(p.type_flags, ["METADATA_FORMAT"]);
        assert_eq!(p.kind(), SegmentKind::CachePool);
        // Strings that name no LV (cache_mode, policy) are not references.
        assert_eq!(
            p.lv_refs,
            [
                ("data".to_string(), "cpool_cdata".to_string()),
                ("metadata".to_string(), "cpool_cmeta".to_string())
            ]
        );
    }

    #[test]
    fn mirror_and_pvmove() {
        let vg = handwritten("mirror.vg");
        let m = &lv(&vg, "m").segments[0];
        assert_eq!(m.kind(), SegmentKind::Mirror);
        assert_eq!(
            m.areas,
            [lv_area("m_mimage_0", 0), lv_area("m_mimage_1", 0)]
        );
        assert_eq!(m.lv_ref("mirror_log"), Some("m_mlog"));
        let pvmove = &lv(&vg, "pvmove0").segments[0];
        assert_eq!(pvmove.areas, [pv_area("pv0", 10), pv_area("pv1", 20)]);
        assert_eq!(pvmove.area_len, 3);
        let moved = &lv(&vg, "moved").segments[0];
        assert_eq!(moved.kind(), SegmentKind::Linear);
        assert_eq!(moved.areas, [lv_area("pvmove0", 0)]);
    }

    #[test]
    fn snapshot() {
        let vg = handwritten("snapshot.vg");
        let s = &lv(&vg, "snapshot0").segments[0];
        assert_eq!(s.kind(), SegmentKind::Snapshot);
        assert_eq!(s.lv_ref("origin"), Some("orig"));
        assert_eq!(s.lv_ref("cow_store"), Some("snap"));
        assert!(!lv(&vg, "snapshot0").visible());
        assert!(lv(&vg, "snap").visible());
    }

    /// A minimal VG text with `lvs` spliced into logical_volumes.
    fn vg_text(lvs: &str) -> String {
        format!(
            r#"vg {{
    id = "abcdef-ghij-klmn-opqr-stuv-wxyz-012345"
    seqno = 1
    status = ["READ"]
    extent_size = 8192
    physical_volumes {{
        pv0 {{ id = "ABCDEF-GHIJ-KLMN-OPQR-STUV-WXYZ-012345" pe_start = 2048 pe_count = 10 }}
    }}
    logical_volumes {{ {lvs} }}
}}
contents = "Text Format Volume Group"
version = 1
"#
        )
    }

    fn lin(name: &str, segs: &str, count: usize) -> String {
        format!(
            r#"{name} {{ id = "LVLVLV-0000-0000-0000-0000-0000-000000" status = ["VISIBLE"]
               segment_count = {count} {segs} }}"#
        )
    }

    fn seg(n: u32, start: u64, count: u64, pv: &str, pe: u64) -> String {
        format!(
            r#"segment{n} {{ start_extent = {start} extent_count = {count} type = "striped"
               stripe_count = 1 stripes = ["{pv}", {pe}] }}"#
        )
    }

    #[test]
    fn structural_errors_are_reported() {
        let ok = vg_text(&lin("l", &seg(1, 0, 2, "pv0", 0), 1));
        let vg = parse_vg(ok.as_bytes()).unwrap();
        assert_eq!(vg.lvs[0].extent_count(), 2);
        // Segments are sorted by start extent.
        let two = format!("{}{}", seg(1, 2, 1, "pv0", 5), seg(2, 0, 2, "pv0", 0));
        let vg = parse_vg(vg_text(&lin("l", &two, 2)).as_bytes()).unwrap();
        assert_eq!(vg.lvs[0].segments[0].start_extent, 0);

        let cases = [
            (
                vg_text(&lin("l", &seg(1, 0, 2, "pv0", 0), 2)),
                "segment_count",
            ),
            (vg_text(&lin("l", &seg(1, 1, 2, "pv0", 0), 1)), "gap"),
            (
                vg_text(&lin("l", &seg(1, 0, 2, "pv9", 0), 1)),
                "unknown volume",
            ),
            (vg_text(&lin("l", &seg(1, 0, 2, "pv0", 9), 1)), "beyond"),
            (
                vg_text(&format!("{}{}", lin("l", "", 0), lin("l", "", 0))),
                "defined twice",
            ),
            (ok.replace("Text Format", "Other"), "contents"),
            (ok.replace("version = 1", "version = 2"), "version"),
            (
                ok.replace("extent_size = 8192", "extent_size = 0"),
                "extent_size",
            ),
            (ok.replace("seqno = 1", "seqno = -1"), "seqno"),
            (ok.replace("abcdef-", "abcde-"), "invalid id"),
            (
                ok.replace("pe_count = 10", "pe_count = 9223372036854775807"),
                "overflows",
            ),
        ];
        for (text, want) in cases {
            let e = parse_vg(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    #[test]
    fn striped_areas_must_match_stripe_count() {
        let s = r#"segment1 { start_extent = 0 extent_count = 4 type = "striped"
                   stripe_count = 2 stripe_size = 128 stripes = ["pv0", 0] }"#;
        let e = parse_vg(vg_text(&lin("l", s, 1)).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("name/offset pairs"), "{e}");
        // A huge stripe_count must not be trusted for allocation.
        let s = r#"segment1 { start_extent = 0 extent_count = 0 type = "striped"
                   stripe_count = 9223372036854775807 stripe_size = 128 stripes = [] }"#;
        assert!(parse_vg(vg_text(&lin("l", s, 1)).as_bytes()).is_err());
        let s = r#"segment1 { start_extent = 0 extent_count = 1 type = "raid1"
                   device_count = 9223372036854775807 raids = ["x"] }"#;
        assert!(parse_vg(vg_text(&lin("l", s, 1)).as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = parse_vg(&b);
        }

        #[test]
        fn mutated_real_text_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
        ) {
            let mut t = samples::pvs("two_pv")[0].region(13312).to_vec();
            for (i, b) in edits {
                let at = i.index(t.len());
                t[at] = b;
            }
            let _ = parse_vg(&t);
        }
    }
}
