//! Where the synchronous [`Journal`](crate::journal::Journal) trait meets the
//! async `tokio-postgres` client.
//!
//! The trait is synchronous (SQLite is, and most callers are plain code) yet it
//! is called from inside Tokio too: from `#[tokio::test]`s and the rollout loop
//! on a current-thread runtime, and from `spawn_blocking`. A call cannot
//! `block_on` there (Tokio panics when a runtime is started from inside one) and
//! `block_in_place` panics on a current-thread runtime. So each journal handle
//! owns a small runtime of its own (one worker thread, where the pool's
//! connections live); a call spawns its future there and waits for the answer on
//! a plain channel, blocking its thread as a SQLite call blocks on the file lock.
//! The journal's runtime never calls back into the caller's, so the wait cannot
//! deadlock, and every future it runs is bounded by the pool's timeouts.

use std::future::Future;
use std::sync::mpsc;

use tokio::runtime::Runtime;

use super::trouble::PgTrouble;
use crate::journal::JournalError;

/// The runtime the journal's connections and calls run on.
#[derive(Debug)]
pub(super) struct Bridge {
    /// `Some` until dropped (taken then to shut it down without blocking).
    runtime: Option<Runtime>,
}

impl Bridge {
    pub(super) fn start() -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("journal-postgres")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on the journal's runtime and waits for its answer. A panic in
    /// `work` ends only its task: the caller gets [`PgTrouble::RuntimeGone`].
    pub(super) fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, JournalError>> + Send + 'static,
    ) -> Result<T, JournalError> {
        let runtime = self.runtime.as_ref().ok_or(PgTrouble::RuntimeGone)?;
        let (answer, reply) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = answer.send(work.await);
        });
        reply.recv().map_err(|_| PgTrouble::RuntimeGone)?
    }
}

impl Drop for Bridge {
    /// Without waiting: a handle may be dropped inside an async task, where
    /// dropping a runtime the ordinary way panics. The connections' tasks end
    /// with it, which closes their sockets.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
