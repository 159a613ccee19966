//! LVM2 on-disk format: PV label, metadata area header, and the metadata text (VGs, LVs, segments).
//!
//! - [`label`]: the `LABELONE` PV label, the metadata area header and LVM's CRC.
//! - [`text`]: the configuration-text tree parser (bounded).
//! - [`metadata`]: the VG model built from that tree ([`VgMetadata`]).

pub mod label;
pub mod metadata;
pub mod text;

pub use label::{calc_crc, find_label, parse_mda_header, MdaHeader, PvLabel, RawLocn};
pub use metadata::{parse_vg, AreaRef, LvMetadata, PvMetadata, SegmentMetadata, VgMetadata};

/// Test helpers: the real lvm2 samples under `testdata/samples/lvm/` and synthetic PVs.
#[cfg(test)]
pub(crate) mod samples {
    use super::label::{calc_crc, FMTT_MAGIC, INITIAL_CRC, MDA_HEADER_SIZE};
    use crate::probe::reader::SparseMemReader;
    use serde_json::Value as Json;
    use std::path::PathBuf;

    /// `testdata/samples/lvm/<rel>`.
    pub fn path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/samples/lvm")
            .join(rel)
    }

    /// Bytes of a sample file.
    pub fn bytes(rel: &str) -> Vec<u8> {
        std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// A sample JSON file (a manifest or an lvm2 report).
    pub fn json(rel: &str) -> Json {
        serde_json::from_slice(&bytes(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The rows of an lvm2 `--reportformat json` report (`pv`, `vg` or `lv`).
    pub fn report(rel: &str, kind: &str) -> Vec<Json> {
        json(rel)["report"][0][kind].as_array().unwrap().clone()
    }

    /// A PV image from a sample: its size, the device lvm2 saw it as, and its regions.
    pub struct SamplePv {
        /// `pv0`, `pv1`, ...
        pub name: String,
        /// `/dev/loopN` as in the reports.
        pub device: String,
        /// Size of the PV in bytes.
        pub size: u64,
        /// (offset, bytes) regions; zeros elsewhere.
        pub regions: Vec<(u64, Vec<u8>)>,
    }

    impl SamplePv {
        /// Write the PV's regions into `disk` at `at`.
        pub fn place(&self, disk: &mut SparseMemReader, at: u64) {
            for (o, b) in &self.regions {
                disk.write(at + o, b);
            }
        }

        /// The PV alone as a disk.
        pub fn disk(&self) -> SparseMemReader {
            let mut d = SparseMemReader::new(self.size);
            self.place(&mut d, 0);
            d
        }

        /// The bytes of the region starting at `offset`.
        pub fn region(&self, offset: u64) -> &[u8] {
            &self.regions.iter().find(|r| r.0 == offset).unwrap().1
        }
    }

    /// The PVs of sample directory `dir` (`two_pv`, `wrap`, `orphan`).
    pub fn pvs(dir: &str) -> Vec<SamplePv> {
        let m = json(&format!("{dir}/manifest.json"));
        m["pvs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| SamplePv {
                name: p["name"].as_str().unwrap().to_string(),
                device: p["device"].as_str().unwrap().to_string(),
                size: p["size"].as_u64().unwrap(),
                regions: p["regions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let f = r["file"].as_str().unwrap();
                        (r["offset"].as_u64().unwrap(), bytes(&format!("{dir}/{f}")))
                    })
                    .collect(),
            })
            .collect()
    }

    /// A `B`-suffixed byte count from an lvm2 report (`"1048576B"`).
    pub fn report_bytes(v: &Json) -> u64 {
        v.as_str().unwrap().trim_end_matches('B').parse().unwrap()
    }

    /// A number printed as a string in an lvm2 report.
    pub fn report_u64(v: &Json) -> u64 {
        v.as_str().unwrap().parse().unwrap()
    }

    /// A synthetic metadata area: where it is and what its slot 0 points at.
    pub struct SynthMda {
        /// Offset of the area on the PV.
        pub offset: u64,
        /// Size of the area.
        pub size: u64,
        /// Offset of the text inside the area (>= 512), or 0 for an empty area.
        pub text_offset: u64,
        /// The text, NUL included; wraps to offset 512 if it passes the end.
        pub text: Vec<u8>,
        /// raw_locn flags.
        pub flags: u32,
    }

    /// Build a PV image of `size` bytes with an LVM2 label in sector 1, one data area at
    /// 1 MiB and the given metadata areas, with correct checksums everywhere.
    pub fn synth_pv(uuid32: &[u8; 32], size: u64, mdas: &[SynthMda]) -> SparseMemReader {
        let mut disk = SparseMemReader::new(size);
        let mut sec = vec![0u8; 512];
        sec[0..8].copy_from_slice(b"LABELONE");
        sec[8..16].copy_from_slice(&1u64.to_le_bytes());
        sec[20..24].copy_from_slice(&32u32.to_le_bytes());
        sec[24..32].copy_from_slice(b"LVM2 001");
        sec[32..64].copy_from_slice(uuid32);
        sec[64..72].copy_from_slice(&size.to_le_bytes());
        let mut p = 72;
        let mut put = |sec: &mut Vec<u8>, o: u64, s: u64| {
            sec[p..p + 8].copy_from_slice(&o.to_le_bytes());
            sec[p + 8..p + 16].copy_from_slice(&s.to_le_bytes());
            p += 16;
        };
        put(&mut sec, 1 << 20, 0);
        put(&mut sec, 0, 0);
        for m in mdas {
            put(&mut sec, m.offset, m.size);
        }
        put(&mut sec, 0, 0);
        let crc = calc_crc(INITIAL_CRC, &sec[20..]);
        sec[16..20].copy_from_slice(&crc.to_le_bytes());
        disk.write(512, &sec);
        for m in mdas {
            let mut h = vec![0u8; MDA_HEADER_SIZE];
            h[4..20].copy_from_slice(FMTT_MAGIC);
            h[20..24].copy_from_slice(&1u32.to_le_bytes());
            h[24..32].copy_from_slice(&m.offset.to_le_bytes());
            h[32..40].copy_from_slice(&m.size.to_le_bytes());
            if m.text_offset != 0 {
                let len = m.text.len() as u64;
                h[40..48].copy_from_slice(&m.text_offset.to_le_bytes());
                h[48..56].copy_from_slice(&len.to_le_bytes());
                h[56..60].copy_from_slice(&calc_crc(INITIAL_CRC, &m.text).to_le_bytes());
                h[60..64].copy_from_slice(&m.flags.to_le_bytes());
                let first = (m.size - m.text_offset).min(len) as usize;
                disk.write(m.offset + m.text_offset, &m.text[..first]);
                if first < m.text.len() {
                    disk.write(m.offset + 512, &m.text[first..]);
                }
            }
            let crc = calc_crc(INITIAL_CRC, &h[4..]);
            h[0..4].copy_from_slice(&crc.to_le_bytes());
            disk.write(m.offset, &h);
        }
        disk
    }
}
