//! A planner hand-over, as the loop records it: the planner (a
//! [`crate::planner::HandoverPlanner`]) decides, the loop says so in the
//! events and the summary. Nothing else changes: the new planner's calls go
//! through the same parse → guard → execute.

use super::events::Event;
use super::runner::Runner;
use super::HandoverRecord;
use crate::planner::Handover;

impl Runner<'_> {
    /// Records the hand-over reported with the plan about to run. The new
    /// planner starts its own run of vetoes: the circuit breaker still guards
    /// it, but does not count the previous planner's last vetoes against it
    /// (the total, `max_vetoes`, still counts them all).
    pub(super) fn planner_handed_over(&mut self, handover: Handover) {
        let turn = self.state.turns + 1;
        self.emit(Event::PlannerHandover {
            from: handover.from.clone(),
            to: handover.to.clone(),
            reason: handover.reason.clone(),
            turn,
        });
        tracing::warn!(from = %handover.from, to = %handover.to, reason = %handover.reason, "planner handed over");
        self.state.consecutive_vetoes = 0;
        self.handover = Some(HandoverRecord {
            from: handover.from,
            to: handover.to,
            reason: handover.reason,
            turn,
        });
    }
}
