//! `add_metrics`: a planner may add metrics from the service's catalogue to
//! the judge, never remove one (the required metrics are judged whatever it
//! asks), and only names the catalogue lists: it chooses, it never writes a
//! query. Only before any traffic moves: a metric added mid-step would leave
//! the current Pass, judged without it, standing for an increase; fixing the
//! judged set before the first step keeps every verdict about the same metrics.
//! Not under a `direct` strategy: with no stable version serving beside the
//! new one, a chosen metric has no baseline and could never pass — vetoed with
//! the way out (a canary strategy first) rather than a rollout that stalls.

use super::{Rule, Veto};
use crate::metrics::catalogue;
use crate::rollout::state::RolloutState;

/// Allowed while nothing has moved, for a non-empty list of catalogue names.
pub(super) fn check_add(names: &[String], state: &RolloutState) -> Result<(), Veto> {
    if state.traffic_moved() {
        return Err(Veto {
            rule: Rule::MetricsAfterTraffic,
            reason: format!(
                "metrics may be added only before any traffic moves; the canary is at {}%",
                state.weight
            ),
        });
    }
    if state.limits.direct {
        return Err(Veto {
            rule: Rule::MetricsNeedCanary,
            reason: "a direct deploy has no stable version serving beside the new one, so an added metric has nothing to be compared with and could never pass; call choose_strategy with a level whose strategy is a canary first".into(),
        });
    }
    if names.is_empty() {
        return Err(Veto {
            rule: Rule::MetricNotInCatalogue,
            reason: format!(
                "name at least one metric; the catalogue: {}",
                catalogue::names(&state.catalogue)
            ),
        });
    }
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| !state.catalogue.iter().any(|e| &e.name == *n))
        .map(|n| format!("`{}`", n.chars().take(60).collect::<String>()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Veto {
        rule: Rule::MetricNotInCatalogue,
        reason: format!(
            "{} not in this service's metrics catalogue; choose from: {}",
            unknown.join(", "),
            catalogue::names(&state.catalogue)
        ),
    })
}
