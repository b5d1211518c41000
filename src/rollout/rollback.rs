//! Ending a rollout, and the one action that must succeed: the rollback.
//!
//! A rollback is confirmed only by the target: it is sent, then read back
//! (after the router's settle time) until the canary serves 0 %, retried with
//! backoff until `[rollout] rollback_deadline_seconds`. A staged promotion is
//! undone first. When the target never confirms, the rollout ends
//! `rollback_failed` with the weight the target still serves, in words the
//! operator can act on; the journal keeps it open so `resume` retries. The
//! journal's write-ahead record is best-effort here: a journal that refuses it
//! never stops a rollback (the reason says so).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde_json::json;

use super::events::Event;
use super::runner::Runner;
use super::state::Outcome;
use crate::clock::Clock;
use crate::journal::JournalError;
use crate::traffic::{TrafficError, TrafficRouter};

/// Longest pause between two rollback attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A rollback the target never confirmed.
pub(super) struct RollbackFailure {
    /// What the target served when last read (or was last known to serve).
    pub weight: u8,
    pub message: String,
}

/// Why a forward traffic change was not made: its write-ahead record was
/// refused. The rollout has ended (or been handed to the lease's new owner).
#[derive(Debug, thiserror::Error)]
pub(super) enum IntentRefused {
    /// The lease was lost or fenced: the process that took over finishes it.
    #[error("stopped before the change to {kind}")]
    HandedOff { kind: String },
    #[error("the journal could not record the intent to {kind} ({error}): no traffic change without a write-ahead record")]
    NotRecorded { kind: String, error: JournalError },
}

