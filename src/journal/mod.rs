//! The journal: a durable record of every rollout, its events, its write-ahead
//! intents and its approvals.
//!
//! One trait at the I/O boundary ([`Journal`]) and one file per backend:
//! [`sqlite`] (one machine) and [`postgres`] (several replicas); [`open`] picks one
//! from the location the user gave. Several processes share one journal: the agent writes a
//! rollout while `deploy-agent approve` decides its approval from another shell,
//! so every rule that must hold across processes (decide once, one sequence per
//! rollout) is enforced by the store, not by the caller.
//!
//! Events are stored as the JSON the rest of the crate already emits
//! ([`Event`] serializes with an `event` tag); they are never read back into
//! [`Event`], only into [`StoredEvent`] values.
//!
//! This file opens a journal and holds the helpers both backends use; the trait is in
//! `store`, the records in `records`, the error in `error`.

mod error;
pub mod keeper;
pub mod lease;
pub mod postgres;
mod records;
mod rules;
pub mod sink;
pub mod sqlite;
mod store;
pub mod timeline;

#[cfg(test)]
mod tests;

pub use self::keeper::{LeaseKeeper, LeaseTiming};
pub use self::lease::{holder_id, Fence, Lease, LeaseRequest};
pub use self::postgres::PostgresJournal;
pub use sink::JournalSink;
pub use sqlite::SqliteJournal;

pub use self::error::{BoxError, JournalError};
pub use self::records::{
    ApprovalDecision, ApprovalProgress, ApprovalStatus, ApprovalVote, Intent, PendingApproval,
    RolloutRecord, StoredEvent,
};
pub use self::store::Journal;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::rollout::events::Event;

/// Where the journal lives when neither `--journal` nor `journal.path` says otherwise.
pub const DEFAULT_PATH: &str = ".deploy-agent/journal.db";

/// Opens the journal at `location`: a `postgres://` or `postgresql://` URL is a
/// Postgres database (several replicas share it), anything else a SQLite file path.
pub fn open(location: &str) -> Result<Arc<dyn Journal>, JournalError> {
    open_path(Path::new(location))
}

/// [`open`] for a location held as a path (`--journal`, `journal.path`).
pub fn open_path(location: &Path) -> Result<Arc<dyn Journal>, JournalError> {
    match location.to_str().filter(|l| self::postgres::is_url(l)) {
        Some(url) => Ok(Arc::new(PostgresJournal::open(url)?)),
        None => Ok(Arc::new(SqliteJournal::open(location)?)),
    }
}

/// Whether `location` is a database URL rather than a file (which may not exist yet).
pub fn is_database_url(location: &Path) -> bool {
    location.to_str().is_some_and(self::postgres::is_url)
}

/// Splits an event into its tag and its fields, as stored.
pub fn event_parts(event: &Event) -> Result<(String, Value), JournalError> {
    let mut value =
        serde_json::to_value(event).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    let kind = value
        .as_object_mut()
        .and_then(|o| o.remove("event"))
        .and_then(|t| t.as_str().map(str::to_string))
        .ok_or_else(|| JournalError::Corrupt("event without an `event` tag".into()))?;
    Ok((kind, value))
}

/// The rollout's planner after a hand-over, as `history` and `show` list it:
/// `llm:<model> → playbook`.
pub fn handed_over(from: &str, to: &str) -> String {
    format!("{from} → {to}")
}

/// Unix seconds now (wall time, for records; rollouts keep their own clock in `at`).
pub fn wall_now() -> f64 {
    use crate::clock::Clock;
    crate::clock::SystemClock.now()
}
