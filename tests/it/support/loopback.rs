//! Real components on loopback for end-to-end tests: the project's own test
//! service, HAProxy 2.6 and Prometheus 2.42 as child processes (see
//! /work/shared/RECIPES.md), killed when their guard drops.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A child process, killed and reaped on drop.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Owns `child`: killed and reaped on drop.
    pub fn new(name: &str, child: Child) -> Proc {
        Proc {
            name: name.into(),
            child,
        }
    }

    /// Panics with the log when the process has already exited.
    pub fn assert_running(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status}):\n{}",
                self.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

/// The path of a required binary; a missing one fails the test (CI installs them).
pub fn require(bin: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{bin}` not found: the end-to-end test needs real HAProxy and Prometheus. \
                 Run `apt-get update && apt-get install -y --no-install-recommends prometheus haproxy` \
                 (CI installs them in .ci/run)"
            )
        })
}

/// A free loopback port (bound then released: fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The test service (`examples/testsvc`), next to the agent's binary, built
/// (or found up to date) once per run: a run of one test target (`--test it`)
/// does not build examples, and a stale one must never answer (cargo holds no
/// lock while tests run).
pub fn testsvc_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let agent = Path::new(env!("CARGO_BIN_EXE_deploy-agent"));
            let bin = agent.with_file_name("examples").join("testsvc");
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "--example",
                    "testsvc",
                    "--manifest-path",
                ])
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .status()
                .expect("run cargo build --example testsvc");
            assert!(
                status.success() && bin.exists(),
                "cargo build --example testsvc failed"
            );
            bin
        })
        .clone()
}

/// Starts the test service on a port it picks and returns it with its address.
pub fn testsvc(version: &str, error_rate: f64, seed: u64) -> (Proc, SocketAddr) {
    let mut child = Command::new(testsvc_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--version", version])
        .args([
            "--error-rate",
            &error_rate.to_string(),
            "--latency-ms",
            "20",
        ])
        .args(["--seed", &seed.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the test service");
    let stdout = child.stdout.take().expect("stdout");
    let proc = Proc {
        name: format!("testsvc {version}"),
        child,
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read testsvc stdout");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("testsvc {version} said {line:?}"));
    (proc, addr)
}

/// Starts `program args` with stdout and stderr in `log`.
pub fn spawn_logged(name: &str, program: &Path, args: &[String], log: &Path) -> Proc {
    let file = std::fs::File::create(log).expect("log file");
    let child = Command::new(program)
        .args(args)
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    Proc {
        name: name.into(),
        child,
    }
}

/// Sends one command to HAProxy's runtime API and reads the answer to EOF.
pub fn haproxy_cmd(socket: &Path, line: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

/// A server's weight as HAProxy reports it (`25 (initial 0)` → 25).
pub fn haproxy_weight(socket: &Path, backend_server: &str) -> u16 {
    let answer = haproxy_cmd(socket, &format!("get weight {backend_server}")).expect("runtime API");
    answer
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("get weight {backend_server}: {answer:?}"))
}

/// Polls `check` every 100 ms until it holds or `limit` passes; panics with `what`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Steady load on one frontend: `rps` GETs a second, each on its own task, until dropped.
pub struct Load {
    task: tokio::task::JoinHandle<()>,
    pub ok: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
}

impl Load {
    pub fn start(url: String, rps: u32) -> Self {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (o, f) = (ok.clone(), failed.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (http, url, o, f) = (http.clone(), url.clone(), o.clone(), f.clone());
                tokio::spawn(async move {
                    match http.get(&url).send().await {
                        Ok(r) if r.status().is_success() => o.fetch_add(1, Ordering::Relaxed),
                        _ => f.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
        });
        Self { task, ok, failed }
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on a fresh loopback port in the background of the current
/// runtime; returns its address. Every fake server (model, Slack, Kubernetes)
/// starts this way.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// [`serve`] with each request's peer address (`ConnectInfo<SocketAddr>`), as
/// `deploy-agent serve` records it.
pub async fn serve_with_peer(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    addr
}
