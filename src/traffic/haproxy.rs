//! HAProxy as the traffic splitter, through its runtime API (the `stats socket`
//! at `level admin`, over a unix socket or TCP).
//!
//! Stable and canary are two servers of one backend. A canary share of `w` %
//! is canary weight `w` and stable weight `100 − w` (HAProxy weights are 0–256
//! and round-robin follows them exactly); promote is 100/0, rollback 0/100.
//! The canary's weight is always set first, so while the two commands land the
//! share stays between the old and the new value. Every change is read back with
//! `get weight`; a router that did not take it is [`TrafficError::NotApplied`].
//! HAProxy answers errors in text ("No such server.") and those become
//! [`TrafficError::Rejected`] with the text. Weights live in HAProxy's memory
//! only: a reload without a `server-state-file` resets them to the config's.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use backon::Retryable;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{TrafficError, TrafficRouter};
use crate::error::ConfigError;

/// `[services.NAME.haproxy]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HaproxyConfig {
    /// The runtime API: a unix socket path (`/run/haproxy/admin.sock`, or
    /// `unix:PATH`) or a TCP `host:port`.
    pub socket: String,
    /// The backend whose two servers share the traffic.
    pub backend: String,
    /// The server of the stable version in that backend.
    pub stable_server: String,
    /// The server of the canary version; at weight 0 between rollouts.
    pub canary_server: String,
    /// Per command: connect, write and read to the end.
    pub timeout_ms: u64,
    /// Retries after a connection failure or timeout (commands are idempotent).
    pub max_retries: u32,
}

impl Default for HaproxyConfig {
    fn default() -> Self {
        Self {
            socket: "/run/haproxy/admin.sock".into(),
            backend: "be_app".into(),
            stable_server: "stable".into(),
            canary_server: "canary".into(),
            timeout_ms: 2_000,
            max_retries: 2,
        }
    }
}

impl HaproxyConfig {
    /// Names go into command lines: no spaces, `;` or line breaks (the CLI
    /// would read them as more arguments or commands).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("backend", &self.backend),
            ("stable_server", &self.stable_server),
            ("canary_server", &self.canary_server),
        ] {
            let bad = |c: char| c.is_whitespace() || c == ';' || c == '/' || c.is_control();
            if value.is_empty() || value.contains(bad) {
                return Err(ConfigError::new(
                    format!("haproxy.{field}"),
                    format!("must be a plain name (no spaces, `/` or `;`), got `{value}`"),
                ));
            }
        }
        if self.stable_server == self.canary_server {
            return Err(ConfigError::new(
                "haproxy.canary_server",
                "must differ from stable_server (the weights of two distinct servers are split)",
            ));
        }
        if self.socket.trim().is_empty() {
            return Err(ConfigError::new(
                "haproxy.socket",
                "must be a unix socket path or host:port",
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) || self.max_retries > 10 {
            return Err(ConfigError::new(
                "haproxy.timeout_ms",
                "must be 1-60000 and max_retries at most 10",
            ));
        }
        Ok(())
    }
}

/// Where the runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl RuntimeAddress {
    /// `unix:PATH` or anything with a `/` is a unix socket; otherwise `host:port`.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        match s.strip_prefix("unix:") {
            Some(path) => Self::Unix(path.into()),
            None if s.contains('/') => Self::Unix(s.into()),
            None => Self::Tcp(s.trim_start_matches("tcp:").to_string()),
        }
    }
}

impl std::fmt::Display for RuntimeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// A [`TrafficRouter`] over HAProxy's runtime API.
#[derive(Debug, Clone)]
pub struct HaproxyRouter {
    config: HaproxyConfig,
    address: RuntimeAddress,
}

impl HaproxyRouter {
    pub fn new(config: HaproxyConfig) -> Result<Self, TrafficError> {
        config.validate()?;
        Ok(Self {
            address: RuntimeAddress::parse(&config.socket),
            config,
        })
    }

    pub fn address(&self) -> &RuntimeAddress {
        &self.address
    }

    /// The commands that give the canary `percent` % (canary first; see the module docs).
    pub fn weight_commands(&self, percent: u8) -> Result<Vec<String>, TrafficError> {
        if percent > 100 {
            return Err(TrafficError::Rejected(format!(
                "canary weight must be 0-100, got {percent}"
            )));
        }
        let c = &self.config;
        Ok(vec![
            format!("set weight {}/{} {percent}", c.backend, c.canary_server),
            format!(
                "set weight {}/{} {}",
                c.backend,
                c.stable_server,
                100 - percent
            ),
        ])
    }

