//! A real PostgreSQL server for the journal tests: one per test binary run, on a
//! free loopback port in a temp dir, started on first use; each test gets its own
//! database. Debian keeps the server binaries in /usr/lib/postgresql/VERSION/bin
//! (not on PATH), so they are found by glob; a missing install fails the test.
//!
//! A `static` is never dropped, so the server is stopped by a watchdog shell that
//! waits for EOF on a pipe only this process holds: when the test binary exits (or
//! is killed) the pipe closes and the watchdog runs `pg_ctl stop -m immediate` and
//! removes the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::loopback::free_port;

/// The shared server; its stop pipe is held for the life of the process.
pub struct PgServer {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    /// The watchdog and the write end of its pipe.
    stop: Mutex<Option<(ChildStdin, Child)>>,
}

static SERVER: OnceLock<PgServer> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The server, started by the first caller (≈3 s).
pub fn server() -> &'static PgServer {
    SERVER.get_or_init(PgServer::start)
}

/// A new empty database on the shared server, as the journal URL to open it.
pub fn database(name: &str) -> String {
    server().create_database(name)
}

impl PgServer {
    fn start() -> Self {
        let bin = bin_dir();
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("deploy-agent-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("postgres temp dir");
        let root = is_root();
        if root {
            must(
                Command::new("chown").args(["postgres:postgres"]).arg(&dir),
                "chown",
            );
        }
        let data = dir.join("data");
        must(
            as_postgres(root, &bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]),
            "initdb",
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
            dir.display()
        );
        let started = as_postgres(root, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .status()
            .expect("run pg_ctl start");
        if !started.success() {
            panic!(
                "pg_ctl start failed ({started}):\n{}",
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
        }
        let stop = watchdog(root, &bin, &dir);
        Self {
            port,
            dir,
            bin,
            stop: Mutex::new(Some(stop)),
        }
    }

    /// A URL for the journal (user `postgres`, trust auth: no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates `NAME_N` (unique in this run) with `createdb`, so no client runs in the test's runtime.
    pub fn create_database(&self, name: &str) -> String {
        let db = format!("{name}_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        must(
            Command::new(self.bin.join("createdb"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .arg(&db),
            "createdb",
        );
        self.url(&db)
    }

    /// Stops the server now (closing the pipe wakes the watchdog) and waits for it to go.
    pub fn stop(&self) {
        let watchdog = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((pipe, mut child)) = watchdog {
            drop(pipe);
            let _ = child.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest /usr/lib/postgresql/*/bin with initdb, else a directory on PATH with it.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin \
                 or on PATH: the Postgres journal tests need a real server. Run \
                 `apt-get update && apt-get install -y --no-install-recommends postgresql` \
                 (Debian package `postgresql`; CI installs it in .ci/run)"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// initdb and pg_ctl refuse to run as root: as root, run them as `postgres`.
fn as_postgres(root: bool, program: &Path) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn must(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A shell that stops the server and removes `dir` once its stdin reaches EOF.
fn watchdog(root: bool, bin: &Path, dir: &Path) -> (ChildStdin, Child) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if root {
        "runuser -u postgres -- \"$0\" -D \"$1/data\" stop -m immediate"
    } else {
        "\"$0\" -D \"$1/data\" stop -m immediate"
    };
    let script = format!("cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf \"$1\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&pg_ctl)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the postgres watchdog");
    let pipe = child.stdin.take().expect("watchdog stdin");
    (pipe, child)
}
