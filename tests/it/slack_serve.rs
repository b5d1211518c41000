//! Slack approvals through the real `deploy-agent serve`: a signed push starts a
//! rollout whose approver is Slack (a fake Web API over HTTP), the test reads the
//! button from the posted Block Kit message and clicks it with a signed
//! interactivity request to serve, and the rollout goes on. The poster (the
//! rollout's thread) and the handler share nothing but the journal file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deploy_agent::journal::wall_now;
use deploy_agent::policy::DEFAULT_POLICY;
use deploy_agent::serve::slack::sign;
use serde_json::{json, Value};

use crate::serve::{get, start_with, Server};
use crate::support::fake_slack::{Call, FakeSlack, CHANNEL_ID, TS};
use crate::support::repo::Repo;
use crate::support::{run_cli, stderr, stdout};

const WEBHOOK_SECRET: &str = "it-s3cret";
pub(crate) const SIGNING_SECRET: &str = "slack-signing-secret";
pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Setup {
    _work: tempfile::TempDir,
    work: PathBuf,
    repo: Repo,
    db: PathBuf,
    pub(crate) slack: FakeSlack,
    pub(crate) server: Server,
}

/// A repo with one commit, a policy where every change needs approval (from
/// `two_approvers` levels, two), and serve with Slack configured for `demo`:
/// approvers U123, the group SOPS (U456, U789), and alice (the tests' OS
/// account, for `deploy-agent approve`).
pub(crate) async fn setup(two_approvers: bool) -> Setup {
    setup_with(two_approvers, "").await
}

/// [`setup`] with extra `[slack]` lines.
pub(crate) async fn setup_with(two_approvers: bool, slack_extra: &str) -> Setup {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let levels = r#"levels = ["low", "medium", "high", "critical"]"#;
    let two = if two_approvers {
        levels.replace("levels", "two_approvers")
    } else {
        "two_approvers = []".into()
    };
    let policy = DEFAULT_POLICY
        .replace(r#"levels = ["high", "critical"]"#, levels)
        .replace("two_approvers = []", &two);
    std::fs::write(work.path().join("policy.toml"), policy).expect("policy");
    let slack = FakeSlack::start().await;
    slack
        .state
        .lock()
        .unwrap()
        .groups
        .insert("SOPS".into(), vec!["U456".into(), "U789".into()]);
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "policy = {:?}\n[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\n[slack]\napi_url = {:?}\nchannel = \"#deploys\"\nmax_retries = 0\nresponse_url_hosts = [\"127.0.0.1\"]\n{slack_extra}\n[services.demo]\ntarget = \"sim\"\n[services.demo.slack]\napprovers = [\"U123\", \"SOPS\", \"alice\"]\n{}",
            work.path().join("policy.toml"),
            repo.path(),
            slack.url(),
            // `approve` from the tests' OS account counts as alice.
            crate::support::me_as("alice"),
        ),
    )
    .expect("config");
    let db = work.path().join("journal.db");
    let server = start_with(
        work.path(),
        &config,
        &db,
        &[
            ("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
            ("SLACK_BOT_TOKEN", "xoxb-test"),
        ],
    );
    Setup {
        work: work.path().to_path_buf(),
        _work: work,
        repo,
        db,
        slack,
        server,
    }
}

