//! `deploy-agent serve`: the real binary over real HTTP, a temp git repo, a temp
//! journal and the simulated target on virtual time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use deploy_agent::serve::webhook::sign;
use serde_json::Value;

use crate::support::repo::Repo;
use crate::support::{json, run_cli};

pub(crate) const SECRET: &str = "it-s3cret";
pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Server {
    pub child: Child,
    pub base: String,
    stderr: Receiver<String>,
}

impl Server {
    /// The next line the server wrote on stderr, within `wait`.
    pub(crate) fn next_line(
        &self,
        wait: Duration,
    ) -> Result<String, std::sync::mpsc::RecvTimeoutError> {
        self.stderr.recv_timeout(wait)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free port of 127.0.0.1 with `config`; waits for its address.
pub(crate) fn start(dir: &Path, config: &Path, db: &Path) -> Server {
    start_with(dir, config, db, &[])
}

/// [`start`] with extra environment (e.g. Slack's token and signing secret).
pub(crate) fn start_with(dir: &Path, config: &Path, db: &Path, env: &[(&str, &str)]) -> Server {
    start_args(dir, config, db, env, &[])
}

/// [`start_with`] with extra `serve` arguments (e.g. `--max-concurrent`).
pub(crate) fn start_args(
    dir: &Path,
    config: &Path,
    db: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deploy-agent"));
    cmd.current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--shutdown-grace", "30"])
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--journal")
        .arg(db)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "deploy_agent=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("DEPLOY_AGENT_") || k.starts_with("SLACK_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn deploy-agent serve");
    let (tx, rx) = channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[serve] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Owned by `Server` from here: killed and waited for on any panic below.
    let mut server = Server {
        child,
        base: String::new(),
        stderr: rx,
    };
    let deadline = Instant::now() + WAIT;
    while server.base.is_empty() {
        let line = server
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("serve printed its address");
        if let Some(addr) = line.split("listening on ").nth(1) {
            server.base = format!("http://{}", addr.trim());
        }
    }
    server
}

pub(crate) async fn post(
    base: &str,
    event: &str,
    body: &[u8],
    signature: Option<String>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("X-Hub-Signature-256", s);
    }
    let resp = req.send().await.expect("POST webhook");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub(crate) async fn get(base: &str, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("{base}{path}")).await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub(crate) fn push(sha: &str, branch: &str) -> Vec<u8> {
    serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "after": sha,
        "repository": {"default_branch": "main", "full_name": "acme/shop"},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_to_main_is_rolled_out_and_sigterm_exits_cleanly() {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    repo.lines("src/app.rs", 21, "a");
    let sha = repo.commit("add a line");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\napprove_as = \"ci-bot\"\n[services.demo]\ntarget = \"sim\"\n",
            repo.path()
        ),
    )
    .expect("write config");
    let db = work.path().join("journal.db");
    let server = start(work.path(), &config, &db);
    let base = server.base.clone();

    assert_eq!(get(&base, "/healthz").await, (200, "ok".into()));
    let body = push(&sha, "main");
    let table: [(&str, Vec<u8>, Option<String>, u16); 6] = [
        ("push", body.clone(), None, 401),
        ("push", body.clone(), Some(sign(b"wrong", &body)), 401),
        (
            "push",
            b"{not json".to_vec(),
            Some(sign(SECRET.as_bytes(), b"{not json")),
            400,
        ),
        (
            "ping",
            b"{\"zen\":\"hi\"}".to_vec(),
            Some(sign(SECRET.as_bytes(), b"{\"zen\":\"hi\"}")),
            200,
        ),
        (
            "push",
            push(&sha, "dev"),
            Some(sign(SECRET.as_bytes(), &push(&sha, "dev"))),
            202,
        ),
        (
            "issues",
            b"{}".to_vec(),
            Some(sign(SECRET.as_bytes(), b"{}")),
            202,
        ),
    ];
    for (event, payload, signature, want) in table {
        let (status, text) = post(&base, event, &payload, signature).await;
        assert_eq!(status, want, "{event}: {text}");
    }
    let big = vec![b' '; 1024 * 1024 + 10];
    let (status, _) = post(&base, "push", &big, Some(sign(SECRET.as_bytes(), &big))).await;
    assert_eq!(status, 413);

    let (status, text) = post(&base, "push", &body, Some(sign(SECRET.as_bytes(), &body))).await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("demo"), "{text}");

