//! Hydration as one transaction: identify the OS, plan the selected steps in order, refuse on blockers, commit, verify by planning again.

use serde::Serialize;

use super::error::EditError;
use super::facts::SystemFacts;
use super::journal::Journal;
use super::plan::{Context, Pending, Step, StepOptions, StepPlan};
use super::render::{step_report, StepReport};
use super::steps;
use super::txn::{self, Applied, CommitOptions};
use crate::guest::GuestRoot;
use crate::inspect::os::{self, Distro, Family, OsIdentity, Version};
use crate::inspect::InspectError;

/// Options of a hydration run.
#[derive(Debug, Clone, Default)]
pub struct HydrateOptions {
    /// Run only these steps (empty: all).
    pub only: Vec<String>,
    /// Skip these steps.
    pub skip: Vec<String>,
    /// Proceed on an unsupported or unidentified OS.
    pub force: bool,
    /// Options the steps read.
    pub step: StepOptions,
    /// Inject a failure before change N of the commit (tests).
    pub fail_after: Option<usize>,
}

/// A planned hydration.
#[derive(Debug, Clone)]
pub struct Hydration {
    /// The guest OS.
    pub os: OsIdentity,
    /// One plan per selected step, in order.
    pub plans: Vec<StepPlan>,
    /// How long identifying and planning took, in milliseconds.
    pub plan_millis: u64,
}

/// Where the time of a run went, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Identify the OS and plan every step (reads every initramfs).
    pub plan: u64,
    /// Back up, write, run the commands (rebuilds in parallel).
    pub commit: u64,
    /// Plan again to check every postcondition (re-reads new images).
    pub verify: u64,
}

impl Hydration {
    /// Total planned changes.
    pub fn changes(&self) -> usize {
        self.plans.iter().map(|p| p.changes.len()).sum()
    }
}

/// The JSON report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The guest OS.
    pub os: OsIdentity,
    /// `plan` (dry run), `commit`, `verify-failed`.
    pub mode: String,
    /// Whether changes were written.
    pub committed: bool,
    /// The root filesystem and firmware, as the steps saw them.
    pub root: Option<super::facts::FsRef>,
    /// UEFI guest.
    pub uefi: bool,
    /// Per step.
    pub steps: Vec<StepReport>,
    /// What the commit did (journal, commands and their times).
    pub applied: Option<Applied>,
    /// Checks of the verification pass (every step planned again: nothing left to do).
    pub verified: bool,
    /// Where the time went.
    pub millis: Timings,
}

/// Every step, in the order they run. Config edits first; the initramfs
/// rebuild last, so that it sees the final configuration.
pub fn all_steps() -> Vec<Box<dyn Step>> {
    steps::all()
}

/// Identify the guest OS; with `force`, an unidentified one is `unknown`.
pub fn identify(guest: &GuestRoot, force: bool) -> Result<OsIdentity, EditError> {
    let id = match os::identify(guest) {
        Ok(id) => id,
        Err(e @ InspectError::UnknownOs { .. }) if !force => {
            return Err(EditError::Unsupported(format!(
                "{e}; use --force to proceed"
            )))
        }
        Err(InspectError::UnknownOs { .. }) => OsIdentity {
            family: Family::Unknown,
            distro: Distro::Other("unknown".into()),
            version: Version::default(),
            pretty: "unidentified Linux".into(),
            sources: Vec::new(),
        },
        Err(InspectError::Guest(e)) => return Err(EditError::guest("inspect", e)),
    };
    if id.family == Family::Windows {
        return Err(EditError::Unsupported(format!(
            "{id} is a Windows guest; the Linux hydration steps do not apply to it"
        )));
    }
    if let Err(u) = os::supported(&id) {
        if !force {
            return Err(EditError::Unsupported(u.to_string()));
        }
        tracing::warn!("{u}: proceeding because of --force");
    }
    Ok(id)
}

fn selected(opts: &HydrateOptions) -> Result<Vec<Box<dyn Step>>, EditError> {
    let all = all_steps();
    let names: Vec<&str> = all.iter().map(|s| s.name()).collect();
    for n in opts.only.iter().chain(&opts.skip) {
        if !names.contains(&n.as_str()) {
            return Err(EditError::refused(
                "hydrate",
                format!("no step named `{n}` (steps: {})", names.join(", ")),
            ));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|n| n == s.name()))
        .filter(|s| !opts.skip.iter().any(|n| n == s.name()))
        .collect())
}

