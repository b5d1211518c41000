//! The Postgres journal: one database shared by several replicas of the agent
//! (and by `deploy-agent approve` on an operator's machine).
//!
//! The same rules as the SQLite file, enforced by the server instead of a file lock:
//! every write is one transaction; a write to a rollout first locks its row
//! (`SELECT … FOR UPDATE`), so sequence numbers are handed out one at a time across
//! replicas and nothing lands after `finished`; a decision is written by an UPDATE
//! guarded by `decided_at IS NULL` on the locked request, so exactly one replica's
//! decision stands.
//!
//! The client is `tokio-postgres` with a small deadpool pool (`pool.rs`), on a
//! runtime the handle owns; the synchronous [`Journal`](super::Journal) methods
//! wait for it there (`bridge.rs` says why). The statements are async functions
//! grouped by what they touch: `rollouts.rs`, `approvals.rs` and `votes.rs`,
//! `leases.rs`; `rows.rs` holds the ones they share and maps rows to records;
//! `methods.rs` implements the trait on them.

mod approvals;
mod bridge;
mod leases;
mod methods;
mod pool;
mod rollouts;
mod rows;
mod schema;
mod trouble;
mod url;
mod votes;

pub use schema::SCHEMA_VERSION;
pub use url::is_url;

use std::sync::Arc;

use tokio_postgres::{Client, Transaction};

use bridge::Bridge;
use pool::{Pool, Run};
use url::{config, redacted, Target};

use super::JournalError;

/// The environment variable a password is read from (never from the URL or a file,
/// so it shows up in neither `ps`, a config file nor an error message).
pub const PASSWORD_ENV: &str = "PGPASSWORD";

/// A journal in a Postgres database, reached through a small pool of connections.
#[derive(Debug)]
pub struct PostgresJournal {
    /// Declared before `bridge`, so its idle connections are dropped before the
    /// runtime they belong to is shut down.
    pool: Arc<Pool>,
    bridge: Bridge,
    location: String,
}

impl PostgresJournal {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates its schema.
    pub fn open(url: &str) -> Result<Self, JournalError> {
        let location = redacted(url);
        let open_err = |source: super::BoxError| JournalError::Open {
            path: location.clone(),
            source,
        };
        let config = config(url).map_err(open_err)?;
        let target = Target::new(&config, location.clone());
        let pool = Arc::new(Pool::new(config, target).map_err(open_err)?);
        let bridge = Bridge::start().map_err(|e| open_err(Box::new(e)))?;
        let opening = Arc::clone(&pool);
        bridge.run(async move { opening.open().await })?;
        Ok(Self {
            pool,
            bridge,
            location,
        })
    }

    /// The URL it was opened with (a password in it masked).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The highest migration applied to the database.
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        self.read((), |c, ()| {
            Box::pin(async move { Ok(schema::schema_version(c).await?) })
        })
    }

    /// Runs `op` with `args` in one transaction (see [`Pool::write`] for the retries).
    fn write<A, T>(
        &self,
        args: A,
        op: impl for<'a> Fn(&'a Transaction<'a>, &'a A) -> Run<'a, T> + Send + Sync + 'static,
    ) -> Result<T, JournalError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        self.bridge.run(async move { pool.write(&args, &op).await })
    }

    /// Runs `op` with `args` outside a transaction (see [`Pool::read`]).
    fn read<A, T>(
        &self,
        args: A,
        op: impl for<'a> Fn(&'a Client, &'a A) -> Run<'a, T> + Send + Sync + 'static,
    ) -> Result<T, JournalError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        self.bridge.run(async move { pool.read(&args, &op).await })
    }
}
