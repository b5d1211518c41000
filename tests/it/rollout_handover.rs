//! Repair, then degrade, never stall (issue 18): a model that cannot call tools
//! gets one repair turn, then hands the rollout to the playbook, which finishes
//! it by the policy's strategy — over real HTTP to a scripted model.

use std::sync::Arc;
use std::time::Duration;

use deploy_agent::approval::Approver;
use deploy_agent::journal::{Journal, SqliteJournal};
use deploy_agent::llm::LlmClient;
use deploy_agent::planner::{HandoverPlanner, LlmPlanner};
use deploy_agent::policy::{OnModelFailure, Policy};
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::sim::Scenario;
use deploy_agent::tools::Rule;
use serde_json::{json, Value};

use crate::rollout_llm::{call, query, sensible_model, weight};
use crate::support::openai::{unterminated, FakeOpenAi, Reply};
use crate::support::rollout::{approve, assessed, migration_repo, run_setup, shown, Ran, Setup};

/// Runs the migration change (high risk, approval required, canary 5 → +15 →
/// promote at 50) on a healthy canary, the model wrapped as `rollout` wraps it.
async fn run_wrapped(
    script: Vec<Reply>,
    timeout_secs: u64,
    edit: impl FnOnce(&mut Policy),
    journal: Option<Arc<dyn Journal>>,
) -> (Ran, FakeOpenAi) {
    run_wrapped_by(script, timeout_secs, edit, journal, approve()).await
}

/// [`run_wrapped`] with another approver.
pub(crate) async fn run_wrapped_by(
    script: Vec<Reply>,
    timeout_secs: u64,
    edit: impl FnOnce(&mut Policy),
    journal: Option<Arc<dyn Journal>>,
    approver: Arc<dyn Approver>,
) -> (Ran, FakeOpenAi) {
    let repo = migration_repo();
    let (context, mut policy) = assessed(&repo).await;
    edit(&mut policy);
    let server = FakeOpenAi::start(script).await;
    let llm = LlmPlanner::new(
        LlmClient::new(&server.planner_settings(timeout_secs)).unwrap(),
        "{\"task\":\"roll out\"}",
    );
    let mut planner = HandoverPlanner::new(Box::new(llm), &policy.rollout);
    let setup = Setup {
        scenario: Scenario::Healthy,
        seed: 3,
        record: journal.is_some(),
        journal,
        ..Setup::default()
    };
    let ran = run_setup(&context, &policy, &mut planner, approver, setup).await;
    (ran, server)
}

/// The hand-overs in the events: (from, to, reason, turn).
fn handovers(ran: &Ran) -> Vec<(String, String, String, u32)> {
    ran.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PlannerHandover {
                from,
                to,
                reason,
                turn,
            } => Some((from.clone(), to.clone(), reason.clone(), *turn)),
            _ => None,
        })
        .collect()
}

fn count(ran: &Ran, pred: impl Fn(&Event) -> bool) -> usize {
    ran.events.iter().filter(|(_, e)| pred(e)).count()
}

fn weights(ran: &Ran) -> Vec<u8> {
    ran.world.weight_history().iter().map(|(_, w)| *w).collect()
}

/// The `tool` message contents of one request the model received.
fn tool_results(request: &Value) -> Vec<Value> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_model_that_never_sends_valid_arguments_hands_over_and_the_canary_is_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).unwrap());
    let script = vec![unterminated(); 10];
    let (ran, server) = run_wrapped(script, 5, |_| {}, Some(journal.clone())).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    // Exactly max_invalid_turns (2) model turns, then the playbook.
    assert_eq!(server.requests().len(), 2);
    let rules: Vec<Rule> = s.vetoes.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::InvalidArguments, Rule::InvalidArguments]);
    let h = handovers(&ran);
    assert_eq!(h.len(), 1, "{h:?}");
    let (from, to, reason, turn) = &h[0];
    assert_eq!(
        (from.as_str(), to.as_str(), *turn),
        ("llm:scripted", "playbook", 3)
    );
    assert_eq!(
        reason,
        "2 model turn(s) in a row without a valid tool call (malformed arguments, an unknown tool, or no call), max_invalid_turns 2"
    );
    assert_eq!(s.planner, "llm:scripted → playbook");
    // Said on the terminal and in JSON lines as it happens.
    let (event, line) = shown(&ran, |e| matches!(e, Event::PlannerHandover { .. }));
    assert!(
        line.starts_with("HANDOVER llm:scripted → playbook at turn 3: 2 model turn(s)"),
        "{line}"
    );
    let json = serde_json::to_value(event).unwrap();
    assert_eq!(
        (json["event"].as_str(), json["turn"].as_u64()),
        (Some("planner_handover"), Some(3))
    );
    let record = s.handover.as_ref().expect("the summary says so");
    assert_eq!((record.turn, &record.reason), (3, reason));
    // By the policy's strategy, not by the circuit breaker.
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
    assert_eq!(
        count(&ran, |e| matches!(e, Event::BudgetExhausted { .. })),
        0
    );
    assert!(!s.reason.contains("circuit breaker"), "{}", s.reason);
    // The repair turn: the second request carried the parse error and the schema.
    let repair = &tool_results(&server.requests()[1])[0];
    assert_eq!(repair["rule"], "invalid_arguments");
    assert!(
        repair["reason"].as_str().unwrap().contains("EOF"),
        "{repair}"
    );
    assert_eq!(repair["schema"]["properties"]["weight"]["maximum"], 100);
    // The journal renames the planner, and `show` and `history` say why.
    let stored = journal.rollout(&s.id).unwrap();
    assert_eq!(stored.planner, "llm:scripted → playbook");
    let events = journal.events(&s.id).unwrap();
    let shown = deploy_agent::journal::timeline::render_timeline(&stored, &events);
    assert!(shown.contains("planner llm:scripted → playbook"), "{shown}");
    assert!(shown.contains("planner_handover"), "{shown}");
    assert!(
        shown.contains("llm:scripted → playbook at turn 3: 2 model turn(s)"),
        "{shown}"
    );
    let history = deploy_agent::journal::timeline::render_history(&[stored], &[]);
    assert!(
        history.contains("[planner llm:scripted → playbook]"),
        "{history}"
    );
    let text = deploy_agent::report::rollout_text(s);
    assert!(
        text.contains("handover  llm:scripted → playbook at turn 3"),
        "{text}"
    );
}

