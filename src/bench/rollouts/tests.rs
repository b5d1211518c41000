//! The whole loop (playbook, guard, judge, simulated world) on single seeds:
//! what a user sees at the end of one rollout.

use super::*;

async fn one(policy: &Policy, level: Level, scenario: Scenario, rps: f64, seed: u64) -> Run {
    let context = ChangeContext {
        assessment: synthetic_assessment(policy, level),
        diff: String::new(),
    };
    run_one(&context, policy, JudgeKind::Ours, scenario, rps, seed).await
}

fn embedded() -> Policy {
    Policy::embedded().expect("the embedded policy loads")
}

#[tokio::test]
async fn a_direct_deploy_is_promoted_only_after_its_verification_passes() {
    let policy = embedded();
    for seed in 0..3 {
        let run = one(&policy, Level::Low, Scenario::Healthy, 200.0, seed).await;
        assert_eq!(
            run.outcome,
            Outcome::Promoted,
            "seed {seed}: {}",
            run.reason
        );
        assert_eq!(run.promoted_on, Some(PromotedOn::Pass));
        assert!(
            run.minutes >= 5.0 - 1e-9,
            "verified for 300 s, took {} min",
            run.minutes
        );
        // All traffic moved at once: a direct deploy, not a canary.
        assert!(run.canary_requests as f64 > 0.99 * run.all_requests as f64);
    }
}

#[tokio::test]
async fn a_bad_direct_deploy_is_rolled_back_by_its_verification() {
    let policy = embedded();
    for scenario in [Scenario::ErrorSpike, Scenario::LatencyRegression] {
        let run = one(&policy, Level::Low, scenario, 200.0, 1).await;
        assert_eq!(
            run.outcome,
            Outcome::RolledBack,
            "{scenario:?}: {}",
            run.reason
        );
        assert!(run.failed_by_judge, "{scenario:?}: {}", run.reason);
        assert!(
            run.minutes <= 2.0,
            "{scenario:?} caught in {} min",
            run.minutes
        );
    }
    let dead = one(&policy, Level::Low, Scenario::NoData, 200.0, 1).await;
    assert_ne!(dead.outcome, Outcome::Promoted, "{}", dead.reason);
}

#[tokio::test]
async fn an_unverified_direct_deploy_says_so() {
    let mut policy = embedded();
    policy.strategy.low = Strategy::Direct { verify_seconds: 0 };
    let run = one(&policy, Level::Low, Scenario::ErrorSpike, 200.0, 1).await;
    assert_eq!(run.outcome, Outcome::Promoted, "{}", run.reason);
    assert_eq!(run.promoted_on, Some(PromotedOn::Unverified));
}

#[tokio::test]
async fn too_little_traffic_for_a_pass_asks_a_human_instead_of_rolling_back() {
    let policy = embedded();
    let run = one(&policy, Level::Medium, Scenario::Healthy, 2.0, 3).await;
    assert!(run.asked, "{:?}: {}", run.outcome, run.reason);
    assert!(!run.failed_by_judge);
    // It held: at least the bakes and the hold before asking.
    let hold = policy.rollout.inconclusive.hold_seconds / 60.0;
    assert!(run.minutes >= hold, "asked after {} min", run.minutes);

    let mut strict = embedded();
    strict.rollout.inconclusive.then = OnInconclusive::Rollback;
    let run = one(&strict, Level::Medium, Scenario::Healthy, 2.0, 3).await;
    assert!(!run.asked);
    assert_eq!(run.outcome, Outcome::RolledBack);
    assert!(run.reason.contains("nconclusive"), "{}", run.reason);
}

/// Each baseline plays its documented schedule through the same loop: a
/// healthy release at 200 rps gets through, an error spike does not.
#[tokio::test]
async fn every_baseline_runs_its_whole_schedule_through_the_loop() {
    let policy = embedded();
    for judge in [
        JudgeKind::Flagger,
        JudgeKind::FlaggerReadme,
        JudgeKind::Argo,
        JudgeKind::ArgoInline,
        JudgeKind::Kayenta,
    ] {
        let loop_policy = judge.policy(&policy);
        let mut assessment = synthetic_assessment(&loop_policy, Level::Medium);
        assessment.strategy = judge.judge(&policy).1.expect("a baseline has its schedule");
        let context = ChangeContext {
            assessment,
            diff: String::new(),
        };
        let healthy = run_one(&context, &loop_policy, judge, Scenario::Healthy, 200.0, 2).await;
        assert_eq!(
            healthy.outcome,
            Outcome::Promoted,
            "{judge:?}: {}",
            healthy.reason
        );
        assert!(
            healthy.minutes > 1.0,
            "{judge:?} took {} min",
            healthy.minutes
        );
        let bad = run_one(
            &context,
            &loop_policy,
            judge,
            Scenario::ErrorSpike,
            200.0,
            2,
        )
        .await;
        assert_ne!(bad.outcome, Outcome::Promoted, "{judge:?}: {}", bad.reason);
    }
}

fn healthy_run(promoted: bool) -> Run {
    Run {
        outcome: if promoted {
            Outcome::Promoted
        } else {
            Outcome::RolledBack
        },
        promoted_on: promoted.then_some(PromotedOn::Pass),
        asked: false,
        failed_by_judge: !promoted,
        fail_canary_requests: None,
        minutes: 10.0,
        reason: String::new(),
        canary_requests: 100,
        canary_errors: 0,
        all_requests: 1000,
    }
}

/// Targets are judged on the interval: 4 false rollbacks in 1,000 is a
/// 0.4 % point estimate but a 1.02 % upper bound, so "≤ 1 %" is missed.
#[test]
fn targets_are_judged_on_the_interval_not_the_point_estimate() {
    let policy = embedded();
    let row = |stopped: usize| {
        let runs: Vec<Run> = (0..1000).map(|i| healthy_run(i >= stopped)).collect();
        Row::new(
            JudgeKind::Ours,
            Level::Medium,
            Scenario::Healthy,
            200.0,
            &policy,
            &runs,
        )
    };
    let healthy_target = |rows: &[Row]| {
        targets(rows)
            .into_iter()
            .find(|t| t.name.starts_with("healthy (incl. noisy"))
            .expect("the healthy target")
    };
    let three = healthy_target(&[row(3)]);
    assert_eq!(three.met, Some(true), "{}", three.detail);
    let four = healthy_target(&[row(4)]);
    assert_eq!(four.met, Some(false), "{}", four.detail);
    assert!(four.detail.contains("1.02 %"), "{}", four.detail);
}
