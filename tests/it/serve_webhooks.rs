//! The hardened webhook endpoint of the real `serve` binary over loopback:
//! allowed repositories and branch, form-encoded deliveries, timeouts against
//! stalled clients, the connection cap, and fetching a merge the clone lacks.

use std::path::Path;
use std::time::{Duration, Instant};

use deploy_agent::serve::webhook::sign;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve::{get, history_json, start, Server, SECRET, WAIT};
use crate::support::repo::Repo;
use crate::support::{run_cli, stderr};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// A repository with two commits and `serve` on it with `[serve]` + `extra`.
fn serve_on(repo: &Path, extra: &str) -> (tempfile::TempDir, Server) {
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {repo:?}\nservices = [\"demo\"]\napprove_as = \"ci-bot\"\n{extra}\n[services.demo]\ntarget = \"sim\"\n"
        ),
    )
    .expect("write config");
    let server = start(work.path(), &config, &work.path().join("journal.db"));
    (work, server)
}

fn commits(n: usize) -> (Repo, Vec<String>) {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let shas = (0..n)
        .map(|i| {
            repo.lines("src/app.rs", 21 + i, "a");
            repo.commit(&format!("change {i}"))
        })
        .collect();
    (repo, shas)
}

fn push(repo: &str, sha: &str, branch: &str, default_branch: &str) -> String {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "after": sha,
        "repository": {"full_name": repo, "default_branch": default_branch},
    })
    .to_string()
}

fn merged(repo: &str, sha: &str, base: &str) -> String {
    json!({
        "action": "closed",
        "pull_request": {"merged": true, "merge_commit_sha": sha, "base": {"ref": base}},
        "repository": {"full_name": repo, "default_branch": base},
    })
    .to_string()
}

/// POSTs `body` signed over exactly these bytes.
async fn deliver(base: &str, event: &str, content_type: &str, body: &str) -> (u16, String) {
    deliver_signed(base, event, content_type, body, body).await
}

