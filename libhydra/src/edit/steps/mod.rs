//! The hydration steps (L4-L9 and UEFI), each in its own module, in the order they run.

use super::plan::Step;

pub mod agent;
pub mod bootloader;
pub mod fstab;
pub mod initramfs;
pub mod network;
pub mod services;
pub mod uefi;
pub mod vmware;

/// Every step, in run order: configuration edits first, the initramfs
/// rebuild last so that it sees the final configuration.
pub fn all() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(fstab::Fstab),
        Box::new(bootloader::Bootloader),
        Box::new(agent::Agent),
        Box::new(uefi::Uefi),
        Box::new(network::Network),
        Box::new(vmware::Vmware),
        Box::new(initramfs::Initramfs),
    ]
}
