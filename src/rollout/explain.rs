//! The rollout's end: the rollback explained for people, then `Finished`.
//!
//! The explanation is asked for only once the traffic is back on stable (the
//! rollback is confirmed before this runs), and the narrator is bounded
//! ([`crate::narrate::MAX_WAIT`]): a slow or failing model delays the
//! report by seconds at most, never the rollback.

use super::events::Event;
use super::runner::Runner;
use super::state::Outcome;
use super::RolloutSummary;
use crate::narrate::{Facts, Kind, Narrative};
use crate::planner::Planner;

impl Runner<'_> {
    /// Tells the planner how it ended, explains a rollback, then emits
    /// `Finished` — after the last tool event, so it is always the last
    /// event — and returns the summary.
    pub(super) async fn conclude(self, planner: &mut dyn Planner) -> RolloutSummary {
        planner.notify(&format!(
            "The rollout has ended ({:?}): {}",
            self.state.phase, self.reason
        ));
        let mut summary = self.summary(planner.name());
        if summary.outcome == Outcome::RolledBack {
            let narrative = self.explain(&summary).await;
            self.sink.emit(
                summary.ended_at,
                &Event::Explained {
                    text: narrative.text.clone(),
                    by: narrative.by,
                    withheld: narrative.withheld.clone(),
                },
            );
            summary.explanation = Some(narrative);
        }
        self.sink.emit(
            summary.ended_at,
            &Event::Finished {
                outcome: summary.outcome,
                reason: summary.reason.clone(),
                weight: summary.final_weight,
            },
        );
        summary
    }

    /// Why it was rolled back, from the weight it left and the judge's last
    /// verdict there. An operator's stop meanwhile takes the template at once.
    async fn explain(&self, summary: &RolloutSummary) -> Narrative {
        let from = self.state.steps.last().map_or(0, |s| s.weight);
        let facts = Facts::for_rollback(
            summary,
            self.state.verdict.as_ref(),
            from,
            !self.model_reason,
        );
        let stop = self.backends.stop.clone();
        tokio::select! {
            biased;
            narrative = self.backends.narrator.narrate(Kind::Rollback, &facts) => narrative,
            _ = stop.stopped() => Narrative::template(Kind::Rollback, &facts),
        }
    }
}
