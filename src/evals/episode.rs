//! One episode: a prepared change rolled out once in the simulated world —
//! behind a router that may fail, lag, round or half-apply, with a journal that
//! may be lost mid-rollout — then checked on what actually reached the target
//! (the weight history the world recorded, see [`safety`]), not on what the
//! loop believes it did.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::suite::ApproverKind;
use crate::approval::{ApprovalAnswer, ApprovalRequest, Approver, FixedApprover};
use crate::canary::SequentialJudge;
use crate::clock::{Clock, VirtualClock};
use crate::planner::Planner;
use crate::policy::Policy;
use tracing::instrument::WithSubscriber;

use super::flaky_journal::FlakyJournal;
use super::injection::SlackRecorder;
use super::safety;
use crate::journal::{Journal, JournalSink, SqliteJournal};
use crate::rollout::events::{Collector, Event, EventSink};
use crate::rollout::state::{Limits, Outcome};
use crate::rollout::{self, Backends, ChangeContext, RolloutSpec};
use crate::sim::faults::{Faults, FaultyTraffic};
use crate::sim::{Scenario, SimConfig};

/// Virtual start time of every episode (reproducible reports).
const START: f64 = 1_800_000_000.0;

/// Never answers: waits out the request's timeout on the rollout clock, then it
/// is a rejection, as policy says silence is.
struct SilentApprover {
    clock: Arc<VirtualClock>,
}

#[async_trait]
impl Approver for SilentApprover {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        // Waits in slices and yields between them, so a loop that judges a
        // serving canary meanwhile gets its turns on the same virtual clock.
        let deadline = self.clock.now() + request.timeout_seconds as f64;
        while self.clock.now() < deadline {
            self.clock
                .sleep((deadline - self.clock.now()).min(10.0))
                .await;
            tokio::task::yield_now().await;
        }
        ApprovalAnswer {
            approved: false,
            by: None,
            reason: format!("no answer within {} s", request.timeout_seconds),
        }
    }
}

fn approver(
    kind: ApproverKind,
    clock: &Arc<VirtualClock>,
    reply: Option<&str>,
) -> Arc<dyn Approver> {
    match kind {
        ApproverKind::Approve => Arc::new(FixedApprover::approve_as("eval-approver")),
        ApproverKind::Reject => Arc::new(FixedApprover::reject(
            reply.unwrap_or("eval approver says no"),
        )),
        ApproverKind::Silent => Arc::new(SilentApprover {
            clock: clock.clone(),
        }),
    }
}

/// What one episode measured.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeResult {
    pub seed: u64,
    pub outcome: Outcome,
    pub reason: String,
    pub approval_asked: bool,
    /// Whether the rollout's approval is recorded as granted.
    pub approval_granted: bool,
    /// Safety violations on what reached the target; each is an unsafe action.
    pub unsafe_actions: Vec<String>,
    pub vetoes_by_rule: BTreeMap<String, u64>,
    pub canary_requests: u64,
    pub bad_requests: u64,
    /// The largest canary weight the target's own record shows it served (0:
    /// the canary never had traffic, whatever the planner intended).
    pub max_canary_weight: u8,
    pub seconds_to_decision: f64,
    pub turns: u32,
    pub tokens: u64,
    /// Whether the model planner handed the rollout over to the playbook.
    pub handed_over: bool,
    /// The Slack bodies the approver path built for this episode's requests
    /// and answers (what people would have been sent).
    #[serde(skip)]
    pub slack_messages: Vec<serde_json::Value>,
}

/// Where an episode runs: the simulated world, behind a router that may misbehave.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    pub sim: Scenario,
    pub seed: u64,
    pub approver: ApproverKind,
    /// The router's faults (`None`: a router that does exactly what it is told).
    pub faults: Option<&'a Faults>,
    /// What a rejecting approver writes back (`None`: a plain no).
    pub reply: Option<&'a str>,
}

/// The episode's observers: everything for the checks, and the journal when
/// the episode has one.
struct EpisodeSink {
    collector: Collector,
    journal: Option<JournalSink>,
}

impl EventSink for EpisodeSink {
    fn emit(&mut self, at: f64, event: &Event) {
        if let Some(j) = &mut self.journal {
            j.emit(at, event);
        }
        self.collector.emit(at, event);
    }
}

/// Runs one rollout of `change` under `policy` in `setting`.
pub async fn run_episode(
    change: &ChangeContext,
    policy: &Policy,
    setting: Setting<'_>,
    planner: &mut dyn Planner,
) -> EpisodeResult {
    let Setting {
        sim,
        seed,
        approver: approver_kind,
        faults,
        reply,
    } = setting;
    let clock = Arc::new(VirtualClock::new(START));
    let recorder = Arc::new(SlackRecorder::new(approver(approver_kind, &clock, reply)));
    let (mut backends, world) =
        Backends::simulated(SimConfig::new(sim, seed), clock.clone(), recorder.clone());
    let mut sink = EpisodeSink {
        collector: Collector::default(),
        journal: None,
    };
    if let Some(f) = faults {
        backends.traffic = Arc::new(FaultyTraffic::new(world.clone(), *f, seed));
        if let Some(writes) = f.journal_fails_after {
            if let Ok(store) = SqliteJournal::open(std::path::Path::new(":memory:")) {
                let journal: Arc<dyn Journal> =
                    Arc::new(FlakyJournal::new(Arc::new(store), writes));
                sink.journal = Some(JournalSink::new(journal.clone()));
                backends = backends.with_journal(journal);
            }
        }
    }
    let settle = backends.traffic.settle_seconds();
    let spec = RolloutSpec {
        id: format!("eval-{seed}"),
        service: "eval".into(),
        rev: change.assessment.rev.clone(),
        target: format!("sim:{}", sim.as_str()),
        start_weight: 0,
    };
    let limits = Limits::new(&change.risk().strategy);
    // What the episode logs is in its report; keep stderr for the summary.
    let summary = rollout::run(
        &spec,
        change,
        policy,
        planner,
        Box::new(SequentialJudge::new(policy.canary)),
        backends,
        &mut sink,
    )
    .with_subscriber(tracing::subscriber::NoSubscriber::default())
    .await;
    let events = sink.collector.events;
    let unsafe_actions = safety::check(&summary, &events, &world, &limits, settle);
    let (canary_requests, bad_requests) = world.canary_served(clock.now());
    let max_canary_weight = (world.weight_history().iter())
        .map(|&(_, w)| w)
        .max()
        .unwrap_or(0);
    let mut vetoes_by_rule = BTreeMap::new();
    for v in &summary.vetoes {
        *vetoes_by_rule
            .entry(v.rule.as_str().to_string())
            .or_insert(0) += 1;
    }
    let approval_granted = summary.approval.as_ref().is_some_and(|a| a.approved);
    let approval_asked = summary.approval.is_some()
        || events
            .iter()
            .any(|(_, e)| matches!(e, Event::ApprovalRequested { .. }));
    EpisodeResult {
        seed,
        outcome: summary.outcome,
        reason: summary.reason.clone(),
        approval_asked,
        approval_granted,
        unsafe_actions,
        vetoes_by_rule,
        canary_requests,
        bad_requests,
        max_canary_weight,
        seconds_to_decision: summary.duration_seconds(),
        turns: summary.turns,
        tokens: summary.prompt_tokens + summary.completion_tokens,
        handed_over: summary.handover.is_some(),
        slack_messages: recorder.sent(),
    }
}
