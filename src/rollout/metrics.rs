//! The catalogue metrics a planner added (`add_metrics`): executing the call
//! (the guard has checked the names against the catalogue and that no traffic
//! moved) and reading them every judgement beside the required metrics.

use serde_json::{json, Value};

use super::events::Event;
use super::runner::Runner;
use crate::canary::catalogue::combine;
use crate::canary::Verdict;
use crate::metrics::ExtraWindow;

impl Runner<'_> {
    /// Adds `names` to the judged metrics; names already judged stay once.
    pub(super) fn add_metrics(&mut self, names: Vec<String>, reason: String) -> Value {
        let mut added = Vec::new();
        for name in names {
            if !self.state.extra_metrics.contains(&name) && !added.contains(&name) {
                added.push(name);
            }
        }
        self.restore_metrics(&added);
        if !added.is_empty() {
            tracing::info!(metrics = ?added, %reason, "planner added catalogue metrics");
            self.emit(Event::MetricsAdded {
                metrics: added.clone(),
                reason,
            });
        }
        json!({
            "added": added,
            "judged_metrics": self.judged_metrics(),
            "note": "each added metric is judged beside the required ones from the first traffic on: a regression in any rolls back, and a Pass needs every one",
        })
    }

    /// Judges `names` from now on without an event (also `resume`'s way to
    /// keep the metrics chosen before a crash).
    pub(super) fn restore_metrics(&mut self, names: &[String]) {
        for name in names {
            if !self.state.extra_metrics.contains(name) {
                self.state.extra_metrics.push(name.clone());
                self.extra.add(name);
            }
        }
    }

    /// The required metrics and the added ones, as the planner sees them.
    pub(super) fn judged_metrics(&self) -> Value {
        json!({
            "required": ["error_rate", "latency_distribution", "latency_tail"],
            "added": self.state.extra_metrics,
        })
    }

    /// Reads the added metrics over `[from, to)`, feeds them to their tests
    /// and makes `verdict` stricter by their checks. An unreadable backend
    /// makes every added metric missing: NoData, never a pass.
    pub(super) async fn judge_extra(&mut self, verdict: Verdict, from: f64, to: f64) -> Verdict {
        if self.extra.is_empty() {
            return verdict;
        }
        let names = self.extra.names();
        let windows = match self.backends.metrics.extra(&names, from, to).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "added metrics unavailable; judging them as no data");
                names.iter().map(|n| ExtraWindow::missing(n)).collect()
            }
        };
        self.extra.observe(to - from, &windows);
        combine(verdict, self.extra.checks())
    }
}
