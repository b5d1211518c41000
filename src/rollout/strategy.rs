//! Executing `choose_strategy`: the guard has checked that the chosen
//! strategy is at least as cautious as the current one and that no traffic
//! has moved; here the limits change, the event says so, and the planner is
//! told its new limits. The risk level, the approval requirement and the judge
//! are untouched: approval stays decided by the assessed level.

use serde_json::{json, Value};

use super::events::Event;
use super::exec::{limits_view, Failed};
use super::runner::Runner;
use super::state::Limits;
use crate::policy::Level;

impl Runner<'_> {
    pub(super) fn choose_strategy(
        &mut self,
        level: Level,
        reason: String,
    ) -> Result<Value, Failed> {
        let Some(strategy) = self.state.strategies.get(&level).cloned() else {
            // The guard vetoes a level without a strategy; kept as an error, never a panic.
            let error = format!("policy sets no strategy for level {}", level.as_str());
            return Err(Failed {
                shown: json!({"error": error}),
                error,
            });
        };
        self.state.limits = Limits::new(&strategy);
        self.state.strategy_level = level;
        tracing::info!(level = level.as_str(), %reason, "planner chose a more cautious strategy");
        self.emit(Event::StrategyChosen {
            level,
            reason,
            strategy: strategy.clone(),
        });
        Ok(json!({
            "strategy_level": level,
            "strategy": strategy,
            "limits": limits_view(&self.state.limits),
            "note": format!(
                "the guard now holds every step to the {} strategy's limits; the risk level ({}) and the approval requirement are unchanged",
                level.as_str(),
                self.state.risk.level.as_str()
            ),
        }))
    }
}
