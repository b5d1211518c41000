//! Several `serve` replicas on one real PostgreSQL journal, as real processes on
//! loopback: every merge rolled out exactly once (redeliveries, and the push and
//! the pull_request of one merge, sent to different replicas), never two live
//! rollouts of one service at once, a SIGKILLed replica's rollouts taken over
//! within a lease period, and a paused (SIGSTOP) owner fenced when it wakes.
//! Figures print with `--nocapture`.

use std::path::Path;
use std::time::{Duration, Instant};

use deploy_agent::journal::{Journal, PostgresJournal, RolloutRecord};
use deploy_agent::serve::webhook::sign;

use crate::serve::{peak_rss_mib, start_args, Server, SECRET};
use crate::support::postgres::database;
use crate::support::repo::Repo;

const SERVICES: usize = 20;
/// A lease lasts 2 s without a renewal, renewed every 0.4 s.
const LEASE: &str = "[journal]\nlease_ttl_secs = 2\nlease_heartbeat_secs = 0.4\n";

fn config(dir: &Path, repo: &Path) -> std::path::PathBuf {
    let names: Vec<String> = (0..SERVICES).map(|i| format!("\"svc{i:02}\"")).collect();
    let sims: String = (0..SERVICES)
        .map(|i| format!("[services.svc{i:02}]\ntarget = \"sim\"\n"))
        .collect();
    let text = format!(
        "{LEASE}[serve]\nrepo = {repo:?}\nservices = [{}]\napprove_as = \"ci-bot\"\nrepositories = [\"acme/shop\"]\n{sims}",
        names.join(", ")
    );
    let path = dir.join("deploy-agent.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// A repository whose merges are config changes (medium risk: three bakes).
fn repo(merges: usize) -> (Repo, Vec<String>) {
    let r = Repo::new();
    r.lines("config/app.yaml", 20, "a");
    r.commit("initial");
    let shas = (0..merges)
        .map(|i| {
            r.lines("config/app.yaml", 21 + i, "b");
            r.commit(&format!("merge {i}"))
        })
        .collect();
    (r, shas)
}

fn replicas(n: usize, dir: &Path, config: &Path, db: &str, pace: &str) -> Vec<Server> {
    let args = ["--pace", pace, "--max-concurrent", "20"];
    (0..n)
        .map(|_| start_args(dir, config, Path::new(db), &[], &args))
        .collect()
}

async fn deliver(base: &str, event: &str, delivery: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("Content-Type", "application/json")
        .header(
            "X-Hub-Signature-256",
            sign(SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body.to_string())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("POST webhook")
        .status()
        .as_u16()
}

fn push(sha: &str) -> String {
    serde_json::json!({"ref": "refs/heads/main", "after": sha,
        "repository": {"full_name": "acme/shop", "default_branch": "main"}})
    .to_string()
}

fn merged_pull_request(sha: &str) -> String {
    serde_json::json!({"action": "closed", "pull_request": {"merged": true,
        "merge_commit_sha": sha, "base": {"ref": "main"}},
        "repository": {"full_name": "acme/shop", "default_branch": "main"}})
    .to_string()
}

/// Rollouts of `sha`, once `count` of them have finished (within `wait`).
async fn finished(
    journal: &PostgresJournal,
    sha: &str,
    count: usize,
    wait: Duration,
) -> Vec<RolloutRecord> {
    let deadline = Instant::now() + wait;
    loop {
        let rows: Vec<RolloutRecord> = journal
            .list(None, 10_000)
            .expect("history")
            .into_iter()
            .filter(|r| r.rev == sha)
            .collect();
        if rows.iter().filter(|r| r.finished_at.is_some()).count() >= count {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} rollouts of {sha} finished: {rows:#?}",
            rows.iter().filter(|r| r.finished_at.is_some()).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// No service had two live rollouts at one time (from the journal's own times).
fn one_owner_at_a_time(rows: &[RolloutRecord]) {
    for i in 0..SERVICES {
        let service = format!("svc{i:02}");
        let mut spans: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.service == service)
            .map(|r| (r.started_at, r.finished_at.unwrap_or(f64::MAX)))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in spans.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "{service}: overlapping rollouts {spans:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_roll_each_merge_out_once_and_one_rollout_per_service_at_a_time() {
    let url = database("replicas_once");
    let (repo, shas) = repo(2);
    let work = tempfile::tempdir().unwrap();
    let config = config(work.path(), repo.path());
    let servers = replicas(3, work.path(), &config, &url, "0.002");
    let journal = PostgresJournal::open(&url).expect("journal");
    let started = Instant::now();
    let mut duplicates_sent = 0;
    for (m, sha) in shas.iter().enumerate() {
        // The push to one replica, its redelivery to another, and the merged
        // pull_request of the same merge to the third, all at once.
        let (a, b, c) = (&servers[0].base, &servers[1].base, &servers[2].base);
        let (push_id, pr_id) = (format!("push-{m}"), format!("pr-{m}"));
        let (p, pr) = (push(sha), merged_pull_request(sha));
        let sent = tokio::join!(
            deliver(a, "push", &push_id, &p),
            deliver(b, "push", &push_id, &p),
            deliver(c, "pull_request", &pr_id, &pr),
        );
        for status in [sent.0, sent.1, sent.2] {
            assert!(status == 200 || status == 202, "{status}");
        }
        duplicates_sent += 2;
        let rows = finished(&journal, sha, SERVICES, Duration::from_secs(120)).await;
        assert_eq!(
            rows.len(),
            SERVICES,
            "exactly one rollout per service: {rows:#?}"
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rows = journal.list(None, 10_000).unwrap();
    assert_eq!(rows.len(), SERVICES * shas.len());
    assert!(
        rows.iter()
            .all(|r| r.outcome.as_deref() == Some("promoted")),
        "{rows:#?}"
    );
    one_owner_at_a_time(&rows);
    let mut dropped = 0.0;
    let mut rss = Vec::new();
    for s in &servers {
        dropped += metric(&s.base, "deploy_agent_duplicates_dropped_total").await;
        rss.push(peak_rss_mib(s.child.id()));
    }
    // Per merge: the redelivery is always dropped whole; the push and the
    // pull_request may split the services between them (each then drops the
    // other's), so one or two more deliveries count a duplicate.
    let merges = shas.len() as f64;
    assert!(
        dropped >= merges && dropped <= 3.0 * merges,
        "{dropped} of {duplicates_sent}"
    );
    println!(
        "replicas: 3 serve on one PostgreSQL, {} rollouts of {} merges in {elapsed:.1} s ({:.1} rollouts/s), {dropped} duplicate deliveries/merges dropped of {duplicates_sent} sent, peak RSS per replica {:?} MiB",
        rows.len(),
        shas.len(),
        rows.len() as f64 / elapsed,
        rss.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>()
    );
}

/// Waits until `count` rollouts of `sha` are live with traffic on the canary.
async fn live_with_traffic(journal: &PostgresJournal, sha: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live: Vec<String> = journal
            .list(None, 10_000)
            .unwrap()
            .into_iter()
            .filter(|r| r.rev == sha && r.finished_at.is_none() && r.weight > 0)
            .map(|r| r.id)
            .collect();
        if live.len() >= count {
            return live;
        }
        assert!(Instant::now() < deadline, "only {} live", live.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(server: &Server, name: &str) {
    let ok = std::process::Command::new("kill")
        .args([format!("-{name}"), server.child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{name}");
}

fn wall() -> f64 {
    deploy_agent::journal::wall_now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_rollouts_are_taken_over_within_a_lease_period() {
    let url = database("replicas_takeover");
    let (repo, shas) = repo(1);
    let work = tempfile::tempdir().unwrap();
    let config = config(work.path(), repo.path());
    // Slow rollouts (a 120 s bake takes 6 s) so they are in flight when killed.
    let mut servers = replicas(3, work.path(), &config, &url, "0.05");
    let journal = PostgresJournal::open(&url).expect("journal");
    let sha = &shas[0];
    assert_eq!(
        deliver(&servers[0].base, "push", "kill-1", &push(sha)).await,
        202
    );
    let victims = live_with_traffic(&journal, sha, SERVICES).await;
    let killed_at = wall();
    signal(&servers[0], "KILL");
    let _ = servers[0].child.wait();
    let rows = finished(&journal, sha, SERVICES, Duration::from_secs(60)).await;
    let mut latencies = Vec::new();
    for id in &victims {
        let r = rows.iter().find(|r| &r.id == id).unwrap();
        assert_eq!(r.outcome.as_deref(), Some("rolled_back"), "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap_or_default()
                .contains("resumed after a crash"),
            "{r:?}"
        );
        let events = journal.events(id).unwrap();
        // The seam: the first event the taker wrote, and no traffic change twice.
        let taken = events
            .iter()
            .find(|e| e.wall >= killed_at && e.kind == "auto_rollback")
            .expect("the takeover's rollback");
        latencies.push(taken.wall - killed_at);
        let ups: Vec<(u64, u64)> = events
            .iter()
            .filter(|e| e.kind == "weight_changed")
            .map(|e| {
                (
                    e.payload["from"].as_u64().unwrap(),
                    e.payload["to"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut seen = ups.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            ups.len(),
            "a weight change applied twice: {ups:?}"
        );
    }
    let takeovers = metric(&servers[1].base, "deploy_agent_takeovers_total").await
        + metric(&servers[2].base, "deploy_agent_takeovers_total").await;
    assert_eq!(takeovers as usize, victims.len());
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    let p95 = latencies[((latencies.len() as f64 - 1.0) * 0.95) as usize];
    // Within one lease period (2 s) of the expiry, plus a heartbeat to notice.
    assert!(p95 < 2.0 + 2.0 + 1.0, "takeover p95 {p95:.2} s");
    println!(
        "takeover after SIGKILL: {} rollouts, median {median:.2} s, p95 {p95:.2} s (lease ttl 2 s, heartbeat 0.4 s)",
        victims.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_is_fenced_when_it_wakes_up() {
    let url = database("replicas_fenced");
    let (repo, shas) = repo(1);
    let work = tempfile::tempdir().unwrap();
    let config = config(work.path(), repo.path());
    let mut servers = replicas(2, work.path(), &config, &url, "0.05");
    let journal = PostgresJournal::open(&url).expect("journal");
    let sha = &shas[0];
    assert_eq!(
        deliver(&servers[0].base, "push", "stop-1", &push(sha)).await,
        202
    );
    let victims = live_with_traffic(&journal, sha, SERVICES).await;
    signal(&servers[0], "STOP");
    let rows = finished(&journal, sha, SERVICES, Duration::from_secs(60)).await;
    let generations: Vec<u64> = journal
        .leases()
        .unwrap()
        .iter()
        .map(|l| l.generation)
        .collect();
    assert!(
        generations.iter().all(|g| *g >= 2),
        "taken over: {generations:?}"
    );
    let before: Vec<usize> = victims
        .iter()
        .map(|id| journal.events(id).unwrap().len())
        .collect();
    signal(&servers[0], "CONT");
    // Awake: it notices the lease is gone and changes nothing more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while !log.contains("no further change") {
        assert!(
            Instant::now() < deadline,
            "the woken owner never noticed:\n{log}"
        );
        if let Ok(line) = servers[0].next_line(Duration::from_millis(200)) {
            log.push_str(&line);
            log.push('\n');
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (id, n) in victims.iter().zip(before) {
        assert_eq!(
            journal.events(id).unwrap().len(),
            n,
            "{id}: the woken owner wrote"
        );
        let r = rows.iter().find(|r| &r.id == id).unwrap();
        assert_eq!(r.outcome.as_deref(), Some("rolled_back"));
    }
    let _ = servers[0].child.kill();
}
