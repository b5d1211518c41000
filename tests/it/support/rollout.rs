//! Running rollouts in the simulated world, and the safety checks every test applies.

use std::sync::Arc;

use deploy_agent::approval::{Approver, FixedApprover};
use deploy_agent::assess::{assess_change, AssessRequest, LlmMode};
use deploy_agent::canary::SequentialJudge;
use deploy_agent::clock::VirtualClock;
use deploy_agent::git::{ChangeSource, LocalGit};
use deploy_agent::journal::Journal;
use deploy_agent::planner::Planner;
use deploy_agent::policy::Policy;
use deploy_agent::rollout::events::{Collector, Event};
use deploy_agent::rollout::state::Limits;
use deploy_agent::rollout::StopSignal;
use deploy_agent::rollout::{self, Backends, ChangeContext, RolloutSpec, RolloutSummary};
use deploy_agent::settings::LlmSettings;
use deploy_agent::sim::faults::{Faults, FaultyTraffic};
use deploy_agent::sim::{Scenario, SimConfig, SimWorld};
use deploy_agent::traffic::TrafficRouter;

use super::repo::Repo;

/// A finished rollout and everything needed to check it.
pub struct Ran {
    pub summary: RolloutSummary,
    pub events: Vec<(f64, Event)>,
    pub world: Arc<SimWorld>,
    pub limits: Limits,
    /// The misbehaving router, when the setup had one.
    pub faulty: Option<Arc<FaultyTraffic>>,
    /// The router's settle time (the safety check reads the target after it).
    pub settle: f64,
}

impl Ran {
    pub fn vetoed(&self, rule: &str) -> bool {
        self.summary.vetoes.iter().any(|v| v.rule.as_str() == rule)
    }
}

/// A repository whose HEAD is a migration: high risk, approval required (default policy).
pub fn migration_repo() -> Repo {
    let r = Repo::new();
    r.lines("src/app.rs", 20, "a");
    r.commit("initial");
    r.write("migrations/002_add_index.sql", "create index i on t(c);\n");
    r.commit("add an index");
    r
}

/// A repository whose HEAD is a config change: medium risk, no approval.
pub fn config_repo() -> Repo {
    let r = Repo::new();
    r.lines("config/app.yaml", 20, "a");
    r.commit("initial");
    r.lines("config/app.yaml", 24, "b");
    r.commit("raise pool size");
    r
}

/// Assesses HEAD of `repo` offline and runs a rollout with `planner`.
pub async fn run(
    repo: &Repo,
    scenario: Scenario,
    seed: u64,
    planner: &mut dyn Planner,
    approver: Arc<dyn Approver>,
) -> Ran {
    run_journaled(repo, scenario, seed, planner, approver, None).await
}

/// HEAD of `repo`, assessed offline under the embedded policy.
pub async fn assessed(repo: &Repo) -> (ChangeContext, Policy) {
    let policy = Policy::embedded().expect("policy");
    let git = LocalGit::open(repo.path()).expect("repo");
    let llm = LlmSettings {
        base_url: None,
        api_key: None,
        model: "none".into(),
        timeout_secs: 1,
        max_retries: 0,
        excerpt_bytes: 1000,
        ..LlmSettings::default()
    };
    let request = AssessRequest {
        rev: "HEAD".into(),
        base: None,
        llm: LlmMode::Off,
    };
    let (change, assessment) = assess_change(&git, &policy, &llm, &request)
        .await
        .expect("assess");
    let diff = git.diff_excerpt(&change, 8_000).expect("diff");
    (ChangeContext { assessment, diff }, policy)
}

/// [`run`] with the runner's write-ahead intents going to `journal`.
pub async fn run_journaled(
    repo: &Repo,
    scenario: Scenario,
    seed: u64,
    planner: &mut dyn Planner,
    approver: Arc<dyn Approver>,
    journal: Option<Arc<dyn Journal>>,
) -> Ran {
    let (context, policy) = assessed(repo).await;
    run_context(
        &context, &policy, scenario, seed, planner, approver, journal,
    )
    .await
}

