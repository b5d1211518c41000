//! Extra metrics from the catalogue (issue 18 item 3): a model that reads the
//! diff may add the endpoint it touches to the judge; a regression there,
//! invisible in the overall error rate, then rolls back — and the same
//! rollout without the metric promotes. Over real HTTP to a scripted model,
//! on the simulator's catalogue (`endpoint:/checkout`, …).

use std::sync::Arc;

use deploy_agent::journal::{Journal, SqliteJournal};
use deploy_agent::llm::LlmClient;
use deploy_agent::planner::{LlmPlanner, Planner};
use deploy_agent::policy::Policy;
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::sim::Scenario;
use deploy_agent::tools::Rule;
use serde_json::{json, Value};

use crate::support::openai::{results, sensible_step, tool_call, FakeOpenAi, Reply};
use crate::support::repo::Repo;
use crate::support::rollout::{
    approve, assessed, migration_repo, resume_playbook, run_setup, Ran, Setup,
};

const CHECKOUT: &str = "endpoint:/checkout";

/// A model that reads the assessment, asks for a metric the catalogue does
/// not list (vetoed), then adds the checkout endpoint, then plays the
/// sensible 5 % / +15 % canary; `add: false` plays the canary alone.
fn model(add: bool) -> Reply {
    Reply::Adaptive(Arc::new(move |request: &Value| {
        let seen = results(request);
        let (name, args) = match seen.len() {
            1 if add => (
                "add_metrics",
                json!({"metrics": ["endpoint:/payments"], "reason": "the diff touches payments"}),
            ),
            2 if add => (
                "add_metrics",
                json!({"metrics": [CHECKOUT], "reason": "the diff touches checkout"}),
            ),
            _ => {
                let mut rest = seen.clone();
                if add && rest.len() >= 3 {
                    rest.drain(1..3);
                }
                sensible_step(&rest)
            }
        };
        tool_call(request, name, args)
    }))
}

async fn run_model(
    repo: &Repo,
    scenario: Scenario,
    add: bool,
    journal: Option<Arc<dyn Journal>>,
) -> (Ran, FakeOpenAi, Policy) {
    let (context, policy) = assessed(repo).await;
    let server = FakeOpenAi::start(vec![model(add); 60]).await;
    let mut planner: Box<dyn Planner> = Box::new(LlmPlanner::new(
        LlmClient::new(&server.planner_settings(5)).unwrap(),
        "{\"task\":\"roll out\"}",
    ));
    let setup = Setup {
        scenario,
        seed: 3,
        record: journal.is_some(),
        journal,
        ..Setup::default()
    };
    let ran = run_setup(&context, &policy, planner.as_mut(), approve(), setup).await;
    (ran, server, policy)
}

