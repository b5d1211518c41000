//! The journal's tables in Postgres and how a database gets to them: versioned
//! migrations recorded in `deploy_agent_schema`, applied in one transaction under
//! an advisory lock so two replicas starting together do not both migrate.

use tokio_postgres::{Client, Transaction};

use super::rows::Db;
use super::trouble::PgTrouble;
use crate::journal::JournalError;

/// Schema migrations, in order; migration `i` takes the version from `i` to `i + 1`.
/// Append only: a released migration is never edited. Ids sort bytewise (`"C"`),
/// as in SQLite, so `history` orders ties the same on both backends.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE rollouts (
    id          TEXT COLLATE "C" PRIMARY KEY,
    service     TEXT NOT NULL,
    rev         TEXT NOT NULL,
    target      TEXT NOT NULL,
    planner     TEXT NOT NULL,
    started_at  DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    outcome     TEXT,
    weight      SMALLINT NOT NULL DEFAULT 0 CHECK (weight BETWEEN 0 AND 100),
    reason      TEXT
);
CREATE INDEX rollouts_by_service ON rollouts (service, started_at);
CREATE INDEX rollouts_unfinished ON rollouts (started_at) WHERE finished_at IS NULL;
CREATE TABLE events (
    rollout_id TEXT COLLATE "C" NOT NULL REFERENCES rollouts (id),
    seq        BIGINT NOT NULL,
    at         DOUBLE PRECISION NOT NULL,
    wall       DOUBLE PRECISION NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    PRIMARY KEY (rollout_id, seq)
);
CREATE TABLE intents (
    rollout_id   TEXT COLLATE "C" NOT NULL REFERENCES rollouts (id),
    seq          BIGINT NOT NULL,
    at           DOUBLE PRECISION NOT NULL,
    wall         DOUBLE PRECISION NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    applied_wall DOUBLE PRECISION,
    ok           BOOLEAN,
    detail       TEXT,
    PRIMARY KEY (rollout_id, seq)
);
CREATE TABLE approvals (
    rollout_id   TEXT COLLATE "C" NOT NULL REFERENCES rollouts (id),
    rev          TEXT NOT NULL,
    requested_at DOUBLE PRECISION NOT NULL,
    deadline     DOUBLE PRECISION NOT NULL,
    summary      TEXT NOT NULL,
    decided_at   DOUBLE PRECISION,
    approved     BOOLEAN,
    decided_by   TEXT,
    reason       TEXT,
    required     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (rollout_id, rev)
);
CREATE TABLE approval_votes (
    rollout_id TEXT COLLATE "C" NOT NULL,
    rev        TEXT NOT NULL,
    voter      TEXT NOT NULL,
    approved   BOOLEAN NOT NULL,
    reason     TEXT NOT NULL,
    at         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (rollout_id, rev, voter),
    FOREIGN KEY (rollout_id, rev) REFERENCES approvals (rollout_id, rev)
);
CREATE TABLE button_nonces (
    nonce      TEXT PRIMARY KEY,
    rollout_id TEXT COLLATE "C" NOT NULL REFERENCES rollouts (id),
    rev        TEXT NOT NULL,
    issued_at  DOUBLE PRECISION NOT NULL
);
CREATE TABLE button_clicks (
    nonce   TEXT NOT NULL REFERENCES button_nonces (nonce),
    user_id TEXT NOT NULL,
    at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (nonce, user_id)
);
"#,
    r#"
CREATE TABLE leases (
    service    TEXT COLLATE "C" PRIMARY KEY,
    rollout_id TEXT COLLATE "C" NOT NULL,
    holder     TEXT NOT NULL,
    generation BIGINT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at DOUBLE PRECISION NOT NULL,
    detail      TEXT NOT NULL
);
CREATE TABLE merges (
    service     TEXT NOT NULL,
    rev         TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    claimed_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (service, rev)
);
ALTER TABLE approvals ADD COLUMN message TEXT;
"#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The advisory lock key migrations hold (any constant both replicas agree on).
const MIGRATION_LOCK: i64 = 0x6465_706c_6f79; // "deploy"

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS deploy_agent_schema (\
     version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)";

/// Brings the database to [`SCHEMA_VERSION`], or refuses one a newer binary wrote.
pub(super) async fn migrate(client: &mut Client) -> Result<(), JournalError> {
    let target = SCHEMA_VERSION;
    let fail = |e: tokio_postgres::Error| JournalError::Migration {
        version: target,
        source: Box::new(PgTrouble::Query(e)),
    };
    let tx = client.transaction().await.map_err(fail)?;
    // Held to the end of the transaction: a second replica waits here, then finds the work done.
    tx.batch_execute("SET LOCAL lock_timeout = '60s'; SET LOCAL statement_timeout = '90s'")
        .await
        .map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail)?;
    tx.batch_execute(VERSION_TABLE).await.map_err(fail)?;
    let found = schema_version(&tx).await.map_err(fail)?;
    refuse_newer(found)?;
    for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
        apply(&tx, version, sql)
            .await
            .map_err(|e| JournalError::Migration {
                version,
                source: Box::new(PgTrouble::Query(e)),
            })?;
    }
    tx.commit().await.map_err(fail)
}

/// The highest version applied (0 for a database without the journal).
pub(super) async fn schema_version(c: &impl Db) -> Result<u32, tokio_postgres::Error> {
    let version: Option<i32> = c
        .query_one("SELECT MAX(version) FROM deploy_agent_schema", &[])
        .await?
        .try_get(0)?;
    Ok(version.map_or(0, |v| v.max(0).unsigned_abs()))
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

async fn apply(tx: &Transaction<'_>, version: u32, sql: &str) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute(sql).await?;
    let version = i32::try_from(version).unwrap_or(i32::MAX);
    tx.execute(
        "INSERT INTO deploy_agent_schema (version, applied_at) VALUES ($1, $2)",
        &[&version, &crate::journal::wall_now()],
    )
    .await?;
    Ok(())
}
