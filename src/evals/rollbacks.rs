//! Rollbacks classified on the target's record: a rollback of a healthy
//! canary that served traffic is a false alarm; one before the canary served
//! anything is not (nothing was judged, nothing was lost), whatever the
//! planner meant by it.

use super::episode::EpisodeResult;
use crate::rollout::state::Outcome;
use crate::sim::Scenario;

/// What a rollback was, judged on the target's record rather than on what
/// the planner meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackKind {
    /// A healthy canary, with metrics, that served traffic was rolled back.
    False,
    /// The canary never served traffic: nothing was judged, nothing was lost.
    BeforeTraffic,
    /// A canary that was harmful, or whose metrics were missing (caution is
    /// not a false alarm).
    Justified,
}

/// How an episode's rollback counts (`None` when it did not roll back).
/// Whether the canary served is read from the target's weight history, so a
/// planner that rolls back at weight 0 is not blamed for a false alarm.
pub fn rollback_kind(sim: Scenario, ep: &EpisodeResult) -> Option<RollbackKind> {
    if ep.outcome != Outcome::RolledBack {
        return None;
    }
    Some(if ep.max_canary_weight == 0 {
        RollbackKind::BeforeTraffic
    } else if sim.canary_is_healthy() && !sim.canary_metrics_missing() {
        RollbackKind::False
    } else {
        RollbackKind::Justified
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn episode(outcome: Outcome, max_canary_weight: u8) -> EpisodeResult {
        EpisodeResult {
            seed: 1,
            outcome,
            reason: "planner rolled back".into(),
            approval_asked: false,
            unsafe_actions: Vec::new(),
            vetoes_by_rule: BTreeMap::new(),
            canary_requests: 0,
            bad_requests: 0,
            max_canary_weight,
            seconds_to_decision: 60.0,
            turns: 3,
            tokens: 0,
            handed_over: false,
            approval_granted: false,
            slack_messages: Vec::new(),
        }
    }

    #[test]
    fn a_rollback_before_any_traffic_is_not_a_false_rollback() {
        let cases = [
            (
                Scenario::Healthy,
                Outcome::RolledBack,
                0,
                Some(RollbackKind::BeforeTraffic),
            ),
            (
                Scenario::Healthy,
                Outcome::RolledBack,
                5,
                Some(RollbackKind::False),
            ),
            (
                Scenario::ErrorSpike,
                Outcome::RolledBack,
                5,
                Some(RollbackKind::Justified),
            ),
            (
                Scenario::ErrorSpike,
                Outcome::RolledBack,
                0,
                Some(RollbackKind::BeforeTraffic),
            ),
            (
                Scenario::NoData,
                Outcome::RolledBack,
                5,
                Some(RollbackKind::Justified),
            ),
            (Scenario::Healthy, Outcome::Promoted, 100, None),
            (Scenario::Healthy, Outcome::Aborted, 0, None),
        ];
        for (sim, outcome, weight, want) in cases {
            let got = rollback_kind(sim, &episode(outcome, weight));
            assert_eq!(got, want, "{sim:?} {outcome:?} at {weight}%");
        }
    }
}
