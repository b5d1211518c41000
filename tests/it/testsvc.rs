//! The test service (`examples/testsvc`) the quickstart and the loopback tests
//! roll out: it answers at its error rate, counts what it answered in its
//! metrics, has every series from the start, and refuses bad settings.

use std::process::Command;

use crate::support::loopback::{testsvc, testsvc_bin};

#[tokio::test]
async fn answers_at_its_error_rate_and_counts_what_it_answered() {
    let (_proc, addr) = testsvc("canary", 0.2, 7);
    let http = reqwest::Client::new();
    let metrics = || async {
        let url = format!("http://{addr}/metrics");
        http.get(url).send().await.unwrap().text().await.unwrap()
    };
    // Every series exists before the first request.
    let first = metrics().await;
    assert!(
        first.contains("http_requests_total{version=\"canary\",code=\"500\"} 0\n"),
        "{first}"
    );
    assert!(first.contains("le=\"0.005\"} 0\n"), "{first}");
    assert_eq!(first.matches("_bucket{").count(), 12, "{first}");

    let mut errors = 0;
    for _ in 0..200 {
        let r = http.get(format!("http://{addr}/")).send().await.unwrap();
        errors += u32::from(r.status() == 500);
    }
    assert!((20..=60).contains(&errors), "{errors} errors of 200");
    let text = metrics().await;
    assert!(text.contains(&format!(
        "http_requests_total{{version=\"canary\",code=\"500\"}} {errors}\n"
    )));
    assert!(
        text.contains("http_request_duration_seconds_bucket{version=\"canary\",le=\"+Inf\"} 200\n")
    );
    assert!(text.contains("http_request_duration_seconds_count{version=\"canary\"} 200\n"));
}

#[test]
fn bad_settings_are_refused() {
    let out = Command::new(testsvc_bin())
        .args(["serve", "--version", "v", "--error-rate", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--error-rate must be in [0, 1]"), "{said}");
}

/// The product binary no longer carries the test service.
#[test]
fn the_agent_has_no_testsvc_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_deploy-agent"))
        .args(["testsvc", "--version", "v"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses an unknown subcommand"
    );
}
