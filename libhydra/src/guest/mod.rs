//! Confined access to guest files: every path resolved inside the guest root, never onto the host.
