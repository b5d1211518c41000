//! The connections: a small deadpool pool of `tokio-postgres` clients, and the
//! loop that runs one journal call on them with bounded connects, retries and
//! timeouts.
//!
//! A pool rather than one connection because one journal handle is shared by a
//! whole process (`serve` hands every rollout the same one, the lease keeper
//! renews on it while the loop appends): each call gets its own connection, and
//! the rules that keep replicas apart (row locks, advisory locks) keep calls of
//! one process apart too.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Object, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use tokio_postgres::{Client, NoTls, Transaction};

use super::schema;
use super::trouble::{chain, connection_lost, login_refusal, rolled_back, Failure, PgTrouble};
use super::url::Target;
use crate::journal::{BoxError, JournalError};

/// Connections one journal handle keeps at most (every call is a few short statements).
const POOL_SIZE: usize = 4;
/// Connection attempts before a call gives up on an unreachable server.
const CONNECT_ATTEMPTS: u32 = 3;
/// Runs of one job when the server rolled it back (lost connection, deadlock, serialization).
const JOB_ATTEMPTS: u32 = 3;
/// Pause before the second connection attempt; doubled for each one after.
const BACKOFF: Duration = Duration::from_millis(250);
/// How long one attempt to connect may take (the driver's own connect timeout is
/// shorter; this also bounds the session setup that follows).
const CREATE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a call waits for a free connection when all of them are busy.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one run of a call may take from BEGIN to COMMIT. Above the server's own
/// `statement_timeout` (30 s), so this fires only when the server or the network
/// stopped answering altogether.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The same for a migration, whose statements may wait 60 s for another replica's.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(180);

/// Session settings: a write waits for another replica's row lock at most as long
/// as SQLite waits for its file lock, and a transaction left open by a dead or
/// paused caller (a SIGSTOPped replica in the middle of a write) holds its locks
/// for at most 5 s: every transaction here is a few statements that take
/// milliseconds, and a takeover must not wait on a stopped owner's lease lock.
const SESSION_SQL: &str = "SET lock_timeout = '5s'; SET statement_timeout = '30s'; \
     SET idle_in_transaction_session_timeout = '5s'";

/// One run of a call's statements: borrows the transaction (or client) and the
/// call's arguments, both owned by the retry loop so the run can be made again.
pub(super) type Run<'a, T> = Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'a>>;

/// The connections of one journal handle.
#[derive(Debug)]
pub(super) struct Pool {
    inner: deadpool_postgres::Pool,
    target: Target,
}

