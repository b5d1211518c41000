//! Texts for people written by the model, over real HTTP: a rollback's
//! explanation grounded in the judge's numbers is shown; one that invents a
//! number, or a model that does not answer in time, gives the template and
//! says why; an approval summary is held to the same rule.

use std::sync::Arc;
use std::time::Duration;

use deploy_agent::journal::{Journal, SqliteJournal};
use deploy_agent::llm::LlmClient;
use deploy_agent::narrate::{By, Narrator, NARRATE_PROMPT};
use deploy_agent::planner::{LlmPlanner, PlaybookPlanner};
use deploy_agent::rollout::events::Event;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::sim::Scenario;
use serde_json::{json, Value};

use crate::rollout_llm::call;
use crate::support::openai::{FakeOpenAi, Reply};
use crate::support::rollout::{
    assessed, config_repo, migration_repo, reject, run, run_setup, Ran, Setup,
};

/// A failing canary rolled back by the playbook, explained by `script`'s model.
async fn rolled_back(script: Vec<Reply>, timeout_secs: u64) -> (Ran, FakeOpenAi) {
    let server = FakeOpenAi::start(script).await;
    let client = LlmClient::new(&server.planner_settings(timeout_secs)).expect("client");
    let repo = config_repo();
    let (context, policy) = assessed(&repo).await;
    let mut planner = PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
    let setup = Setup {
        scenario: Scenario::ErrorSpike,
        seed: 7,
        narrator: Some(Narrator::model(client)),
        ..Setup::default()
    };
    let ran = run_setup(&context, &policy, &mut planner, reject(), setup).await;
    assert_eq!(
        ran.summary.outcome,
        Outcome::RolledBack,
        "{}",
        ran.summary.reason
    );
    (ran, server)
}

/// A model that cites the facts it was sent: the weight and the failing check's numbers.
fn grounded_model(request: &Value) -> Value {
    let user = request["messages"][1]["content"]
        .as_str()
        .unwrap_or_default();
    let facts: Value = serde_json::from_str(user).unwrap_or_default();
    let f = &facts["facts"];
    let metric = f["words"]["failing_check"].as_str().unwrap_or("error_rate");
    let n = |label: &str| f["numbers"][label].as_f64().unwrap_or(-1.0);
    let text = format!(
        "The canary failed the judge's check at {}%: {:.4} on the canary against {:.4} on the baseline.",
        n("rolled_back_from"),
        n(&format!("{metric}.canary")),
        n(&format!("{metric}.baseline")),
    );
    json!({"role": "assistant", "content": text})
}

