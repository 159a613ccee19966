//! Edit transactions on a guest tree: steps plan changes, a transaction commits them with backups and a journal, verifies them, and rolls them back.
//!
//! The flow (`hydra-edit hydrate`): [`hydrate::plan`] identifies the OS and
//! asks each [`plan::Step`] what it would change, given a [`plan::Context`]
//! (the confined guest, its [`facts::SystemFacts`], the options). Plans are
//! printed as unified diffs and commands ([`render::plan_text`]) or as JSON
//! ([`render::step_report`]). [`hydrate::apply`] refuses when a step is
//! blocked, commits through [`txn::commit`] (journal and backups in the
//! guest under [`journal::JOURNAL_DIR`], atomic writes, chroot commands, undo
//! on failure), then verifies by planning again: a step that still wants a
//! change has not reached its postcondition, and the commit is undone.
//! [`txn::rollback`] restores a committed transaction exactly.

pub mod dns;
pub mod error;
pub mod facts;
pub mod hydrate;
pub mod journal;
pub mod plan;
pub mod render;
pub mod steps;
#[cfg(test)]
pub(crate) mod testtree;
pub mod txn;

pub use error::EditError;
pub use facts::SystemFacts;
pub use hydrate::{HydrateOptions, Hydration};
pub use plan::{Context, Step, StepOptions, StepPlan};
