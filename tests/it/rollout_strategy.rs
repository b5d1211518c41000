//! Slower, never faster (issue 18 item 3): a model may take a more cautious
//! level's strategy before any traffic moves; the guard holds it to those
//! limits from then on, vetoes a faster choice, and a playbook that takes over
//! keeps the slower limits — over real HTTP to a scripted model.

use std::sync::Arc;

use deploy_agent::journal::{Journal, SqliteJournal};
use deploy_agent::llm::LlmClient;
use deploy_agent::planner::{HandoverPlanner, LlmPlanner, Planner};
use deploy_agent::policy::{Level, Policy, Strategy};
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::sim::Scenario;
use deploy_agent::tools::Rule;
use serde_json::{json, Value};

use crate::support::openai::{results, sensible_step, tool_call, unterminated, FakeOpenAi, Reply};
use crate::support::repo::Repo;
use crate::support::rollout::{
    approve, assessed, migration_repo, resume_playbook, run_setup, shown, Ran, Setup,
};

/// A README change: low risk, a direct deploy under the default policy.
fn docs_repo() -> Repo {
    let r = Repo::new();
    r.lines("src/app.rs", 10, "a");
    r.write("README.md", "# app\n");
    r.commit("initial");
    r.write("README.md", "# App\n");
    r.commit("docs");
    r
}

/// A careful model: assess, choose `level`'s strategy, try a 10 % first step
/// once (too large for the high strategy), then play 5 % / +15 % to 50 % and
/// promote, as [`sensible_step`] does after its approval question.
fn careful(level: &'static str) -> Reply {
    Reply::Adaptive(Arc::new(move |request: &Value| {
        let seen = results(request);
        let (name, args) = match seen.len() {
            0 => ("assess_risk", json!({})),
            1 => (
                "choose_strategy",
                json!({"level": level, "reason": "more caution than the assessment asks"}),
            ),
            2 => (
                "set_canary_weight",
                json!({"weight": 10, "reason": "a bold start"}),
            ),
            _ => {
                // Answer the approval question of the sensible model up front.
                let mut rest = vec![json!({"approved": true})];
                rest.extend(seen[3..].iter().cloned());
                sensible_step(&rest)
            }
        };
        tool_call(request, name, args)
    }))
}

async fn run_model(
    repo: &Repo,
    script: Vec<Reply>,
    wrap: bool,
    journal: Option<Arc<dyn Journal>>,
) -> (Ran, FakeOpenAi, Policy) {
    let (context, policy) = assessed(repo).await;
    let server = FakeOpenAi::start(script).await;
    let llm = LlmPlanner::new(
        LlmClient::new(&server.planner_settings(5)).unwrap(),
        "{\"task\":\"roll out\"}",
    );
    let mut planner: Box<dyn Planner> = if wrap {
        Box::new(HandoverPlanner::new(Box::new(llm), &policy.rollout))
    } else {
        Box::new(llm)
    };
    let setup = Setup {
        scenario: Scenario::Healthy,
        seed: 3,
        record: journal.is_some(),
        journal,
        ..Setup::default()
    };
    let ran = run_setup(&context, &policy, planner.as_mut(), approve(), setup).await;
    (ran, server, policy)
}

fn chosen(ran: &Ran) -> Vec<(Level, Strategy)> {
    ran.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StrategyChosen {
                level, strategy, ..
            } => Some((*level, strategy.clone())),
            _ => None,
        })
        .collect()
}

fn weights(ran: &Ran) -> Vec<u8> {
    ran.world.weight_history().iter().map(|(_, w)| *w).collect()
}

