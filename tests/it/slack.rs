//! Slack approvals end to end: SlackApprover posts to a fake Web API, a signed
//! block_actions click on the interactivity handler decides the journal row.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deploy_agent::approval::slack::{ResponseUrlClient, SlackClient, SlackSettings};
use deploy_agent::approval::{ApprovalAnswer, ApprovalRequest, Approver, SlackApprover};
use deploy_agent::journal::{wall_now, Journal, SqliteJournal};
use deploy_agent::policy::Level;
use deploy_agent::serve::slack::{router, sign, SlackState, PATH};
use serde_json::json;

use crate::support::fake_slack::{FakeSlack, CHANNEL_ID, TS};

const SECRET: &str = "slack-signing-secret";
const ROLLOUT: &str = "checkout-01234567-1700000000000";
const REV: &str = "0123456789abcdef";

struct World {
    _dir: tempfile::TempDir,
    journal: Arc<dyn Journal>,
    slack: FakeSlack,
    handler: String,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("journal.db")).unwrap());
    journal
        .begin(&crate::support::rollout::running_record(
            ROLLOUT,
            REV,
            wall_now(),
        ))
        .unwrap();
    // The handler gets its own journal handle, as the `serve` process would.
    let served: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("journal.db")).unwrap());
    let slack = FakeSlack::start().await;
    slack
        .state
        .lock()
        .unwrap()
        .groups
        .insert("SOPS".into(), vec!["U456".into()]);
    let state = SlackState::new(
        SECRET.as_bytes(),
        served,
        BTreeMap::from([("checkout".into(), vec!["U123".into(), "SOPS".into()])]),
        &settings(&slack),
    )
    .unwrap();
    let addr = crate::support::loopback::serve(router(Some(state))).await;
    let handler = format!("http://{addr}{PATH}");
    World {
        _dir: dir,
        journal,
        slack,
        handler,
    }
}

fn settings(slack: &FakeSlack) -> SlackSettings {
    SlackSettings {
        api_url: slack.url(),
        bot_token: Some("xoxb-test".into()),
        max_retries: 0,
        // The fake Slack's response_urls are local.
        response_url_hosts: vec!["127.0.0.1".into()],
        ..SlackSettings::default()
    }
}

fn client(slack: &FakeSlack) -> SlackClient {
    SlackClient::new(&settings(slack)).unwrap()
}

fn approver(w: &World) -> SlackApprover {
    SlackApprover::new(w.journal.clone(), client(&w.slack), "#deploys")
}

fn request() -> ApprovalRequest {
    ApprovalRequest {
        rollout_id: ROLLOUT.into(),
        service: "checkout".into(),
        rev: REV.into(),
        risk_score: 0.82,
        level: Level::High,
        reasons: vec!["touches migrations/".into()],
        summary: "adds a column".into(),
        timeout_seconds: 60,
        required_approvals: 1,
        go_on_at: None,
    }
}

/// Sends a block_actions click signed at `timestamp`; returns the status and,
/// for a 200 (an empty acknowledgement), the ephemeral reply posted later to
/// the click's `response_url`.
async fn click(w: &World, user: &str, action: &str, value: &str, timestamp: i64) -> (u16, String) {
    static CLICKS: AtomicUsize = AtomicUsize::new(0);
    let id = CLICKS.fetch_add(1, Ordering::Relaxed).to_string();
    let url = w.slack.response_url(&id);
    let status = click_to(w, user, action, value, timestamp, &url).await;
    if status != 200 {
        return (status, String::new());
    }
    (status, w.slack.reply(&id, 1, Duration::from_secs(10)).await)
}

/// Sends a signed click whose `response_url` is `url`; returns the status
/// (a 200 must be an empty acknowledgement).
async fn click_to(
    w: &World,
    user: &str,
    action: &str,
    value: &str,
    timestamp: i64,
    url: &str,
) -> u16 {
    let body = crate::support::fake_slack::click_form(user, action, value, url);
    let ts = timestamp.to_string();
    let resp = reqwest::Client::new()
        .post(&w.handler)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            sign(SECRET.as_bytes(), &ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        assert_eq!(
            resp.text().await.unwrap(),
            "",
            "acknowledged with an empty body"
        );
    }
    status
}