/// Plan `steps` against the guest, each seeing the earlier ones' changes.
pub fn plan_steps(
    guest: &GuestRoot,
    os: &OsIdentity,
    facts: &SystemFacts,
    options: &StepOptions,
    steps: &[Box<dyn Step>],
) -> Result<Vec<StepPlan>, EditError> {
    let mut pending = Pending::default();
    let mut plans = Vec::new();
    for s in steps {
        let cx = Context::new(guest, os, facts, options, &pending);
        let p = s.plan(&cx)?;
        tracing::debug!(step = s.name(), changes = p.changes.len(), "planned");
        pending.absorb(&p);
        plans.push(p);
    }
    Ok(plans)
}

/// Identify the OS and plan every selected step. Writes nothing.
pub fn plan(
    guest: &GuestRoot,
    facts: &SystemFacts,
    opts: &HydrateOptions,
) -> Result<Hydration, EditError> {
    let t = std::time::Instant::now();
    let os = identify(guest, opts.force)?;
    tracing::info!(os = %os, "guest identified");
    let steps = selected(opts)?;
    let plans = plan_steps(guest, &os, facts, &opts.step, &steps)?;
    Ok(Hydration {
        os,
        plans,
        plan_millis: t.elapsed().as_millis() as u64,
    })
}

/// Commit a planned hydration and verify it: every step is planned again
/// and must want nothing more. A verification failure undoes the commit.
pub fn apply(
    guest: &GuestRoot,
    facts: &SystemFacts,
    opts: &HydrateOptions,
    h: &Hydration,
) -> Result<Report, EditError> {
    let blocked: Vec<String> = h
        .plans
        .iter()
        .flat_map(|p| p.blockers.iter().map(move |b| format!("{}: {b}", p.step)))
        .collect();
    if !blocked.is_empty() {
        return Err(EditError::refused(
            "hydrate",
            format!(
                "{}; nothing was changed (fix that, or leave the step out with --skip)",
                blocked.join("; ")
            ),
        ));
    }
    let copts = CommitOptions {
        os: h.os.to_string(),
        jobs: opts.step.jobs,
        fail_after: opts.fail_after,
    };
    let t = std::time::Instant::now();
    let applied = txn::commit(guest, &h.plans, &copts)?;
    let commit = t.elapsed().as_millis() as u64;
    let t = std::time::Instant::now();
    if let Some(dir) = &applied.journal {
        let steps = selected(opts)?;
        let again = plan_steps(guest, &h.os, facts, &opts.step, &steps)?;
        let left: Vec<String> = again
            .iter()
            .flat_map(|p| {
                p.changes.iter().map(move |c| {
                    format!("{}: still wants to {} ({})", p.step, c.action.kind(), c.why)
                })
            })
            .collect();
        if !left.is_empty() {
            let journal = Journal::load(guest, dir)?;
            let step = again
                .iter()
                .find(|p| !p.changes.is_empty())
                .map_or("hydrate", |p| p.step);
            return Err(txn::undo_failed_commit(
                guest,
                &journal,
                EditError::Verify {
                    step: step.to_string(),
                    detail: left.join("; "),
                },
            ));
        }
    }
    Ok(Report {
        os: h.os.clone(),
        mode: "commit".into(),
        committed: applied.journal.is_some(),
        root: facts.root.clone(),
        uefi: facts.uefi,
        steps: h.plans.iter().map(|p| step_report(p, true)).collect(),
        applied: Some(applied),
        verified: true,
        millis: Timings {
            plan: h.plan_millis,
            commit,
            verify: t.elapsed().as_millis() as u64,
        },
    })
}

/// The report of a dry run.
pub fn dry_run_report(facts: &SystemFacts, h: &Hydration) -> Report {
    Report {
        os: h.os.clone(),
        mode: "plan".into(),
        committed: false,
        root: facts.root.clone(),
        uefi: facts.uefi,
        steps: h.plans.iter().map(|p| step_report(p, false)).collect(),
        applied: None,
        verified: false,
        millis: Timings {
            plan: h.plan_millis,
            ..Timings::default()
        },
    }
}
