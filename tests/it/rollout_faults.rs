//! The loop against targets that misbehave the way real ones do (the
//! simulated faulty router, `sim::faults`): every test also passes
//! `assert_safe`, which reads the target's own record of what it served.

use std::sync::Arc;

use async_trait::async_trait;
use deploy_agent::approval::{ApprovalAnswer, ApprovalRequest, Approver};
use deploy_agent::canary::{Judge, MetricsWindow, Verdict, VerdictKind};
use deploy_agent::evals::flaky_journal::FlakyJournal;
use deploy_agent::journal::{Journal, SqliteJournal};
use deploy_agent::planner::PlaybookPlanner;
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::rollout::StopSignal;
use deploy_agent::sim::faults::Faults;
use deploy_agent::sim::Scenario;

use crate::support::repo::Repo;
use crate::support::rollout::{
    approve, assessed, config_repo, migration_repo, run_setup, Ran, Setup,
};
use crate::support::{run_cli, stderr, stdout};

async fn run(repo: &Repo, setup: Setup) -> Ran {
    let (context, policy) = assessed(repo).await;
    let mut planner = PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
    run_setup(&context, &policy, &mut planner, approve(), setup).await
}

fn faults(f: Faults) -> Option<Faults> {
    Some(f)
}

fn had(ran: &Ran, pred: impl Fn(&Event) -> bool) -> bool {
    ran.events.iter().any(|(_, e)| pred(e))
}

#[tokio::test]
async fn a_rollback_the_target_never_confirms_ends_rollback_failed_and_resume_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&db).unwrap());
    let setup = Setup {
        scenario: Scenario::ErrorSpike,
        seed: 3,
        journal: Some(journal.clone()),
        record: true,
        faults: faults(Faults {
            rollback_stuck: 1.0,
            ..Faults::default()
        }),
        ..Setup::default()
    };
    let ran = run(&config_repo(), setup).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::RollbackFailed, "{}", s.reason);
    let serving = ran.world.canary_weight();
    assert!(serving > 0);
    assert_eq!(s.final_weight, serving, "the record says what still serves");
    for words in [
        "ROLLBACK FAILED",
        &format!("still serves the canary at {serving}%"),
        "deploy-agent resume",
    ] {
        assert!(s.reason.contains(words), "{words}: {}", s.reason);
    }
    // Retried with backoff until the deadline, not three times in a second.
    let attempts = ran
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::ToolFailed { tool, .. } if tool == "rollback"))
        .count();
    assert!(attempts >= 8, "{attempts} attempts");
    // The journal keeps it open, its rollback intent too.
    let record = journal.rollout(&s.id).unwrap();
    assert_eq!(record.outcome.as_deref(), Some("rollback_failed"));
    assert!(record.finished_at.is_none());
    assert_eq!(journal.unfinished().unwrap().len(), 1);
    let open = journal.open_intents(&s.id).unwrap();
    assert!(open.iter().any(|i| i.kind == "rollback"), "{open:?}");
    drop(journal);

    // `resume` takes it up (the simulated target is rebuilt from the journal,
    // and this time the rollback goes through).
    let db = db.display().to_string();
    let out = run_cli(
        dir.path(),
        &["resume", "--journal", &db, "--format", "json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["resumed"][0]["outcome"], "rolled_back", "{report}");
    let journal = SqliteJournal::open(std::path::Path::new(&db)).unwrap();
    let record = journal.rollout(&s.id).unwrap();
    assert_eq!(record.outcome.as_deref(), Some("rolled_back"));
    assert!(record.finished_at.is_some());
}

#[tokio::test]
async fn a_change_that_lands_halfway_is_rolled_back_not_left_unjudged() {
    let setup = Setup {
        faults: faults(Faults {
            half_apply: 1.0,
            ..Faults::default()
        }),
        ..Setup::default()
    };
    let ran = run(&config_repo(), setup).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Aborted, "{}", s.reason);
    assert!(s.reason.contains("after 10% was asked"), "{}", s.reason);
    let served: Vec<u8> = ran.world.weight_history().iter().map(|&(_, w)| w).collect();
    assert!(served[0] > 0 && served[0] < 10, "{served:?}");
    assert_eq!(ran.world.canary_weight(), 0);
}

