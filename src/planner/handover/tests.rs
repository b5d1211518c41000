//! The hand-over's decisions, against a scripted primary.
use std::collections::VecDeque;

use serde_json::json;

use super::*;
use crate::policy::{Level, OnModelStop, Policy};
use crate::tools::{ProposedCall, Rule};

/// A primary that answers from a script and counts its turns.
struct Scripted(VecDeque<Plan>);

#[async_trait]
impl Planner for Scripted {
    fn name(&self) -> String {
        "llm:scripted".into()
    }
    async fn next(&mut self, _: &RolloutState, _: &[Feedback]) -> Result<Plan, PlannerError> {
        Ok(self.0.pop_front().unwrap_or_default())
    }
}

fn state() -> RolloutState {
    RolloutState::canary_fixture(Level::Medium, false)
}

fn wrapped(script: Vec<Plan>, edit: impl FnOnce(&mut RolloutPolicy)) -> HandoverPlanner {
    let mut rollout = Policy::embedded().unwrap().rollout;
    edit(&mut rollout);
    HandoverPlanner::new(Box::new(Scripted(script.into())), &rollout)
}

fn one_call(name: &str) -> Plan {
    Plan {
        calls: vec![ProposedCall {
            id: "m1".into(),
            name: name.into(),
            arguments: "{".into(),
        }],
        ..Plan::default()
    }
}

fn vetoed(rule: Rule) -> Vec<Feedback> {
    vec![Feedback {
        call_id: "m1".into(),
        tool: "set_canary_weight".into(),
        content: json!({"vetoed": true, "rule": rule.as_str(), "reason": "x"}),
    }]
}

#[tokio::test]
async fn a_malformed_turn_one_veto_before_the_breaker_hands_over_at_once() {
    let mut p = wrapped(vec![one_call("set_canary_weight"); 3], |_| {});
    let mut s = state();
    s.consecutive_vetoes = 2; // a policy veto, then this malformed call
    let plan = p.next(&s, &vetoed(Rule::InvalidArguments)).await.unwrap();
    let h = p.take_handover().expect("handed over");
    assert!(
        h.reason.contains("max_consecutive_vetoes 3"),
        "{}",
        h.reason
    );
    assert_eq!(plan.calls[0].name, "set_canary_weight");
    assert!(
        plan.calls[0].id.starts_with("playbook-"),
        "{:?}",
        plan.calls
    );
    assert_eq!(p.name(), "llm:scripted → playbook");
    assert!(p.take_handover().is_none(), "reported once");
}

#[tokio::test]
async fn a_policy_veto_is_the_models_to_replan_and_a_valid_turn_resets_the_count() {
    let mut p = wrapped(vec![one_call("set_canary_weight"); 4], |_| {});
    let s = state();
    p.next(&s, &[]).await.unwrap();
    p.next(&s, &vetoed(Rule::InvalidArguments)).await.unwrap();
    p.next(&s, &vetoed(Rule::MaxStep)).await.unwrap();
    p.next(&s, &vetoed(Rule::InvalidArguments)).await.unwrap();
    assert!(p.take_handover().is_none());
    assert!(!p.handed_over());
}

#[tokio::test]
async fn text_only_turns_hand_over_before_the_loop_stops_them() {
    let mut p = wrapped(vec![Plan::default(); 5], |r| {
        r.max_invalid_turns = 5;
        r.max_consecutive_vetoes = 10;
    });
    let s = state();
    for _ in 1..MAX_IDLE_TURNS {
        assert!(p.next(&s, &[]).await.unwrap().calls.is_empty());
    }
    let plan = p.next(&s, &[]).await.unwrap();
    assert_eq!(plan.calls.len(), 1, "the playbook plays this turn");
    let h = p.take_handover().expect("handed over");
    assert!(h.reason.contains("without a tool call"), "{}", h.reason);
}

