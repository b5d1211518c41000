//! Going on without a Pass: asking a human needs a settled Inconclusive step (once per
//! weight), and a step without a Pass takes a human's yes or policy's bounded step.

use super::*;
use crate::canary::{HarmBound, Verdict, VerdictKind};

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