#[tokio::test]
async fn a_lost_answer_is_read_back_and_late_changes_are_waited_for() {
    for f in [
        Faults {
            lost_ack: 1.0,
            ..Faults::default()
        },
        Faults {
            max_apply_lag: 20.0,
            max_read_staleness: 10.0,
            ..Faults::default()
        },
    ] {
        let setup = Setup {
            faults: faults(f),
            ..Setup::default()
        };
        let ran = run(&config_repo(), setup).await;
        assert_eq!(
            ran.summary.outcome,
            Outcome::Promoted,
            "{f:?}: {}",
            ran.summary.reason
        );
        let steps: Vec<u8> = ran.summary.steps.iter().map(|s| s.weight).collect();
        assert_eq!(steps, [10, 40, 70], "{f:?}");
    }
}

#[tokio::test]
async fn a_target_that_refuses_every_change_ends_the_rollout_with_the_cause() {
    let setup = Setup {
        faults: faults(Faults {
            fail: 1.0,
            ..Faults::default()
        }),
        ..Setup::default()
    };
    let ran = run(&config_repo(), setup).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Aborted);
    assert!(
        s.reason.contains("failed 3 traffic change(s) in a row") && s.reason.contains("simulated"),
        "{}",
        s.reason
    );
    assert!(
        s.turns < 10,
        "ended on the cause, not a budget: {} turns",
        s.turns
    );
}

#[tokio::test]
async fn a_journal_lost_mid_rollout_stops_forward_changes_but_never_the_rollback() {
    let store: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(std::path::Path::new(":memory:")).unwrap());
    let journal: Arc<dyn Journal> = Arc::new(FlakyJournal::dying_after(store, "weight_changed"));
    let setup = Setup {
        journal: Some(journal),
        record: true,
        ..Setup::default()
    };
    let ran = run(&config_repo(), setup).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Aborted, "{}", s.reason);
    assert!(s
        .reason
        .contains("no traffic change without a write-ahead record"));
    assert!(
        s.reason
            .contains("rolled back without a write-ahead record"),
        "the rollback went on and says so: {}",
        s.reason
    );
    let served: Vec<u8> = ran.world.weight_history().iter().map(|&(_, w)| w).collect();
    assert_eq!(served, [10, 0], "one journaled step, then back to stable");
}

#[tokio::test]
async fn a_staged_promotion_waits_while_judged_and_is_undone_when_it_cannot_finish() {
    // Ready after two minutes: promoted.
    let staged = |seconds| Faults {
        staging_seconds: Some(seconds),
        staging_timeout: 600.0,
        ..Faults::default()
    };
    let ran = run(
        &config_repo(),
        Setup {
            faults: faults(staged(120.0)),
            ..Setup::default()
        },
    )
    .await;
    assert_eq!(
        ran.summary.outcome,
        Outcome::Promoted,
        "{}",
        ran.summary.reason
    );
    let stages: Vec<String> = ran
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Promotion { stage, .. } => Some(stage.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stages, ["staged", "ready"]);
    assert_eq!(ran.faulty.as_ref().unwrap().undone(), 0);

    // Never ready within the timeout: the stable's change is undone and the
    // canary rolled back, and the operator is told exactly that.
    let ran = run(
        &config_repo(),
        Setup {
            faults: faults(staged(f64::INFINITY)),
            ..Setup::default()
        },
    )
    .await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Aborted, "{}", s.reason);
    assert!(
        s.reason.contains("did not finish within 600 s"),
        "{}",
        s.reason
    );
    assert!(s.reason.contains("undone"), "{}", s.reason);
    let router = ran.faulty.as_ref().unwrap();
    assert_eq!(router.undone(), 1);
    assert!(!router.staged());
    assert_eq!(ran.world.canary_weight(), 0);
    assert!(had(&ran, |e| matches!(e, Event::Judged { weight: 70, .. })));
}

/// Passes every window that ends before `fail_at`, fails every one after.
struct FailsAt(f64);

impl Judge for FailsAt {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        let kind = if window.end >= self.0 {
            VerdictKind::Fail
        } else {
            VerdictKind::Pass
        };
        Verdict {
            kind,
            checks: vec![],
            canary_requests: 1_000,
            baseline_requests: 9_000,
            summary: format!("scripted {}", kind.as_str()),
            harm: None,
        }
    }

    fn reset(&mut self) {}
}

