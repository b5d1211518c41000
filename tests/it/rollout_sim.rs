//! The playbook planner in the simulated world: each scenario ends as it must.

use deploy_agent::planner::PlaybookPlanner;
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::sim::Scenario;

use crate::support::rollout::{approve, config_repo, migration_repo, reject, run};

fn playbook() -> PlaybookPlanner {
    PlaybookPlanner::new(
        deploy_agent::policy::Policy::embedded()
            .unwrap()
            .rollout
            .max_inconclusive_bakes,
    )
}

/// Healthy canaries are promoted — nearly always: the judge needs evidence of
/// health, and a chance-unlucky run (about 1 in 100, `bench loop`) is rolled back
/// for lack of a Pass, never for a Fail.
#[tokio::test]
async fn healthy_canary_is_promoted_step_by_step() {
    let repo = migration_repo();
    let mut promoted = 0;
    for seed in 1..=10 {
        let ran = run(&repo, Scenario::Healthy, seed, &mut playbook(), approve()).await;
        if ran.summary.outcome != Outcome::Promoted {
            assert_eq!(ran.summary.outcome, Outcome::RolledBack, "seed {seed}");
            assert!(
                ran.summary.reason.contains("without a Pass"),
                "seed {seed}: {}",
                ran.summary.reason
            );
            continue;
        }
        promoted += 1;
        let weights: Vec<u8> = ran.summary.steps.iter().map(|s| s.weight).collect();
        assert_eq!(
            weights,
            vec![5, 20, 35, 50],
            "the high-risk strategy, played exactly"
        );
        assert!(ran.summary.vetoes.is_empty(), "{:?}", ran.summary.vetoes);
        assert_eq!(
            ran.summary.approval.as_ref().unwrap().by.as_deref(),
            Some("alice")
        );
    }
    assert!(promoted >= 9, "{promoted} of 10 healthy canaries promoted");
}

#[tokio::test]
async fn bad_canaries_are_rolled_back() {
    let repo = migration_repo();
    for scenario in [
        Scenario::ErrorSpike,
        Scenario::LatencyRegression,
        Scenario::SlowDegradation,
    ] {
        for seed in 1..=5 {
            let ran = run(&repo, scenario, seed, &mut playbook(), approve()).await;
            assert_eq!(
                ran.summary.outcome,
                Outcome::RolledBack,
                "{scenario:?} seed {seed}: {}",
                ran.summary.reason
            );
            assert!(
                ran.events
                    .iter()
                    .any(|(_, e)| matches!(e, Event::AutoRollback { .. })),
                "{scenario:?}: the judge, not the planner, rolled back"
            );
        }
    }
}

#[tokio::test]
async fn a_clear_failure_is_rolled_back_before_the_bake_ends() {
    let repo = migration_repo();
    for seed in 1..=5 {
        let ran = run(
            &repo,
            Scenario::ErrorSpike,
            seed,
            &mut playbook(),
            approve(),
        )
        .await;
        assert_eq!(ran.summary.outcome, Outcome::RolledBack);
        let bake = ran.limits.min_bake_seconds;
        assert!(
            ran.summary.duration_seconds() < bake,
            "seed {seed}: rolled back after {} s, the bake is {bake} s",
            ran.summary.duration_seconds()
        );
        let (_, bad) = ran.world.canary_served(ran.summary.ended_at);
        assert!(bad < 100, "seed {seed}: {bad} bad requests served");
    }
}

#[tokio::test]
async fn missing_metrics_are_never_promoted() {
    let repo = config_repo();
    for seed in 1..=5 {
        let ran = run(&repo, Scenario::NoData, seed, &mut playbook(), approve()).await;
        assert_ne!(ran.summary.outcome, Outcome::Promoted, "seed {seed}");
        assert!(!ran.world.promoted());
        let first = &ran.summary.steps[0];
        assert_eq!(first.verdict.map(|v| v.as_str()), Some("no_data"));
        assert_eq!(ran.summary.steps.len(), 1, "no increase on NoData");
    }
}

#[tokio::test]
async fn refused_approval_blocks_all_traffic() {
    let repo = migration_repo();
    let ran = run(&repo, Scenario::Healthy, 1, &mut playbook(), reject()).await;
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(
        ran.summary.reason.contains("approval refused"),
        "{}",
        ran.summary.reason
    );
    assert!(ran.world.weight_history().iter().all(|(_, w)| *w == 0));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rollout() {
    let repo = config_repo();
    let a = run(&repo, Scenario::Flapping, 7, &mut playbook(), approve()).await;
    let b = run(&repo, Scenario::Flapping, 7, &mut playbook(), approve()).await;
    assert_eq!(a.summary.steps, b.summary.steps);
    assert_eq!(a.summary.outcome, b.summary.outcome);
}

#[tokio::test]
async fn a_journal_that_refuses_the_intent_moves_no_traffic_and_ends_the_rollout() {
    use deploy_agent::journal::{Journal, SqliteJournal};
    use std::sync::Arc;
    // A real journal that has never heard of this rollout: every intent is refused.
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("journal.db")).unwrap());
    let r = config_repo();
    let mut planner = PlaybookPlanner::new(6);
    let ran = crate::support::rollout::run_journaled(
        &r,
        Scenario::Healthy,
        1,
        &mut planner,
        approve(),
        Some(journal),
    )
    .await;
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(
        ran.summary
            .reason
            .contains("no traffic change without a write-ahead record"),
        "{}",
        ran.summary.reason
    );
    assert!(
        ran.world.weight_history().iter().all(|&(_, w)| w == 0),
        "traffic moved without an intent: {:?}",
        ran.world.weight_history()
    );
}
