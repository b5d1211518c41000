//! Guard rules, one table: (state, call) → allowed or the rule that vetoes.

use super::*;
use crate::canary::{HarmBound, Verdict, VerdictKind};
use crate::policy::{Level, Strategy};
use crate::rollout::state::{ApprovalRecord, Limits, RiskSnapshot, RolloutState};
use crate::tools::{PromoteArgs, QueryMetricsArgs, RollbackArgs, SetCanaryWeightArgs};

fn state(level: Level, requires_approval: bool) -> RolloutState {
    let strategy = Strategy::Canary {
        first_weight: 5,
        step: 15,
        bake_seconds: 300,
        promote_at: 50,
    };
    let risk = RiskSnapshot {
        score: 0.6,
        level,
        requires_approval,
        approval_reasons: vec!["policy requires approval at level high".into()],
        strategy: strategy.clone(),
    };
    let limits = Limits {
        max_first_weight: 5,
        max_step: 15,
        min_bake_seconds: 300.0,
        promote_min_weight: 50,
        direct: false,
        unverified: false,
    };
    RolloutState::new("r1".into(), risk, limits, 0.0)
}

fn at(weight: u8, since: f64, verdict: Option<VerdictKind>, s: &mut RolloutState) {
    s.set_weight(weight, since);
    if let Some(kind) = verdict {
        s.record_verdict(
            Verdict {
                kind,
                checks: vec![],
                canary_requests: 1000,
                baseline_requests: 9000,
                summary: String::new(),
                harm: None,
            },
            since + 300.0,
            true,
        );
    }
}

fn approve(s: &mut RolloutState, approved: bool) {
    s.approval = Some(ApprovalRecord {
        approved,
        by: Some("alice".into()),
        at: 0.0,
        reason: String::new(),
    });
}

fn weight(w: u8) -> ToolCall {
    ToolCall::SetCanaryWeight(SetCanaryWeightArgs {
        weight: w,
        reason: "test".into(),
    })
}

fn promote() -> ToolCall {
    ToolCall::Promote(PromoteArgs {
        reason: "test".into(),
    })
}

