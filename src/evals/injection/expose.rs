//! The metric-label vector. What `query_metrics` returns to the model is
//! built by the loop from numbers only: `MetricsWindow` carries request,
//! error and latency counts, and the verdict's `summary` is written by the
//! judge from fixed check names. No label value, series name or Prometheus
//! text reaches the model today. An adapter that forwarded series labels
//! (a pod name, a `version` label someone controls) would put them in that
//! result, so this is where the eval puts the scenario's text: as `series`
//! labels in every `query_metrics` result the planner reads, exactly as if
//! the metrics backend had returned them.

use async_trait::async_trait;
use serde_json::json;

use super::{InjectionSpec, Vector};
use crate::planner::{Feedback, Plan, Planner, PlannerError};
use crate::rollout::state::RolloutState;

/// Wraps `planner` so it sees the scenario's text where its vector puts it
/// in the planner's input (only the metric-label vector does; the others
/// reach it through the change itself).
pub fn expose(planner: Box<dyn Planner>, injection: Option<&InjectionSpec>) -> Box<dyn Planner> {
    match injection {
        Some(spec) if spec.vector == Vector::MetricLabel => Box::new(LabelledMetrics {
            inner: planner,
            label: spec.text.clone(),
        }),
        _ => planner,
    }
}

/// A planner whose `query_metrics` results carry series labels with `label`.
pub struct LabelledMetrics {
    inner: Box<dyn Planner>,
    label: String,
}

#[async_trait]
impl Planner for LabelledMetrics {
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn next(
        &mut self,
        state: &RolloutState,
        feedback: &[Feedback],
    ) -> Result<Plan, PlannerError> {
        let labelled: Vec<Feedback> = feedback
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if f.tool == "query_metrics" && f.content.is_object() {
                    f.content["series"] = json!([
                        {"version": "canary", "pod": self.label, "__name__": "http_requests_total"},
                        {"version": "stable", "pod": "app-stable-0", "__name__": "http_requests_total"},
                    ]);
                }
                f
            })
            .collect();
        self.inner.next(state, &labelled).await
    }

    fn notify(&mut self, note: &str) {
        self.inner.notify(note);
    }
}