    /// A server's current weight (`get weight be/srv` → `25 (initial 0)`).
    pub async fn server_weight(&self, server: &str) -> Result<u16, TrafficError> {
        let answer = self
            .command(&format!("get weight {}/{server}", self.config.backend))
            .await?;
        let weight = answer
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok());
        weight.ok_or_else(|| {
            self.refusal(
                &format!("get weight {}/{server}", self.config.backend),
                answer,
            )
        })
    }

    /// HAProxy's text answer to a command as an error: a name HAProxy does
    /// not know is the configuration's fault, anything else a refusal.
    fn refusal(&self, line: &str, answer: String) -> TrafficError {
        let c = &self.config;
        let lower = answer.to_ascii_lowercase();
        if lower.contains("no such backend") || lower.contains("no such server") {
            return TrafficError::Misconfigured(format!(
                "HAProxy at {} answered `{answer}` to `{line}`: the backend `{}` with servers `{}` and `{}` must exist in haproxy.cfg; set [services.NAME.haproxy] backend, stable_server and canary_server to their names",
                self.address, c.backend, c.stable_server, c.canary_server
            ));
        }
        if lower.contains("permission denied") {
            return TrafficError::Misconfigured(format!(
                "HAProxy at {} refused `{line}` ({answer}): the stats socket needs `level admin` (e.g. `stats socket /run/haproxy/admin.sock mode 600 level admin`)",
                self.address
            ));
        }
        TrafficError::Rejected(format!("`{line}`: {answer}"))
    }

    /// Sends one command and returns HAProxy's answer, trimmed; connection
    /// failures and timeouts are retried up to `max_retries` times.
    pub async fn command(&self, line: &str) -> Result<String, TrafficError> {
        let answer = (|| self.send_once(line))
            .retry(crate::retry::doubling(
                Duration::from_millis(100),
                self.config.max_retries,
            ))
            .sleep(tokio::time::sleep)
            .when(TrafficError::is_transient)
            .notify(|e, wait| {
                tracing::warn!(error = %e, ?wait, command = line, "haproxy runtime API failed; retrying");
            })
            .await?;
        Ok(answer.trim().to_string())
    }

    async fn send_once(&self, line: &str) -> Result<String, TrafficError> {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        match tokio::time::timeout(timeout, self.connect_and_exchange(line)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(TrafficError::Misconfigured(format!(
                    "no HAProxy runtime API at {}: the socket does not exist. Add `stats socket PATH mode 600 level admin` to haproxy.cfg's global section and set [services.NAME.haproxy] socket to PATH",
                    self.address
                )))
            }
            Ok(Err(e)) => Err(TrafficError::Unreachable(format!(
                "haproxy runtime API at {}: {e}",
                self.address
            ))),
            Err(_) => Err(TrafficError::Unreachable(format!(
                "haproxy runtime API at {} did not answer within {} ms",
                self.address, self.config.timeout_ms
            ))),
        }
    }

    async fn connect_and_exchange(&self, line: &str) -> std::io::Result<String> {
        match &self.address {
            RuntimeAddress::Unix(path) => {
                exchange(tokio::net::UnixStream::connect(path).await?, line).await
            }
            RuntimeAddress::Tcp(addr) => {
                exchange(tokio::net::TcpStream::connect(addr).await?, line).await
            }
        }
    }

    /// Sets both weights, then reads them back.
    async fn apply(&self, percent: u8) -> Result<(), TrafficError> {
        for line in self.weight_commands(percent)? {
            let answer = self.command(&line).await?;
            // `set weight` answers nothing on success; any text is HAProxy's refusal.
            if !answer.is_empty() {
                return Err(self.refusal(&line, answer));
            }
        }
        let (canary, stable) = self.weights().await?;
        if (canary, stable) != (u16::from(percent), 100 - u16::from(percent)) {
            return Err(TrafficError::NotApplied {
                wanted: percent,
                found: share(canary, stable),
            });
        }
        Ok(())
    }

    async fn weights(&self) -> Result<(u16, u16), TrafficError> {
        let canary = self.server_weight(&self.config.canary_server).await?;
        let stable = self.server_weight(&self.config.stable_server).await?;
        Ok((canary, stable))
    }
}

/// Writes one command line and reads the answer to EOF (HAProxy closes a
/// non-interactive session after one command).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    line: &str,
) -> std::io::Result<String> {
    stream.write_all(format!("{line}\n").as_bytes()).await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    stream.take(1 << 20).read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The canary's share in percent of the two weights (0 when both are 0),
/// rounded up: a stated share is never below what the canary serves.
fn share(canary: u16, stable: u16) -> u8 {
    let total = u32::from(canary) + u32::from(stable);
    if total == 0 {
        return 0;
    }
    ((u32::from(canary) * 100).div_ceil(total)) as u8
}

#[async_trait]
impl TrafficRouter for HaproxyRouter {
    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "HAProxy backend {} (servers {} and {}) at {}",
            c.backend, c.stable_server, c.canary_server, self.address
        )
    }

    fn manual_rollback(&self) -> String {
        let c = &self.config;
        let to = match &self.address {
            RuntimeAddress::Unix(p) => format!("socat stdio unix-connect:{}", p.display()),
            RuntimeAddress::Tcp(a) => format!("socat stdio tcp:{a}"),
        };
        format!(
            "echo 'set weight {b}/{canary} 0' | {to}; echo 'set weight {b}/{stable} 100' | {to}",
            b = c.backend,
            canary = c.canary_server,
            stable = c.stable_server
        )
    }

    /// The socket answers at `level admin`, and the backend and both servers
    /// exist: both weights are read, then the canary's is set to what it
    /// already is (a no-op that only an admin-level socket accepts).
    async fn preflight(&self) -> Result<(), TrafficError> {
        let (canary, _) = self.weights().await?;
        let line = format!(
            "set weight {}/{} {canary}",
            self.config.backend, self.config.canary_server
        );
        let answer = self.command(&line).await?;
        if !answer.is_empty() {
            return Err(self.refusal(&line, answer));
        }
        Ok(())
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let (canary, stable) = self.weights().await?;
        Ok(share(canary, stable))
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(self.weights().await? == (100, 0))
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        self.apply(weight).await
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.apply(100).await
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.apply(0).await
    }
}

#[cfg(test)]
mod tests;