impl Runner<'_> {
    /// Records a side effect about to be made (write-ahead), when journaled.
    /// `Err` carries the journal's refusal for the caller to decide on.
    pub(super) fn intent(
        &self,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<Option<u64>, JournalError> {
        let Some(journal) = self.backends.journal.as_ref() else {
            return Ok(None);
        };
        let (id, now) = (&self.spec.id, self.now());
        let written = match &self.backends.lease {
            Some(lease) => journal.intent_fenced(&lease.fence(), id, now, kind, payload),
            None => journal.intent(id, now, kind, payload),
        };
        written.map(Some)
    }

    /// Why this process no longer owns the service's lease, if it does not:
    /// then it changes nothing more (the process that took it over does).
    pub(super) fn lease_lost(&self) -> Option<String> {
        self.backends.lease.as_ref().and_then(|l| l.lost())
    }

    /// Ends the rollout as this process sees it, touching nothing: the lease
    /// went to another process, which owns the target and the record now.
    pub(super) fn hand_off(&mut self, reason: String, why: &str) {
        if self.state.phase.is_terminal() {
            return;
        }
        tracing::error!(rollout = %self.spec.id, "lease lost, no further change: {why}");
        let weight = self.state.weight;
        self.state.finish(Outcome::Aborted, weight);
        self.reason = format!(
            "{reason}; the lease was lost ({why}): this process made no further change, the process that took the rollout over finishes it"
        );
    }

    /// Records the intent of a forward traffic change (a weight, a promotion). A
    /// journaled rollout whose journal refuses it makes no change — after a crash
    /// nobody could tell whether it happened — and ends now, rolled back.
    pub(super) async fn intent_or_end(
        &mut self,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<Option<u64>, IntentRefused> {
        let stopped = || IntentRefused::HandedOff { kind: kind.into() };
        match self.intent(kind, payload) {
            Ok(seq) => {
                if let Some(why) = self.lease_lost() {
                    self.hand_off(stopped().to_string(), &why);
                    return Err(stopped());
                }
                if seq.is_some() {
                    crate::failpoint::hit(crate::failpoint::Point::AfterIntent);
                }
                Ok(seq)
            }
            Err(e @ JournalError::Fenced { .. }) => {
                self.hand_off(stopped().to_string(), &e.to_string());
                Err(stopped())
            }
            Err(e) => {
                tracing::error!(error = %e, kind, "the journal refused an intent: ending the rollout");
                let refused = IntentRefused::NotRecorded {
                    kind: kind.into(),
                    error: e,
                };
                self.end_safely(Outcome::Aborted, refused.to_string()).await;
                Err(refused)
            }
        }
    }

    /// Marks an intent from [`Runner::intent`] applied or failed.
    pub(super) fn applied(&self, seq: Option<u64>, ok: bool, detail: &str) {
        let (Some(journal), Some(seq)) = (self.backends.journal.as_ref(), seq) else {
            return;
        };
        if let Err(e) = journal.applied(&self.spec.id, seq, ok, detail) {
            tracing::error!(error = %e, seq, "could not mark an intent applied in the journal");
        }
    }

    /// Reads the canary's share until `accept` holds or the router's settle
    /// time has passed; returns the last answer.
    pub(super) async fn read_back(&self, accept: impl Fn(u8) -> bool) -> Result<u8, TrafficError> {
        let traffic = self.backends.traffic.clone();
        let clock = self.backends.clock.clone();
        read_until(traffic.as_ref(), clock.as_ref(), accept).await
    }

    /// Ends the rollout; traffic goes back to stable unless it was promoted.
    /// The `Finished` event follows when the loop has stopped.
    pub(super) async fn end_safely(&mut self, outcome: Outcome, reason: String) {
        if self.state.phase.is_terminal() {
            return;
        }
        if let Some(why) = self.lease_lost() {
            return self.hand_off(reason, &why);
        }
        if outcome == Outcome::Promoted {
            self.state.finish(Outcome::Promoted, 100);
            self.reason = reason;
            return;
        }
        if !self.touched && self.state.weight == 0 && self.staged.is_none() {
            // Nothing was ever asked of the target: nothing to undo.
            self.state.finish(outcome, 0);
            self.reason = reason;
            return;
        }
        match self.rollback_traffic().await {
            Ok(note) => {
                self.state.finish(outcome, 0);
                self.reason = match note {
                    Some(note) => format!("{reason} ({note})"),
                    None => reason,
                };
            }
            Err(_) if self.lease_lost().is_some() => {
                let why = self.lease_lost().unwrap_or_default();
                self.hand_off(reason, &why);
            }
            Err(failure) => {
                self.state.finish(Outcome::RollbackFailed, failure.weight);
                self.reason = format!("{reason}; ROLLBACK FAILED: {}", failure.message);
            }
        }
    }

    /// Rolls the target back until it reads 0 % or the deadline passes. `Ok`
    /// may carry a note for the reason (the journal refused the intent).
    async fn rollback_traffic(&mut self) -> Result<Option<String>, RollbackFailure> {
        let traffic = self.backends.traffic.clone();
        let from = self.state.weight;
        let undo = self.staged.as_ref().map(|s| s.undo.clone());
        let (seq, note) = match self.intent("rollback", json!({"from": from, "undo": undo})) {
            Ok(seq) => (seq, None),
            Err(e) => {
                tracing::error!(error = %e, "rolling back without a write-ahead record: the journal refused it");
                (
                    None,
                    Some(format!(
                        "rolled back without a write-ahead record: the journal refused it: {e}"
                    )),
                )
            }
        };
        let clock = self.backends.clock.clone();
        let started = clock.now();
        let deadline = started + self.limits.rollback_deadline_seconds;
        crate::failpoint::delay(crate::failpoint::Point::BeforeRollback).await;
        let lease = self.backends.lease.clone();
        let attempt = || {
            let (traffic, clock, undo) = (traffic.clone(), clock.clone(), undo.clone());
            let lease = lease.clone();
            async move {
                if let Some(why) = lease.as_ref().and_then(|l| l.lost()) {
                    return Err(AttemptFailure::LeaseLost(why));
                }
                attempt_rollback(traffic.as_ref(), clock.as_ref(), undo.as_ref())
                    .await
                    .map_err(AttemptFailure::Target)
            }
        };
        let fits = |pause: f64| clock.now() + pause <= deadline;
        let failed = |attempts: u32, error: &TrafficError| {
            tracing::error!(error = %error, attempts, "rollback not confirmed");
            self.emit(Event::ToolFailed {
                call_id: "rollback".into(),
                tool: "rollback".into(),
                error: format!("attempt {attempts}: {error}"),
            });
        };
        let (outcome, attempts) = retry_rollback(clock.clone(), fits, attempt, failed).await;
        let error = match outcome {
            Ok(()) => {
                if let Some(staged) = self.staged.take() {
                    self.emit(Event::Promotion {
                        stage: "undone".into(),
                        detail: format!("undone: {}", staged.detail),
                    });
                }
                self.applied(seq, true, "rolled back: the target reads 0%");
                if from > 0 {
                    self.emit(Event::WeightChanged { from, to: 0 });
                }
                self.state.weight = 0;
                return Ok(note);
            }
            // Another process owns the target now; its rollback is its own.
            Err(AttemptFailure::LeaseLost(why)) => {
                return Err(RollbackFailure {
                    weight: from,
                    message: format!("the lease was lost ({why}) before the rollback was confirmed; the process that took the rollout over rolls it back"),
                });
            }
            Err(AttemptFailure::Target(error)) => error,
        };
        let live = traffic.canary_weight().await.ok();
        let weight = live.unwrap_or(from);
        let seconds = self.now() - started;
        let message = failure_message(traffic.as_ref(), live, from, attempts, seconds, &error);
        // The intent stays open: `resume` finds it (and its undo) and retries.
        Err(RollbackFailure { weight, message })
    }
}

/// One rollback attempt on `traffic`: undo a staged promotion (`undo`), send
/// the rollback, and confirm it with a read taken after the router's settle
/// time (a read before it may still show an older state). Shared by the loop
/// and `deploy-agent resume`.
pub async fn attempt_rollback(
    traffic: &dyn TrafficRouter,
    clock: &dyn Clock,
    undo: Option<&serde_json::Value>,
) -> Result<(), TrafficError> {
    if let Some(undo) = undo.filter(|u| !u.is_null()) {
        traffic.undo_promotion(undo).await?;
    }
    let sent = traffic.rollback().await;
    let settle = traffic.settle_seconds();
    if settle > 0.0 {
        clock.sleep(settle).await;
    }
    match read_until(traffic, clock, |w| w == 0).await {
        // The target shows it, even if the answer to the command was lost.
        Ok(0) => Ok(()),
        Ok(found) => Err(sent
            .err()
            .unwrap_or(TrafficError::NotApplied { wanted: 0, found })),
        Err(read) => Err(sent.err().unwrap_or(read)),
    }
}

/// Reads the canary's share until `accept` holds or the router's settle time
/// has passed; returns the last answer.
pub async fn read_until(
    traffic: &dyn TrafficRouter,
    clock: &dyn Clock,
    accept: impl Fn(u8) -> bool,
) -> Result<u8, TrafficError> {
    let settle = traffic.settle_seconds();
    let deadline = clock.now() + settle;
    let poll = (settle / 10.0).clamp(0.2, 2.0);
    let mut failed_reads = 0;
    loop {
        let read = traffic.canary_weight().await;
        if matches!(read, Ok(w) if accept(w)) {
            return read;
        }
        // A read that failed is tried again a few times, even past the settle
        // time: not knowing what the target serves would roll it back.
        let retry_read = read.is_err() && failed_reads < READ_RETRIES;
        failed_reads += u32::from(read.is_err());
        if clock.now() >= deadline && !retry_read {
            return read;
        }
        clock.sleep(poll).await;
    }
}

/// Failed reads tried again before a read-back gives up.
const READ_RETRIES: u32 = 2;

/// Why a rollback attempt failed.
pub enum AttemptFailure {
    /// The target did not confirm 0 %: retried while transient and the deadline allows.
    Target(TrafficError),
    /// This process lost the lease: never retried, the new owner rolls back.
    LeaseLost(String),
}

/// The pauses between rollback attempts: 1 s, doubling, at most 30 s, no
/// jitter, as many as the deadline allows (the deadline, not a count, bounds
/// the one action that must succeed).
fn schedule() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_max_delay(MAX_BACKOFF)
        .without_max_times()
}