    let deadline = Instant::now() + WAIT;
    let metrics = loop {
        let (_, m) = get(&base, "/metrics").await;
        if m.contains("deploy_agent_rollouts_total{") {
            break m;
        }
        assert!(Instant::now() < deadline, "no rollout finished:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for line in [
        "deploy_agent_rollouts_total{outcome=\"promoted\"} 1",
        "deploy_agent_webhooks_total{result=\"rejected\"} 4",
        "deploy_agent_webhooks_total{result=\"ignored\"} 2",
        "deploy_agent_webhooks_total{result=\"accepted\"} 2",
        "deploy_agent_active_rollouts 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    for family in [
        "# TYPE deploy_agent_judge_verdicts_total counter",
        "# TYPE deploy_agent_approval_wait_seconds histogram",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }

    let history = history_json(work.path(), &db);
    let rows = history.as_array().cloned().unwrap_or_default();
    let row = rows
        .iter()
        .find(|r| r["service"] == "demo")
        .unwrap_or_else(|| panic!("no demo rollout in {history}"));
    assert_eq!(row["outcome"], "promoted", "{row}");
    assert_eq!(row["rev"], sha.as_str(), "{row}");

    // The read-only pages, to this loopback client (serve records the peer).
    let id = row["id"].as_str().expect("rollout id");
    let (status, list) = get(&base, "/rollouts").await;
    assert_eq!(status, 200, "{list}");
    assert!(list.contains(&format!("href=\"/rollouts/{id}\"")), "{list}");
    let (status, page) = get(&base, &format!("/rollouts/{id}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<span id=\"outcome\" class=\"outcome-promoted\">promoted</span>"),
        "{page}"
    );

    let mut server = server;
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));
}

/// With `SERVE_PAGES_TOKEN` set, the pages want it even from loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pages_want_the_token_when_one_is_set() {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\n[services.demo]\ntarget = \"sim\"\n",
            repo.path()
        ),
    )
    .expect("write config");
    let db = work.path().join("journal.db");
    let server = start_with(work.path(), &config, &db, &[("SERVE_PAGES_TOKEN", "tok")]);
    let (status, says) = get(&server.base, "/rollouts").await;
    assert_eq!(status, 401, "{says}");
    assert!(says.contains("SERVE_PAGES_TOKEN"), "{says}");
    let (status, _) = get(&server.base, "/rollouts?token=tok").await;
    assert_eq!(status, 200);
}

#[test]
fn serve_refuses_to_start_without_the_secret() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = run_cli(work.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GITHUB_WEBHOOK_SECRET"), "{err}");
}

/// Regression: a service with no target (or a half-configured one) was rolled
/// out in the simulator and reported promoted. Now it is a startup error.
#[test]
fn serve_refuses_services_without_a_complete_target() {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    let cases = [
        ("", "names no target"),
        (
            "[services.demo.kubernetes]\nnamespace = \"shop\"\n",
            "no [services.demo.prometheus]",
        ),
        (
            "[services.demo]\ntarget = \"argo\"\n[services.demo.haproxy]\n",
            "no [services.demo.argo] section",
        ),
        (
            "[services.demo.haproxy]\n[services.demo.argo]\n[services.demo.prometheus]\n",
            "several target sections",
        ),
    ];
    for (section, says) in cases {
        std::fs::write(
            &config,
            format!(
                "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\n{section}",
                repo.path()
            ),
        )
        .expect("write config");
        let config = config.display().to_string();
        let out = run_cli(
            work.path(),
            &["serve", "--listen", "127.0.0.1:0", "--config", &config],
            &[("GITHUB_WEBHOOK_SECRET", SECRET)],
        );
        assert_eq!(out.status.code(), Some(2), "{section}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{section}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sha_is_journaled_as_aborted_with_the_reason() {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\n[services.demo]\ntarget = \"sim\"\n",
            repo.path()
        ),
    )
    .expect("write config");
    let db = work.path().join("journal.db");
    let server = start(work.path(), &config, &db);
    let missing = "1234567890abcdef1234567890abcdef12345678";
    let body = push(missing, "main");
    let (status, _) = post(
        &server.base,
        "push",
        &body,
        Some(sign(SECRET.as_bytes(), &body)),
    )
    .await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, m) = get(&server.base, "/metrics").await;
        if m.contains("deploy_agent_rollouts_total{outcome=\"aborted\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "no aborted rollout:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let history = history_json(work.path(), &db);
    let row = &history[0];
    assert_eq!(row["outcome"], "aborted", "{history}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap_or("")
            .contains("could not start"),
        "{history}"
    );
}

