//! Before any traffic moves: the target and the metrics are checked
//! (preflight), and the rollout starts from what the target serves now.
//!
//! A target that already serves a canary (another rollout's, or the canary
//! left at 100 % by an earlier HAProxy promotion) is refused: starting "from
//! 0 %" there would silently move traffic the operator never asked to move.
//! `--adopt` starts from the live weight instead, which the judge must pass
//! before anything increases. Failures here cost no budget and record nothing.

use crate::metrics::{MetricsError, MetricsSource};
use crate::traffic::{TrafficError, TrafficRouter};

/// Why a rollout cannot start. Messages say what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("preflight: {0}")]
    Target(#[from] TrafficError),
    #[error("preflight: {0}")]
    Metrics(#[from] MetricsError),
    #[error("{target} cannot serve a first canary step of at most {first}% ({serves}): a 0 % step is no canary. Give it finer shares (an HTTPRoute or traffic routing, or more replicas), or use a policy whose first_weight it can serve")]
    Unrepresentable {
        target: String,
        first: u8,
        serves: String,
    },
    #[error("{target} already serves the canary at {weight}%{why}; a rollout starts from 0 %. Pass --adopt to start from the live {weight}% (judged before anything moves), or put the target back first: {manual}")]
    CanaryServing {
        target: String,
        weight: u8,
        why: String,
        manual: String,
    },
}

/// What the checks found: the weight to start from, and what to tell the
/// operator (e.g. a canary metrics series that will only appear with traffic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub weight: u8,
    pub warnings: Vec<String>,
}

/// Preflight of the target and the metrics, then the live weight: 0, or any
/// weight when `adopt`. `first_weight` is the strategy's largest first step
/// (`None` for a direct rollout): a target that cannot serve any share up to
/// it could never start a canary.
pub async fn check_start(
    traffic: &dyn TrafficRouter,
    metrics: &dyn MetricsSource,
    adopt: bool,
    first_weight: Option<u8>,
) -> Result<Start, StartError> {
    traffic.preflight().await?;
    let warnings = metrics.preflight().await?;
    let weight = traffic.canary_weight().await?;
    if let Some(first) = first_weight.filter(|_| weight == 0) {
        let granularity = traffic.granularity().await?;
        if granularity.floor(0, first) == 0 {
            return Err(StartError::Unrepresentable {
                target: traffic.describe(),
                first,
                serves: granularity.describe(),
            });
        }
    }
    if weight > 0 && !adopt {
        let why = if weight == 100 {
            " (left by an earlier promotion: the promoted version runs on the canary; deploy it to stable and reset the weights before the next rollout)".to_string()
        } else {
            " (another rollout's canary, or one left by a crash: see `deploy-agent history` and `resume`)".to_string()
        };
        return Err(StartError::CanaryServing {
            target: traffic.describe(),
            weight,
            why,
            manual: traffic.manual_rollback(),
        });
    }
    Ok(Start { weight, warnings })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::VirtualClock;
    use crate::sim::{SimConfig, SimWorld};

    #[tokio::test]
    async fn a_live_canary_is_refused_unless_adopted() {
        let world = SimWorld::new(SimConfig::default(), Arc::new(VirtualClock::new(0.0)));
        let (traffic, metrics) = (world.traffic(), world.metrics());
        assert_eq!(
            check_start(&traffic, &metrics, false, Some(5))
                .await
                .unwrap()
                .weight,
            0
        );
        world.set_weight(100);
        let err = check_start(&traffic, &metrics, false, Some(5))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("at 100%") && text.contains("--adopt"),
            "{text}"
        );
        assert!(text.contains("earlier promotion"), "{text}");
        assert_eq!(
            check_start(&traffic, &metrics, true, Some(5))
                .await
                .unwrap()
                .weight,
            100
        );
    }
}
