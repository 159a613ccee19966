//! hydra-edit: run Hydra's edit transactions (hydration) on a guest.

use clap::Parser;

/// Run Hydra's edit transactions (hydration) on a guest.
///
/// Hydration (`hydra-edit hydrate`) is not built yet: it comes with the
/// attach/assemble and hydration work. This binary exists so the workspace
/// has its final shape; it refuses to pretend.
#[derive(Parser)]
#[command(name = "hydra-edit", version, about)]
struct Cli {}

fn main() -> std::process::ExitCode {
    let _ = Cli::parse();
    eprintln!("hydra-edit: no edit steps exist yet (hydration is not implemented); nothing done");
    std::process::ExitCode::from(2)
}
