//! One owner per service: leases with fencing, in the loop and across real
//! processes sharing one journal.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deploy_agent::approval::{ApprovalAnswer, ApprovalRequest, Approver};
use deploy_agent::journal::{
    wall_now, Journal, JournalSink, LeaseKeeper, LeaseRequest, LeaseTiming, SqliteJournal,
};
use deploy_agent::planner::PlaybookPlanner;
use deploy_agent::rollout::events::{Collector, Event, EventSink};
use deploy_agent::rollout::state::Outcome;
use deploy_agent::rollout::{self, Backends, RolloutSpec};
use deploy_agent::sim::{Scenario, SimConfig};

use crate::support::rollout::{assessed, migration_repo};

/// Approves after a real pause, during which another process takes the
/// rollout over (its lease was not renewed: the owner was "paused").
struct PausedOwner {
    journal: Arc<dyn Journal>,
    rollout_id: String,
}

#[async_trait]
impl Approver for PausedOwner {
    async fn request(&self, _: &ApprovalRequest) -> ApprovalAnswer {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let takeover = LeaseRequest {
            service: "checkout".into(),
            rollout_id: self.rollout_id.clone(),
            holder: "replica-b".into(),
            ttl: 30.0,
            now: wall_now(),
        };
        let taken = self.journal.acquire_lease(&takeover).expect("takeover");
        assert_eq!(taken.generation, 2);
        ApprovalAnswer {
            approved: true,
            by: Some("alice".into()),
            reason: "ok".into(),
        }
    }
}

struct Both(JournalSink, Collector);

impl EventSink for Both {
    fn emit(&mut self, at: f64, e: &Event) {
        self.0.emit(at, e);
        self.1.emit(at, e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_whose_lease_was_taken_over_makes_no_further_change() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).unwrap());
    let (context, policy) = assessed(&migration_repo()).await;
    let id = "checkout-1".to_string();
    // A lease never renewed (the owner is paused): it runs out after 0.3 s.
    let timing = LeaseTiming {
        ttl_secs: 0.3,
        heartbeat_secs: 3600.0,
    };
    let req = LeaseRequest {
        service: "checkout".into(),
        rollout_id: id.clone(),
        holder: "replica-a".into(),
        ttl: 0.3,
        now: wall_now(),
    };
    let lease = Arc::new(LeaseKeeper::acquire(journal.clone(), &req, timing).unwrap());
    let clock = Arc::new(deploy_agent::clock::VirtualClock::new(1_800_000_000.0));
    let approver = Arc::new(PausedOwner {
        journal: journal.clone(),
        rollout_id: id.clone(),
    });
    let (backends, world) =
        Backends::simulated(SimConfig::new(Scenario::Healthy, 1), clock, approver);
    let backends = backends
        .with_journal(journal.clone())
        .with_lease(lease.clone());
    let spec = RolloutSpec {
        id: id.clone(),
        service: "checkout".into(),
        rev: context.assessment.rev.clone(),
        target: "sim:healthy".into(),
        start_weight: 0,
    };
    let mut sink = Both(
        JournalSink::new(journal.clone()).fenced(lease.fence()),
        Collector::default(),
    );
    let mut planner = PlaybookPlanner::new(6);
    let judge = Box::new(deploy_agent::canary::SequentialJudge::new(policy.canary));
    let summary = rollout::run(
        &spec,
        &context,
        &policy,
        &mut planner,
        judge,
        backends,
        &mut sink,
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Aborted);
    assert!(
        summary.reason.contains("the lease was lost")
            && summary.reason.contains("no further change"),
        "{}",
        summary.reason
    );
    assert!(
        world.weight_history().is_empty(),
        "no traffic moved after the takeover: {:?}",
        world.weight_history()
    );
    // The record belongs to the new owner: the old one wrote no end, no intent.
    let record = journal.rollout(&id).unwrap();
    assert!(record.finished_at.is_none(), "{record:?}");
    assert!(journal.open_intents(&id).unwrap().is_empty());
    let lease_now = journal.leases().unwrap();
    assert_eq!(lease_now[0].holder, "replica-b");
}
