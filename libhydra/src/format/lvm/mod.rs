//! LVM2 on-disk format: PV label, metadata area header, and the metadata text (VGs, LVs, segments).

/// A VG's metadata as parsed from one PV's metadata text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgMetadata {
    /// VG name.
    pub name: String,
}