#[tokio::test]
async fn a_canary_that_fails_while_the_promotion_is_staged_is_undone_and_rolled_back() {
    // The canary passes every step, then fails an hour in, while the stable
    // Deployment is still rolling to the new image (it takes six hours).
    let ran = run(
        &config_repo(),
        Setup {
            faults: faults(Faults {
                staging_seconds: Some(6.0 * 3600.0),
                staging_timeout: 12.0 * 3600.0,
                ..Faults::default()
            }),
            judge: Some(Box::new(FailsAt(1_800_000_000.0 + 3600.0))),
            ..Setup::default()
        },
    )
    .await;
    let s = &ran.summary;
    assert!(
        had(
            &ran,
            |e| matches!(e, Event::Promotion { stage, .. } if stage == "staged")
        ),
        "{}",
        s.reason
    );
    assert_eq!(s.outcome, Outcome::RolledBack, "{}", s.reason);
    assert!(
        s.reason.contains("canary verdict Fail at 70%"),
        "{}",
        s.reason
    );
    assert_eq!(ran.faulty.as_ref().unwrap().undone(), 1);
    assert!(had(
        &ran,
        |e| matches!(e, Event::Promotion { stage, .. } if stage == "undone")
    ));
    assert!(!ran.world.promoted());
    assert_eq!(ran.world.canary_weight(), 0);
}

/// Never answers; waits out the request on the rollout clock in slices.
struct Silent(Arc<dyn deploy_agent::clock::Clock>);

#[async_trait]
impl Approver for Silent {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        let deadline = self.0.now() + request.timeout_seconds as f64;
        while self.0.now() < deadline {
            self.0.sleep(10.0).await;
            tokio::task::yield_now().await;
        }
        ApprovalAnswer {
            approved: false,
            by: None,
            reason: "no answer".into(),
        }
    }
}

#[tokio::test]
async fn a_canary_already_serving_is_judged_while_the_approver_thinks() {
    // A live canary adopted at 5 %, a change that needs an approval, and an
    // approver who never answers: the failing canary is rolled back long
    // before the hour-long approval times out.
    let (context, policy) = assessed(&migration_repo()).await;
    assert!(context.assessment.requires_approval);
    let mut planner = PlaybookPlanner::new(6);
    let clock: Arc<dyn deploy_agent::clock::Clock> =
        Arc::new(deploy_agent::clock::VirtualClock::new(0.0));
    let setup = Setup {
        scenario: Scenario::ErrorSpike,
        start_weight: 5,
        ..Setup::default()
    };
    let ran = run_setup(
        &context,
        &policy,
        &mut planner,
        Arc::new(Silent(clock)),
        setup,
    )
    .await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::RolledBack, "{}", s.reason);
    assert!(
        s.reason.contains("canary verdict Fail at 5%"),
        "{}",
        s.reason
    );
    assert!(s.approval.is_none(), "decided before any answer");
    assert!(had(&ran, |e| matches!(e, Event::ApprovalRequested { .. })));
    assert!(
        s.duration_seconds() < policy.rollout.approval_timeout_seconds as f64 / 2.0,
        "{} s",
        s.duration_seconds()
    );
}

#[tokio::test]
async fn an_operator_stop_rolls_the_canary_back_and_says_so() {
    let stop = StopSignal::default();
    stop.stop("Ctrl-C from the operator");
    let setup = Setup {
        start_weight: 10,
        stop: Some(stop),
        ..Setup::default()
    };
    let ran = run(&config_repo(), setup).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Aborted);
    assert_eq!(s.reason, "aborted (operator): Ctrl-C from the operator");
    assert_eq!(ran.world.canary_weight(), 0);
    assert_eq!(s.turns, 0, "nothing planned after the stop");
}

#[tokio::test]
async fn a_target_of_four_pods_never_gets_a_rounded_up_first_step() {
    let setup = Setup {
        faults: faults(Faults {
            replicas: 4,
            ..Faults::default()
        }),
        ..Setup::default()
    };
    let ran = run(&config_repo(), setup).await;
    let s = &ran.summary;
    assert!(ran.world.weight_history().is_empty(), "no pod got traffic");
    assert!(
        s.reason
            .contains("cannot serve a first step of at most 10%"),
        "{}",
        s.reason
    );
}