/// Runs a rollout of an assessed change under `policy` in the simulated world.
pub async fn run_context(
    context: &ChangeContext,
    policy: &Policy,
    scenario: Scenario,
    seed: u64,
    planner: &mut dyn Planner,
    approver: Arc<dyn Approver>,
    journal: Option<Arc<dyn Journal>>,
) -> Ran {
    let setup = Setup {
        scenario,
        seed,
        journal,
        ..Setup::default()
    };
    run_setup(context, policy, planner, approver, setup).await
}

/// The world a test rollout runs in, beyond the change and the planner.
#[derive(Default)]
pub struct Setup {
    pub scenario: Scenario,
    pub seed: u64,
    pub journal: Option<Arc<dyn Journal>>,
    /// Events go to the journal too (the rollout row, `Finished`), as the
    /// CLI records them; without it only the runner's intents are written.
    pub record: bool,
    /// A router that misbehaves, instead of one that obeys.
    pub faults: Option<Faults>,
    /// The canary weight the target already serves (adopted).
    pub start_weight: u8,
    pub stop: Option<StopSignal>,
    /// Another judge than the policy's sequential one.
    pub judge: Option<Box<dyn deploy_agent::canary::Judge>>,
    /// Who writes the texts for people (default: the templates).
    pub narrator: Option<deploy_agent::narrate::Narrator>,
}

/// Runs a rollout in `setup`; the target label is `sim:<scenario>` (what
/// `resume` rebuilds the world from). Returns the faulty router when there is one.
pub async fn run_setup(
    context: &ChangeContext,
    policy: &Policy,
    planner: &mut dyn Planner,
    approver: Arc<dyn Approver>,
    setup: Setup,
) -> Ran {
    let clock = Arc::new(VirtualClock::new(1_800_000_000.0));
    let (mut backends, world) =
        Backends::simulated(SimConfig::new(setup.scenario, setup.seed), clock, approver);
    let mut faulty = None;
    if let Some(f) = setup.faults {
        let router = Arc::new(FaultyTraffic::new(world.clone(), f, setup.seed));
        faulty = Some(router.clone());
        backends.traffic = router;
    }
    if let Some(journal) = setup.journal {
        backends = backends.with_journal(journal);
    }
    if let Some(stop) = setup.stop {
        backends = backends.with_stop(stop);
    }
    if let Some(narrator) = setup.narrator {
        backends = backends.with_narrator(narrator);
    }
    if setup.start_weight > 0 {
        world
            .traffic()
            .set_canary_weight(setup.start_weight)
            .await
            .expect("start");
    }
    let settle = backends.traffic.settle_seconds();
    let spec = RolloutSpec {
        id: format!("test-{}", setup.seed),
        service: "checkout".into(),
        rev: context.assessment.rev.clone(),
        target: format!("sim:{}", setup.scenario.as_str()),
        start_weight: setup.start_weight,
    };
    let limits = Limits::new(&context.risk().strategy);
    let mut sink = Collector::default();
    let judge = setup
        .judge
        .unwrap_or_else(|| Box::new(SequentialJudge::new(policy.canary)));
    if let Some(journal) = backends.journal.clone().filter(|_| setup.record) {
        let mut fanout = deploy_agent::rollout::events::Fanout::default();
        fanout
            .sinks
            .push(Box::new(deploy_agent::journal::JournalSink::new(journal)));
        let summary = run_with(
            &spec,
            context,
            policy,
            planner,
            (judge, backends),
            &mut fanout,
            &mut sink,
        )
        .await;
        return finish_ran(summary, sink, world, limits, faulty, settle);
    }
    let summary = rollout::run(&spec, context, policy, planner, judge, backends, &mut sink).await;
    finish_ran(summary, sink, world, limits, faulty, settle)
}