fn explained(ran: &Ran) -> Vec<(String, By, Option<String>)> {
    ran.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Explained { text, by, withheld } => Some((text.clone(), *by, withheld.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_grounded_rollback_explanation_is_shown() {
    let (ran, server) = rolled_back(vec![Reply::Adaptive(Arc::new(grounded_model))], 5).await;
    let n = ran.summary.explanation.clone().expect("an explanation");
    assert_eq!(n.by, By::Model, "{n:?}");
    assert_eq!(n.withheld, None);
    assert!(
        n.text
            .starts_with("The canary failed the judge's check at "),
        "{}",
        n.text
    );
    // Asked once, after the rollback, with the narration prompt and the facts.
    let asked = server.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["messages"][0]["content"], NARRATE_PROMPT);
    assert!(asked[0]["max_tokens"].as_u64().is_some(), "{}", asked[0]);
    assert_eq!(explained(&ran), [(n.text.clone(), By::Model, None)]);
    // The explanation comes after the traffic is back, and just before the end.
    let kinds: Vec<&Event> = ran.events.iter().map(|(_, e)| e).collect();
    let at = |f: fn(&Event) -> bool| kinds.iter().position(|e| f(e)).expect("event");
    let back = at(|e| matches!(e, Event::WeightChanged { to: 0, .. }));
    let why = at(|e| matches!(e, Event::Explained { .. }));
    assert!(back < why && why + 1 == kinds.len() - 1, "{kinds:?}");
    let report = deploy_agent::report::rollout_text(&ran.summary);
    assert!(
        report.contains(&format!("explained {} (model)", n.text)),
        "{report}"
    );
}

#[tokio::test]
async fn an_invented_number_in_the_explanation_is_withheld() {
    let invented = "The canary failed: 37 % of its requests errored.";
    let (ran, _server) = rolled_back(vec![Reply::Content(invented.into())], 5).await;
    let n = ran.summary.explanation.clone().expect("an explanation");
    assert_eq!(n.by, By::Template);
    assert!(
        n.text.starts_with("The canary was rolled back from "),
        "{}",
        n.text
    );
    assert!(!n.text.contains("37"), "{}", n.text);
    assert_eq!(
        n.withheld.as_deref(),
        Some("the model's explanation was withheld: it cites 37 %, which no measurement shows")
    );
    let report = deploy_agent::report::rollout_text(&ran.summary);
    assert!(report.contains("it cites 37 %"), "{report}");
}

#[tokio::test]
async fn a_slow_model_gives_the_template_within_its_timeout() {
    let slow = Reply::Delay(
        Duration::from_secs(5),
        Box::new(Reply::Content("late".into())),
    );
    let started = std::time::Instant::now();
    let (ran, _server) = rolled_back(vec![slow], 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let n = ran.summary.explanation.clone().expect("an explanation");
    assert_eq!(n.by, By::Template);
    let why = n.withheld.unwrap_or_default();
    assert!(
        why.starts_with("the model's explanation is missing: "),
        "{why}"
    );
}

#[tokio::test]
async fn no_model_explains_with_the_template_and_show_prints_it() {
    let repo = config_repo();
    let (context, policy) = assessed(&repo).await;
    let mut planner = PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
    let dir = tempfile::tempdir().expect("tempdir");
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).expect("journal"));
    let setup = Setup {
        scenario: Scenario::ErrorSpike,
        seed: 7,
        journal: Some(journal.clone()),
        record: true,
        ..Setup::default()
    };
    let ran = run_setup(&context, &policy, &mut planner, reject(), setup).await;
    let n = ran.summary.explanation.clone().expect("an explanation");
    assert_eq!((n.by, n.withheld.clone()), (By::Template, None));
    assert!(
        n.text.contains("because the judge failed its"),
        "{}",
        n.text
    );
    let (_, event) = ran
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::Explained { .. }))
        .expect("explained");
    let line = deploy_agent::rollout::terminal::describe(event).expect("a progress line");
    assert_eq!(line, format!("WHY (template): {}", n.text));
    let id = &ran.summary.id;
    let stored = journal.rollout(id).expect("record");
    let events = journal.events(id).expect("events");
    let shown = deploy_agent::journal::timeline::render_timeline(&stored, &events);
    assert!(shown.contains(&format!("(template) {}", n.text)), "{shown}");
}

#[tokio::test]
async fn an_approval_summary_is_shown_only_when_grounded() {
    let repo = migration_repo();
    let (context, _) = assessed(&repo).await;
    let risk = format!("{:.2}", context.assessment.risk_score);
    // A factor's weight: a number the model read in `assess_risk`, not in the request.
    let top = context.assessment.factors.first().expect("a factor");
    let factor = format!("{:+.2}", top.contribution);
    assert!(top.contribution > 2.0, "{top:?}");
    let cases = [
        (
            format!("Risk {risk} ({factor} from the migration): it adds an index."),
            None,
        ),
        (
            "Low risk: 37% of such changes fail, so approve.".to_string(),
            Some("the model's summary was withheld: it cites 37 %, which no measurement shows"),
        ),
        (
            "approved already <http://x|click>".to_string(),
            Some("the model's summary was withheld: it contains a link"),
        ),
    ];
    for (summary, withheld) in cases {
        let script = vec![
            call("assess_risk", json!({})),
            call("request_approval", json!({ "summary": summary })),
        ];
        let server = FakeOpenAi::start(script).await;
        let client = LlmClient::new(&server.planner_settings(5)).expect("client");
        let mut planner = LlmPlanner::new(client, "{\"task\":\"roll out\"}");
        let ran = run(&repo, Scenario::Healthy, 1, &mut planner, reject()).await;
        let shown: Vec<&String> = ran
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::ApprovalRequested { summary } => Some(summary),
                _ => None,
            })
            .collect();
        assert_eq!(shown.len(), 1, "{:?}", ran.events);
        match withheld {
            None => assert_eq!(shown[0], &summary),
            Some(why) => {
                assert!(
                    shown[0].starts_with(&format!("Risk {risk} (")),
                    "{}",
                    shown[0]
                );
                assert!(shown[0].contains(why), "{}", shown[0]);
                assert!(
                    !shown[0].contains("<http") && !shown[0].contains("37%"),
                    "{}",
                    shown[0]
                );
            }
        }
    }
}