/// Load: `SERVE_LOAD_SERVICES` services (default 200), `SERVE_LOAD_PUSHES` signed
/// pushes of as many merges (default 200) sent as fast as the server answers. Checks that every
/// (push, service) pair is either rolled out or superseded, that the journal holds
/// exactly the rollouts counted, and that nothing is left running; prints figures.
/// Run: `cargo test --release --test it serve::load -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run explicitly"]
async fn load_signed_pushes_for_many_services() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (services, pushes, concurrency) = (
        env("SERVE_LOAD_SERVICES", 200),
        env("SERVE_LOAD_PUSHES", 200),
        env("SERVE_LOAD_CONCURRENCY", 200),
    );
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    // One merge per push: a merge is rolled out once, so a repeated sha would
    // only count as a duplicate.
    let shas: Vec<String> = (0..pushes)
        .map(|i| {
            repo.lines("src/app.rs", 21 + i, "a");
            repo.commit(&format!("change {i}"))
        })
        .collect();
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    let names: Vec<String> = (0..services).map(|i| format!("\"svc{i}\"")).collect();
    let simulated: String = (0..services)
        .map(|i| format!("[services.svc{i}]\ntarget = \"sim\"\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [{}]\napprove_as = \"ci-bot\"\n{simulated}",
            repo.path(),
            names.join(", ")
        ),
    )
    .expect("write config");
    let db = work.path().join("journal.db");
    let concurrency_arg = concurrency.to_string();
    let server = start_args(
        work.path(),
        &config,
        &db,
        &[],
        &["--max-concurrent", &concurrency_arg],
    );
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(pushes);
    for i in 0..pushes {
        let body = push(&shas[i % shas.len()], "main");
        let t = Instant::now();
        let (status, text) = post(
            &server.base,
            "push",
            &body,
            Some(sign(SECRET.as_bytes(), &body)),
        )
        .await;
        latencies.push(t.elapsed());
        assert_eq!(status, 202, "{text}");
    }
    let sent = started.elapsed();
    let value = |m: &str, name: &str| -> u64 {
        m.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut peak_active = 0;
    let metrics = loop {
        let (_, m) = get(&server.base, "/metrics").await;
        peak_active = peak_active.max(value(&m, "deploy_agent_active_rollouts"));
        let done =
            value(&m, "deploy_agent_rollouts_total{") + value(&m, "deploy_agent_superseded_total");
        if done == (services * pushes) as u64 && value(&m, "deploy_agent_active_rollouts") == 0 {
            break m;
        }
        assert!(Instant::now() < deadline, "not drained:\n{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let drained = started.elapsed();
    let rollouts = value(&metrics, "deploy_agent_rollouts_total{");
    let promoted = value(
        &metrics,
        "deploy_agent_rollouts_total{outcome=\"promoted\"}",
    );
    assert_eq!(promoted, rollouts, "{metrics}");
    let history = history_json(work.path(), &db);
    let rows = history.as_array().expect("history rows");
    assert_eq!(rows.len() as u64, rollouts);
    // A complete journal: every rollout ended, with its outcome and reason.
    assert!(
        rows.iter().all(|r| r["outcome"] == "promoted"
            && !r["finished_at"].is_null()
            && r["reason"].as_str().is_some_and(|s| !s.is_empty())),
        "an unfinished or incomplete rollout in the journal"
    );
    let peak = peak_rss_mib(server.child.id());
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "serve load: {services} services × {pushes} pushes = {} jobs; {rollouts} rollouts \
         (all promoted), {} superseded; pushes sent in {sent:.2?} (webhook p50 {:.2?}, p99 {:.2?}); \
         drained in {drained:.2?} ({:.1} rollouts/s); up to {peak_active} rollouts running at once \
         seen (--max-concurrent {concurrency}); server peak RSS {peak:.1} MiB",
        services * pushes,
        value(&metrics, "deploy_agent_superseded_total"),
        pct(0.5),
        pct(0.99),
        rollouts as f64 / drained.as_secs_f64(),
    );
}

/// The peak resident set of process `pid` (Linux `VmHWM`), in MiB.
pub(crate) fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024.0
}

/// `deploy-agent history --format json` of the journal `db`, every rollout.
pub(crate) fn history_json(dir: &Path, db: &Path) -> Value {
    let db = db.to_str().expect("utf-8");
    let args = [
        "history",
        "--format",
        "json",
        "--limit",
        "1000000",
        "--journal",
        db,
    ];
    json(&run_cli(dir, &args, &[]))
}
