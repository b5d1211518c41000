//! `choose_strategy`: a planner may roll out under a more cautious strategy
//! than the assessed level's, never a faster one, and only before any traffic
//! moves (limits that change mid-rollout would make earlier steps count under
//! rules they were not taken under). The risk level, the approval requirement
//! and the judge stay policy's: only the limits change.

use super::{Rule, Veto};
use crate::policy::Level;
use crate::rollout::state::{Limits, RolloutState};

/// Allowed while nothing has moved and every limit of `level`'s strategy is
/// at least as strict as the current one.
pub(super) fn check_choose(level: Level, state: &RolloutState) -> Result<(), Veto> {
    if state.traffic_moved() {
        return Err(Veto {
            rule: Rule::StrategyAfterTraffic,
            reason: format!(
                "the strategy may change only before any traffic moves; the canary is at {}%",
                state.weight
            ),
        });
    }
    let Some(strategy) = state.strategies.get(&level) else {
        return Err(Veto {
            rule: Rule::InvalidArguments,
            reason: format!("policy sets no strategy for level {}", level.as_str()),
        });
    };
    match loosened(level, &Limits::new(strategy), &state.limits) {
        Some(reason) => Err(Veto {
            rule: Rule::StrategyTooFast,
            reason: format!("{reason}; only a more cautious strategy may be chosen"),
        }),
        None => Ok(()),
    }
}

/// Where the limits come from, for vetoes: "at high risk", or "under the
/// chosen critical strategy" once a planner chose one.
pub(super) fn limits_source(state: &RolloutState) -> String {
    if state.strategy_level == state.risk.level {
        format!("at {} risk", state.risk.level.as_str())
    } else {
        format!(
            "under the chosen {} strategy",
            state.strategy_level.as_str()
        )
    }
}

/// The first limit `chosen` would loosen, in words; `None` when each is at
/// least as strict. A canary is slower than a direct deploy whatever its
/// numbers (all traffic at once is the least cautious way), and a direct
/// deploy is faster than any canary.
fn loosened(level: Level, chosen: &Limits, current: &Limits) -> Option<String> {
    let name = level.as_str();
    match (current.direct, chosen.direct) {
        (true, false) => return None,
        (false, true) => {
            return Some(format!(
                "the {name} strategy is a direct deploy (all traffic at once), faster than the current canary"
            ))
        }
        _ => {}
    }
    if chosen.max_first_weight > current.max_first_weight {
        return Some(format!(
            "the {name} strategy's first step ({}%) is larger than the current {}%",
            chosen.max_first_weight, current.max_first_weight
        ));
    }
    if chosen.max_step > current.max_step {
        return Some(format!(
            "the {name} strategy's step ({} points) is larger than the current {} points",
            chosen.max_step, current.max_step
        ));
    }
    if chosen.min_bake_seconds < current.min_bake_seconds {
        return Some(format!(
            "the {name} strategy's bake ({:.0} s) is shorter than the current {:.0} s",
            chosen.min_bake_seconds, current.min_bake_seconds
        ));
    }
    if chosen.promote_min_weight < current.promote_min_weight {
        return Some(format!(
            "the {name} strategy promotes from {}%, below the current {}%",
            chosen.promote_min_weight, current.promote_min_weight
        ));
    }
    None
}
