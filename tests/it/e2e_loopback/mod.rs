//! End to end on loopback: a real HAProxy splits real traffic between instances
//! of the test service (`examples/testsvc`), a real Prometheus scrapes HAProxy's
//! exporter and the services, and the real `deploy-agent rollout --target haproxy`
//! decides. Two services roll out at once on one HAProxy and one Prometheus:
//! `bad` (canary 20 % errors against 1 %) must be rolled back with its canary weight
//! back to 0, and `good` (1 % against 1 %) promoted. Both use the HAProxy preset:
//! `bad` on backend `be_app`, `good` on `be_good` with other server names, which
//! the preset must query (it once always asked for `be_app`). Then the target
//! left at canary 100 % by `good`'s promotion is refused (and adopted with
//! `--adopt`), misconfigured services fail their preflight with exit 2, and the
//! agent is killed between HAProxy and the journal.
//!
//! Needs `haproxy` and `prometheus` installed: missing ones fail the test, they do
//! not skip it (`.ci/run` installs them).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::loopback::{
    free_port, haproxy_cmd, haproxy_weight, require, spawn_logged, testsvc, wait_until, Load, Proc,
};
use crate::support::repo::Repo;
use crate::support::{after_short_lease, stderr, stdout, SHORT_LEASE};

mod doctor;
use doctor::doctor_checklist;

/// Requests per second through each frontend.
const RPS: u32 = 150;

/// The default policy made fast: every level is a canary 20 % → 50 % → promote with
/// 6 s bakes, judged every 3 s (two 1 s scrapes per window at least). The judge
/// asks for a 5× error ratio to be caught (a 2× one needs ~100 errors per step to
/// pass) and tests the share of requests above the baseline's p60, because the test
/// service's buckets are coarse: its latencies fill the 25 ms and 50 ms buckets,
/// so above the bucket holding p80 or p99 there are almost no requests and the tail
/// test would have no events to pass on (measured: 4 in 5,000).
fn fast_policy() -> String {
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/default.toml"
    ))
    .expect("default policy");
    let (head, rest) = default.split_once("[strategy.low]").expect("strategies");
    let (_, tail) = rest.split_once("[approval]").expect("approval");
    let canary =
        "kind = \"canary\"\nfirst_weight = 20\nstep = 30\nbake_seconds = 6\npromote_at = 50\n\n";
    let strategies: String = ["low", "medium", "high", "critical"]
        .iter()
        .map(|l| format!("[strategy.{l}]\n{canary}"))
        .collect();
    let mut text = format!("{head}{strategies}[approval]{tail}");
    for (key, value) in [
        ("check_interval_seconds", "3"),
        ("max_duration_seconds", "100"),
        ("max_inconclusive_bakes", "10"),
        ("beta", "0.05"),
        ("error_bad_ratio", "5.0"),
        ("latency_auc_margin", "0.05"),
        ("latency_auc_pass", "0.15"),
        ("tail_quantile", "0.6"),
    ] {
        text = set_key(&text, key, value);
    }
    text
}