#[tokio::test]
async fn a_model_that_chooses_the_high_strategy_on_a_low_risk_change_is_held_to_it() {
    let repo = docs_repo();
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).unwrap());
    let (ran, server, policy) = run_model(
        &repo,
        vec![careful("high"); 40],
        false,
        Some(journal.clone()),
    )
    .await;
    let s = &ran.summary;
    assert_eq!(s.risk.level, Level::Low, "the change is low risk");
    assert!(matches!(s.risk.strategy, Strategy::Direct { .. }));
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    // The 10 % start the direct deploy would have allowed is too large now.
    let rules: Vec<Rule> = s.vetoes.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::MaxFirstStep], "{:?}", s.vetoes);
    assert!(
        s.vetoes[0]
            .reason
            .contains("at most 5% under the chosen high strategy"),
        "{}",
        s.vetoes[0].reason
    );
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
    // Neither the level nor the approval moved with the strategy.
    assert!(!s.risk.requires_approval);
    assert!(s.approval.is_none(), "{:?}", s.approval);
    let high = policy.strategy_for(Level::High).clone();
    assert_eq!(chosen(&ran), [(Level::High, high)]);
    // The model was told its new limits.
    let told = &results(&server.requests()[2])[1];
    assert_eq!(told["limits"]["max_first_weight"], 5, "{told}");
    assert_eq!(told["limits"]["promote_min_weight"], 50, "{told}");
    // Progress, JSON lines and `show` say so.
    let (event, line) = shown(&ran, |e| matches!(e, Event::StrategyChosen { .. }));
    assert!(
        line.starts_with("STRATEGY HIGH (more cautious) → canary: 5% first"),
        "{line}"
    );
    let json = serde_json::to_value(event).unwrap();
    assert_eq!(json["event"], "strategy_chosen");
    assert_eq!(json["level"], "high");
    assert_eq!(json["strategy"]["first_weight"], 5);
    let stored = journal.rollout(&s.id).unwrap();
    let events = journal.events(&s.id).unwrap();
    let shown = deploy_agent::journal::timeline::render_timeline(&stored, &events);
    assert!(
        shown.contains("high strategy chosen: canary: 5% first, +15% per step"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_faster_choice_is_vetoed_and_the_limits_stay() {
    let repo = migration_repo();
    // High risk: the medium strategy's 10 % first step is larger than 5 %.
    let model = Reply::Adaptive(Arc::new(|request: &Value| {
        let seen = results(request);
        if seen.len() == 1 {
            return tool_call(
                request,
                "choose_strategy",
                json!({"level": "medium", "reason": "it is only an index"}),
            );
        }
        let mut rest: Vec<Value> = seen.clone();
        if rest.len() > 1 {
            rest.remove(1);
        }
        let (name, args) = sensible_step(&rest);
        tool_call(request, name, args)
    }));
    let (ran, _, _) = run_model(&repo, vec![model; 40], false, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    let rules: Vec<Rule> = s.vetoes.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::StrategyTooFast], "{:?}", s.vetoes);
    assert!(
        s.vetoes[0]
            .reason
            .contains("the medium strategy's first step (10%) is larger than the current 5%"),
        "{}",
        s.vetoes[0].reason
    );
    assert!(chosen(&ran).is_empty());
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
}

#[tokio::test]
async fn after_a_handover_the_playbook_keeps_the_chosen_slower_limits() {
    let repo = docs_repo();
    let choose = Reply::Message(
        json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": "call_choose", "type": "function",
        "function": {"name": "choose_strategy", "arguments": "{\"level\": \"high\", \"reason\": \"careful\"}"}}]}),
    );
    let script = vec![choose, unterminated(), unterminated()];
    let (ran, _, _) = run_model(&repo, script, true, None).await;
    let s = &ran.summary;
    assert_eq!(s.outcome, Outcome::Promoted, "{}", s.reason);
    assert_eq!(s.planner, "llm:scripted → playbook");
    assert_eq!(chosen(&ran).len(), 1);
    // Not the low level's direct deploy (100 % at once): the high canary.
    assert_eq!(weights(&ran), [5, 20, 35, 50, 100]);
}

/// Resumes a low-risk rollout at 5 % (what the target serves after a crash),
/// with or without the strategy the dead process had chosen.
async fn resumed(chosen: Option<(Level, Strategy)>) -> (Vec<u8>, Outcome) {
    let (context, policy) = assessed(&docs_repo()).await;
    let point = deploy_agent::rollout::ResumePoint {
        risk: context.risk(),
        weight: 5,
        approval: None,
        started_at: 1_800_000_000.0,
        turns: 3,
        prompt_tokens: 0,
        completion_tokens: 0,
        chosen_strategy: chosen,
        chosen_metrics: Vec::new(),
    };
    let (summary, weights) = resume_playbook(&context, &policy, Scenario::Healthy, point).await;
    (weights, summary.outcome)
}

#[tokio::test]
async fn a_resumed_rollout_keeps_the_strategy_chosen_before_the_crash() {
    let (context, policy) = assessed(&docs_repo()).await;
    assert!(matches!(context.risk().strategy, Strategy::Direct { .. }));
    // Without the journaled choice the low level's direct deploy finishes at once …
    let (weights, outcome) = resumed(None).await;
    assert_eq!(outcome, Outcome::Promoted);
    assert_eq!(weights, [5, 100]);
    // … with it, the high canary's steps stay in force after the restart.
    let high = policy.strategy_for(Level::High).clone();
    let (weights, outcome) = resumed(Some((Level::High, high))).await;
    assert_eq!(outcome, Outcome::Promoted);
    assert_eq!(weights, [5, 20, 35, 50, 100]);
}
