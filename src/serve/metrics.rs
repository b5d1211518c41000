//! The server's counters and their Prometheus text exposition (format 0.0.4).
//! Rollout counters are fed by [`MetricsSink`], one per rollout in its fanout.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::rollout::events::{Event, EventSink};

/// `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a webhook delivery came to, for `deploy_agent_webhooks_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    Accepted,
    Ignored,
    Rejected,
}

impl WebhookResult {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookResult::Accepted => "accepted",
            WebhookResult::Ignored => "ignored",
            WebhookResult::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    rollouts: BTreeMap<String, u64>,
    vetoes: BTreeMap<String, u64>,
    verdicts: BTreeMap<String, u64>,
    webhooks: BTreeMap<&'static str, u64>,
    model_tokens: u64,
    handovers: u64,
    active: i64,
    superseded: u64,
    takeovers: u64,
    duplicates: u64,
    leases_held: i64,
    approval_wait: Histogram,
}

/// Upper bounds (seconds) of `deploy_agent_approval_wait_seconds`: from an
/// automated approval (under a second) to a person answering within the hour.
pub const APPROVAL_WAIT_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A Prometheus histogram over [`APPROVAL_WAIT_BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    buckets: [u64; APPROVAL_WAIT_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: f64) {
        let value = value.max(0.0);
        if let Some(i) = APPROVAL_WAIT_BUCKETS.iter().position(|b| value <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, n) in APPROVAL_WAIT_BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

/// Shared counters; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Counters>>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Counters> {
        // A panic while holding the lock leaves plain numbers: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn webhook(&self, result: WebhookResult) {
        *self.lock().webhooks.entry(result.as_str()).or_default() += 1;
    }

    pub fn superseded(&self) {
        self.lock().superseded += 1;
    }

    /// A rollout whose owner died was taken over by this replica.
    pub fn takeover(&self) {
        self.lock().takeovers += 1;
    }

    /// A delivery or merge seen before was dropped.
    pub fn duplicate(&self) {
        self.lock().duplicates += 1;
    }

    /// This replica took (`+1`) or gave up (`-1`) a service's lease.
    pub fn lease(&self, delta: i64) {
        self.lock().leases_held += delta;
    }

    /// A rollout started (`+1`) or ended (`-1`).
    pub fn active(&self, delta: i64) {
        self.lock().active += delta;
    }

    pub fn active_rollouts(&self) -> i64 {
        self.lock().active
    }

    /// A sink for one rollout's events.
    pub fn sink(&self) -> MetricsSink {
        MetricsSink {
            metrics: self.clone(),
            rollout_id: String::new(),
            approval_requested_at: None,
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let c = self.lock();
        let mut out = String::new();
        let webhooks: BTreeMap<String, u64> = ["accepted", "ignored", "rejected"]
            .iter()
            .map(|r| (r.to_string(), c.webhooks.get(r).copied().unwrap_or(0)))
            .collect();
        family(
            &mut out,
            "deploy_agent_rollouts_total",
            "Rollouts finished, by outcome.",
            "counter",
            "outcome",
            &c.rollouts,
        );
        family(
            &mut out,
            "deploy_agent_vetoes_total",
            "Tool calls vetoed by the guard, by rule.",
            "counter",
            "rule",
            &c.vetoes,
        );
        family(
            &mut out,
            "deploy_agent_judge_verdicts_total",
            "Canary judge verdicts.",
            "counter",
            "verdict",
            &c.verdicts,
        );
        family(
            &mut out,
            "deploy_agent_webhooks_total",
            "Webhook deliveries, by result.",
            "counter",
            "result",
            &webhooks,
        );
        scalar(
            &mut out,
            "deploy_agent_model_tokens_total",
            "Model tokens spent (prompt + completion).",
            "counter",
            c.model_tokens as f64,
        );
        scalar(
            &mut out,
            "deploy_agent_planner_handovers_total",
            "Rollouts a model handed to the playbook (malformed calls, endpoint failures): a model to look at.",
            "counter",
            c.handovers as f64,
        );
        scalar(
            &mut out,
            "deploy_agent_active_rollouts",
            "Rollouts running now.",
            "gauge",
            c.active as f64,
        );
        scalar(
            &mut out,
            "deploy_agent_superseded_total",
            "Queued rollouts replaced by a newer merge.",
            "counter",
            c.superseded as f64,
        );
        scalar(
            &mut out,
            "deploy_agent_takeovers_total",
            "Rollouts whose owner's lease expired, taken over and ended by this replica.",
            "counter",
            c.takeovers as f64,
        );
        scalar(
            &mut out,
            "deploy_agent_duplicates_dropped_total",
            "Webhook deliveries and merges seen before (redeliveries, push + pull_request of one merge), not rolled out again.",
            "counter",
            c.duplicates as f64,
        );
        scalar(
            &mut out,
            "deploy_agent_leases_held",
            "Service leases this replica holds now.",
            "gauge",
            c.leases_held as f64,
        );
        c.approval_wait.render(
            &mut out,
            "deploy_agent_approval_wait_seconds",
            "Seconds from an approval request to its decision (on the rollout's clock).",
        );
        out
    }
}

fn family(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    label: &str,
    values: &BTreeMap<String, u64>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (value, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
    }
}

fn scalar(out: &mut String, name: &str, help: &str, kind: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts one rollout's events into [`Metrics`]; logs where an approval is awaited
/// (a headless rollout has no terminal to print the hint on).
pub struct MetricsSink {
    metrics: Metrics,
    rollout_id: String,
    /// When the pending approval was requested (the rollout's clock), to time the wait.
    approval_requested_at: Option<f64>,
}

impl EventSink for MetricsSink {
    fn emit(&mut self, at: f64, event: &Event) {
        let mut waited = None;
        match event {
            Event::Started { rollout_id, .. } => self.rollout_id.clone_from(rollout_id),
            Event::ApprovalRequested { summary } => {
                self.approval_requested_at = Some(at);
                tracing::warn!(
                    rollout = %self.rollout_id, %summary,
                    "approval pending: deploy-agent approve {} (as an approver's OS account)", self.rollout_id
                );
            }
            Event::ApprovalDecided { .. } => {
                waited = self.approval_requested_at.take().map(|from| at - from);
            }
            _ => {}
        }
        let mut c = self.metrics.lock();
        if let Some(waited) = waited {
            c.approval_wait.observe(waited);
        }
        match event {
            Event::Vetoed { rule, .. } => {
                *c.vetoes.entry(rule.as_str().into()).or_default() += 1;
            }
            Event::Judged { verdict, .. } => {
                *c.verdicts.entry(verdict.kind.as_str().into()).or_default() += 1;
            }
            Event::PlannerTurn {
                prompt_tokens,
                completion_tokens,
                ..
            } => c.model_tokens += u64::from(*prompt_tokens) + u64::from(*completion_tokens),
            Event::PlannerHandover { .. } => c.handovers += 1,
            // A journaled rollout starts only once it holds its service's lease,
            // and gives it up when it finishes.
            Event::Started { .. } => c.leases_held += 1,
            Event::Finished { outcome, .. } => {
                *c.rollouts.entry(outcome.as_str().into()).or_default() += 1;
                c.leases_held -= 1;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::state::Outcome;

    #[test]
    fn events_are_counted_and_rendered_as_exposition_text() {
        let m = Metrics::default();
        let mut sink = m.sink();
        sink.emit(
            0.0,
            &Event::Finished {
                outcome: Outcome::Promoted,
                reason: "ok".into(),
                weight: 100,
            },
        );
        sink.emit(
            0.0,
            &Event::PlannerTurn {
                turn: 1,
                calls: 1,
                prompt_tokens: 10,
                completion_tokens: 5,
                prompt_hash: None,
                message: None,
            },
        );
        sink.emit(
            0.0,
            &Event::PlannerHandover {
                from: "llm:small".into(),
                to: "playbook".into(),
                reason: "endpoint down".into(),
                turn: 2,
            },
        );
        sink.emit(
            10.0,
            &Event::ApprovalRequested {
                summary: "big change".into(),
            },
        );
        sink.emit(
            52.5,
            &Event::ApprovalDecided {
                approved: true,
                by: Some("alice".into()),
                reason: "ok".into(),
            },
        );
        m.webhook(WebhookResult::Rejected);
        m.superseded();
        let text = m.render();
        for line in [
            "# TYPE deploy_agent_rollouts_total counter",
            "deploy_agent_rollouts_total{outcome=\"promoted\"} 1",
            "deploy_agent_model_tokens_total 15",
            "deploy_agent_planner_handovers_total 1",
            "deploy_agent_webhooks_total{result=\"rejected\"} 1",
            "deploy_agent_webhooks_total{result=\"accepted\"} 0",
            "deploy_agent_superseded_total 1",
            "deploy_agent_active_rollouts 0",
            "# TYPE deploy_agent_approval_wait_seconds histogram",
            "deploy_agent_approval_wait_seconds_bucket{le=\"30\"} 0",
            "deploy_agent_approval_wait_seconds_bucket{le=\"60\"} 1",
            "deploy_agent_approval_wait_seconds_bucket{le=\"+Inf\"} 1",
            "deploy_agent_approval_wait_seconds_sum 42.5",
            "deploy_agent_approval_wait_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