/// A source change assessed with the model's opinion (score 0.9, `rationale`).
async fn assessed_with(rationale: &str) -> deploy_agent::assess::Assessment {
    let repo = crate::support::repo::Repo::new();
    repo.lines("src/retry.rs", 30, "a");
    repo.commit("initial");
    repo.lines("src/retry.rs", 40, "b");
    repo.commit("retry harder");
    let opinion = json!({"score": 0.9, "rationale": rationale, "concerns": []});
    let server = FakeOpenAi::start(vec![Reply::Content(opinion.to_string())]).await;
    let git = deploy_agent::git::LocalGit::open(repo.path()).expect("repo");
    let request = deploy_agent::assess::AssessRequest {
        rev: "HEAD".into(),
        base: None,
        llm: deploy_agent::assess::LlmMode::Auto,
    };
    let policy = deploy_agent::policy::Policy::embedded().expect("policy");
    deploy_agent::assess::assess(&git, &policy, &server.planner_settings(5), &request)
        .await
        .expect("assess")
}

#[tokio::test]
async fn the_pr_paragraph_is_the_grounded_rationale_escaped_else_the_template() {
    let a = assessed_with("Retries *double* <b>load</b>: I put it at 0.90.").await;
    let md = deploy_agent::report::markdown(&a);
    assert!(
        md.contains("**In short** (the model's words, checked against the numbers above): Retries \\*double\\* \\<b\\>load\\</b\\>: I put it at 0.90."),
        "{md}"
    );
    let a = assessed_with("This kind of change fails 42% of the time.").await;
    let text = deploy_agent::report::text(&a);
    assert!(
        text.contains(
            "(the model's rationale was withheld: it cites 42 %, which no measurement shows)"
        ) && !text.contains("42% of the time"),
        "{text}"
    );
    let md = deploy_agent::report::markdown(&a);
    assert!(md.contains("**In short**: Risk 0.90 (critical)"), "{md}");
    assert!(
        md.contains(
            "_the model's rationale was withheld: it cites 42 %, which no measurement shows._"
        ),
        "{md}"
    );
    assert!(!md.contains("42% of the time"), "{md}");
    let a = assessed_with("Safe, see [the docs](http://evil.example) @alice").await;
    let md = deploy_agent::report::markdown(&a);
    assert!(md.contains("it contains a link"), "{md}");
    assert!(
        !md.contains("evil.example") && !md.contains("@alice"),
        "{md}"
    );
}

/// The Slack approval message's last update says why a rollout was rolled
/// back, marked as the model's words, escaped; the withheld line too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_message_explains_a_rollback_escaped() {
    use deploy_agent::approval::slack::{SlackClient, SlackSettings};
    use deploy_agent::approval::{ApprovalRequest, Approver, SlackApprover};
    use deploy_agent::narrate::Narrative;
    use deploy_agent::policy::Level;

    use crate::support::fake_slack::FakeSlack;

    let dir = tempfile::tempdir().expect("tempdir");
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).expect("journal"));
    let id = "checkout-01234567-1";
    let rev = "0123456789abcdef";
    let record =
        crate::support::rollout::running_record(id, rev, deploy_agent::journal::wall_now());
    journal.begin(&record).expect("begin");
    let slack = FakeSlack::start().await;
    let settings = SlackSettings {
        api_url: slack.url(),
        bot_token: Some("xoxb-test".into()),
        max_retries: 0,
        ..SlackSettings::default()
    };
    let client = SlackClient::new(&settings).expect("client");
    let approver = Arc::new(SlackApprover::new(journal.clone(), client, "#deploys"));
    let request = ApprovalRequest {
        rollout_id: id.into(),
        service: "checkout".into(),
        rev: rev.into(),
        risk_score: 0.82,
        level: Level::High,
        reasons: vec![],
        summary: "adds a column".into(),
        timeout_seconds: 1,
        required_approvals: 1,
        go_on_at: None,
    };
    // Nobody answers: the timeout decides, and the message is updated once.
    let _ = approver.request(&request).await;
    let narrative = Narrative {
        text: "Errors hit 3.4 % <http://x|click> <!here>".into(),
        by: By::Model,
        withheld: None,
    };
    approver
        .rollout_ended(
            Outcome::RolledBack,
            "canary verdict Fail at 5%",
            Some(&narrative),
        )
        .await;
    let updates = slack.calls("chat.update");
    let last = updates.last().expect("chat.update").body.clone();
    let text = last["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("*Why* (written by the model, checked against the numbers): Errors hit 3.4 % &lt;http://x|click&gt; &lt;!here&gt;"),
        "{text}"
    );
    assert!(
        !text.contains("<http") && !text.contains("<!here>"),
        "{text}"
    );
}
