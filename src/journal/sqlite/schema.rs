//! The journal's schema and how a file gets to it: connection pragmas and
//! versioned migrations keyed on `PRAGMA user_version`.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::journal::JournalError;

/// How long a write waits for another process's transaction before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations, in order; migration `i` takes `user_version` from `i` to `i + 1`.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE rollouts (
    id          TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    rev         TEXT NOT NULL,
    target      TEXT NOT NULL,
    planner     TEXT NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL,
    outcome     TEXT,
    weight      INTEGER NOT NULL DEFAULT 0 CHECK (weight BETWEEN 0 AND 100),
    reason      TEXT
) STRICT;
CREATE INDEX rollouts_by_service ON rollouts (service, started_at);
CREATE INDEX rollouts_unfinished ON rollouts (started_at) WHERE finished_at IS NULL;
CREATE TABLE events (
    rollout_id TEXT NOT NULL REFERENCES rollouts (id),
    seq        INTEGER NOT NULL,
    at         REAL NOT NULL,
    wall       REAL NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    PRIMARY KEY (rollout_id, seq)
) STRICT;
CREATE TABLE intents (
    rollout_id   TEXT NOT NULL REFERENCES rollouts (id),
    seq          INTEGER NOT NULL,
    at           REAL NOT NULL,
    wall         REAL NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    applied_wall REAL,
    ok           INTEGER,
    detail       TEXT,
    PRIMARY KEY (rollout_id, seq)
) STRICT;
CREATE TABLE approvals (
    rollout_id   TEXT NOT NULL REFERENCES rollouts (id),
    rev          TEXT NOT NULL,
    requested_at REAL NOT NULL,
    deadline     REAL NOT NULL,
    summary      TEXT NOT NULL,
    decided_at   REAL,
    approved     INTEGER,
    decided_by   TEXT,
    reason       TEXT,
    PRIMARY KEY (rollout_id, rev)
) STRICT;
",
    r"
ALTER TABLE approvals ADD COLUMN required INTEGER NOT NULL DEFAULT 1;
CREATE TABLE approval_votes (
    rollout_id TEXT NOT NULL,
    rev        TEXT NOT NULL,
    voter      TEXT NOT NULL,
    approved   INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    at         REAL NOT NULL,
    PRIMARY KEY (rollout_id, rev, voter),
    FOREIGN KEY (rollout_id, rev) REFERENCES approvals (rollout_id, rev)
) STRICT;
CREATE TABLE button_nonces (
    nonce      TEXT PRIMARY KEY,
    rollout_id TEXT NOT NULL REFERENCES rollouts (id),
    rev        TEXT NOT NULL,
    issued_at  REAL NOT NULL
) STRICT;
CREATE TABLE button_clicks (
    nonce   TEXT NOT NULL REFERENCES button_nonces (nonce),
    user_id TEXT NOT NULL,
    at      REAL NOT NULL,
    PRIMARY KEY (nonce, user_id)
) STRICT;
",
    r"
CREATE TABLE leases (
    service    TEXT PRIMARY KEY,
    rollout_id TEXT NOT NULL,
    holder     TEXT NOT NULL,
    generation INTEGER NOT NULL,
    expires_at REAL NOT NULL
) STRICT;
CREATE TABLE deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    detail      TEXT NOT NULL
) STRICT;
CREATE TABLE merges (
    service     TEXT NOT NULL,
    rev         TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    claimed_at  REAL NOT NULL,
    PRIMARY KEY (service, rev)
) STRICT;
ALTER TABLE approvals ADD COLUMN message TEXT;
",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Per-connection settings (SQLite keeps none of them in the file except WAL):
/// wait for other processes' locks, WAL so readers never block, and foreign keys,
/// which SQLite leaves off unless asked. `synchronous` stays FULL: an intent must be
/// on disk before its side effect is made.
pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Switching a new file to WAL needs an exclusive lock, and SQLite may answer
    // BUSY at once instead of calling the busy handler when two processes open
    // the same new journal together: retry, bounded by the same timeout.
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => {
                other?;
                break;
            }
        }
    }
    conn.pragma_update(None, "foreign_keys", true)
}

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Applies the migrations the file lacks, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), JournalError> {
    let found = user_version(conn)?;
    refuse_newer(found)?;
    for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
        apply_migration(conn, version, sql).map_err(|e| JournalError::Migration {
            version,
            source: Box::new(e),
        })?;
    }
    // Another process with a newer binary may have migrated meanwhile.
    refuse_newer(user_version(conn)?)
}

fn refuse_newer(found: u32) -> Result<(), JournalError> {
    if found > SCHEMA_VERSION {
        return Err(JournalError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn apply_migration(conn: &mut Connection, version: u32, sql: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Two processes opening a new file race here; the loser finds the work done.
    if user_version(&tx)? >= version {
        return Ok(());
    }
    tx.execute_batch(sql)?;
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal written before votes and nonces existed upgrades in place: its
    /// pending approval keeps its row and needs one approver.
    #[test]
    fn a_version_1_journal_upgrades_and_keeps_its_pending_approval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let mut conn = Connection::open(&path).unwrap();
        configure(&conn).unwrap();
        apply_migration(&mut conn, 1, MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO rollouts (id, service, rev, target, planner, started_at) VALUES ('r1', 's', 'abc', 'sim', 'playbook', 1.0);
             INSERT INTO approvals (rollout_id, rev, requested_at, deadline, summary) VALUES ('r1', 'abc', 1.0, 100.0, 'old');",
        )
        .unwrap();
        drop(conn);
        let j = crate::journal::SqliteJournal::open(&path).unwrap();
        assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
        use crate::journal::{ApprovalStatus, Journal};
        match j.approval_status("r1", "abc").unwrap() {
            Some(ApprovalStatus::Pending(p)) => {
                assert_eq!((p.summary.as_str(), p.required), ("old", 1))
            }
            other => panic!("{other:?}"),
        }
    }
}
