//! The human-readable tree view of a `Layout`.

use libhydra::layout::{Content, Disk, FsInfo, Layout, SegmentArea, VolumeGroup};
use std::fmt::Write;

/// Bytes as a short human size (binary units).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn fs_line(f: &FsInfo) -> String {
    let mut s = f.fs_type.clone();
    if let Some(v) = &f.version {
        write!(s, " {v}").unwrap();
    }
    if let Some(l) = &f.label {
        write!(s, " LABEL=\"{l}\"").unwrap();
    }
    if let Some(u) = &f.uuid {
        write!(s, " UUID={u}").unwrap();
    }
    s
}

fn content_line(c: &Content) -> String {
    match c {
        Content::Filesystem(f) => fs_line(f),
        Content::ExtendedContainer => "extended partition".into(),
        Content::Empty => "(empty)".into(),
        Content::Unknown { offset } => format!("unknown signature at offset {offset}"),
        Content::Unreadable { reason } => format!("UNREADABLE: {reason}"),
    }
}

fn disk(out: &mut String, d: &Disk) {
    let table = match &d.table {
        Some(t) => format!(
            "{} {}",
            t.scheme.blkid_name(),
            t.id.as_deref().unwrap_or("(no id)")
        ),
        None if !d.image.readable => "contents not scanned".into(),
        None => "no partition table".into(),
    };
    writeln!(
        out,
        "disk {}  {}  {:?}  {}  {}  sector {}",
        d.index,
        d.path.display(),
        d.image.format,
        human(d.size),
        table,
        d.sector_size
    )
    .unwrap();
    if let Some(n) = &d.image.note {
        writeln!(out, "  note: {n}").unwrap();
    }
    for w in &d.warnings {
        writeln!(out, "  warning: {w}").unwrap();
    }
    if let Some(c) = &d.content {
        writeln!(out, "  └─ whole disk: {}", content_line(c)).unwrap();
    }
    let n = d.partitions.len();
    for (i, p) in d.partitions.iter().enumerate() {
        let branch = if i + 1 == n { "└─" } else { "├─" };
        let name = p
            .name
            .as_deref()
            .map(|s| format!(" \"{s}\""))
            .unwrap_or_default();
        let ty = p.type_name.as_deref().unwrap_or(&p.type_id);
        writeln!(
            out,
            "  {branch} {:>3}  {:>10} +{:<10} {ty}{name}: {}",
            p.number,
            human(p.offset),
            human(p.size),
            content_line(&p.content)
        )
        .unwrap();
    }
}

fn vg(out: &mut String, v: &VolumeGroup) {
    writeln!(
        out,
        "vg {}  {}  extent {}  seqno {}{}",
        v.name,
        v.uuid,
        human(v.extent_size),
        v.seqno,
        if v.partial {
            "  PARTIAL: PVs missing"
        } else {
            ""
        }
    )
    .unwrap();
    for p in &v.pvs {
        let at = match &p.location {
            Some(l) => match l.partition {
                Some(n) => format!("disk {} partition {}", l.disk, n),
                None => format!("disk {} (whole)", l.disk),
            },
            None => "MISSING".into(),
        };
        writeln!(out, "  pv {} {}  {at}", p.id, p.uuid).unwrap();
    }
    for l in &v.lvs {
        writeln!(
            out,
            "  lv {}  {}  {} segment(s){}",
            l.name,
            human(l.size),
            l.segments.len(),
            if l.visible { "" } else { "  (hidden)" }
        )
        .unwrap();
        for s in &l.segments {
            let areas: Vec<String> = s
                .areas
                .iter()
                .map(|a| match a {
                    SegmentArea::Pv {
                        pv,
                        start_extent,
                        disk,
                        disk_offset,
                        ..
                    } => match (disk, disk_offset) {
                        (Some(d), Some(o)) => format!("{pv}:{start_extent} (disk {d} @ {o})"),
                        _ => format!("{pv}:{start_extent} (missing)"),
                    },
                    SegmentArea::Lv { lv, start_extent } => format!("{lv}:{start_extent}"),
                })
                .collect();
            writeln!(
                out,
                "     extents {}+{} {}: {}",
                s.start_extent,
                s.extent_count,
                s.kind.lvm_name(),
                areas.join(", ")
            )
            .unwrap();
        }
    }
}

/// Render the whole layout as a tree.
pub fn render(l: &Layout) -> String {
    let mut out = String::new();
    for d in &l.disks {
        disk(&mut out, d);
    }
    for v in &l.volume_groups {
        vg(&mut out, v);
    }
    out
}
