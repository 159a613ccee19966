//! Partitions of an attached block device from Hydra's own scan, with BLKPG: the [`PartitionSet`] guard adds them, makes their `/dev` nodes, and removes both.
//!
//! This kernel parses no partition table, so `/dev/loopNpM` exists only when
//! added from userspace (`BLKPG_ADD_PARTITION`, start and length in bytes, as
//! `partx -a` does). On a kernel that parses tables, binding with
//! `LO_FLAGS_PARTSCAN` may already have made them: each existing one is
//! checked against the scan (sysfs `start` and `size`, in 512-byte units) and
//! reused, and a mismatch is an error naming both. Only partitions added here
//! are deleted on close; the kernel's own go with the loop binding.
//!
//! The MBR extended container is skipped: the kernel would expose it as a
//! 1 KiB partition (just the EBR link), which is never mounted; its logical
//! partitions (5..) are added like primary ones.

use super::loopdev::{BUSY_SLEEP, BUSY_TRIES};
use super::sys;
use super::AttachError;
use crate::layout::{Partition, PartitionRole};
use std::fs::File;
use std::path::{Path, PathBuf};

/// One partition node on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionNode {
    /// Partition number (`PART_ENTRY_NUMBER`).
    pub number: u32,
    /// Its device node, e.g. `/dev/loop3p2`.
    pub path: PathBuf,
    /// Byte offset on the whole device.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Added by Hydra with BLKPG (else found, made by the kernel).
    pub added: bool,
    node_created: bool,
}

/// The partitions set up on one block device. Remove with [`PartitionSet::close`];
/// dropping it removes them too (best effort, failures logged).
#[derive(Debug)]
pub struct PartitionSet {
    device: PathBuf,
    /// A duplicate of the whole device's fd (same open file, no extra opener).
    file: Option<File>,
    nodes: Vec<PartitionNode>,
}

