//! The commands that attach and mount: inspect, mount, umount, sweep.

use anyhow::{bail, Context, Result};
use libhydra::assemble::sweep::{sweep_with, SweepOptions};
use libhydra::assemble::teardown::install_signal_handlers;
use libhydra::assemble::tree::{assemble, AssembleOptions, GuestTree};
use libhydra::inspect::os::{identify, OsIdentity};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `inspect` reports.
#[derive(Serialize)]
struct InspectReport<'a> {
    kind: &'a str,
    root: Option<&'a libhydra::assemble::tree::Candidate>,
    os: Option<OsIdentity>,
    os_error: Option<String>,
    candidates: &'a [libhydra::assemble::tree::Candidate],
    mounts: &'a [libhydra::assemble::tree::TreeMount],
    fstab: &'a [libhydra::assemble::tree::FstabOutcome],
    warnings: &'a [String],
}

/// The guest's OS identity (L3), or why it could not be told.
fn os_identity(tree: &GuestTree) -> Result<OsIdentity, String> {
    let g = tree.guest().map_err(|e| e.to_string())?;
    identify(&g).map_err(|e| e.to_string())
}

fn print_tree(tree: &GuestTree, os: &Result<OsIdentity, String>) {
    if let Some(r) = &tree.root {
        println!(
            "root: {} ({} {}){}",
            r.volume,
            r.fs.fs_type,
            r.fs.uuid.as_deref().unwrap_or("-"),
            match os {
                Ok(o) => format!(": {o} ({})", o.pretty),
                Err(e) => format!(": OS not identified: {e}"),
            }
        );
    }
    println!("candidates:");
    for c in &tree.candidates {
        println!(
            "  {:<16} {:<8} {:<28} {}",
            c.volume,
            c.fs.fs_type,
            c.role,
            c.device.display()
        );
    }
    if !tree.mounts.is_empty() {
        println!("mounts:");
        for m in &tree.mounts {
            println!(
                "  {:<16} {:<16} {:<8} {}",
                m.mountpoint,
                m.volume,
                m.fs_type,
                m.device.display()
            );
        }
    }
    if !tree.fstab.is_empty() {
        println!("fstab:");
        for f in &tree.fstab {
            println!(
                "  line {:>3}: {} {} {} -> {}: {}",
                f.line,
                f.spec,
                f.target,
                f.vfstype,
                f.volume.as_deref().unwrap_or("-"),
                f.outcome
            );
        }
    }
    for w in &tree.warnings {
        println!("warning: {w}");
    }
}

fn report(tree: &GuestTree, json: bool) -> Result<()> {
    let os = os_identity(tree);
    if json {
        let r = InspectReport {
            kind: &tree.kind,
            root: tree.root.as_ref(),
            os: os.as_ref().ok().cloned(),
            os_error: os.as_ref().err().cloned(),
            candidates: &tree.candidates,
            mounts: &tree.mounts,
            fstab: &tree.fstab,
            warnings: &tree.warnings,
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_tree(tree, &os);
    }
    Ok(())
}

/// `hydra-mount inspect`: assemble read-only in a private directory, report, tear down.
pub fn inspect(rt: &Path, disks: &[PathBuf], root: Option<String>, json: bool) -> Result<()> {
    install_signal_handlers().context("install signal handlers")?;
    let layout = libhydra::probe::probe(disks).context("probe failed")?;
    let opts = AssembleOptions {
        tree_root: rt.join(format!("inspect-{}", std::process::id())),
        runtime_dir: rt.to_path_buf(),
        root,
        ..AssembleOptions::default()
    };
    let tree = assemble(&layout, &opts).context("assemble failed")?;
    let shown = report(&tree, json);
    tree.close().context("teardown failed")?;
    shown
}

/// `hydra-mount mount`: assemble at `mountpoint` and leave it mounted.
pub fn mount(
    rt: &Path,
    disks: &[PathBuf],
    mountpoint: &Path,
    rw: bool,
    root: Option<String>,
    chroot: bool,
    json: bool,
) -> Result<()> {
    install_signal_handlers().context("install signal handlers")?;
    let layout = libhydra::probe::probe(disks).context("probe failed")?;
    let opts = AssembleOptions {
        tree_root: mountpoint.to_path_buf(),
        runtime_dir: rt.to_path_buf(),
        read_write: rw,
        root,
        chroot,
        ..AssembleOptions::default()
    };
    let tree = assemble(&layout, &opts).context("assemble failed")?;
    report(&tree, json)?;
    let marker = tree.persist().context("leave the tree mounted")?;
    eprintln!(
        "mounted {} at {} (session {}); take it apart with: hydra-mount umount {}",
        if rw { "read-write" } else { "read-only" },
        mountpoint.display(),
        marker.display(),
        mountpoint.display()
    );
    Ok(())
}

/// `hydra-mount umount`: release the session whose tree root is `mountpoint`.
pub fn umount(rt: &Path, mountpoint: &Path) -> Result<()> {
    let opts = SweepOptions {
        release: Some(mountpoint.to_path_buf()),
        sessions_dir: rt.join("sessions"),
        ..SweepOptions::default()
    };
    let r = sweep_with(&opts);
    if r.sessions.is_empty() {
        if !r.live_sessions.is_empty() {
            bail!(
                "{}: its session is still owned by a running process ({})",
                mountpoint.display(),
                r.live_sessions.join(", ")
            );
        }
        bail!(
            "{}: no Hydra session has its tree there",
            mountpoint.display()
        );
    }
    eprint!("{r}");
    if !r.is_clean() {
        bail!(
            "{}: not everything could be taken apart (see above)",
            mountpoint.display()
        );
    }
    Ok(())
}

/// `hydra-mount sweep`.
pub fn sweep(rt: &Path, dry_run: bool) -> Result<()> {
    let r = sweep_with(&SweepOptions {
        dry_run,
        sessions_dir: rt.join("sessions"),
        ..SweepOptions::default()
    });
    print!("{r}");
    if !r.is_clean() {
        bail!("the sweep left failures (see above)");
    }
    Ok(())
}
