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
use deploy_agent::rollout::{self, Backends, ChangeContext, RolloutSpec, RolloutSummary};
use deploy_agent::settings::LlmSettings;
use deploy_agent::sim::{Scenario, SimConfig, SimWorld};

use super::repo::Repo;

/// A finished rollout and everything needed to check it.
pub struct Ran {
    pub summary: RolloutSummary,
    pub events: Vec<(f64, Event)>,
    pub world: Arc<SimWorld>,
    pub limits: Limits,
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

/// [`run`] with the runner's write-ahead intents going to `journal`.
pub async fn run_journaled(
    repo: &Repo,
    scenario: Scenario,
    seed: u64,
    planner: &mut dyn Planner,
    approver: Arc<dyn Approver>,
    journal: Option<Arc<dyn Journal>>,
) -> Ran {
    let policy = Policy::embedded().expect("policy");
    let git = LocalGit::open(repo.path()).expect("repo");
    let llm = LlmSettings {
        base_url: None,
        api_key: None,
        model: "none".into(),
        timeout_secs: 1,
        max_retries: 0,
        excerpt_bytes: 1000,
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
    let context = ChangeContext { assessment, diff };
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
    let clock = Arc::new(VirtualClock::new(1_800_000_000.0));
    let (mut backends, world) =
        Backends::simulated(SimConfig::new(scenario, seed), clock, approver);
    if let Some(journal) = journal {
        backends = backends.with_journal(journal);
    }
    let spec = RolloutSpec {
        id: format!("test-{seed}"),
        service: "checkout".into(),
        rev: context.assessment.rev.clone(),
        target: "sim".into(),
        start_weight: 0,
    };
    let limits = Limits::new(&context.risk().strategy);
    let mut sink = Collector::default();
    let summary = rollout::run(
        &spec,
        context,
        policy,
        planner,
        Box::new(SequentialJudge::new(policy.canary)),
        backends,
        &mut sink,
    )
    .await;
    let ran = Ran {
        summary,
        events: sink.events,
        world,
        limits,
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
