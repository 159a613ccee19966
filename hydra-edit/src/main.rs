//! hydra-edit: run Hydra's edit transactions (hydration) on a guest: plan, show, commit, verify, roll back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use libhydra::assemble::teardown::install_signal_handlers;
use libhydra::assemble::tree::{assemble, AssembleOptions, GuestTree, DEFAULT_TREE_ROOT};
use libhydra::edit::hydrate::{self, HydrateOptions};
use libhydra::edit::render::plan_text;
use libhydra::edit::txn;
use libhydra::edit::{StepOptions, SystemFacts};
use libhydra::guest::GuestRoot;

/// Hydrate a VMware Linux guest offline so that it boots and is reachable on
/// Azure: every change is planned first (`--dry-run` prints it as a diff),
/// backed up in a journal inside the guest, written atomically, verified,
/// and can be undone with `hydra-edit rollback`.
#[derive(Parser)]
#[command(name = "hydra-edit", version, about)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr (no progress).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Where sessions keep their markers and runtime files.
    #[arg(long, global = true, default_value = "/run/hydra")]
    runtime_dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which guest: disks to attach and assemble, or a tree mounted already.
#[derive(Args)]
struct Target {
    /// Work on a tree that is already mounted (a `hydra-mount mount --rw
    /// --chroot` tree, or `/` on the source VM itself: the manual preparation)
    /// instead of disks.
    #[arg(long = "root", value_name = "DIR", conflicts_with = "disks")]
    root_dir: Option<PathBuf>,
    /// Where to assemble the tree from DISKs.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_TREE_ROOT)]
    tree_root: PathBuf,
    /// Pick the root volume when the disks hold several (`disk0p2`, `vg/lv`,
    /// or a filesystem UUID).
    #[arg(long, value_name = "VOLUME")]
    root_volume: Option<String>,
    /// The guest's disks (images or block devices), in guest order.
    #[arg(required_unless_present = "root_dir")]
    disks: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Plan and apply every hydration step (L4-L9, UEFI) in one transaction.
    Hydrate {
        #[command(flatten)]
        target: Target,
        /// Print the plan (unified diffs and commands) and change nothing.
        /// The disks are attached read-only.
        #[arg(long)]
        dry_run: bool,
        /// Print a JSON report of every change and check on stdout.
        #[arg(long)]
        json: bool,
        /// Run only these steps (comma-separated; see `hydra-edit steps`).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Leave these steps out.
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
        /// Proceed on an unsupported or unidentified OS.
        #[arg(long)]
        force: bool,
        /// An Azure Linux agent package (.rpm or .deb) to install when the guest has none.
        #[arg(long, value_name = "FILE")]
        agent_package: Option<PathBuf>,
        /// The helper can reach the guest's package repositories: install the
        /// agent from them when it is missing.
        #[arg(long)]
        network: bool,
        /// Initramfs rebuilds run at once (default: CPUs).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Seconds of `rootdelay=` on the kernel command line (default: the
        /// requirement's 300; 0 leaves it out). On Debian-family guests
        /// initramfs-tools sleeps this long at every boot.
        #[arg(long, value_name = "SECONDS")]
        rootdelay: Option<u32>,
        /// Test hook: fail before change N of the commit.
        #[arg(long, hide = true)]
        fail_after: Option<usize>,
    },
    /// Undo the last hydration (or `--tx ID`) from its journal in the guest.
    Rollback {
        #[command(flatten)]
        target: Target,
        /// The transaction to undo (a directory name under /var/lib/hydra/journal).
        #[arg(long)]
        tx: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the hydration steps.
    Steps,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hydra-edit: error: {}", error_chain(&e));
            ExitCode::FAILURE
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

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,libhydra::edit=info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Steps => {
            for s in hydrate::all_steps() {
                println!("{:<11} {:<4} {}", s.name(), s.requirement(), s.summary());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hydrate {
            target,
            dry_run,
            json,
            only,
            skip,
            force,
            agent_package,
            network,
            jobs,
            rootdelay,
            fail_after,
        } => {
            if let Some(p) = &agent_package {
                if !p.is_file() {
                    bail!("--agent-package {}: no such file", p.display());
                }
            }
            let opts = HydrateOptions {
                only,
                skip,
                force,
                step: StepOptions {
                    agent_package,
                    network,
                    jobs,
                    rootdelay,
                },
                fail_after,
            };
            with_guest(&cli.runtime_dir, &target, !dry_run, |guest, facts| {
                hydrate_guest(guest, facts, &opts, dry_run, json)
            })
        }
        Cmd::Rollback { target, tx, json } => {
            with_guest(&cli.runtime_dir, &target, true, |guest, _| {
                match txn::rollback(guest, tx.as_deref())? {
                    None => {
                        if json {
                            println!("null");
                        } else {
                            println!("no Hydra transaction in this guest: nothing to undo");
                        }
                    }
                    Some(r) => {
                        if json {
                            println!("{}", serde_json::to_string_pretty(&r)?);
                        } else {
                            println!(
                                "undid transaction {}: {} paths restored{}",
                                r.id,
                                r.paths.len(),
                                if r.commands.is_empty() {
                                    String::new()
                                } else {
                                    format!(", undo commands run: {}", r.commands.join("; "))
                                }
                            );
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// Open the guest (assembled from disks, or mounted already), run `f`, tear down.
fn with_guest(
    rt: &Path,
    target: &Target,
    read_write: bool,
    f: impl FnOnce(&GuestRoot, &SystemFacts) -> Result<ExitCode>,
) -> Result<ExitCode> {
    install_signal_handlers().context("install signal handlers")?;
    if let Some(dir) = &target.root_dir {
        let guest =
            GuestRoot::open(dir).with_context(|| format!("open guest tree {}", dir.display()))?;
        let facts = SystemFacts::from_mounted(dir);
        return f(&guest, &facts);
    }
    let layout = libhydra::probe::probe(&target.disks).context("probe failed")?;
    let opts = AssembleOptions {
        tree_root: target.tree_root.clone(),
        runtime_dir: rt.to_path_buf(),
        root: target.root_volume.clone(),
        read_write,
        chroot: read_write,
        ..AssembleOptions::default()
    };
    let tree: GuestTree = assemble(&layout, &opts).context("assemble failed")?;
    if tree.kind != "linux" {
        let kind = tree.kind.clone();
        tree.close().context("teardown failed")?;
        bail!("the guest is {kind}: hydra-edit hydrates Linux guests");
    }
    let result = tree
        .guest()
        .context("open the guest tree")
        .and_then(|guest| {
            let facts = SystemFacts::from_tree(&tree);
            f(&guest, &facts)
        });
    let closed = tree.close().context("teardown failed");
    match (result, closed) {
        (Ok(code), Ok(())) => Ok(code),
        (Err(e), Ok(())) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(t)) => Err(e.context(format!("and teardown failed too: {t:#}"))),
    }
}

fn hydrate_guest(
    guest: &GuestRoot,
    facts: &SystemFacts,
    opts: &HydrateOptions,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode> {
    let h = hydrate::plan(guest, facts, opts)?;
    if dry_run {
        if json {
            let r = hydrate::dry_run_report(facts, &h);
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!("guest: {} ({})", h.os, h.os.pretty);
            print!("{}", plan_text(&h.plans));
            println!(
                "{} changes planned; nothing was written (--dry-run)",
                h.changes()
            );
        }
        let blocked = h.plans.iter().any(|p| !p.blockers.is_empty());
        return Ok(if blocked {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        });
    }
    if !json {
        println!("guest: {} ({})", h.os, h.os.pretty);
        print!("{}", plan_text(&h.plans));
    }
    let report = hydrate::apply(guest, facts, opts, &h)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(a) = &report.applied {
        match &a.journal {
            None => println!("nothing to change: the guest is hydrated already"),
            Some(j) => {
                for c in &a.commands {
                    println!(
                        "ran in the guest: {} ({:.1} s)",
                        c.command,
                        c.millis as f64 / 1000.0
                    );
                }
                println!(
                    "committed {} changes and verified them; journal {} (undo: hydra-edit rollback)",
                    a.changes,
                    j.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
