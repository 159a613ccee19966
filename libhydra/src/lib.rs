//! libhydra: hydrate VMware guest disks offline so that they boot and are reachable on Azure.
//!
//! The flow is one way: disks are probed into a [`layout::Layout`]
//! ([`probe::probe`]), attached as block devices, assembled into a guest tree,
//! inspected, edited in transactions, and torn down. See `ARCHITECTURE.md`.

#![warn(missing_docs)]

pub mod assemble;
pub mod attach;
pub mod edit;
pub mod error;
pub mod exec;
pub mod format;
pub mod guest;
pub mod inspect;
pub mod layout;
pub mod probe;

pub use error::{Error, FormatError, Result};
pub use layout::Layout;
