//! Shared helpers for the integration tests: real git repos and a local model server.
#![allow(dead_code)] // helpers shared by test modules; not every module uses each one

pub mod browser;
pub mod fake_github;
pub mod fake_kube;
pub mod fake_slack;
pub mod live;
pub mod loopback;
pub mod openai;
pub mod postgres;
pub mod quirky;
pub mod repo;
pub mod rollout;

use std::path::Path;
use std::process::Output;

/// Runs the real binary with `args`, isolated from the caller's environment.
pub fn run_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_deploy-agent"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("DEPLOY_AGENT_") || k.starts_with("SLACK_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run deploy-agent")
}

/// A lease that expires a second after its holder stops renewing it, for
/// tests that kill an agent and resume its rollout (the default is 30 s).
pub const SHORT_LEASE: [(&str, &str); 2] = [
    ("DEPLOY_AGENT_JOURNAL__LEASE_TTL_SECS", "1"),
    ("DEPLOY_AGENT_JOURNAL__LEASE_HEARTBEAT_SECS", "0.25"),
];

/// Waits until a [`SHORT_LEASE`] of a dead holder has expired.
pub fn after_short_lease() {
    std::thread::sleep(std::time::Duration::from_millis(1_300));
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parses stdout as JSON, with the output in the panic message when it is not.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\nstdout: {}\nstderr: {}",
            stdout(o),
            stderr(o)
        )
    })
}

/// The OS user the tests run as (from the real uid, as `approve` reads it).
pub fn os_user() -> String {
    deploy_agent::approval::identity::os_user().expect("the tests' uid has a user")
}

/// `[people.NAME]` for the OS user the tests run as: `approve` from this
/// process counts as NAME.
pub fn me_as(name: &str) -> String {
    format!("[people.{name}]\nos_user = {:?}\n", os_user())
}

/// The same mapping through the environment (`DEPLOY_AGENT_PEOPLE__NAME__OS_USER`),
/// for commands run without a config file.
pub fn me_as_env(name: &str) -> (String, String) {
    (
        format!("DEPLOY_AGENT_PEOPLE__{}__OS_USER", name.to_uppercase()),
        os_user(),
    )
}