/// The kernel name of partition `number` of device `disk` (`loop3` -> `loop3p2`, `sda` -> `sda2`).
pub fn partition_name(disk: &str, number: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

impl PartitionSet {
    /// The whole device the partitions belong to.
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Keep the partitions but let go of the device: close the duplicate fd.
    pub fn release(mut self) {
        drop(self.file.take());
        std::mem::forget(self);
    }
}

impl PartitionSet {
    /// Add (or find and check) every partition of `parts` but the MBR extended
    /// container on the block device open as `device_file`, whose node is
    /// `device` and kernel name `name`. On error the ones added so far are removed.
    pub fn add(
        device_file: &File,
        device: &Path,
        name: &str,
        parts: &[Partition],
    ) -> Result<PartitionSet, AttachError> {
        let file = device_file
            .try_clone()
            .map_err(|e| AttachError::os(device, "dup fd", e))?;
        let mut set = PartitionSet {
            device: device.to_path_buf(),
            file: Some(file),
            nodes: Vec::new(),
        };
        let block = {
            let mut v: libc::c_int = 0;
            sys::ioctl_ptr(device_file, sys::BLKSSZGET, &mut v)
                .map_err(|e| AttachError::os(device, "BLKSSZGET", e))?;
            v as u64
        };
        let dev_size = sys::sysfs_block_u64(name, "size")
            .map_err(|e| AttachError::os(device, "read size from sysfs", e))?
            * 512;
        for p in parts {
            if p.role == PartitionRole::Extended {
                tracing::debug!(device = %device.display(), number = p.number, "skipping the MBR extended container");
                continue;
            }
            // On error `set` drops here and removes what it added.
            set.add_one(name, p, block, dev_size)?;
        }
        Ok(set)
    }

    fn add_one(
        &mut self,
        disk: &str,
        p: &Partition,
        block: u64,
        dev_size: u64,
    ) -> Result<(), AttachError> {
        let pname = partition_name(disk, p.number);
        let path = PathBuf::from(format!("/dev/{pname}"));
        let invalid = |what: String| AttachError::Invalid {
            object: path.clone(),
            what,
        };
        if p.number == 0 || p.size == 0 {
            return Err(invalid(format!(
                "partition number {} with size {}: nothing to add",
                p.number, p.size
            )));
        }
        if p.offset % block != 0 || p.size % block != 0 {
            return Err(invalid(format!(
                "partition at {}+{} bytes is not aligned to the device's {block}-byte logical blocks",
                p.offset, p.size
            )));
        }
        match p.offset.checked_add(p.size) {
            Some(end) if end <= dev_size => {}
            _ => {
                return Err(invalid(format!(
                    "partition at {}+{} bytes ends past the device's {dev_size} bytes",
                    p.offset, p.size
                )))
            }
        }
        let added = if let Ok(kstart) = sys::sysfs_block_u64(&pname, "start") {
            let ksize = sys::sysfs_block_u64(&pname, "size")
                .map_err(|e| AttachError::os(&path, "read size from sysfs", e))?;
            if kstart * 512 != p.offset || ksize * 512 != p.size {
                return Err(AttachError::PartitionMismatch {
                    device: self.device.clone(),
                    number: p.number,
                    kernel_start: kstart * 512,
                    kernel_size: ksize * 512,
                    scan_start: p.offset,
                    scan_size: p.size,
                });
            }
            tracing::debug!(partition = %path.display(), "kernel partition matches the scan, reusing it");
            false
        } else {
            let mut bp = sys::BlkpgPartition {
                start: p.offset as libc::c_longlong,
                length: p.size as libc::c_longlong,
                pno: p.number as libc::c_int,
                devname: [0; 64],
                volname: [0; 64],
            };
            blkpg(
                self.file.as_ref().expect("open while adding"),
                sys::BLKPG_ADD_PARTITION,
                &mut bp,
            )
            .map_err(|e| {
                let op = if sys::is_busy(&e) {
                    format!(
                        "BLKPG_ADD_PARTITION {}+{} bytes (overlaps an existing partition)",
                        p.offset, p.size
                    )
                } else {
                    format!("BLKPG_ADD_PARTITION {}+{} bytes", p.offset, p.size)
                };
                AttachError::os(&path, op, e)
            })?;
            true
        };
        let mut node = PartitionNode {
            number: p.number,
            path: path.clone(),
            offset: p.offset,
            size: p.size,
            added,
            node_created: false,
        };
        match sys::ensure_dev_node(&pname) {
            Ok(created) => node.node_created = created,
            Err(e) => {
                self.nodes.push(node); // so that teardown deletes the partition
                return Err(AttachError::os(&path, "create device node from sysfs", e));
            }
        }
        self.nodes.push(node);
        Ok(())
    }

    /// The node of partition `number`, if set up.
    pub fn path(&self, number: u32) -> Option<&Path> {
        self.nodes
            .iter()
            .find(|n| n.number == number)
            .map(|n| n.path.as_path())
    }

    /// Every partition set up, in scan order.
    pub fn nodes(&self) -> &[PartitionNode] {
        &self.nodes
    }

    /// Delete the partitions added here and the nodes made here. Reports every failure.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), AttachError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for n in self.nodes.drain(..).rev() {
            // Our node goes even when the partition cannot: partition minors are
            // dynamic, so a node left behind may later name another device.
            if n.node_created {
                if let Err(e) = sys::remove_dev_node(&n.path) {
                    errors.push(AttachError::os(&n.path, "remove device node", e));
                }
            }
            if !n.added {
                continue;
            }
            let mut bp = sys::BlkpgPartition {
                start: 0,
                length: 0,
                pno: n.number as libc::c_int,
                devname: [0; 64],
                volname: [0; 64],
            };
            let mut tries = 0;
            loop {
                match blkpg(&file, sys::BLKPG_DEL_PARTITION, &mut bp) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => break,
                    Err(e) if sys::is_busy(&e) && tries + 1 < BUSY_TRIES => {
                        tries += 1;
                        std::thread::sleep(BUSY_SLEEP);
                    }
                    Err(e) => {
                        let op = if sys::is_busy(&e) {
                            "BLKPG_DEL_PARTITION (still open or mounted)"
                        } else {
                            "BLKPG_DEL_PARTITION"
                        };
                        errors.push(AttachError::os(&n.path, op, e));
                        break;
                    }
                }
            }
        }
        AttachError::collect(errors)
    }
}

