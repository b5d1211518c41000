//! The journal catches up with the target, and the rollback `resume` owes.
//!
//! Open intents are checked against what the target serves (an effect that
//! shows was applied, one that does not was not; nothing is re-applied). A
//! staged promotion that never completed is undone, and the rollback is
//! retried like the loop's own until the target confirms 0 % or the policy's
//! deadline passes; a journal that refuses the rollback's intent does not stop
//! it. When the target never confirms, the rollout stays open as
//! `rollback_failed` for the next `resume`.

use serde_json::{json, Value};

use super::{finish, Reconciled, ResumeError, RollbackError};
use crate::journal::{wall_now, ApprovalDecision, Intent, Journal, JournalSink, RolloutRecord};
use crate::rollout::events::{Event, EventSink};
use crate::rollout::rollback::{attempt_rollback, failure_message, retry_rollback, AttemptFailure};
use crate::rollout::state::Outcome;
use crate::rollout::Backends;
use crate::traffic::{TrafficError, TrafficRouter};

/// What the open intents showed.
pub(super) struct Reconciliation {
    pub intents: Vec<Reconciled>,
    /// A promotion had taken effect on the target.
    pub promoted: bool,
    /// A staged promotion (or a rollback that was undoing one) that did not
    /// complete: what undoing it needs.
    pub undo: Option<Value>,
}

/// Marks each open intent applied if its effect shows on the target, failed
/// otherwise. A promotion is judged by the target's own read-back of it.
pub(super) async fn reconcile(
    journal: &dyn Journal,
    rollout_id: &str,
    traffic: &dyn TrafficRouter,
    live: u8,
) -> Result<Reconciliation, ResumeError> {
    let mut found = Reconciliation {
        intents: Vec::new(),
        promoted: false,
        undo: None,
    };
    for intent in journal.open_intents(rollout_id)? {
        let applied = match intent.kind.as_str() {
            "promote" => traffic.promoted().await.unwrap_or(false),
            _ => visible(&intent, live),
        };
        found.promoted |= applied && intent.kind == "promote";
        let undo = &intent.payload["undo"];
        if !applied && !undo.is_null() {
            found.undo = Some(undo.clone());
        }
        let detail = if applied {
            format!("resume: effect visible on the target (live weight {live}%)")
        } else {
            format!("resume: not visible on the target (live weight {live}%); not re-applied")
        };
        journal.applied(rollout_id, intent.seq, applied, &detail)?;
        found.intents.push(Reconciled {
            seq: intent.seq,
            kind: intent.kind,
            payload: intent.payload,
            applied,
        });
    }
    Ok(found)
}

/// Whether an intent's effect shows in the live weight.
fn visible(intent: &Intent, live: u8) -> bool {
    match intent.kind.as_str() {
        "set_weight" => intent.payload["to"].as_u64() == Some(u64::from(live)),
        "promote" => live == 100,
        "rollback" => live == 0,
        _ => false,
    }
}

/// What a rollback by `resume` needs besides the journal and the target.
pub(super) struct RollBack<'a> {
    pub record: &'a RolloutRecord,
    pub at: f64,
    pub live: u8,
    pub reason: &'a str,
    pub undo: Option<Value>,
    pub deadline_seconds: f64,
}

/// All traffic back to stable, confirmed on the target, the pending approval
/// closed, then `Finished`. `Err` when the target never confirmed: the rollout
/// is then journaled `rollback_failed` and stays open.
pub(super) async fn roll_back(
    journal: &dyn Journal,
    backends: &Backends,
    sink: &mut JournalSink,
    job: RollBack<'_>,
) -> Result<(), RollbackError> {
    let record = job.record;
    close_pending_approval(journal, record);
    sink.emit(
        job.at,
        &Event::AutoRollback {
            reason: job.reason.into(),
        },
    );
    let payload = json!({"from": job.live, "undo": job.undo});
    let written = match &backends.lease {
        Some(lease) => {
            journal.intent_fenced(&lease.fence(), &record.id, job.at, "rollback", payload)
        }
        None => journal.intent(&record.id, job.at, "rollback", payload),
    };
    let seq = match written {
        Ok(seq) => Some(seq),
        Err(e) => {
            tracing::error!(error = %e, rollout = %record.id, "rolling back without a write-ahead record: the journal refused it");
            None
        }
    };
    let traffic = backends.traffic.as_ref();
    let clock = backends.clock.as_ref();
    let started = clock.now();
    let (lease, undo) = (backends.lease.as_ref(), job.undo.as_ref());
    let attempt = || async move {
        if let Some(why) = lease.and_then(|l| l.lost()) {
            return Err(AttemptFailure::LeaseLost(why));
        }
        attempt_rollback(traffic, clock, undo)
            .await
            .map_err(AttemptFailure::Target)
    };
    let fits = |pause: f64| clock.now() - started + pause <= job.deadline_seconds;
    let failed = |attempts: u32, error: &TrafficError| {
        tracing::error!(error = %error, attempts, rollout = %record.id, "rollback not confirmed");
    };
    let (outcome, attempts) = retry_rollback(backends.clock.clone(), fits, attempt, failed).await;
    let error = match outcome {
        Ok(()) => {
            if let Some(seq) = seq {
                if let Err(e) = journal.applied(&record.id, seq, true, "rolled back") {
                    tracing::error!(error = %e, "could not mark the rollback applied");
                }
            }
            if job.live > 0 {
                sink.emit(
                    job.at,
                    &Event::WeightChanged {
                        from: job.live,
                        to: 0,
                    },
                );
            }
            finish(sink, job.at, Outcome::RolledBack, job.reason, 0);
            return Ok(());
        }
        // Another process took the rollout over; the rollback is its own now.
        Err(AttemptFailure::LeaseLost(why)) => {
            return Err(RollbackError::LeaseLost { why });
        }
        Err(AttemptFailure::Target(error)) => error,
    };
    // The intent stays open: the next `resume` finds it and tries again.
    let live = traffic.canary_weight().await.ok();
    let seconds = clock.now() - started;
    let message = failure_message(traffic, live, job.live, attempts, seconds, &error);
    finish(
        sink,
        job.at,
        Outcome::RollbackFailed,
        &format!("{}; ROLLBACK FAILED: {message}", job.reason),
        live.unwrap_or(job.live),
    );
    Err(RollbackError::NotConfirmed(message))
}