async fn posted_value(w: &World) -> String {
    for _ in 0..200 {
        if let Some(c) = w.slack.calls("chat.postMessage").first() {
            return c.body["blocks"][1]["elements"][0]["value"]
                .as_str()
                .unwrap()
                .to_string();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no chat.postMessage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_round_trip_approves_once_for_an_approver_only() {
    let w = world().await;
    let slack_approver = approver(&w);
    let waiting = tokio::spawn(async move { slack_approver.request(&request()).await });
    let value = posted_value(&w).await;

    let post = &w.slack.calls("chat.postMessage")[0];
    assert_eq!(post.auth, "Bearer xoxb-test");
    assert_eq!(post.body["channel"], "#deploys");
    let section = post.body["blocks"][0]["text"]["text"].as_str().unwrap();
    for needle in [
        "checkout",
        REV,
        "0.82",
        "high",
        "touches migrations/",
        "adds a column",
    ] {
        assert!(section.contains(needle), "{needle} not in {section}");
    }
    let buttons = &post.body["blocks"][1]["elements"];
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[1]["style"], "danger");
    assert!(buttons[1]["confirm"].is_object());
    assert!(value.starts_with(&format!("{ROLLOUT}:{REV}:")), "{value}");

    let now = wall_now() as i64;
    let (status, _) = click(&w, "U123", "approve", &value, now - 301).await;
    assert_eq!(status, 401, "stale timestamp");

    let (status, text) = click(&w, "U999", "approve", &value, now).await;
    assert_eq!(status, 200);
    assert!(text.contains("not an approver"), "{text}");

    let (status, text) = click(&w, "U123", "approve", &value, now).await;
    assert_eq!(status, 200);
    assert!(text.contains("approved by slack:U123"), "{text}");

    let (status, text) = click(&w, "U123", "reject", &value, now).await;
    assert_eq!(status, 200);
    assert!(text.contains("already used"), "{text}");

    let answer: ApprovalAnswer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.approved);
    assert_eq!(answer.by.as_deref(), Some("slack:U123"));

    assert_eq!(w.slack.calls("chat.postMessage").len(), 1, "one post only");
    let updates = w.slack.calls("chat.update");
    assert_eq!(updates.len(), 1);
    let update = &updates[0].body;
    assert_eq!(
        (update["channel"].as_str(), update["ts"].as_str()),
        (Some(CHANNEL_ID), Some(TS))
    );
    assert!(
        update["text"].as_str().unwrap().contains("Approved"),
        "{update}"
    );
    assert!(update.to_string().contains("slack:U123"), "{update}");
    assert!(
        !update.to_string().contains("\"actions\""),
        "no buttons left: {update}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_api_error_still_leaves_the_journal_approval_working() {
    let w = world().await;
    w.slack.state.lock().unwrap().error = Some("channel_not_found".into());
    let slack_approver = approver(&w);
    let waiting = tokio::spawn(async move { slack_approver.request(&request()).await });
    posted_value_or_error(&w).await;
    // What `deploy-agent approve` does from another shell.
    w.journal
        .decide_approval(
            ROLLOUT,
            REV,
            &deploy_agent::journal::ApprovalDecision {
                approved: true,
                by: Some("alice".into()),
                reason: "cli".into(),
                decided_at: wall_now(),
            },
        )
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.approved);
    assert_eq!(answer.by.as_deref(), Some("alice"));
    assert!(w.slack.calls("chat.update").is_empty(), "nothing to update");
    let client = SlackClient::new(&SlackSettings {
        api_url: w.slack.url(),
        bot_token: Some("xoxb-test".into()),
        ..SlackSettings::default()
    })
    .unwrap();
    let err = client
        .call("chat.postMessage", &json!({}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ok=false: channel_not_found"),
        "{err}"
    );
}

async fn posted_value_or_error(w: &World) {
    for _ in 0..200 {
        if !w.slack.calls("chat.postMessage").is_empty() {
            // Give the approver a moment to record the error and start polling.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no chat.postMessage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_response_url_replies_are_posted_and_retried_a_bounded_number_of_times() {
    let slack = FakeSlack::start().await;
    let mut settings = settings(&slack);
    settings.max_retries = 1;
    let responder = ResponseUrlClient::new(&settings).unwrap();
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": "hi"});
    responder
        .post(&slack.response_url("r1"), &body)
        .await
        .unwrap();
    assert_eq!(slack.reply("r1", 1, Duration::from_secs(1)).await, "hi");

    // Nobody listens there: two attempts (one retry), then a typed error.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/response/x", closed.local_addr().unwrap());
    drop(closed);
    let err = responder.post(&url, &body).await.unwrap_err();
    assert!(err.to_string().contains("after 2 attempt(s)"), "{err}");
}

/// The process that posted an approval died while it waited: whoever ends the
/// rollout (a takeover, `resume`) finds where it was posted in the journal and
/// closes it — the buttons go, the outcome is said — so nobody approves a
/// rollout that has already ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_message_left_by_a_dead_process_is_closed_by_whoever_ends_the_rollout() {
    let w = world().await;
    let posting = approver(&w);
    let waiting = tokio::spawn(async move { posting.request(&request()).await });
    posted_value(&w).await;
    waiting.abort(); // the posting process is gone
    let recorded = w.journal.approval_message(ROLLOUT, REV).unwrap();
    assert_eq!(
        recorded.as_deref(),
        Some(
            format!(
                "{}:{}",
                crate::support::fake_slack::CHANNEL_ID,
                crate::support::fake_slack::TS
            )
            .as_str()
        )
    );
    deploy_agent::approval::slack::close_approval_message(
        w.journal.as_ref(),
        &client(&w.slack),
        ROLLOUT,
        REV,
        deploy_agent::rollout::state::Outcome::RolledBack,
        "resumed after a crash: rolled back per on_resume",
    )
    .await;
    let updates = w.slack.calls("chat.update");
    let closed = updates.last().expect("chat.update");
    assert_eq!(closed.body["ts"], crate::support::fake_slack::TS);
    let blocks = closed.body["blocks"].as_array().unwrap();
    assert!(
        blocks.iter().all(|b| b["type"] != "actions"),
        "no buttons left: {blocks:?}"
    );
    let text = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(
        text.contains("rolled back") && text.contains("closed"),
        "{text}"
    );
}

/// The `response_url` is in the request body: a click whose URL points at a
/// host that is not one of `[slack] response_url_hosts` (here `localhost`, the
/// fake's own listener under another name) still decides, but nothing is
/// posted there; a URL on a listed host (`127.0.0.1`) gets the reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_response_url_is_only_followed_to_listed_hosts() {
    let w = world().await;
    let slack_approver = approver(&w);
    let waiting = tokio::spawn(async move { slack_approver.request(&request()).await });
    let value = posted_value(&w).await;
    let elsewhere = w
        .slack
        .response_url("elsewhere")
        .replace("127.0.0.1", "localhost");
    assert!(elsewhere.starts_with("http://localhost:"), "{elsewhere}");
    let now = wall_now() as i64;
    assert_eq!(
        click_to(&w, "U123", "approve", &value, now, &elsewhere).await,
        200
    );

    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.approved, "the answer is recorded all the same");
    assert_eq!(answer.by.as_deref(), Some("slack:U123"));

    // A listed host is called: the second click's refusal arrives there.
    let (_, text) = click(&w, "U123", "reject", &value, now).await;
    assert!(text.contains("already used"), "{text}");
    assert_eq!(w.slack.replies("elsewhere"), 0, "never called");
}