/// POSTs `body` with the signature of `signed`.
async fn deliver_signed(
    base: &str,
    event: &str,
    content_type: &str,
    body: &str,
    signed: &str,
) -> (u16, String) {
    // Each delivery its own id, as GitHub does (a redelivery reuses one).
    static DELIVERIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = DELIVERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let resp = reqwest::Client::new()
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header(
            "X-GitHub-Delivery",
            format!("72d3162e-cc78-11e3-81ab-{n:012x}"),
        )
        .header("Content-Type", content_type)
        .header(
            "X-Hub-Signature-256",
            sign(SECRET.as_bytes(), signed.as_bytes()),
        )
        .body(body.to_string())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("POST webhook");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Waits until `/metrics` has `line`; returns the metrics.
async fn wait_for_metric(base: &str, line: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, m) = get(base, "/metrics").await;
        if m.lines().any(|l| l == line) {
            return m;
        }
        assert!(Instant::now() < deadline, "no `{line}`:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rows(work: &Path) -> Vec<Value> {
    let db = work.join("journal.db");
    history_json(work, &db)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn serve_refuses_to_start_without_repositories() {
    let (repo, _) = commits(0);
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    let text = format!(
        "[serve]\nrepo = {:?}\nservices = [\"demo\"]\n[services.demo]\ntarget = \"sim\"\n",
        repo.path()
    );
    std::fs::write(&config, text).expect("write config");
    let config = config.display().to_string();
    let args = ["serve", "--listen", "127.0.0.1:0", "--config", &config];
    let out = run_cli(work.path(), &args, &[("GITHUB_WEBHOOK_SECRET", SECRET)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("repositories = [\"acme/shop\"]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_repositories_and_the_configured_branch_roll_out() {
    let (repo, shas) = commits(3);
    let (work, server) = serve_on(repo.path(), "repositories = [\"Acme/Shop\"]");
    let base = server.base.as_str();
    // Every one of these names a commit the clone has: only the last may roll out.
    let refused = [
        ("push", push("evil/shop", &shas[0], "main", "main"), 403),
        (
            "pull_request",
            merged("acme/shop-fork", &shas[0], "main"),
            403,
        ),
        (
            "ping",
            json!({"repository": {"full_name": "evil/shop"}}).to_string(),
            403,
        ),
        (
            "ping",
            json!({"repository": {"full_name": "acme/shop"}}).to_string(),
            200,
        ),
        // The payload's default branch says dev; `[serve] branch` (main) decides.
        ("push", push("acme/shop", &shas[1], "dev", "dev"), 202),
        ("pull_request", merged("acme/shop", &shas[1], "dev"), 202),
    ];
    for (event, body, want) in refused {
        let (status, text) = deliver(base, event, JSON, &body).await;
        assert_eq!(status, want, "{event} {body}: {text}");
        if want == 403 {
            assert!(text.contains("[serve] repositories"), "{text}");
        }
        if want == 202 {
            assert!(text.contains("ignored"), "{text}");
        }
    }
    let body = push("ACME/shop", &shas[2], "main", "dev");
    let (status, text) = deliver(base, "push", JSON, &body).await;
    assert_eq!(status, 202, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("json answer");
    assert_eq!(answer["queued"], json!(["demo"]), "{text}");
    assert_eq!(answer["event"], "push", "{text}");
    assert_eq!(answer["repository"], "ACME/shop", "{text}");
    assert!(
        answer["delivery"]
            .as_str()
            .is_some_and(|d| d.starts_with("72d3162e-cc78-11e3-81ab-")),
        "{text}"
    );

    let promoted = "deploy_agent_rollouts_total{outcome=\"promoted\"} 1";
    let metrics = wait_for_metric(base, promoted).await;
    let rejected = "deploy_agent_webhooks_total{result=\"rejected\"} 3";
    assert!(metrics.lines().any(|l| l == rejected), "{metrics}");
    let revs: Vec<Value> = rows(work.path()).iter().map(|r| r["rev"].clone()).collect();
    assert_eq!(
        revs,
        [shas[2].as_str()],
        "only the allowed push is journaled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_encoded_deliveries_roll_out_like_json_ones() {
    let (repo, shas) = commits(1);
    let (work, server) = serve_on(repo.path(), "repositories = [\"acme/shop\"]");
    let base = server.base.as_str();
    let json = push("acme/shop", &shas[0], "main", "main");
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &json)
        .finish();
    // The signature covers the raw form body, not the JSON inside it.
    let (status, text) = deliver_signed(base, "push", FORM, &form, &json).await;
    assert_eq!(status, 401, "{text}");
    let (status, text) = deliver(base, "push", FORM, "zen=hi&hook_id=1").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("application/json"), "{text}");
    let (status, text) = deliver(base, "push", FORM, &form).await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("demo"), "{text}");
    wait_for_metric(base, "deploy_agent_rollouts_total{outcome=\"promoted\"} 1").await;
    let rows = rows(work.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["rev"], shas[0].as_str());
    assert_eq!(rows[0]["outcome"], "promoted");
}

/// What a stalled client saw: how long after its last write the server closed
/// the connection, and what the server wrote before closing.
struct Closed {
    after: Duration,
    answer: String,
}

/// Connects, writes `first`, then (if `trickle`) one byte every 200 ms; reads
/// until the server closes. `None` if it is still open after `limit`.
async fn stalled(addr: &str, first: &str, trickle: bool, limit: Duration) -> Option<Closed> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(first.as_bytes()).await.expect("write");
    let started = Instant::now();
    let trickler = tokio::spawn(async move {
        for _ in 0..(if trickle { 200 } else { 0 }) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
        // Hold the write half open (a stall, not a close) until aborted.
        std::future::pending::<()>().await;
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(limit, reader.read_to_end(&mut buf)).await;
    trickler.abort();
    // A reset after the answer counts as closed too.
    read.ok().map(|_| Closed {
        after: started.elapsed(),
        answer: String::from_utf8_lossy(&buf).into_owned(),
    })
}

fn slow_body() -> String {
    "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"ref\":".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_cut_off_at_the_timeout_and_deliveries_still_get_through() {
    let (repo, _) = commits(0);
    let extra = "repositories = [\"acme/shop\"]\nrequest_timeout_secs = 2";
    let (_work, server) = serve_on(repo.path(), extra);
    let addr = server.base.trim_start_matches("http://").to_string();
    let timeout = Duration::from_secs(2);
    let limit = timeout + Duration::from_secs(8);
    let mut clients = Vec::new();
    let kinds = [
        ("slow body", slow_body(), false),
        ("trickled body", slow_body(), true),
        (
            "slow headers",
            "POST /webhooks/github HTTP/1.1\r\nHost: x\r\n".into(),
            false,
        ),
        ("idle", String::new(), false),
    ];
    for i in 0..50 {
        let (kind, first, trickle) = kinds[if i < 44 { 0 } else { 1 + i % 3 }].clone();
        let addr = addr.clone();
        clients.push(tokio::spawn(async move {
            (kind, stalled(&addr, &first, trickle, limit).await)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ping = json!({"zen": "hi"}).to_string();
    let sent = Instant::now();
    let (status, text) = deliver(&server.base, "ping", JSON, &ping).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        sent.elapsed() < timeout,
        "the ping waited {:?}",
        sent.elapsed()
    );
    for client in clients {
        let (kind, closed) = client.await.expect("client task");
        let closed =
            closed.unwrap_or_else(|| panic!("the {kind} client is still open after {limit:?}"));
        assert!(closed.after <= limit, "{kind}: {:?}", closed.after);
        // Cut by the timeout, not sooner.
        assert!(
            closed.after >= timeout / 2,
            "{kind} cut after {:?}",
            closed.after
        );
        if kind.ends_with("body") {
            assert!(
                closed.answer.starts_with("HTTP/1.1 408"),
                "{kind}: {}",
                closed.answer
            );
        }
    }
    assert_eq!(get(&server.base, "/healthz").await, (200, "ok".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_extra_clients_back_and_recovers() {
    let (repo, _) = commits(0);
    let extra = "repositories = [\"acme/shop\"]\nrequest_timeout_secs = 2\nmax_connections = 4";
    let (_work, server) = serve_on(repo.path(), extra);
    let addr = server.base.trim_start_matches("http://").to_string();
    let limit = Duration::from_secs(30);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move { stalled(&addr, &slow_body(), false, limit).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Four stalled clients hold every slot, four more wait ahead of this one:
    // it is answered only once two rounds of them have timed out.
    let asked = Instant::now();
    assert_eq!(get(&server.base, "/healthz").await, (200, "ok".into()));
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "not held back: {waited:?}"
    );
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    for client in clients {
        let closed = client
            .await
            .expect("client task")
            .expect("closed by the server");
        assert!(
            closed.answer.starts_with("HTTP/1.1 408"),
            "{}",
            closed.answer
        );
    }
    let asked = Instant::now();
    assert_eq!(get(&server.base, "/healthz").await, (200, "ok".into()));
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_missing_from_the_clone_is_fetched_and_one_that_exists_nowhere_is_aborted() {
    let (origin, _) = commits(1);
    let clones = tempfile::tempdir().expect("tempdir");
    let clone = clones.path().join("shop");
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(origin.path())
        .arg(&clone)
        .status()
        .expect("git clone");
    assert!(cloned.success());
    // Merged after the clone was made: only origin has it.
    origin.lines("src/app.rs", 40, "b");
    let merged_later = origin.commit("merged later");
    let extra = "repositories = [\"acme/shop\"]\nfetch_timeout_secs = 10\nfetch_retries = 1";
    let (work, server) = serve_on(&clone, extra);
    let base = server.base.as_str();
    let body = push("acme/shop", &merged_later, "main", "main");
    assert_eq!(deliver(base, "push", JSON, &body).await.0, 202);
    wait_for_metric(base, "deploy_agent_rollouts_total{outcome=\"promoted\"} 1").await;

    let nowhere = "1234567890abcdef1234567890abcdef12345678";
    let body = push("acme/shop", nowhere, "main", "main");
    assert_eq!(deliver(base, "push", JSON, &body).await.0, 202);
    wait_for_metric(base, "deploy_agent_rollouts_total{outcome=\"aborted\"} 1").await;
    let rows = rows(work.path());
    let row = |rev: &str| {
        rows.iter()
            .find(|r| r["rev"] == rev)
            .unwrap_or_else(|| panic!("no rollout of {rev} in {rows:?}"))
    };
    assert_eq!(row(&merged_later)["outcome"], "promoted");
    let aborted = row(nowhere);
    assert_eq!(aborted["outcome"], "aborted");
    let reason = aborted["reason"].as_str().unwrap_or_default();
    let said = format!("git said: fetch {nowhere}: ");
    for says in ["could not start", "in 2 attempt(s)", &said, "credentials"] {
        assert!(reason.contains(says), "{says}: {reason}");
    }
}
