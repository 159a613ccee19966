//! Showing plans to people and machines: unified diffs of planned file changes, command lists, and the JSON report.

use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::plan::{Action, Before, Change, Check, StepPlan};

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    (!s.contains('\0')).then_some(s)
}

/// The unified diff (or a one-line description) of one change.
pub fn change_diff(c: &Change) -> String {
    let rel = |p: &std::path::Path| p.to_string_lossy().trim_start_matches('/').to_string();
    match &c.action {
        Action::Write { path, bytes, attrs } => {
            let old = c.before.bytes().unwrap_or(b"");
            let (a, b) = match &c.before {
                Before::Absent => ("/dev/null".to_string(), format!("b/{}", rel(path))),
                _ => (format!("a/{}", rel(path)), format!("b/{}", rel(path))),
            };
            let mut out = String::new();
            if let Before::Symlink { target } = &c.before {
                let _ = writeln!(
                    out,
                    "# {} was a symlink to {}; it becomes a file",
                    path.display(),
                    target.display()
                );
            }
            match (text(old), text(bytes)) {
                (Some(o), Some(n)) => {
                    let d = similar::TextDiff::from_lines(o, n);
                    out.push_str(
                        &d.unified_diff()
                            .context_radius(3)
                            .header(&a, &b)
                            .to_string(),
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "Binary files {a} and {b} differ ({} -> {} bytes)",
                        old.len(),
                        bytes.len()
                    );
                }
            }
            if let (Some(new), Some(old)) = (attrs, c.before.attrs()) {
                if *new != old {
                    let _ = writeln!(
                        out,
                        "# mode/owner {:o} {}:{} -> {:o} {}:{}",
                        old.mode, old.uid, old.gid, new.mode, new.uid, new.gid
                    );
                }
            }
            out
        }
        Action::Remove { path } => match &c.before {
            Before::File { bytes, .. } => match text(bytes) {
                Some(o) => similar::TextDiff::from_lines(o, "")
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", rel(path)), "/dev/null")
                    .to_string(),
                None => format!(
                    "# remove {} ({} bytes, binary)\n",
                    path.display(),
                    bytes.len()
                ),
            },
            Before::Symlink { target } => format!(
                "# remove symlink {} -> {}\n",
                path.display(),
                target.display()
            ),
            _ => format!("# remove {}\n", path.display()),
        },
        Action::Symlink { path, target } => match &c.before {
            Before::Symlink { target: old } => format!(
                "# symlink {} -> {} (was -> {})\n",
                path.display(),
                target.display(),
                old.display()
            ),
            Before::File { bytes, .. } => format!(
                "# symlink {} -> {} (replaces a file of {} bytes)\n",
                path.display(),
                target.display(),
                bytes.len()
            ),
            _ => format!(
                "# symlink {} -> {} (new)\n",
                path.display(),
                target.display()
            ),
        },
        Action::Run(r) => {
            let mut s = format!("# run in the guest: {}\n", r.command_line());
            for a in &r.affects {
                let _ = writeln!(s, "#   rewrites {}", a.display());
            }
            if r.network {
                let _ = writeln!(
                    s,
                    "#   uses the network: names resolve through the helper's DNS (its /etc/resolv.conf bound read-only over the guest's), unless the plan warns that it cannot"
                );
            }
            s
        }
    }
}

/// Human text of a whole plan: per step its checks that failed, warnings,
/// then each change with its reason and diff.
pub fn plan_text(plans: &[StepPlan]) -> String {
    let mut out = String::new();
    for p in plans {
        let n = p.changes.len();
        let _ = writeln!(
            out,
            "== {} ({}): {}",
            p.step,
            p.requirement,
            match n {
                0 if p.blockers.is_empty() => "nothing to change".to_string(),
                0 => "cannot proceed".to_string(),
                1 => "1 change".to_string(),
                n => format!("{n} changes"),
            }
        );
        for c in p.checks.iter().filter(|c| !c.ok) {
            let _ = writeln!(out, "   needs: {} ({})", c.what, c.detail);
        }
        for w in &p.warnings {
            let _ = writeln!(out, "   warning: {w}");
        }
        for b in &p.blockers {
            let _ = writeln!(out, "   BLOCKED: {b}");
        }
        for c in &p.changes {
            match c.action.path() {
                Some(path) => {
                    let _ = writeln!(out, "-- {} {}", c.action.kind(), path.display());
                }
                None => {
                    let _ = writeln!(out, "-- run");
                }
            }
            for line in c.why.lines() {
                let _ = writeln!(out, "   {line}");
            }
            out.push_str(&change_diff(c));
        }
    }
    out
}

/// One change in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    /// `write`, `remove`, `symlink`, `run`.
    pub kind: &'static str,
    /// Guest path (file changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Command line (`run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Whether the command uses the network (`run`; see
    /// [`RunSpec::network`](super::plan::RunSpec::network)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    /// Why.
    pub why: String,
    /// SHA-256 of the file before (absent: null).
    pub before_sha256: Option<String>,
    /// SHA-256 of the file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_sha256: Option<String>,
    /// The unified diff or description.
    pub diff: String,
}

/// One step in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Step name.
    pub step: &'static str,
    /// Requirement.
    pub requirement: &'static str,
    /// `unchanged`, `planned`, `changed`, `blocked`.
    pub status: String,
    /// Changes.
    pub changes: Vec<ChangeReport>,
    /// Checks.
    pub checks: Vec<Check>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Blockers.
    pub blockers: Vec<String>,
}

/// The report of one step's plan; `committed` says whether it was applied.
pub fn step_report(p: &StepPlan, committed: bool) -> StepReport {
    StepReport {
        step: p.step,
        requirement: p.requirement,
        status: if !p.blockers.is_empty() {
            "blocked"
        } else if p.changes.is_empty() {
            "unchanged"
        } else if committed {
            "changed"
        } else {
            "planned"
        }
        .to_string(),
        changes: p
            .changes
            .iter()
            .map(|c| ChangeReport {
                kind: c.action.kind(),
                path: c.action.path().map(|p| p.to_string_lossy().into_owned()),
                command: match &c.action {
                    Action::Run(r) => Some(r.command_line()),
                    _ => None,
                },
                network: match &c.action {
                    Action::Run(r) => Some(r.network),
                    _ => None,
                },
                why: c.why.clone(),
                before_sha256: c.before.bytes().map(sha256),
                after_sha256: match &c.action {
                    Action::Write { bytes, .. } => Some(sha256(bytes)),
                    _ => None,
                },
                diff: change_diff(c),
            })
            .collect(),
        checks: p.checks.clone(),
        warnings: p.warnings.clone(),
        blockers: p.blockers.clone(),
    }
}
