//! `[rollout] on_model_stop`: a model that calls `rollback` before any traffic
//! moved stops the deploy on no measurement at all (SmolLM2-135M did so in 7
//! of 7 rollouts, issue 18). By default it is obeyed; with `ask`, a human reads
//! its reason and decides — over real HTTP to a scripted model.

use deploy_agent::policy::OnModelStop;
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use serde_json::json;

use crate::rollout_handover::run_wrapped_by;
use crate::support::openai::Reply;
use crate::support::rollout::{approve, reject, Ran};

/// A model that gives up on its first turn, before any traffic.
fn stopper() -> Vec<Reply> {
    vec![Reply::Message(
        json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": "call_stop", "type": "function",
        "function": {"name": "rollback", "arguments": "{\"reason\": \"this migration looks dangerous\"}"}}]}),
    )]
}

fn asked(ran: &Ran) -> Vec<String> {
    ran.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ApprovalRequested { summary } => Some(summary.clone()),
            _ => None,
        })
        .collect()
}

fn weights(ran: &Ran) -> Vec<u8> {
    ran.world.weight_history().iter().map(|(_, w)| *w).collect()
}

#[tokio::test]
async fn by_default_a_stop_before_traffic_is_obeyed() {
    let (ran, _) = run_wrapped_by(stopper(), 5, |_| {}, None, approve()).await;
    let s = &ran.summary;
    assert_ne!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert!(
        s.reason.contains("this migration looks dangerous"),
        "{}",
        s.reason
    );
    assert!(weights(&ran).iter().all(|w| *w == 0), "{:?}", weights(&ran));
    assert!(asked(&ran).is_empty(), "nobody asked: {:?}", asked(&ran));
}

#[tokio::test]
async fn with_ask_a_human_who_approves_gets_the_playbooks_rollout() {
    let ask = |p: &mut deploy_agent::policy::Policy| p.rollout.on_model_stop = OnModelStop::Ask;
    let (ran, server) = run_wrapped_by(stopper(), 5, ask, None, approve()).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert_eq!(s.planner, "llm:scripted → playbook");
    // One question covers both the model's stop and the policy's approval
    // (the migration is high risk), with the model's reason in it.
    let asked = asked(&ran);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains("asked to stop this rollout before any traffic moved: \"this migration looks dangerous\""),
        "{}",
        asked[0]
    );
    assert!(asked[0].contains("Risk "), "{}", asked[0]);
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
    // The model was asked once; the playbook planned the rest.
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn with_ask_a_human_who_refuses_stops_the_rollout() {
    let ask = |p: &mut deploy_agent::policy::Policy| p.rollout.on_model_stop = OnModelStop::Ask;
    let (ran, _) = run_wrapped_by(stopper(), 5, ask, None, reject()).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Aborted, "{}", s.reason);
    assert!(s.reason.contains("approval refused"), "{}", s.reason);
    assert!(weights(&ran).iter().all(|w| *w == 0), "{:?}", weights(&ran));
}
