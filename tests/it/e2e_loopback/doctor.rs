//! `doctor` on the same loopback stack as the rollouts: each misconfigured
//! service fails the check a rollout's preflight would, with what to fix.

use std::path::Path;

use serde_json::Value;

use super::agent;
use crate::support::stdout;

/// `doctor` finds each misconfiguration the rollout's preflight would, without
/// moving anything, names the failing check and what to fix; a healthy
/// service passes, and the canary left at 100 % by a promotion is a warning.
pub(super) async fn doctor_checklist(repo: &Path, dir: &Path) {
    let doctor = |service: &'static str| async move {
        let out = agent(
            repo,
            dir,
            &["doctor", "--service", service, "--format", "json"],
            &[],
        )
        .await;
        let report: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("doctor {service}: {e}: {}", stdout(&out)));
        let check = |name: &str| {
            report["checks"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["name"] == format!("{service}: {name}")))
                .cloned()
                .unwrap_or(Value::Null)
        };
        (out.status.code(), check("target"), check("metrics"))
    };
    let (code, target, metrics) = doctor("bad").await;
    assert_eq!(code, Some(0), "bad is healthy: {target} {metrics}");
    assert_eq!(
        (target["status"].as_str(), metrics["status"].as_str()),
        (Some("ok"), Some("ok"))
    );
    assert!(
        target["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("canary at 0 %"),
        "{target}"
    );

    let (code, target, _) = doctor("good").await;
    assert_eq!(code, Some(0), "a serving canary is a warning: {target}");
    assert_eq!(target["status"], "warn", "{target}");
    assert!(
        target["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--adopt"),
        "{target}"
    );

    for (service, failing, says, fix) in [
        ("gone", "target", "stats socket", "socket"),
        ("typo", "target", "No such backend.", "backend"),
        ("noserver", "target", "canry", "servers"),
        ("unscraped", "metrics", "returned no series", "preset"),
        ("noprom", "metrics", "unreachable", "url"),
    ] {
        let (code, target, metrics) = doctor(service).await;
        assert_eq!(code, Some(2), "{service}: {target} {metrics}");
        let check = if failing == "target" {
            &target
        } else {
            &metrics
        };
        assert_eq!(check["status"], "fail", "{service}: {check}");
        assert!(
            check["detail"].as_str().unwrap_or_default().contains(says),
            "{service}: {check}"
        );
        assert!(
            check["fix"].as_str().unwrap_or_default().contains(fix),
            "{service}: {check}"
        );
    }

    let all = agent(repo, dir, &["doctor"], &[]).await;
    assert_eq!(all.status.code(), Some(2));
    let text = stdout(&all);
    assert!(
        text.contains("FAIL  typo: target") && text.contains("ok    bad: metrics"),
        "{text}"
    );
    assert!(text.contains("not ready: 7 check(s) failed"), "{text}");
    // Seven: the five above, and the metrics of `typo` and `noserver`, whose
    // series name the backend and server that do not exist.
    assert!(!text.contains('\x1b'), "no colour off a terminal");
}
