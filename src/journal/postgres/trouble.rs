//! What can go wrong talking to Postgres, and which of it may be tried again.
//!
//! The retry rules live here, apart from the pool that applies them, because they
//! are the part that must not drift: only work the server is known to have undone
//! runs again, and a connection lost on COMMIT is reported as a write whose fate is
//! unknown rather than retried (it may have landed).

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::journal::JournalError;

/// Why one run of a job failed; decides whether it may run again.
#[derive(Debug)]
pub(super) enum Failure {
    /// A refusal or a decoding error: final.
    Journal(JournalError),
    /// The server answered with an error, or the connection broke; whether it
    /// happened on COMMIT (the write may have landed) the pool knows.
    Pg(tokio_postgres::Error),
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Failure::Journal(e)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Failure::Pg(error)
    }
}

/// What went wrong talking to Postgres, for [`JournalError::Storage`] and [`JournalError::Open`].
#[derive(Debug, thiserror::Error)]
pub(super) enum PgTrouble {
    #[error("cannot reach Postgres at {location} after {attempts} attempts: {detail} (is the server up and the URL right? a password comes only from PGPASSWORD)")]
    Unreachable {
        location: String,
        attempts: u32,
        detail: String,
    },
    #[error("the database `{database}` does not exist on the Postgres server at {server}: create it once with `createdb {createdb_args}{database}` (or `CREATE DATABASE \"{database}\";` in psql), then run deploy-agent again; it creates its tables itself")]
    MissingDatabase {
        database: String,
        server: String,
        /// `-h HOST -p PORT -U USER ` as the URL names them.
        createdb_args: String,
    },
    #[error("Postgres at {location} refused the login: {detail} (check the user in the URL and export its password as PGPASSWORD)")]
    LoginRefused { location: String, detail: String },
    #[error("all {size} Postgres connections of this process stayed busy for {waited:?}; the server may be overloaded: retry")]
    PoolBusy { size: usize, waited: Duration },
    #[error("Postgres gave no answer within {0:?} (a dead network or a stopped server?); the connection was dropped: retry")]
    NoAnswer(Duration),
    #[error("Postgres gave no answer within {0:?} to COMMIT, so this write may or may not be recorded; check with `deploy-agent show` before doing it again")]
    CommitUnanswered(Duration),
    #[error("the connection to Postgres broke while committing, so this write may or may not be recorded ({}); check with `deploy-agent show` before doing it again", chain(.0))]
    CommitLost(tokio_postgres::Error),
    #[error("Postgres: {}", chain(.0))]
    Query(tokio_postgres::Error),
    #[error("the Postgres journal's connection runtime stopped (see the log for a panic); restart deploy-agent")]
    RuntimeGone,
}

impl From<PgTrouble> for JournalError {
    fn from(e: PgTrouble) -> Self {
        JournalError::Storage(Box::new(e))
    }
}

/// Whether the connection that produced `error` is gone: closed under us, or the
/// server ended the session (`pg_terminate_backend`, shutdown), which may be
/// reported before the client sees its socket close.
pub(super) fn connection_lost(error: &tokio_postgres::Error) -> bool {
    error.is_closed()
        || matches!(
            error.code(),
            Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        )
}

/// The server is known to have undone the work: safe to run it again.
pub(super) fn rolled_back(error: &tokio_postgres::Error, lost: bool, committing: bool) -> bool {
    let retried_by_server = matches!(
        error.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    );
    retried_by_server || (lost && !committing)
}

/// A refusal at login that another attempt cannot change: no such database, or a
/// user or password the server does not accept.
pub(super) fn login_refusal(error: &tokio_postgres::Error) -> Option<&SqlState> {
    error.code().filter(|c| {
        **c == SqlState::INVALID_CATALOG_NAME
            || **c == SqlState::INVALID_PASSWORD
            || **c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    })
}

/// An error with its causes (`error connecting to server: Connection refused`).
pub(super) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = c.source();
    }
    text
}