/// A pending approval of a rollout that is being ended is decided as a
/// rejection, so a late `approve` is refused rather than silently ignored.
fn close_pending_approval(journal: &dyn Journal, record: &RolloutRecord) {
    let decision = ApprovalDecision {
        approved: false,
        by: None,
        reason: "the rollout was resumed after a crash and ended".into(),
        decided_at: wall_now(),
    };
    let pending = journal.pending_approvals().unwrap_or_default();
    for p in pending.iter().filter(|p| p.rollout_id == record.id) {
        if let Err(e) = journal.decide_approval(&record.id, &p.rev, &decision) {
            tracing::warn!(error = %e, rollout = %record.id, "could not close the pending approval");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::approval::FixedApprover;
    use crate::clock::VirtualClock;
    use crate::journal::SqliteJournal;
    use crate::sim::faults::{Faults, FaultyTraffic};
    use crate::sim::{SimConfig, SimWorld};

    /// A process died mid-promotion: the stable had taken the new image, no
    /// traffic had switched. `resume` finds the undo in the open intent, puts
    /// the old image back, rolls traffic back and confirms it.
    #[tokio::test]
    async fn a_staged_promotion_left_by_a_crash_is_undone_and_rolled_back() {
        let journal: Arc<dyn Journal> =
            Arc::new(SqliteJournal::open(std::path::Path::new(":memory:")).unwrap());
        let record = RolloutRecord {
            id: "r1".into(),
            service: "checkout".into(),
            rev: "abc".into(),
            target: "sim:healthy".into(),
            planner: "playbook".into(),
            started_at: 0.0,
            finished_at: None,
            outcome: None,
            weight: 70,
            reason: None,
        };
        journal.begin(&record).unwrap();
        let undo = json!({"image": "v1"});
        journal
            .intent(
                "r1",
                1.0,
                "promote",
                json!({"from": 70, "staged": true, "undo": undo}),
            )
            .unwrap();
        let clock = Arc::new(VirtualClock::new(0.0));
        let world = SimWorld::new(SimConfig::default(), clock.clone());
        let faults = Faults {
            staging_seconds: Some(600.0),
            staging_timeout: 900.0,
            ..Faults::default()
        };
        let router = Arc::new(FaultyTraffic::new(world.clone(), faults, 1));
        world.traffic().set_canary_weight(70).await.unwrap();
        router.stage_promotion().await.unwrap();
        let (mut backends, _) = Backends::simulated(
            SimConfig::default(),
            clock,
            Arc::new(FixedApprover::approve_as("x")),
        );
        backends.traffic = router.clone();

        let found = reconcile(journal.as_ref(), "r1", router.as_ref(), 70)
            .await
            .unwrap();
        assert!(!found.promoted);
        assert_eq!(found.undo, Some(undo.clone()));
        assert!(!found.intents[0].applied);

        let mut sink = JournalSink::resuming(journal.clone(), "r1");
        let job = RollBack {
            record: &record,
            at: 2.0,
            live: 70,
            reason: "resumed",
            undo: found.undo,
            deadline_seconds: 60.0,
        };
        roll_back(journal.as_ref(), &backends, &mut sink, job)
            .await
            .unwrap();
        assert_eq!(router.undone(), 1, "the old image is back");
        assert_eq!(world.canary_weight(), 0);
        let r = journal.rollout("r1").unwrap();
        assert_eq!(r.outcome.as_deref(), Some("rolled_back"));
        assert!(journal.open_intents("r1").unwrap().is_empty());
    }
}
