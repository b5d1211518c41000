//! The router against a fake runtime API that answers like HAProxy 2.6 (texts
//! recorded from `haproxy -db` with `stats socket ... level admin`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;

/// How the fake behaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Normal,
    /// Answers `set weight` as if it worked but keeps the old weight.
    IgnoreSets,
    /// Accepts connections and never answers.
    Hang,
}

#[derive(Clone)]
struct FakeHaproxy {
    weights: Arc<Mutex<BTreeMap<String, u16>>>,
    log: Arc<Mutex<Vec<String>>>,
    mode: Mode,
}

impl FakeHaproxy {
    fn answer(&self, line: &str) -> String {
        self.log.lock().unwrap().push(line.to_string());
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut weights = self.weights.lock().unwrap();
        let server = |target: &str| match target.split_once('/') {
            Some(("be_app", srv)) => Ok(srv.to_string()),
            Some(_) => Err("No such backend.\n"),
            None => Err("Require 'backend/server'.\n"),
        };
        match words.as_slice() {
            ["get", "weight", target] => match server(target) {
                Ok(s) => match weights.get(&s) {
                    Some(w) => format!("{w} (initial 0)\n"),
                    None => "No such server.\n".into(),
                },
                Err(e) => e.into(),
            },
            ["set", "weight", target, w] => match (server(target), w.parse::<u16>()) {
                (Err(e), _) => e.into(),
                (Ok(s), _) if !weights.contains_key(&s) => "No such server.\n".into(),
                (Ok(_), Ok(w)) if w > 256 => {
                    "Absolute weight can only be between 0 and 256 inclusive.\n".into()
                }
                (Ok(s), Ok(w)) => {
                    if self.mode != Mode::IgnoreSets {
                        weights.insert(s, w);
                    }
                    String::new()
                }
                (Ok(_), Err(_)) => "Require <weight> or <weight%>.\n".into(),
            },
            _ => "Unknown command, but maybe one of the following ones is a better match:\n".into(),
        }
    }
}

async fn fake(mode: Mode) -> (tempfile::TempDir, FakeHaproxy, HaproxyConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let weights = BTreeMap::from([("stable".to_string(), 100), ("canary".to_string(), 0)]);
    let fake = FakeHaproxy {
        weights: Arc::new(Mutex::new(weights)),
        log: Arc::default(),
        mode,
    };
    let f = fake.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let f = f.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                BufReader::new(read).read_line(&mut line).await.unwrap();
                if f.mode == Mode::Hang {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                let answer = f.answer(line.trim()) + "\n";
                write.write_all(answer.as_bytes()).await.unwrap();
            });
        }
    });
    let config = HaproxyConfig {
        socket: path.display().to_string(),
        timeout_ms: 200,
        max_retries: 1,
        ..HaproxyConfig::default()
    };
    (dir, fake, config)
}

#[tokio::test]
async fn a_share_is_two_weights_set_canary_first_and_read_back() {
    let (_dir, fake, config) = fake(Mode::Normal).await;
    let router = HaproxyRouter::new(config).unwrap();
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    router.set_canary_weight(25).await.unwrap();
    assert_eq!(router.canary_weight().await.unwrap(), 25);
    let sets: Vec<String> = fake
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("set"))
        .cloned()
        .collect();
    assert_eq!(
        sets,
        ["set weight be_app/canary 25", "set weight be_app/stable 75"]
    );
    router.promote().await.unwrap();
    assert_eq!(fake.weights.lock().unwrap()["stable"], 0);
    assert_eq!(router.canary_weight().await.unwrap(), 100);
    router.rollback().await.unwrap();
    router.rollback().await.unwrap();
    let w = fake.weights.lock().unwrap().clone();
    assert_eq!((w["canary"], w["stable"]), (0, 100));
}

#[tokio::test]
async fn unknown_names_are_misconfigured_with_haproxys_text_and_the_fix() {
    let (_dir, _fake, config) = fake(Mode::Normal).await;
    let router = HaproxyRouter::new(HaproxyConfig {
        canary_server: "green".into(),
        ..config.clone()
    })
    .unwrap();
    let err = router.set_canary_weight(10).await.unwrap_err();
    assert!(
        matches!(&err, TrafficError::Misconfigured(m) if m.contains("No such server.") && m.contains("canary_server")),
        "{err}"
    );
    assert!(
        router.preflight().await.is_err(),
        "preflight finds it first"
    );
    let router = HaproxyRouter::new(HaproxyConfig {
        backend: "be_other".into(),
        ..config.clone()
    })
    .unwrap();
    let err = router.canary_weight().await.unwrap_err();
    assert!(
        matches!(&err, TrafficError::Misconfigured(m) if m.contains("No such backend.") && m.contains("be_other")),
        "{err}"
    );
    let router = HaproxyRouter::new(config.clone()).unwrap();
    router.preflight().await.unwrap();
    let router = HaproxyRouter::new(config).unwrap();
    assert!(matches!(
        router.set_canary_weight(101).await,
        Err(TrafficError::Rejected(_))
    ));
}

#[tokio::test]
async fn a_change_that_does_not_stick_is_not_applied() {
    let (_dir, _fake, config) = fake(Mode::IgnoreSets).await;
    let router = HaproxyRouter::new(config).unwrap();
    let err = router.set_canary_weight(30).await.unwrap_err();
    assert!(
        matches!(
            err,
            TrafficError::NotApplied {
                wanted: 30,
                found: 0
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn silence_and_absence_are_unreachable_after_bounded_retries() {
    let (_dir, fake, config) = fake(Mode::Hang).await;
    let router = HaproxyRouter::new(config.clone()).unwrap();
    let err = router.canary_weight().await.unwrap_err();
    assert!(
        matches!(&err, TrafficError::Unreachable(m) if m.contains("200 ms")),
        "{err}"
    );
    assert_eq!(fake.log.lock().unwrap().len(), 0); // it never answered
    let gone = HaproxyRouter::new(HaproxyConfig {
        socket: "/nonexistent/admin.sock".into(),
        ..config
    })
    .unwrap();
    // A socket that is not there is the configuration's fault: no retries help.
    let err = gone.preflight().await.unwrap_err();
    assert!(
        matches!(&err, TrafficError::Misconfigured(m) if m.contains("stats socket") && m.contains("/nonexistent/admin.sock")),
        "{err}"
    );
}

#[tokio::test]
async fn tcp_addresses_work_too() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 256];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            s.write_all(b"42 (initial 0)\n\n").await.unwrap();
        }
    });
    let router = HaproxyRouter::new(HaproxyConfig {
        socket: addr.to_string(),
        ..HaproxyConfig::default()
    })
    .unwrap();
    assert_eq!(router.address(), &RuntimeAddress::Tcp(addr.to_string()));
    assert_eq!(router.server_weight("canary").await.unwrap(), 42);
    assert_eq!(router.canary_weight().await.unwrap(), 50);
}

#[test]
fn names_that_would_change_the_command_are_refused() {
    for bad in ["be app", "be;shutdown", "a/b", ""] {
        let c = HaproxyConfig {
            backend: bad.into(),
            ..HaproxyConfig::default()
        };
        assert!(c.validate().is_err(), "{bad:?}");
    }
    assert_eq!(
        RuntimeAddress::parse("unix:admin.sock"),
        RuntimeAddress::Unix("admin.sock".into())
    );
    assert_eq!(share(1, 2), 34, "rounded up: never below what is served");
    assert_eq!(share(10, 100), 10);
    assert_eq!(share(0, 0), 0);
}