#[tokio::test]
async fn one_malformed_call_is_repaired_with_the_schema_and_the_model_goes_on() {
    let mut script = vec![unterminated()];
    script.extend(vec![Reply::Adaptive(Arc::new(sensible_model)); 40]);
    let (ran, server) = run_wrapped(script, 5, |_| {}, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert!(handovers(&ran).is_empty());
    assert_eq!((s.planner.as_str(), &s.handover), ("llm:scripted", &None));
    assert_eq!(s.vetoes.len(), 1);
    // The model planned to the end: every turn was a request to it.
    assert_eq!(server.requests().len() as u32, s.turns);
    let repair = &tool_results(&server.requests()[1])[0];
    assert_eq!(repair["vetoed"], true);
    assert!(repair["repair"]
        .as_str()
        .unwrap()
        .contains("Call `set_canary_weight` again"));
    assert_eq!(repair["schema"]["required"], json!(["weight", "reason"]));
    assert_eq!(repair["schema"]["additionalProperties"], false);
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
}

#[tokio::test]
async fn a_failing_model_endpoint_hands_over_and_the_rollout_completes() {
    let script = vec![
        call("request_approval", json!({"summary": "adds an index"})),
        Reply::Status(500, "{\"error\": {\"message\": \"overloaded\"}}".into()),
    ];
    let (ran, server) = run_wrapped(script, 5, |_| {}, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert_eq!(
        server.requests().len(),
        2,
        "no model turn after the failure"
    );
    let h = handovers(&ran);
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(h[0].2.contains("the model endpoint failed"), "{:?}", h[0]);
    assert_eq!(h[0].3, 2);
    // The model's approval stands: nobody is asked twice.
    assert_eq!(
        count(&ran, |e| matches!(e, Event::ApprovalRequested { .. })),
        1
    );
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
}

#[tokio::test]
async fn a_model_endpoint_that_times_out_hands_over() {
    let slow = Reply::Delay(Duration::from_secs(3), Box::new(query()));
    let (ran, _) = run_wrapped(vec![slow], 1, |_| {}, None).await;
    assert_eq!(
        ran.summary.outcome,
        Outcome::Promoted,
        "{}",
        ran.summary.reason
    );
    let h = handovers(&ran);
    assert_eq!((h.len(), h[0].3), (1, 1), "{h:?}");
    assert!(h[0].2.contains("the model endpoint failed"), "{:?}", h[0]);
}

#[tokio::test]
async fn with_on_model_failure_abort_a_failing_endpoint_aborts_at_weight_0() {
    let script = vec![
        call("request_approval", json!({"summary": "x"})),
        weight(5),
        Reply::Status(500, "down".into()),
    ];
    let abort = |p: &mut Policy| p.rollout.on_model_failure = OnModelFailure::Abort;
    let (ran, _) = run_wrapped(script, 5, abort, None).await;
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(
        ran.summary.reason.contains("planner failed"),
        "{}",
        ran.summary.reason
    );
    assert!(handovers(&ran).is_empty());
    assert_eq!(ran.summary.planner, "llm:scripted");
    assert_eq!(ran.world.canary_weight(), 0);
    assert_eq!(weights(&ran), [5, 0]);
}

#[tokio::test]
async fn a_hand_over_mid_rollout_keeps_the_approval_and_never_steps_back() {
    let script = vec![
        call("request_approval", json!({"summary": "adds an index"})),
        weight(5),
        call("query_metrics", json!({"wait_seconds": 3600})),
        weight(20),
        unterminated(),
        unterminated(),
        weight(95),
    ];
    let (ran, server) = run_wrapped(script, 5, |_| {}, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert_eq!(
        server.requests().len(),
        6,
        "the model's last reply is never asked for"
    );
    let h = handovers(&ran);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].3, 7);
    assert!(h[0].2.contains("2 model turn(s)"), "{:?}", h[0]);
    let rules: Vec<Rule> = s.vetoes.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::InvalidArguments, Rule::InvalidArguments]);
    // The model moved to 20 % with a granted approval; the playbook goes on
    // from there: no second approval, no second assessment, never lower.
    assert_eq!(
        count(&ran, |e| matches!(e, Event::ApprovalRequested { .. })),
        1
    );
    let proposed_after: Vec<&str> = ran
        .events
        .iter()
        .skip_while(|(_, e)| !matches!(e, Event::PlannerHandover { .. }))
        .filter_map(|(_, e)| match e {
            Event::ToolProposed { tool, .. } => Some(tool.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        !proposed_after.contains(&"assess_risk"),
        "{proposed_after:?}"
    );
    assert!(
        !proposed_after.contains(&"request_approval"),
        "{proposed_after:?}"
    );
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
}