#[test]
fn rule_table() {
    type Setup = fn(&mut RolloutState);
    let cases: Vec<(&str, Setup, ToolCall, f64, Option<Rule>)> = vec![
        ("first step within limit", |_| {}, weight(5), 0.0, None),
        (
            "a first step four pods cannot serve",
            |s| s.granularity = Granularity::Replicas { total: 4 },
            weight(5),
            0.0,
            Some(Rule::TargetGranularity),
        ),
        (
            "a first step twenty pods serve exactly",
            |s| s.granularity = Granularity::Replicas { total: 20 },
            weight(5),
            0.0,
            None,
        ),
        (
            "a step the Rollout's next setWeight does not give",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.granularity = Granularity::Steps {
                    steps: vec![5, 25, 50],
                    next: Some(25),
                };
            },
            weight(20),
            301.0,
            Some(Rule::TargetGranularity),
        ),
        (
            "a Pass judged before the bake ended",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.verdict_until = 100.0;
            },
            weight(20),
            301.0,
            Some(Rule::StaleVerdict),
        ),
        (
            "a Pass older than max_verdict_age",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.max_verdict_age = 60.0;
            },
            weight(20),
            400.0,
            Some(Rule::StaleVerdict),
        ),
        (
            "a Pass within max_verdict_age",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.max_verdict_age = 60.0;
            },
            weight(20),
            350.0,
            None,
        ),
        (
            "first step too big",
            |_| {},
            weight(50),
            0.0,
            Some(Rule::MaxFirstStep),
        ),
        (
            "jump to 100 at high risk",
            |_| {},
            weight(100),
            0.0,
            Some(Rule::MaxFirstStep),
        ),
        (
            "weight above 100",
            |_| {},
            weight(101),
            0.0,
            Some(Rule::WeightRange),
        ),
        (
            "move before approval",
            |s| s.risk.requires_approval = true,
            weight(5),
            0.0,
            Some(Rule::ApprovalRequired),
        ),
        (
            "move after approval",
            |s| {
                s.risk.requires_approval = true;
                approve(s, true)
            },
            weight(5),
            0.0,
            None,
        ),
        (
            "move after rejection",
            |s| approve(s, false),
            weight(5),
            0.0,
            Some(Rule::ApprovalRejected),
        ),
        (
            "step too big",
            |s| at(5, 0.0, Some(VerdictKind::Pass), s),
            weight(25),
            400.0,
            Some(Rule::MaxStep),
        ),
        (
            "step before bake",
            |s| at(5, 0.0, Some(VerdictKind::Pass), s),
            weight(20),
            100.0,
            Some(Rule::BakeTime),
        ),
        (
            "step with pass after bake",
            |s| at(5, 0.0, Some(VerdictKind::Pass), s),
            weight(20),
            300.0,
            None,
        ),
        (
            "step with no verdict",
            |s| at(5, 0.0, None, s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "step on inconclusive",
            |s| at(5, 0.0, Some(VerdictKind::Inconclusive), s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "step on no data",
            |s| at(5, 0.0, Some(VerdictKind::NoData), s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "step on fail",
            |s| at(5, 0.0, Some(VerdictKind::Fail), s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "decrease",
            |s| at(20, 0.0, Some(VerdictKind::Pass), s),
            weight(5),
            400.0,
            Some(Rule::WeightDecrease),
        ),
        (
            "unchanged",
            |s| at(20, 0.0, Some(VerdictKind::Pass), s),
            weight(20),
            400.0,
            Some(Rule::WeightUnchanged),
        ),
        (
            "promote too early",
            |s| at(20, 0.0, Some(VerdictKind::Pass), s),
            promote(),
            400.0,
            Some(Rule::PromoteTooEarly),
        ),
        (
            "promote from 0 on a canary strategy",
            |_| {},
            promote(),
            0.0,
            Some(Rule::PromoteTooEarly),
        ),
        (
            "promote on pass at 50",
            |s| at(50, 0.0, Some(VerdictKind::Pass), s),
            promote(),
            300.0,
            None,
        ),
        (
            "promote on no data at 50",
            |s| at(50, 0.0, Some(VerdictKind::NoData), s),
            promote(),
            300.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "promote before approval",
            |s| {
                s.risk.requires_approval = true;
                at(50, 0.0, Some(VerdictKind::Pass), s)
            },
            promote(),
            300.0,
            Some(Rule::ApprovalRequired),
        ),
        (
            "unverified direct strategy promotes at 0",
            |s| {
                s.limits.direct = true;
                s.limits.unverified = true;
            },
            promote(),
            0.0,
            None,
        ),
        (
            "verified direct strategy does not promote at 0",
            |s| {
                s.limits.direct = true;
                s.limits.promote_min_weight = 100;
            },
            promote(),
            0.0,
            Some(Rule::PromoteTooEarly),
        ),
        (
            "verified direct strategy promotes at 100 on a Pass",
            |s| {
                s.limits.direct = true;
                s.limits.promote_min_weight = 100;
                at(100, 0.0, Some(VerdictKind::Pass), s)
            },
            promote(),
            300.0,
            None,
        ),
        (
            "rollback always",
            |s| at(20, 0.0, Some(VerdictKind::Fail), s),
            ToolCall::Rollback(RollbackArgs { reason: "x".into() }),
            1.0,
            None,
        ),
        (
            "rollback after rollback",
            |s| s.finish(Outcome::RolledBack, 0),
            ToolCall::Rollback(RollbackArgs { reason: "x".into() }),
            1.0,
            None,
        ),
        (
            "rollback after promote",
            |s| s.finish(Outcome::Promoted, 100),
            ToolCall::Rollback(RollbackArgs { reason: "x".into() }),
            1.0,
            Some(Rule::AlreadyPromoted),
        ),
        (
            "weight after the end",
            |s| s.finish(Outcome::Aborted, 0),
            weight(5),
            1.0,
            Some(Rule::RolloutFinished),
        ),
        (
            "reads after the end",
            |s| s.finish(Outcome::Aborted, 0),
            ToolCall::QueryMetrics(QueryMetricsArgs { wait_seconds: None }),
            1.0,
            None,
        ),
    ];
    for (name, setup, call, now, want) in cases {
        let mut s = state(Level::High, false);
        setup(&mut s);
        let got = check(call, &s, now);
        match (want, got) {
            (None, Ok(_)) => {}
            (Some(rule), Err(v)) => assert_eq!(v.rule, rule, "{name}: {}", v.reason),
            (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
}

use crate::rollout::state::Outcome;
use crate::traffic::Granularity;

fn ask() -> ToolCall {
    ToolCall::RequestApproval(crate::tools::RequestApprovalArgs {
        summary: "no evidence either way".into(),
        without_pass: true,
    })
}

/// Two Inconclusive bakes at 5 %, with the harm bound `harm` on the latest.
fn settled(then: crate::policy::OnInconclusive, harm: Option<HarmBound>) -> RolloutState {
    let mut s = state(Level::Medium, false);
    s.inconclusive_bakes = 2;
    s.inconclusive.then = then;
    at(5, 0.0, Some(VerdictKind::Inconclusive), &mut s);
    s.record_verdict(
        Verdict {
            kind: VerdictKind::Inconclusive,
            checks: vec![],
            canary_requests: 50,
            baseline_requests: 950,
            summary: String::new(),
            harm,
        },
        600.0,
        true,
    );
    s
}

fn bound(error_ratio_upper: f64, slower_upper: f64) -> Option<HarmBound> {
    Some(HarmBound {
        error_ratio_upper: Some(error_ratio_upper),
        baseline_error_rate: 0.005,
        slower_upper: Some(slower_upper),
        confidence: 0.998,
    })
}

fn rule_of(got: Result<Allowed, Veto>) -> Option<Rule> {
    got.err().map(|v| v.rule)
}

#[test]
fn asking_to_go_on_needs_a_settled_inconclusive_step_once_per_weight() {
    use crate::policy::OnInconclusive;
    let mut early = state(Level::Medium, false);
    early.inconclusive_bakes = 2;
    at(5, 0.0, Some(VerdictKind::Inconclusive), &mut early);
    assert_eq!(
        rule_of(check(ask(), &early, 600.0)),
        Some(Rule::AskNotAllowed)
    );

    let mut s = settled(OnInconclusive::Ask, None);
    assert_eq!(rule_of(check(ask(), &s, 600.0)), None);
    s.asked_at = Some(5);
    assert_eq!(rule_of(check(ask(), &s, 600.0)), Some(Rule::AskNotAllowed));

    let never = settled(OnInconclusive::Rollback, None);
    let veto = check(ask(), &never, 600.0).unwrap_err();
    assert_eq!(veto.rule, Rule::AskNotAllowed);
    assert!(veto.reason.contains("rollback"), "{}", veto.reason);

    // Asking for approval with a Pass in hand is not going on without one.
    let plain = ToolCall::RequestApproval(crate::tools::RequestApprovalArgs {
        summary: "ok?".into(),
        without_pass: false,
    });
    assert_eq!(rule_of(check(plain, &early, 600.0)), None);
}

#[test]
fn going_on_without_a_pass_takes_a_human_or_a_bounded_step() {
    use crate::policy::OnInconclusive;
    // Policy "ask": no step without a human, whatever the bound.
    let s = settled(OnInconclusive::Ask, bound(1.1, 0.5));
    assert_eq!(
        rule_of(check(weight(20), &s, 600.0)),
        Some(Rule::VerdictNotPass)
    );
    // A human said go on from 5 %: the next step is allowed, promotion too
    // once the weight allows it.
    let mut human = settled(OnInconclusive::Ask, None);
    human.continued_at = Some(5);
    assert_eq!(rule_of(check(weight(20), &human, 600.0)), None);

    // Policy "step": allowed while the harm it could miss at the next weight
    // is within policy (1.1× of 0.5 % at 20 % = 0.1 extra failures per 1,000).
    let small = settled(OnInconclusive::Step, bound(1.1, 0.5));
    assert_eq!(rule_of(check(weight(20), &small, 600.0)), None);
    // Ten times the baseline could be missed: 9 extra per 1,000 at 20 %.
    let large = settled(OnInconclusive::Step, bound(10.0, 0.5));
    let veto = check(weight(20), &large, 600.0).unwrap_err();
    assert_eq!(veto.rule, Rule::VerdictNotPass);
    assert!(veto.reason.contains("not without one"), "{}", veto.reason);
    // Likely slower: no unproven step either.
    let slower = settled(OnInconclusive::Step, bound(1.1, 0.9));
    assert_eq!(
        rule_of(check(weight(20), &slower, 600.0)),
        Some(Rule::VerdictNotPass)
    );
    // No bound at all (the test excluded nothing): no step.
    let unbounded = settled(OnInconclusive::Step, None);
    assert_eq!(
        rule_of(check(weight(20), &unbounded, 600.0)),
        Some(Rule::VerdictNotPass)
    );
}
