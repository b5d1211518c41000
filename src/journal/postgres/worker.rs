//! The thread that owns the Postgres connection.
//!
//! The `postgres` client drives its own Tokio runtime and panics when called from
//! inside another one, and the [`Journal`](crate::journal::Journal) trait is
//! synchronous yet called from the async rollout loop. So one plain thread owns the
//! connection and runs each call as a job sent over a channel; the caller blocks on
//! the answer, as it would on a SQLite lock. The thread also reconnects (bounded)
//! when the server or the network dropped the connection, and retries work the
//! server is known to have rolled back.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Transaction};

use crate::journal::JournalError;

/// Connection attempts before a call gives up on an unreachable server.
const CONNECT_ATTEMPTS: u32 = 3;
/// Runs of one job when the server rolled it back (lost connection, deadlock, serialization).
const JOB_ATTEMPTS: u32 = 3;
/// Pause before the second connection attempt; doubled for each one after.
const BACKOFF: Duration = Duration::from_millis(250);

/// Session settings: a write waits for another replica's row lock at most as long
/// as SQLite waits for its file lock, and a transaction left open by a dead or
/// paused caller (a SIGSTOPped replica in the middle of a write) holds its locks
/// for at most 5 s: every transaction here is a few statements that take
/// milliseconds, and a takeover must not wait on a stopped owner's lease lock.
const SESSION_SQL: &str = "SET lock_timeout = '5s'; SET statement_timeout = '30s'; \
     SET idle_in_transaction_session_timeout = '5s'";

/// Why one run of a job failed; decides whether it may run again.
#[derive(Debug)]
pub(super) enum Failure {
    /// A refusal or a decoding error: final.
    Journal(JournalError),
    /// The server answered with an error, or the connection broke.
    Pg {
        error: postgres::Error,
        /// It broke on COMMIT: the write may have landed, so it is not run again.
        committing: bool,
    },
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Failure::Journal(e)
    }
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        Failure::Pg {
            error,
            committing: false,
        }
    }
}

/// What went wrong talking to Postgres, for [`JournalError::Storage`] and [`JournalError::Open`].
#[derive(Debug, thiserror::Error)]
pub(super) enum PgTrouble {
    #[error("cannot reach Postgres at {location} after {CONNECT_ATTEMPTS} attempts: {detail} (is the server up and the URL right? a password comes only from PGPASSWORD)")]
    Unreachable { location: String, detail: String },
    #[error("the connection to Postgres broke while committing, so this write may or may not be recorded ({}); check with `deploy-agent show` before doing it again", chain(.0))]
    CommitLost(postgres::Error),
    #[error("Postgres: {}", chain(.0))]
    Query(postgres::Error),
    #[error("the Postgres journal's connection thread stopped; restart deploy-agent")]
    WorkerGone,
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// A handle on the connection thread; dropping it closes the connection.
pub(super) struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts the thread; it connects on the first job.
    pub(super) fn spawn(config: Config, location: String) -> Result<Self, std::io::Error> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("journal-postgres".into())
            .spawn(move || {
                let mut session = Session {
                    config,
                    location,
                    client: None,
                };
                for job in queue {
                    // A panicking job drops its transaction (rolled back) and its
                    // answer channel (the caller gets WorkerGone); the thread lives on.
                    let _ = catch_unwind(AssertUnwindSafe(|| job(&mut session)));
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the connection thread and waits for its answer.
    pub(super) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Session) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let gone = || JournalError::Storage(Box::new(PgTrouble::WorkerGone));
        let (answer, reply) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |session| {
            let _ = answer.send(job(session));
        });
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        reply.recv().map_err(|_| gone())?
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The connection as the thread holds it: `None` until connected, or after it broke.
pub(super) struct Session {
    config: Config,
    location: String,
    client: Option<Client>,
}

impl Session {
    /// The live client, connecting (bounded attempts, doubling pauses) when there is none.
    pub(super) fn client(&mut self) -> Result<&mut Client, PgTrouble> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            self.client = Some(self.connect()?);
        }
        self.client.as_mut().ok_or(PgTrouble::WorkerGone)
    }

    fn connect(&self) -> Result<Client, PgTrouble> {
        let mut pause = BACKOFF;
        let mut attempt = 1;
        loop {
            let connected = self.config.connect(NoTls).and_then(|mut c| {
                c.batch_execute(SESSION_SQL)?;
                Ok(c)
            });
            match connected {
                Ok(client) => return Ok(client),
                Err(error) if attempt >= CONNECT_ATTEMPTS => {
                    return Err(PgTrouble::Unreachable {
                        location: self.location.clone(),
                        detail: chain(&error),
                    })
                }
                Err(_) => {
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
            }
        }
    }

    /// Runs `op` in one transaction and commits it, again (bounded) when the server
    /// rolled it back: a broken connection before COMMIT, a deadlock, a serialization failure.
    pub(super) fn write<T>(
        &mut self,
        mut op: impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, JournalError> {
        self.retrying(|client| {
            let mut tx = client.transaction()?;
            let value = op(&mut tx)?;
            tx.commit().map_err(|error| Failure::Pg {
                error,
                committing: true,
            })?;
            Ok(value)
        })
    }

    /// Runs a read, again (bounded) when the connection broke under it.
    pub(super) fn read<T>(
        &mut self,
        op: impl FnMut(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, JournalError> {
        self.retrying(op)
    }

    fn retrying<T>(
        &mut self,
        mut op: impl FnMut(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, JournalError> {
        let mut attempt = 1;
        loop {
            let client = self
                .client()
                .map_err(|e| JournalError::Storage(Box::new(e)))?;
            let failure = match op(client) {
                Ok(value) => return Ok(value),
                Err(Failure::Journal(e)) => return Err(e),
                Err(Failure::Pg { error, committing }) => (error, committing),
            };
            let (error, committing) = failure;
            let lost = self.client.as_ref().is_none_or(Client::is_closed)
                || error.is_closed()
                || server_ended_session(&error);
            if lost {
                // Reconnect on the next attempt even if the client has not noticed yet.
                self.client = None;
            }
            if attempt < JOB_ATTEMPTS && rolled_back(&error, lost, committing) {
                attempt += 1;
                continue;
            }
            return Err(JournalError::Storage(Box::new(if lost && committing {
                PgTrouble::CommitLost(error)
            } else {
                PgTrouble::Query(error)
            })));
        }
    }
}

/// The server ended the session (`pg_terminate_backend`, shutdown): the error may
/// arrive before the client sees its socket close.
fn server_ended_session(error: &postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(c) if *c == SqlState::ADMIN_SHUTDOWN
            || *c == SqlState::CRASH_SHUTDOWN
            || *c == SqlState::CANNOT_CONNECT_NOW
    )
}

/// The server is known to have undone the work: safe to run it again.
fn rolled_back(error: &postgres::Error, lost: bool, committing: bool) -> bool {
    let retried_by_server = matches!(
        error.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    );
    retried_by_server || (lost && !committing)
}

/// An error with its causes (`error connecting to server: Connection refused`).
fn chain(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = c.source();
    }
    text
}
