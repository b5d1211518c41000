//! Guard rules as tables: (state, call) → allowed or the rule that vetoes, one file per
//! family of rules. The helpers here build the state every table starts from (high
//! risk, a 5 % / +15 % canary baked 300 s, promotion from 50 %) and the calls.

use super::*;
use crate::canary::{Verdict, VerdictKind};
use crate::policy::{Level, Strategy};
use crate::rollout::state::{ApprovalRecord, Limits, RolloutState};
use crate::tools::{PromoteArgs, SetCanaryWeightArgs};

mod approval;
mod evidence;
mod finished;
mod inconclusive;
mod metrics;
mod promote;
mod steps;
mod strategy;
mod target;

fn state(level: Level, requires_approval: bool) -> RolloutState {
    RolloutState::canary_fixture(level, requires_approval)
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

/// A row: what it checks, how the state differs from [`state`], the call, the time
/// of the check, and the rule that must veto it (`None`: allowed).
type Case = (
    &'static str,
    fn(&mut RolloutState),
    ToolCall,
    f64,
    Option<Rule>,
);

/// Checks every row against a fresh high-risk state.
fn check_table(cases: Vec<Case>) {
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