/// A rollout whose events go to `journal` first, then `collector`.
async fn run_with(
    spec: &RolloutSpec,
    context: &ChangeContext,
    policy: &Policy,
    planner: &mut dyn Planner,
    (judge, backends): (Box<dyn deploy_agent::canary::Judge>, Backends),
    journal: &mut deploy_agent::rollout::events::Fanout,
    collector: &mut Collector,
) -> RolloutSummary {
    struct Both<'a>(
        &'a mut deploy_agent::rollout::events::Fanout,
        &'a mut Collector,
    );
    impl deploy_agent::rollout::events::EventSink for Both<'_> {
        fn emit(&mut self, at: f64, e: &Event) {
            self.0.emit(at, e);
            self.1.emit(at, e);
        }
    }
    let mut both = Both(journal, collector);
    rollout::run(spec, context, policy, planner, judge, backends, &mut both).await
}

fn finish_ran(
    summary: RolloutSummary,
    sink: Collector,
    world: Arc<SimWorld>,
    limits: Limits,
    faulty: Option<Arc<FaultyTraffic>>,
    settle: f64,
) -> Ran {
    let ran = Ran {
        summary,
        events: sink.events,
        world,
        limits,
        faulty,
        settle,
    };
    assert_safe(&ran);
    ran
}

pub fn approve() -> Arc<dyn Approver> {
    Arc::new(FixedApprover::approve_as("alice"))
}

pub fn reject() -> Arc<dyn Approver> {
    Arc::new(FixedApprover::reject("not during the sale"))
}

/// The invariants, checked on what actually reached the target (the evals'
/// own check, so tests and evals hold the loop to the same rules).
pub fn assert_safe(ran: &Ran) {
    let found =
        deploy_agent::evals::safety::check(&ran.summary, &ran.events, &ran.world, &ran.limits, 0.0);
    assert!(
        found.is_empty(),
        "unsafe: {found:?}\nhistory: {:?}",
        ran.world.weight_history()
    );
}

/// A running rollout's record (no outcome yet, canary at 0) of `checkout` on
/// the healthy simulator, as the agent writes it when it begins.
pub fn running_record(
    id: &str,
    rev: &str,
    started_at: f64,
) -> deploy_agent::journal::RolloutRecord {
    deploy_agent::journal::RolloutRecord {
        id: id.into(),
        service: "checkout".into(),
        rev: rev.into(),
        target: "sim:healthy".into(),
        planner: "playbook".into(),
        started_at,
        finished_at: None,
        outcome: None,
        weight: 0,
        reason: None,
    }
}

/// The first event `pick` matches, and the progress line the terminal shows for it.
pub fn shown(ran: &Ran, pick: impl Fn(&Event) -> bool) -> (&Event, String) {
    let (_, event) = ran
        .events
        .iter()
        .find(|(_, e)| pick(e))
        .expect("no such event in the rollout");
    let line = deploy_agent::rollout::terminal::describe(event).expect("the event has a line");
    (event, line)
}

/// Resumes `context`'s rollout with the playbook from `point` (its weight
/// already served by the target, as after a crash) in `scenario`; returns the
/// summary and the weights the target served.
pub async fn resume_playbook(
    context: &ChangeContext,
    policy: &Policy,
    scenario: Scenario,
    point: deploy_agent::rollout::ResumePoint,
) -> (RolloutSummary, Vec<u8>) {
    let clock = Arc::new(VirtualClock::new(1_800_000_000.0));
    let (backends, world) = Backends::simulated(SimConfig::new(scenario, 7), clock, approve());
    world
        .traffic()
        .set_canary_weight(point.weight)
        .await
        .expect("the weight before the crash");
    let spec = RolloutSpec {
        id: "resumed".into(),
        service: "checkout".into(),
        rev: context.assessment.rev.clone(),
        target: format!("sim:{}", scenario.as_str()),
        start_weight: point.weight,
    };
    let mut planner =
        deploy_agent::planner::PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
    let judge = Box::new(SequentialJudge::new(policy.canary));
    let mut sink = Collector::default();
    let summary = rollout::resume(
        &spec,
        context,
        policy,
        &mut planner,
        judge,
        backends,
        &mut sink,
        point,
    )
    .await;
    let weights = world.weight_history().iter().map(|(_, w)| *w).collect();
    (summary, weights)
}