impl Drop for PartitionSet {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(device = %self.device.display(), error = %e, "partition teardown failed");
        }
    }
}

fn blkpg(file: &File, op: libc::c_int, part: &mut sys::BlkpgPartition) -> std::io::Result<()> {
    let mut arg = sys::BlkpgIoctlArg {
        op,
        flags: 0,
        datalen: std::mem::size_of::<sys::BlkpgPartition>() as libc::c_int,
        data: part as *mut sys::BlkpgPartition as *mut libc::c_void,
    };
    sys::ioctl_ptr(file, sys::BLKPG, &mut arg).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::testutil::{self as tu, root};
    use crate::attach::{attach_disk, AttachOptions, LoopDevice, LoopOptions};
    use crate::layout::{ImageFormat, Scheme};
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn names() {
        assert_eq!(partition_name("loop3", 2), "loop3p2");
        assert_eq!(partition_name("nvme0n1", 1), "nvme0n1p1");
        assert_eq!(partition_name("sda", 5), "sda5");
    }

    fn opts(dir: &Path, read_only: bool) -> AttachOptions {
        AttachOptions {
            read_only,
            runtime_dir: dir.join("run"),
        }
    }

    #[test]
    fn gpt_partitions_have_nodes_sizes_and_the_ext4_uuid() {
        if !root("gpt_partitions_have_nodes_sizes_and_the_ext4_uuid") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("gpt.img");
        let parts = tu::gpt_image(&img);
        assert_eq!(parts.len(), 3);
        let d = tu::disk(0, &img, ImageFormat::Raw, 64 << 20, 512, parts.clone());
        let t = std::time::Instant::now();
        let att = attach_disk(&img, &d, &opts(dir.path(), false)).unwrap();
        let attach_time = t.elapsed();
        assert!(att.export().is_none());
        let mut nodes = Vec::new();
        for p in &parts {
            let node = att.partition_path(p.number).unwrap();
            let m = std::fs::metadata(&node).unwrap();
            assert!(m.file_type().is_block_device(), "{}", node.display());
            assert_eq!(tu::sysfs_size(&node), p.size, "{}", node.display());
            let name = node.file_name().unwrap().to_str().unwrap().to_string();
            assert_eq!(
                sys::sysfs_block_u64(&name, "start").unwrap() * 512,
                p.offset
            );
            nodes.push(node);
        }
        assert_eq!(att.partitions().len(), 3);
        assert!(att.partitions().iter().all(|n| n.added));
        assert_eq!(att.partition_path(4), None);
        assert_eq!(tu::blkid_uuid(&nodes[1]), tu::EXT4_UUID);
        let t = std::time::Instant::now();
        att.close().unwrap();
        let detach_time = t.elapsed();
        eprintln!("measured: raw GPT attach (loop + 3 partitions) {attach_time:?}, detach {detach_time:?}");
        for n in &nodes {
            let name = n.file_name().unwrap().to_str().unwrap();
            assert!(tu::gone_or_not_ours(name, dir.path()), "{name}");
        }
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn write_through_a_partition_lands_at_its_offset() {
        if !root("write_through_a_partition_lands_at_its_offset") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("gpt.img");
        let parts = tu::gpt_image(&img);
        let d = tu::disk(0, &img, ImageFormat::Raw, 64 << 20, 512, parts.clone());
        let att = attach_disk(&img, &d, &opts(dir.path(), false)).unwrap();
        let data = tu::pattern(11, 65536);
        tu::write_dev(&att.partition_path(3).unwrap(), 3 * 4096, &data);
        att.close().unwrap();
        assert_eq!(
            tu::read_file_at(&img, parts[2].offset + 3 * 4096, data.len()),
            data
        );
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn read_only_attach_refuses_writes() {
        if !root("read_only_attach_refuses_writes") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("gpt.img");
        let parts = tu::gpt_image(&img);
        let before = tu::read_file_at(&img, parts[1].offset, 4096);
        let d = tu::disk(0, &img, ImageFormat::Raw, 64 << 20, 512, parts.clone());
        let att = attach_disk(&img, &d, &opts(dir.path(), true)).unwrap();
        assert!(att.read_only());
        for dev in [att.device().to_path_buf(), att.partition_path(2).unwrap()] {
            tu::assert_write_refused(&dev);
        }
        assert_eq!(
            tu::blkid_uuid(&att.partition_path(2).unwrap()),
            tu::EXT4_UUID
        );
        att.close().unwrap();
        assert_eq!(tu::read_file_at(&img, parts[1].offset, 4096), before);
        tu::assert_no_leaks(dir.path());
    }

    /// What a kernel with partition parsers does (PARTSCAN made them): reuse
    /// matching ones, refuse a mismatch, delete only what we added.
    #[test]
    fn existing_partitions_are_checked_and_reused() {
        if !root("existing_partitions_are_checked_and_reused") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("gpt.img");
        let parts = tu::gpt_image(&img);
        let mut dev = LoopDevice::attach(&img, &LoopOptions::default()).unwrap();
        dev.add_partitions(&parts).unwrap();
        let f = File::open(dev.path()).unwrap();
        let again = PartitionSet::add(&f, dev.path(), &dev.name(), &parts).unwrap();
        assert!(again.nodes().iter().all(|n| !n.added));
        again.close().unwrap();
        let p2 = dev.partition_path(2).unwrap();
        assert!(p2.exists(), "reused partitions are not deleted");
        let mut changed = parts.clone();
        changed[1].size -= 1 << 20;
        let err = PartitionSet::add(&f, dev.path(), &dev.name(), &changed).unwrap_err();
        match &err {
            AttachError::PartitionMismatch {
                number,
                kernel_size,
                scan_size,
                ..
            } => {
                assert_eq!(*number, 2);
                assert_eq!(*kernel_size, parts[1].size);
                assert_eq!(*scan_size, parts[1].size - (1 << 20));
            }
            e => panic!("want a mismatch, got {e}"),
        }
        assert!(p2.exists(), "a failed check deletes nothing it did not add");
        drop(f);
        dev.close().unwrap();
        let name = p2.file_name().unwrap().to_str().unwrap();
        assert!(!p2.exists() || tu::gone_or_not_ours(name, dir.path()));
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn mbr_extended_container_is_skipped_and_logicals_added() {
        if !root("mbr_extended_container_is_skipped_and_logicals_added") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("mbr.img");
        tu::sparse(&img, 64 << 20);
        tu::run_stdin(
            "sfdisk",
            &["-q", img.to_str().unwrap()],
            "label: dos\n,8MiB,83\n,,5\n,4MiB,83\n,4MiB,83\n",
        );
        let parts = tu::read_table(&img);
        assert_eq!(
            parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1, 2, 5, 6]
        );
        assert_eq!(parts[1].role, PartitionRole::Extended);
        assert_eq!(parts[0].scheme, Scheme::Dos);
        let d = tu::disk(0, &img, ImageFormat::Raw, 64 << 20, 512, parts.clone());
        let att = attach_disk(&img, &d, &opts(dir.path(), false)).unwrap();
        assert_eq!(att.partition_path(2), None, "extended container skipped");
        let dev = att
            .device()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(!Path::new(&format!("/sys/class/block/{dev}p2")).exists());
        for p in [&parts[0], &parts[2], &parts[3]] {
            assert_eq!(
                tu::sysfs_size(&att.partition_path(p.number).unwrap()),
                p.size
            );
        }
        let data = tu::pattern(5, 4096);
        tu::write_dev(&att.partition_path(6).unwrap(), 0, &data);
        att.close().unwrap();
        assert_eq!(tu::read_file_at(&img, parts[3].offset, 4096), data);
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn partition_past_the_end_is_refused_and_nothing_stays() {
        if !root("partition_past_the_end_is_refused_and_nothing_stays") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("gpt.img");
        let mut parts = tu::gpt_image(&img);
        parts[2].size += 1 << 20;
        let d = tu::disk(0, &img, ImageFormat::Raw, 64 << 20, 512, parts);
        let err = attach_disk(&img, &d, &opts(dir.path(), false)).unwrap_err();
        assert_eq!(
            err.step(),
            Some(crate::attach::AttachStep::Partitions),
            "{err}"
        );
        assert!(err.to_string().contains("ends past"), "{err}");
        tu::assert_no_leaks(dir.path());
    }
}
