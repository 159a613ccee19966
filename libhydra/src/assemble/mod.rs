//! The guest tree: find the root, resolve fstab, mount in path order, bind /dev /proc /sys /run, tear down, sweep.
pub mod devfs;
pub mod lock;
pub mod mount;
pub mod resolve;
pub mod sweep;
pub mod teardown;
pub mod tree;