impl Pool {
    /// A pool for `config`; it connects on first use.
    pub(super) fn new(config: tokio_postgres::Config, target: Target) -> Result<Self, BoxError> {
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A dead connection is found by the call that uses it (and the
                // call retried), so recycling costs no round trip.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let inner = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CREATE_TIMEOUT))
            .wait_timeout(Some(WAIT_TIMEOUT))
            .post_create(deadpool_postgres::Hook::async_fn(|client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(SESSION_SQL)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()?;
        Ok(Self { inner, target })
    }

    /// Runs `op` in one transaction and commits it, again (bounded) when the server
    /// rolled it back: a broken connection before COMMIT, a deadlock, a serialization failure.
    pub(super) async fn write<A: Sync, T>(
        &self,
        args: &A,
        op: &impl for<'a> Fn(&'a Transaction<'a>, &'a A) -> Run<'a, T>,
    ) -> Result<T, JournalError> {
        let mut attempt = 1;
        loop {
            let mut client = self.client().await?;
            let mut committing = false;
            let ran = tokio::time::timeout(CALL_TIMEOUT, async {
                let tx = client.transaction().await?;
                let value = op(&tx, args).await?;
                committing = true;
                tx.commit().await?;
                Ok(value)
            })
            .await;
            match self.settle(client, ran, committing, attempt)? {
                Some(value) => return Ok(value),
                None => attempt += 1,
            }
        }
    }

    /// Runs a read, again (bounded) when the connection broke under it.
    pub(super) async fn read<A: Sync, T>(
        &self,
        args: &A,
        op: &impl for<'a> Fn(&'a Client, &'a A) -> Run<'a, T>,
    ) -> Result<T, JournalError> {
        let mut attempt = 1;
        loop {
            let client = self.client().await?;
            let ran = tokio::time::timeout(CALL_TIMEOUT, op(&client, args)).await;
            match self.settle(client, ran, false, attempt)? {
                Some(value) => return Ok(value),
                None => attempt += 1,
            }
        }
    }

    /// Connects (an unreachable server, a missing database or a refused login is
    /// [`JournalError::Open`]) and brings the schema up to date, once: a migration
    /// runs under its own lock and is not retried.
    pub(super) async fn open(&self) -> Result<(), JournalError> {
        let mut client = self.client().await.map_err(|e| match e {
            // The operator's to fix, not the server's: bad input, said as such.
            PgTrouble::MissingDatabase { .. } | PgTrouble::LoginRefused { .. } => {
                JournalError::Setup(Box::new(e))
            }
            e => JournalError::Open {
                path: self.target.location.clone(),
                source: Box::new(e),
            },
        })?;
        let migrated = tokio::time::timeout(MIGRATE_TIMEOUT, schema::migrate(&mut client)).await;
        match migrated {
            Ok(done) => done,
            Err(_) => {
                drop(Object::take(client));
                Err(JournalError::Migration {
                    version: schema::SCHEMA_VERSION,
                    source: Box::new(PgTrouble::NoAnswer(MIGRATE_TIMEOUT)),
                })
            }
        }
    }

    /// A pooled connection, connecting (bounded attempts, doubling pauses) when
    /// none is idle. A refusal that another attempt cannot change is not retried.
    async fn client(&self) -> Result<Object, PgTrouble> {
        let mut pause = BACKOFF;
        let mut attempt = 1;
        loop {
            let detail = match self.inner.get().await {
                Ok(client) => return Ok(client),
                Err(PoolError::Timeout(TimeoutType::Wait)) => {
                    return Err(PgTrouble::PoolBusy {
                        size: POOL_SIZE,
                        waited: WAIT_TIMEOUT,
                    })
                }
                Err(PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e))) => {
                    if let Some(refusal) = login_refusal(&e) {
                        return Err(self.target.refused(refusal, &e));
                    }
                    chain(&e)
                }
                Err(PoolError::Timeout(_)) => format!("no connection within {CREATE_TIMEOUT:?}"),
                Err(other) => other.to_string(),
            };
            if attempt >= CONNECT_ATTEMPTS {
                return Err(PgTrouble::Unreachable {
                    location: self.target.location.clone(),
                    attempts: CONNECT_ATTEMPTS,
                    detail,
                });
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }

    /// What one run came to: `Some(value)`, `None` to run it again, or the error to
    /// return. A connection that broke, or that stopped answering, never goes
    /// back to the pool.
    fn settle<T>(
        &self,
        client: Object,
        ran: Result<Result<T, Failure>, tokio::time::error::Elapsed>,
        committing: bool,
        attempt: u32,
    ) -> Result<Option<T>, JournalError> {
        let error = match ran {
            Ok(Ok(value)) => return Ok(Some(value)),
            Ok(Err(Failure::Journal(e))) => return Err(e),
            Ok(Err(Failure::Pg(error))) => error,
            Err(_) => {
                // A statement may still be in flight on it: its state is unknown.
                drop(Object::take(client));
                return Err(match committing {
                    true => PgTrouble::CommitUnanswered(CALL_TIMEOUT),
                    false => PgTrouble::NoAnswer(CALL_TIMEOUT),
                }
                .into());
            }
        };
        let lost = client.is_closed() || connection_lost(&error);
        if lost {
            drop(Object::take(client));
            // What ended this session (a restart, `pg_terminate_backend`) most likely
            // ended the idle ones too, and the client may not have noticed yet:
            // the retry should not draw another dead one.
            drop(self.inner.retain(|_, _| false));
        } else {
            drop(client);
        }
        if attempt < JOB_ATTEMPTS && rolled_back(&error, lost, committing) {
            return Ok(None);
        }
        Err(match lost && committing {
            true => PgTrouble::CommitLost(error),
            false => PgTrouble::Query(error),
        }
        .into())
    }
}
