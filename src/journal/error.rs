//! [`JournalError`]: one typed error for both backends, so callers (the CLI, `serve`,
//! the rollout loop) react to what happened — a conflict, a deadline passed, a lease
//! held — not to which driver failed. Messages say what to do.

/// Boxed source of a backend error, so the trait does not name a driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the journal could not do what was asked. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal at {path}: {source} (check the path and its permissions, or the server and URL; or pass --journal PATH|postgres://USER@HOST:PORT/DB)")]
    Open { path: String, source: BoxError },
    /// The journal's location names something that is not there or not allowed
    /// (a database to create, a login to fix): bad input, not a broken journal.
    #[error("{0}")]
    Setup(BoxError),
    #[error("journal schema migration to version {version} failed: {source} (the journal is unchanged at the previous version; check disk space and permissions)")]
    Migration { version: u32, source: BoxError },
    #[error("the journal has schema version {found} but this deploy-agent knows only up to {known}: upgrade deploy-agent to read it")]
    NewerSchema { found: u32, known: u32 },
    #[error(
        "the journal holds a malformed record: {0} (move the file aside to start a new journal)"
    )]
    Corrupt(String),
    #[error("no rollout `{0}` in the journal (see `deploy-agent history`)")]
    NotFound(String),
    #[error("no intent {seq} for rollout `{rollout_id}` in the journal")]
    IntentNotFound { rollout_id: String, seq: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("rollout `{0}` has no approval request in the journal (nothing to approve yet)")]
    NoApprovalRequested(String),
    #[error("rollout `{rollout_id}` asks approval for revision {pending}, not {asked}")]
    WrongRevision {
        rollout_id: String,
        asked: String,
        pending: String,
    },
    #[error("rollout `{rollout_id}` was already {decision}; a decision is final")]
    AlreadyDecided {
        rollout_id: String,
        /// e.g. `approved by alice: looks fine`.
        decision: String,
    },
    #[error("{voter} already approved rollout `{rollout_id}`; this approval needs {required} distinct approvers, so another person must approve")]
    AlreadyVoted {
        rollout_id: String,
        voter: String,
        required: u32,
    },
    #[error("the approval request of rollout `{rollout_id}` expired at {deadline} (unix seconds): a late answer is refused, start a new rollout")]
    Expired { rollout_id: String, deadline: f64 },
    #[error("journal sink got `{0}` before `started`: the rollout must emit Started first")]
    OutOfOrder(String),
    #[error("{}", lease_held(service, rollout_id, holder, *expires_in))]
    LeaseHeld {
        service: String,
        rollout_id: String,
        holder: String,
        /// Seconds until the lease expires (negative: expired that long ago).
        expires_in: f64,
    },
    #[error("the lease of service `{service}` at generation {generation} is no longer ours ({now}): another process took the rollout over; this one makes no further change")]
    Fenced {
        service: String,
        generation: u64,
        now: String,
    },
    #[error("journal storage error: {0} (another process may hold the journal locked; retry)")]
    Storage(BoxError),
}

fn lease_held(service: &str, rollout_id: &str, holder: &str, expires_in: f64) -> String {
    let state = if expires_in > 0.0 {
        format!("its lease is live for {expires_in:.0} s more")
    } else {
        format!(
            "its lease expired {:.0} s ago and waits to be taken over (by `deploy-agent resume` or any `serve` replica)",
            -expires_in
        )
    };
    format!(
        "service `{service}` is driven by rollout `{rollout_id}` ({holder}); {state}: wait for it to end, or see `deploy-agent show {rollout_id}`"
    )
}