impl Setup {
    /// Commits a change and pushes it to serve; returns the sha.
    pub(crate) async fn push(&self, n: usize) -> String {
        self.repo.lines("src/app.rs", 20 + n, "a");
        let sha = self.repo.commit("add a line");
        let body = json!({
            "ref": "refs/heads/main",
            "after": sha,
            "repository": {"default_branch": "main", "full_name": "acme/shop"},
        })
        .to_string();
        let resp = reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.server.base))
            .header("X-GitHub-Event", "push")
            .header(
                "X-Hub-Signature-256",
                deploy_agent::serve::webhook::sign(WEBHOOK_SECRET.as_bytes(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .expect("push");
        assert_eq!(resp.status().as_u16(), 202);
        sha
    }

    /// Waits for the `n`th chat.postMessage; returns the Approve button's value.
    pub(crate) async fn posted(&self, n: usize) -> String {
        let call = self.wait_for("chat.postMessage", n).await;
        let value = call.body["blocks"][1]["elements"][0]["value"]
            .as_str()
            .expect("button value")
            .to_string();
        assert_eq!(
            call.body["blocks"][1]["elements"][1]["value"],
            value.as_str()
        );
        value
    }

    pub(crate) async fn wait_for(&self, method: &str, n: usize) -> Call {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(c) = self.slack.calls(method).get(n - 1) {
                return c.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {method} #{n}: {:?}",
                self.slack.calls(method)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A rollout's outcome in the journal, once it has one.
    pub(crate) async fn outcome(&self, rollout_id: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.cli(&["show", rollout_id, "--format", "json"]);
            let v: Value = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
            if let Some(o) = v["rollout"]["outcome"].as_str() {
                return o.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{rollout_id} did not finish: {}",
                stderr(&out)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        let db = self.db.to_str().expect("utf-8");
        all.extend(["--journal", db]);
        run_cli(&self.work, &all, &[])
    }
}

/// A signed block_actions click: form body, timestamp, signature, and the id
/// of its `response_url` on the fake Slack.
pub(crate) struct Signed {
    body: String,
    ts: String,
    signature: String,
    pub(crate) reply_to: String,
}

impl Setup {
    /// Signs a click whose `response_url` points at the fake Slack.
    pub(crate) fn signed(
        &self,
        user: &str,
        action: &str,
        value: &str,
        ts: i64,
        secret: &str,
    ) -> Signed {
        static CLICKS: AtomicUsize = AtomicUsize::new(0);
        let reply_to = CLICKS.fetch_add(1, Ordering::Relaxed).to_string();
        let body = crate::support::fake_slack::click_form(
            user,
            action,
            value,
            &self.slack.response_url(&reply_to),
        );
        let ts = ts.to_string();
        let signature = sign(secret.as_bytes(), &ts, body.as_bytes());
        Signed {
            body,
            ts,
            signature,
            reply_to,
        }
    }

    /// Posts the click to serve; returns its HTTP status and how long the
    /// answer took. A 200 must be an empty acknowledgement.
    pub(crate) async fn ack(&self, click: &Signed) -> (u16, Duration) {
        let started = Instant::now();
        let resp = reqwest::Client::new()
            .post(format!("{}/slack/interactivity", self.server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &click.ts)
            .header("x-slack-signature", &click.signature)
            .body(click.body.clone())
            .send()
            .await
            .expect("click");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        let took = started.elapsed();
        if status == 200 {
            assert_eq!(body, "", "acknowledged with an empty body");
        }
        (status, took)
    }

    /// [`Setup::ack`], then (for a 200) the ephemeral reply the click gets
    /// through its `response_url`.
    pub(crate) async fn send(&self, click: &Signed) -> (u16, String) {
        let n = self.slack.replies(&click.reply_to) + 1;
        let (status, _) = self.ack(click).await;
        if status != 200 {
            return (status, String::new());
        }
        (status, self.slack.reply(&click.reply_to, n, WAIT).await)
    }

    pub(crate) async fn click(&self, user: &str, action: &str, value: &str) -> (u16, String) {
        let click = self.signed(user, action, value, wall_now() as i64, SIGNING_SECRET);
        self.send(&click).await
    }

    /// Waits for a chat.update whose text holds `needle`.
    pub(crate) async fn update_with(&self, needle: &str) -> Call {
        let deadline = Instant::now() + WAIT;
        loop {
            let updates = self.slack.calls("chat.update");
            if let Some(c) = updates.iter().find(|c| c.body.to_string().contains(needle)) {
                return c.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no chat.update with {needle:?}: {updates:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub(crate) fn rollout_of(value: &str) -> String {
    let mut parts = value.rsplitn(3, ':');
    parts.nth(2).expect("rollout id").to_string()
}

fn text_of(call: &Call) -> String {
    call.body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_serve_round_trip_with_two_approvers() {
    let s = setup(true).await;
    let sha = s.push(1).await;
    let value = s.posted(1).await;
    let rollout = rollout_of(&value);
    assert!(value.contains(&sha), "bound to the revision: {value}");
    let post = s.slack.calls("chat.postMessage")[0].clone();
    assert_eq!(post.auth, "Bearer xoxb-test");
    assert_eq!(post.body["channel"], "#deploys");
    let now = wall_now() as i64;

    // Signature and freshness first: 401 before anything is looked at.
    let forged = s.signed("U123", "approve", &value, now, "wrong-secret");
    assert_eq!(s.send(&forged).await.0, 401, "bad signature");
    let stale = s.signed("U123", "approve", &value, now - 301, SIGNING_SECRET);
    assert_eq!(s.send(&stale).await.0, 401, "stale timestamp");

    let (status, text) = s.click("U999", "approve", &value).await;
    assert_eq!(status, 200);
    assert!(text.contains("not an approver"), "{text}");

    // A tampered button (another revision) is refused even for an approver.
    let tampered = value.replacen(&sha, "0000000", 1);
    let (_, text) = s.click("U123", "approve", &tampered).await;
    assert!(!text.contains("approvals recorded"), "{text}");

    let first = s.signed("U123", "approve", &value, wall_now() as i64, SIGNING_SECRET);
    let (status, text) = s.send(&first).await;
    assert_eq!(status, 200);
    assert!(text.contains("1 of 2 approvals recorded"), "{text}");
    let (_, text) = s.send(&first).await;
    assert!(text.contains("already used"), "replayed request: {text}");
    let (_, text) = s.click("U123", "approve", &value).await;
    assert!(text.contains("already used"), "same approver again: {text}");

    // The channel sees the first vote on the same message, buttons kept.
    let progress = s
        .update_with("1 of 2 approvals: approved by <@U123>, waiting for another approver")
        .await;
    assert_eq!(progress.body["ts"], TS);
    assert_eq!(
        progress.body["blocks"][1]["elements"][0]["value"],
        value.as_str()
    );

    // The second approver is a member of the SOPS group.
    let (_, text) = s.click("U456", "approve", &value).await;
    assert!(text.contains("approved by slack:U456"), "{text}");
    assert_eq!(s.outcome(&rollout).await, "promoted");

    let decided = s.wait_for("chat.update", 2).await;
    let ended = s.wait_for("chat.update", 3).await;
    for update in [&decided, &ended] {
        assert_eq!(
            (update.body["channel"].as_str(), update.body["ts"].as_str()),
            (Some(CHANNEL_ID), Some(TS))
        );
        assert!(
            !update.body.to_string().contains("\"actions\""),
            "no buttons left"
        );
    }
    let decided = text_of(&decided);
    assert!(
        decided.contains("Approved")
            && decided.contains("slack:U123")
            && decided.contains("slack:U456"),
        "{decided}"
    );
    let ended = text_of(&ended);
    assert!(ended.contains("Rollout promoted"), "{ended}");
    assert_eq!(s.slack.calls("chat.postMessage").len(), 1, "one post only");
    let groups = s.slack.calls("usergroups.users.list");
    assert!(
        groups.iter().all(|c| c.body["usergroup"] == "SOPS"),
        "{groups:?}"
    );

    let shown = stdout(&s.cli(&["show", &rollout]));
    assert!(
        shown.contains("approved by slack:U123") && shown.contains("approved by slack:U456"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_serve_reject_decides_at_once_and_cli_votes_count() {
    let s = setup(true).await;
    s.push(1).await;
    let value = s.posted(1).await;
    let rollout = rollout_of(&value);
    // One approver from the CLI, then a Reject in Slack: the rejection decides.
    let out = s.cli(&["approve", &rollout, "--by", "alice"]);
    assert!(
        stdout(&out).contains("1 of 2 approvals recorded"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = s.cli(&["approve", &rollout, "--by", "alice"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("already approved"),
        "{}",
        stderr(&out)
    );
    // A CLI vote shows on the message too.
    s.update_with("1 of 2 approvals: approved by alice").await;
    let (_, text) = s.click("U789", "reject", &value).await;
    assert!(text.contains("rejected by slack:U789"), "{text}");
    assert_eq!(s.outcome(&rollout).await, "aborted");
    let decided = text_of(&s.update_with("Rejected").await);
    assert!(decided.contains("slack:U789"), "{decided}");
    let ended = text_of(&s.update_with("Rollout aborted").await);
    assert!(ended.contains("Rollout aborted"), "{ended}");
    let (_, text) = s.click("U123", "approve", &value).await;
    assert!(text.contains("already decided"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_serve_one_approver_decides_with_one_click() {
    let s = setup(false).await;
    s.push(1).await;
    let value = s.posted(1).await;
    let (_, text) = s.click("U123", "approve", &value).await;
    assert!(text.contains("approved by slack:U123"), "{text}");
    assert_eq!(s.outcome(&rollout_of(&value)).await, "promoted");
    let metrics = get(&s.server.base, "/metrics").await.1;
    assert!(
        metrics.contains("deploy_agent_rollouts_total{outcome=\"promoted\"} 1"),
        "{metrics}"
    );
}