/// Replaces the value of the first `key = ...` line.
fn set_key(text: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key} = ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{key}` in the default policy"));
    text.replacen(line, &format!("{prefix}{value}"), 1)
}

fn haproxy_config(dir: &Path, ports: &Ports, s: &[std::net::SocketAddr; 4]) -> String {
    format!(
        "global
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend fe_bad
  bind 127.0.0.1:{bad}
  default_backend be_app
frontend fe_good
  bind 127.0.0.1:{good}
  default_backend be_good
frontend prom
  bind 127.0.0.1:{exporter}
  http-request use-service prometheus-exporter if {{ path /metrics }}
backend be_app
  balance roundrobin
  server stable {s0} weight 100 check inter 1s
  server canary {s1} weight 0 check inter 1s
backend be_good
  balance roundrobin
  server good-stable {s2} weight 100 check inter 1s
  server good-canary {s3} weight 0 check inter 1s
",
        sock = dir.join("admin.sock").display(),
        bad = ports.bad,
        good = ports.good,
        exporter = ports.exporter,
        s0 = s[0],
        s1 = s[1],
        s2 = s[2],
        s3 = s[3],
    )
}

fn prometheus_config(ports: &Ports, s: &[std::net::SocketAddr; 4]) -> String {
    format!(
        "global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: haproxy
    static_configs: [{{targets: ['127.0.0.1:{exporter}']}}]
  - job_name: bad
    static_configs: [{{targets: ['{s0}', '{s1}']}}]
  - job_name: good
    static_configs: [{{targets: ['{s2}', '{s3}']}}]
",
        exporter = ports.exporter,
        s0 = s[0],
        s1 = s[1],
        s2 = s[2],
        s3 = s[3],
    )
}

/// `bad` takes the HAProxy preset as is; `good` spells its templates out.
fn agent_config(dir: &Path, ports: &Ports) -> String {
    let sock = dir.join("admin.sock").display().to_string();
    format!(
        r#"[services.bad.haproxy]
socket = "{sock}"
backend = "be_app"

[services.bad.prometheus]
url = "http://127.0.0.1:{prom}"
timeout_ms = 2000

[services.good.haproxy]
socket = "{sock}"
backend = "be_good"
stable_server = "good-stable"
canary_server = "good-canary"

[services.good.prometheus]
url = "http://127.0.0.1:{prom}/"
stable_version = "good-stable"
canary_version = "good-canary"

[services.gone.haproxy]
socket = "{missing}"

[services.gone.prometheus]
url = "http://127.0.0.1:{prom}"

[services.typo.haproxy]
socket = "{sock}"
backend = "be_goood"

[services.typo.prometheus]
url = "http://127.0.0.1:{prom}"

[services.unscraped.haproxy]
socket = "{sock}"

[services.unscraped.prometheus]
url = "http://127.0.0.1:{prom}"
backend = "be_nobody_scrapes"

[services.noserver.haproxy]
socket = "{sock}"
canary_server = "canry"

[services.noserver.prometheus]
url = "http://127.0.0.1:{prom}"

[services.noprom.haproxy]
socket = "{sock}"

[services.noprom.prometheus]
url = "http://127.0.0.1:{closed}"
timeout_ms = 500
max_retries = 0
"#,
        closed = free_port(),
        missing = dir.join("no-such-dir/admin.sock").display(),
        prom = ports.prometheus,
    )
}

struct Ports {
    bad: u16,
    good: u16,
    exporter: u16,
    prometheus: u16,
}

/// Everything running; dropping it stops the load and kills every process.
struct Stack {
    dir: tempfile::TempDir,
    _loads: Vec<Load>,
    _procs: Vec<Proc>,
}

impl Stack {
    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("admin.sock")
    }

    fn logs(&self) -> String {
        ["haproxy.log", "prometheus.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!("--- {f} (last lines, newest first)\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn start_stack() -> Stack {
    let haproxy = require("haproxy");
    let prometheus = require("prometheus");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut procs = Vec::new();
    let mut addrs = Vec::new();
    for (i, (version, errors)) in [
        ("stable", 0.01),
        ("canary", 0.20),
        ("good-stable", 0.01),
        ("good-canary", 0.01),
    ]
    .into_iter()
    .enumerate()
    {
        let (p, addr) = testsvc(version, errors, 11 + i as u64);
        procs.push(p);
        addrs.push(addr);
    }
    let services: [std::net::SocketAddr; 4] = addrs.try_into().expect("four services");
    let ports = Ports {
        bad: free_port(),
        good: free_port(),
        exporter: free_port(),
        prometheus: free_port(),
    };
    let d = dir.path();
    std::fs::write(d.join("haproxy.cfg"), haproxy_config(d, &ports, &services)).unwrap();
    std::fs::write(
        d.join("prometheus.yml"),
        prometheus_config(&ports, &services),
    )
    .unwrap();
    std::fs::write(d.join("deploy-agent.toml"), agent_config(d, &ports)).unwrap();
    std::fs::write(d.join("policy.toml"), fast_policy()).unwrap();
    let mut hap = spawn_logged(
        "haproxy",
        &haproxy,
        &[
            "-db".into(),
            "-f".into(),
            d.join("haproxy.cfg").display().to_string(),
        ],
        &d.join("haproxy.log"),
    );
    let prom = spawn_logged(
        "prometheus",
        &prometheus,
        &[
            format!("--config.file={}", d.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", d.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{}", ports.prometheus),
            "--log.level=warn".into(),
        ],
        &d.join("prometheus.log"),
    );
    let socket = d.join("admin.sock");
    wait_until("HAProxy's runtime API", Duration::from_secs(10), || {
        let ok = haproxy_cmd(&socket, "get weight be_app/canary").is_ok();
        async move { ok }
    })
    .await;
    hap.assert_running(&d.join("haproxy.log"));
    procs.push(hap);
    procs.push(prom);
    let loads = vec![
        Load::start(format!("http://127.0.0.1:{}/", ports.bad), RPS),
        Load::start(format!("http://127.0.0.1:{}/", ports.good), RPS),
    ];
    // Prometheus throttles discovery: the first scrape lands ≈6 s after start.
    let http = reqwest::Client::new();
    let up = format!(
        "http://127.0.0.1:{}/api/v1/query?query=count(up%3D%3D1)",
        ports.prometheus
    );
    wait_until(
        "Prometheus to scrape all 5 targets",
        Duration::from_secs(30),
        || {
            let (http, up) = (http.clone(), up.clone());
            async move {
                let Ok(r) = http.get(&up).send().await else {
                    return false;
                };
                let body: Value = r.json().await.unwrap_or_default();
                body["data"]["result"][0]["value"][1] == "5"
            }
        },
    )
    .await;
    // Two more scrapes, so the first 3 s window has samples on both sides.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Stack {
        dir,
        _loads: loads,
        _procs: procs,
    }
}

async fn rollout(repo: &Path, dir: &Path, service: &str, extra: &[&str]) -> Output {
    let args = [
        "rollout",
        "HEAD",
        "--service",
        service,
        "--target",
        "haproxy",
        "--format",
        "jsonl",
        "--approve-as",
        "e2e",
    ];
    agent(repo, dir, &[&args[..], extra].concat(), &[]).await
}

/// Runs `deploy-agent ARGS --config DIR/deploy-agent.toml` in `repo` with `env`.
async fn agent(repo: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_deploy-agent"));
    cmd.current_dir(repo)
        .args(args)
        .arg("--config")
        .arg(dir.join("deploy-agent.toml"))
        .envs(env.iter().copied())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("PROMETHEUS_BEARER_TOKEN")
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("DEPLOY_AGENT_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().await.expect("run deploy-agent rollout")
}

fn summary(out: &Output) -> Value {
    let last = stdout(out).lines().last().unwrap_or_default().to_string();
    serde_json::from_str(&last).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_canary_is_rolled_back_and_good_one_promoted_on_real_haproxy_and_prometheus() {
    let t0 = Instant::now();
    let stack = start_stack().await;
    let ready = t0.elapsed();
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    repo.lines("src/app.rs", 24, "b");
    repo.commit("tune the handler");
    let policy = stack.dir.path().join("policy.toml").display().to_string();
    let fast = ["--policy", policy.as_str()];
    let (bad, good) = tokio::join!(
        rollout(repo.path(), stack.dir.path(), "bad", &fast),
        rollout(repo.path(), stack.dir.path(), "good", &fast),
    );
    let explain = |name: &str, out: &Output| {
        format!(
            "{name}: exit {:?}\nstdout:\n{}\nstderr:\n{}\n{}",
            out.status.code(),
            stdout(out),
            stderr(out),
            stack.logs()
        )
    };
    let socket = stack.socket();

    let s = summary(&bad);
    assert_eq!(bad.status.code(), Some(4), "{}", explain("bad", &bad));
    assert_eq!(s["outcome"], "rolled_back", "{}", explain("bad", &bad));
    let reason = s["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("error_rate"), "{reason}");
    assert_eq!(haproxy_weight(&socket, "be_app/canary"), 0);
    assert_eq!(haproxy_weight(&socket, "be_app/stable"), 100);

    let s = summary(&good);
    assert_eq!(good.status.code(), Some(0), "{}", explain("good", &good));
    assert_eq!(s["outcome"], "promoted", "{}", explain("good", &good));
    assert_eq!(haproxy_weight(&socket, "be_good/good-canary"), 100);
    assert_eq!(haproxy_weight(&socket, "be_good/good-stable"), 0);

    // The promotion left `good` at canary 100 / stable 0: a new rollout that
    // "starts at 0 %" would send 100 % back to the old server. It is refused,
    // before anything is recorded or moved.
    let short = stack.dir.path().join("short.toml");
    std::fs::write(&short, set_key(&fast_policy(), "max_duration_seconds", "4")).unwrap();
    let short = short.display().to_string();
    let refused = rollout(repo.path(), stack.dir.path(), "good", &["--policy", &short]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        explain("refused", &refused)
    );
    let told = stderr(&refused);
    assert!(
        told.contains("already serves the canary at 100%")
            && told.contains("earlier promotion")
            && told.contains("--adopt")
            && told.contains("set weight be_good/good-canary 0"),
        "{}",
        explain("refused", &refused)
    );
    assert_eq!(haproxy_weight(&socket, "be_good/good-canary"), 100);

    // --adopt --dry-run: it starts from the live 100 %, and prints (sends none
    // of) the runtime-API commands of the rollback its 4 s budget ends in.
    let dry = rollout(
        repo.path(),
        stack.dir.path(),
        "good",
        &["--policy", &short, "--dry-run", "--adopt"],
    )
    .await;
    assert_eq!(dry.status.code(), Some(5), "{}", explain("dry run", &dry));
    let printed = stderr(&dry);
    let sock = socket.display();
    for line in [
        "set weight be_good/good-canary 0",
        "set weight be_good/good-stable 100",
    ] {
        let want = format!("dry-run: would send to unix:{sock}: {line}");
        assert!(printed.contains(&want), "{}", explain("dry run", &dry));
    }
    assert!(
        stdout(&dry).contains(r#""event":"adopted""#),
        "{}",
        explain("dry run", &dry)
    );
    assert_eq!(haproxy_weight(&socket, "be_good/good-canary"), 100);
    assert_eq!(haproxy_weight(&socket, "be_good/good-stable"), 0);

    preflight_failures(repo.path(), stack.dir.path(), &fast).await;
    doctor_checklist(repo.path(), stack.dir.path()).await;

    crash_and_resume(repo.path(), stack.dir.path(), &socket, &fast).await;

    eprintln!(
        "e2e: stack ready in {:.1} s, rollouts bad {:.0} s / good {:.0} s, total {:.1} s",
        ready.as_secs_f64(),
        s_duration(&summary(&bad)),
        s_duration(&s),
        t0.elapsed().as_secs_f64()
    );
}

/// Misconfigured services are refused before anything moves, with exit 2 and
/// what to fix: no admin socket, a backend HAProxy does not know, and
/// Prometheus labels that match no series.
async fn preflight_failures(repo: &Path, dir: &Path, fast: &[&str]) {
    for (service, says) in [
        ("gone", "stats socket"),
        ("typo", "No such backend."),
        ("unscraped", "returned no series"),
    ] {
        let started = Instant::now();
        let out = rollout(repo, dir, service, fast).await;
        assert_eq!(out.status.code(), Some(2), "{service}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{service}: {}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{service}: preflight is quick, no budget spent"
        );
        let history = agent(repo, dir, &["history", "--format", "json"], &[]).await;
        assert!(
            !stdout(&history).contains(&format!("\"service\": \"{service}\"")),
            "{service}: nothing journaled: {}",
            stdout(&history)
        );
    }
}

fn s_duration(summary: &Value) -> f64 {
    summary["ended_at"].as_f64().unwrap_or(0.0) - summary["started_at"].as_f64().unwrap_or(0.0)
}

/// The agent dies between the journal and the real HAProxy (FAILPOINTS aborts it
/// like a SIGKILL): right after the first weight reached HAProxy but before the
/// intent was marked applied, then right after the intent but before HAProxy was
/// touched. `resume` reads HAProxy's live weight, marks the intent applied or not
/// accordingly (never sending it again), and rolls back.
async fn crash_and_resume(repo: &Path, dir: &Path, socket: &Path, fast: &[&str]) {
    for (point, reached_haproxy) in [("after_effect", true), ("after_intent", false)] {
        let spec = format!("{point}=abort");
        let args = [
            &[
                "rollout",
                "HEAD",
                "--service",
                "bad",
                "--target",
                "haproxy",
                "--format",
                "jsonl",
                "--approve-as",
                "e2e",
            ][..],
            fast,
        ]
        .concat();
        let env = [
            ("FAILPOINTS", spec.as_str()),
            SHORT_LEASE[0],
            SHORT_LEASE[1],
        ];
        let crashed = agent(repo, dir, &args, &env).await;
        assert!(
            stderr(&crashed).contains(&format!("failpoint {point}")),
            "{point}: {}",
            stderr(&crashed)
        );
        assert!(!crashed.status.success(), "{point}: the agent was aborted");
        let live = haproxy_weight(socket, "be_app/canary");
        assert_eq!(live > 0, reached_haproxy, "{point}: canary at {live}%");
        after_short_lease();

        let out = agent(repo, dir, &["resume", "--format", "json"], &[]).await;
        assert_eq!(out.status.code(), Some(0), "{point}: {}", stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).expect("resume json");
        let r = &report["resumed"][0];
        assert_eq!(r["live_weight"], live, "{point}: {report}");
        assert_eq!(r["outcome"], "rolled_back", "{point}: {report}");
        let intents = r["intents"].as_array().expect("intents");
        assert_eq!(intents.len(), 1, "{point}: one open intent: {report}");
        assert_eq!(intents[0]["kind"], "set_weight");
        assert_eq!(intents[0]["applied"], reached_haproxy, "{point}: {report}");
        assert_eq!(haproxy_weight(socket, "be_app/canary"), 0, "{point}");
        assert_eq!(haproxy_weight(socket, "be_app/stable"), 100, "{point}");
    }
}