#[tokio::test]
async fn an_abort_policy_passes_the_endpoint_failure_on() {
    struct Down;
    #[async_trait]
    impl Planner for Down {
        fn name(&self) -> String {
            "llm:down".into()
        }
        async fn next(&mut self, _: &RolloutState, _: &[Feedback]) -> Result<Plan, PlannerError> {
            Err(PlannerError::Llm(crate::llm::LlmError::Transport(
                "down".into(),
            )))
        }
    }
    let mut rollout = Policy::embedded().unwrap().rollout;
    rollout.on_model_failure = OnModelFailure::Abort;
    let mut p = HandoverPlanner::new(Box::new(Down), &rollout);
    assert!(p.next(&state(), &[]).await.is_err());
    assert!(p.take_handover().is_none());
}

fn rollback(reason: &str) -> Plan {
    Plan {
        calls: vec![ProposedCall {
            id: "m1".into(),
            name: "rollback".into(),
            arguments: json!({ "reason": reason }).to_string(),
        }],
        prompt_tokens: 40,
        completion_tokens: 7,
        ..Plan::default()
    }
}

fn asking(r: &mut RolloutPolicy) {
    r.on_model_stop = OnModelStop::Ask;
}

#[tokio::test]
async fn a_stop_before_traffic_goes_to_a_human_when_policy_says_ask() {
    let mut p = wrapped(vec![rollback("looks risky")], asking);
    let plan = p.next(&state(), &[]).await.unwrap();
    let h = p.take_handover().expect("handed over");
    assert!(
        h.reason
            .contains("the model asked to stop before any traffic moved (\"looks risky\")"),
        "{}",
        h.reason
    );
    assert_eq!(plan.calls.len(), 1);
    assert_eq!(plan.calls[0].name, "request_approval");
    let args: serde_json::Value = serde_json::from_str(&plan.calls[0].arguments).unwrap();
    let summary = args["summary"].as_str().unwrap();
    assert!(summary.contains("\"looks risky\""), "{summary}");
    assert!(summary.contains("Risk 0.60 (medium)"), "{summary}");
    // The model's turn is still counted.
    assert_eq!((plan.prompt_tokens, plan.completion_tokens), (40, 7));
    assert_eq!(p.name(), "llm:scripted → playbook");
}

#[tokio::test]
async fn a_stop_is_obeyed_by_default_after_traffic_and_after_an_approval() {
    // The default policy obeys.
    let mut p = wrapped(vec![rollback("no")], |_| {});
    let plan = p.next(&state(), &[]).await.unwrap();
    assert_eq!(plan.calls[0].name, "rollback");
    assert!(p.take_handover().is_none());
    // A canary that served is rolled back as asked, whatever the policy.
    let mut p = wrapped(vec![rollback("errors")], asking);
    let mut s = state();
    s.weight = 5;
    assert_eq!(p.next(&s, &[]).await.unwrap().calls[0].name, "rollback");
    assert!(p.take_handover().is_none());
    // A human already approved: the same human is not asked again.
    let mut p = wrapped(vec![rollback("no")], asking);
    let mut s = state();
    s.approval = Some(crate::rollout::state::ApprovalRecord {
        approved: true,
        by: Some("alice".into()),
        at: 0.0,
        reason: String::new(),
    });
    assert_eq!(p.next(&s, &[]).await.unwrap().calls[0].name, "rollback");
    assert!(p.take_handover().is_none());
    // A rollback after a weight change in the same plan is not a stop before traffic.
    let mut plan = rollback("then back");
    plan.calls.insert(
        0,
        ProposedCall {
            id: "m0".into(),
            name: "set_canary_weight".into(),
            arguments: json!({"weight": 5, "reason": "go"}).to_string(),
        },
    );
    let mut p = wrapped(vec![plan], asking);
    assert_eq!(p.next(&state(), &[]).await.unwrap().calls.len(), 2);
    assert!(p.take_handover().is_none());
}
