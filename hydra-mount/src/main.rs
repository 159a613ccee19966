//! hydra-mount: look at a VM's disks (probe) and, later, mount its guest tree for inspection.

mod session;
mod tree;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Inspect a VM's disks and mount its guest tree for manual inspection.
#[derive(Parser)]
#[command(name = "hydra-mount", version, about)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Where sessions keep their markers and runtime files.
    #[arg(long, global = true, default_value = "/run/hydra")]
    runtime_dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the layout of the disks: partition tables, filesystems, LVM. Read-only.
    Probe {
        /// Print the Layout as JSON instead of a tree.
        #[arg(long)]
        json: bool,
        /// Disk images (raw, VHD, VMDK descriptors, qcow2, ...) or block devices, in guest order.
        #[arg(required = true)]
        disks: Vec<PathBuf>,
    },
    /// Find the guest OS: roots, mountpoints and how each fstab entry resolves.
    /// Attaches and mounts read-only in a private directory, writes nothing, tears down.
    Inspect {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Pick a root when there are several (`disk0p2`, `vg/lv`, or a filesystem UUID).
        #[arg(long)]
        root: Option<String>,
        /// The guest's disks, in guest order.
        #[arg(required = true)]
        disks: Vec<PathBuf>,
    },
    /// Assemble the guest tree at MOUNTPOINT and leave it mounted (read-only unless
    /// --rw). Take it apart with `hydra-mount umount MOUNTPOINT`.
    Mount {
        /// Attach and mount read-write.
        #[arg(long)]
        rw: bool,
        /// Pick a root when there are several (`disk0p2`, `vg/lv`, or a filesystem UUID).
        #[arg(long)]
        root: Option<String>,
        /// Also give the tree its own /dev (with /dev/disk/by-uuid links) and
        /// bind /proc, /sys, /run, so that `chroot MOUNTPOINT` works.
        #[arg(long)]
        chroot: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The guest's disks, in guest order, then the mountpoint.
        #[arg(required = true, num_args = 2..)]
        args: Vec<PathBuf>,
    },
    /// Take apart a tree made by `hydra-mount mount`: unmount, unmap, detach.
    Umount {
        /// The mountpoint given to `hydra-mount mount`.
        mountpoint: PathBuf,
    },
    /// Remove what killed sessions left behind (mounts, LV maps, loop devices,
    /// daemons), from their session markers; touch nothing else.
    Sweep {
        /// Only say what would be done.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hydra-mount: error: {}", error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause once (library messages already quote their cause).
fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> Result<()> {
    let rt = cli.runtime_dir;
    match cli.cmd {
        Cmd::Probe { json, disks } => {
            let layout = libhydra::probe::probe(&disks).context("probe failed")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&layout)?);
            } else {
                print!("{}", tree::render(&layout));
            }
            Ok(())
        }
        Cmd::Inspect { json, root, disks } => session::inspect(&rt, &disks, root, json),
        Cmd::Mount {
            rw,
            root,
            chroot,
            json,
            mut args,
        } => {
            let mountpoint = args.pop().expect("clap requires two arguments");
            session::mount(&rt, &args, &mountpoint, rw, root, chroot, json)
        }
        Cmd::Umount { mountpoint } => session::umount(&rt, &mountpoint),
        Cmd::Sweep { dry_run } => session::sweep(&rt, dry_run),
    }
}