/// Runs rollback `attempt`s, pausing on `clock` (virtual in simulations),
/// until one confirms, one fails for good (not transient, or the lease is
/// lost), or the next pause does not fit (`fits(pause)`: it would end past the
/// deadline). `failed(attempt, error)` hears of every attempt the target did
/// not confirm, the last included. Returns the outcome and the attempts made;
/// shared by the loop and `deploy-agent resume`.
pub async fn retry_rollback<Fut>(
    clock: Arc<dyn Clock>,
    fits: impl Fn(f64) -> bool,
    mut attempt: impl FnMut() -> Fut,
    mut failed: impl FnMut(u32, &TrafficError),
) -> (Result<(), AttemptFailure>, u32)
where
    Fut: Future<Output = Result<(), AttemptFailure>>,
{
    let made = AtomicU32::new(0);
    let outcome = (|| {
        made.fetch_add(1, Ordering::Relaxed);
        attempt()
    })
    .retry(schedule())
    .sleep(move |pause: Duration| {
        let clock = clock.clone();
        async move { clock.sleep(pause.as_secs_f64()).await }
    })
    .when(|e| matches!(e, AttemptFailure::Target(t) if t.is_transient()))
    .adjust(|_, pause| pause.filter(|p| fits(p.as_secs_f64())))
    .notify(|e, _| {
        if let AttemptFailure::Target(error) = e {
            failed(made.load(Ordering::Relaxed), error);
        }
    })
    .await;
    let made = made.load(Ordering::Relaxed);
    if let Err(AttemptFailure::Target(error)) = &outcome {
        failed(made, error);
    }
    (outcome, made)
}

/// What to tell the operator when a rollback was never confirmed.
pub fn failure_message(
    traffic: &dyn TrafficRouter,
    live: Option<u8>,
    last_known: u8,
    attempts: u32,
    seconds: f64,
    error: &TrafficError,
) -> String {
    let shown = live.map_or(format!("possibly {last_known}% (it cannot be read)"), |w| {
        format!("{w}%")
    });
    format!(
        "{} still serves the canary at {shown} after {attempts} rollback attempt(s) over {seconds:.0} s ({error}). Run `deploy-agent resume` to retry the rollback, or by hand: {}",
        traffic.describe(),
        traffic.manual_rollback()
    )
}