#[tokio::test]
async fn a_model_that_adds_the_touched_endpoint_rolls_back_its_regression() {
    let repo = migration_repo();
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).unwrap());
    let (ran, server, _) = run_model(
        &repo,
        Scenario::EndpointRegression,
        true,
        Some(journal.clone()),
    )
    .await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::RolledBack, "{}", s.reason);
    assert!(s.reason.contains(CHECKOUT), "{}", s.reason);
    assert!(ran.world.rolled_back() && !ran.world.promoted());
    // The name outside the catalogue was vetoed, the reason listing the catalogue.
    let rules: Vec<Rule> = s.vetoes.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::MetricNotInCatalogue], "{:?}", s.vetoes);
    assert!(
        s.vetoes[0]
            .reason
            .contains("endpoint:/checkout, endpoint:/search, endpoint:/login"),
        "{}",
        s.vetoes[0].reason
    );
    // The model chose from what assess_risk showed it.
    let assessment = &results(&server.requests()[1])[0];
    let catalogue = assessment["metrics_catalogue"].as_array().unwrap();
    assert!(
        catalogue.iter().any(|e| e["name"] == CHECKOUT),
        "{assessment}"
    );
    assert!(catalogue[0]["description"].as_str().unwrap().len() > 20);
    // The failing verdict's checks carry the metric's numbers; the required ones did not fail.
    let failed = ran
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Judged { verdict, .. } if verdict.kind.as_str() == "fail" => Some(verdict),
            _ => None,
        })
        .unwrap();
    let check = failed.checks.iter().find(|c| c.metric == CHECKOUT).unwrap();
    assert!(check.canary.unwrap() > 0.05, "{check:?}");
    let error_rate = failed
        .checks
        .iter()
        .find(|c| c.metric == "error_rate")
        .unwrap();
    assert_ne!(error_rate.verdict.as_str(), "fail", "{error_rate:?}");
    // Progress, JSON lines and `show` name the metric.
    let (_, added) = ran
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::MetricsAdded { .. }))
        .unwrap();
    let line = deploy_agent::rollout::terminal::describe(added).unwrap();
    assert_eq!(
        line,
        "METRICS ADDED endpoint:/checkout: the diff touches checkout"
    );
    let json = serde_json::to_value(added).unwrap();
    assert_eq!(json["event"], "metrics_added");
    assert_eq!(json["metrics"], json!([CHECKOUT]));
    let stored = journal.rollout(&s.id).unwrap();
    let events = journal.events(&s.id).unwrap();
    let shown = deploy_agent::journal::timeline::render_timeline(&stored, &events);
    assert!(
        shown.contains("judging also endpoint:/checkout: the diff touches checkout"),
        "{shown}"
    );
    assert!(
        shown.contains("endpoint:/checkout worse than baseline"),
        "{shown}"
    );
}

#[tokio::test]
async fn without_the_endpoint_metric_the_same_rollout_promotes() {
    // The control: the overall error rate and latency cannot see the regression.
    let (ran, _, _) = run_model(&migration_repo(), Scenario::EndpointRegression, false, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert!(s.vetoes.is_empty(), "{:?}", s.vetoes);
    assert!(!ran
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::MetricsAdded { .. })));
}

#[tokio::test]
async fn a_healthy_endpoint_passes_and_the_rollout_promotes_judging_it() {
    let (ran, _, _) = run_model(&migration_repo(), Scenario::Healthy, true, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    // The Pass the promotion rested on covered the added metric.
    let last_pass = ran
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::Judged { verdict, .. } if verdict.kind.as_str() == "pass" => Some(verdict),
            _ => None,
        })
        .unwrap();
    let check = last_pass
        .checks
        .iter()
        .find(|c| c.metric == CHECKOUT)
        .unwrap();
    assert_eq!(check.verdict.as_str(), "pass", "{check:?}");
}

/// Resumes a rollout at 5 % in `endpoint-regression` under the playbook,
/// with or without the metrics the dead process had added.
async fn resumed(chosen_metrics: Vec<String>) -> Outcome {
    let (context, policy) = assessed(&migration_repo()).await;
    let point = deploy_agent::rollout::ResumePoint {
        risk: context.risk(),
        weight: 5,
        approval: Some(deploy_agent::rollout::state::ApprovalRecord {
            approved: true,
            by: Some("alice".into()),
            at: 1_800_000_000.0,
            reason: "ok".into(),
        }),
        started_at: 1_800_000_000.0,
        turns: 3,
        prompt_tokens: 0,
        completion_tokens: 0,
        chosen_strategy: None,
        chosen_metrics,
    };
    resume_playbook(&context, &policy, Scenario::EndpointRegression, point)
        .await
        .0
        .outcome
}

#[tokio::test]
async fn a_resumed_rollout_keeps_judging_the_metrics_added_before_the_crash() {
    assert_eq!(resumed(Vec::new()).await, Outcome::Promoted);
    assert_eq!(resumed(vec![CHECKOUT.into()]).await, Outcome::RolledBack);
}
