//! `set_canary_weight` against a target that may fail, lag, round or
//! half-apply: the change is journaled first, sent, then read back, and the
//! loop's state follows what the target serves, never what was asked.
//!
//! - read back as asked: the new step starts (the judge's health evidence restarts);
//! - the send failed and the target still serves the old weight: nothing
//!   changed, the planner is told so (and repeated failures end the rollout);
//! - anything else (another weight, or no answer): traffic the guard did not
//!   allow, or cannot see, is never left to serve unjudged — roll back.

use serde_json::json;
use serde_json::Value;

use super::events::Event;
use super::exec::Failed;
use super::runner::Runner;
use super::state::Outcome;

impl Runner<'_> {
    pub(super) async fn set_weight(&mut self, weight: u8) -> Result<Value, Failed> {
        let from = self.state.weight;
        let traffic = self.backends.traffic.clone();
        let seq = self
            .intent_or_end("set_weight", json!({"from": from, "to": weight}))
            .await
            .map_err(|error| Failed {
                error: error.to_string(),
                shown: json!({"executed": false, "note": "the rollout has ended: the journal refused the change"}),
            })?;
        self.touched = true;
        let sent = traffic.set_canary_weight(weight).await;
        if sent.is_ok() && seq.is_some() {
            crate::failpoint::hit(crate::failpoint::Point::AfterEffect);
        }
        let read = self.read_back(|w| w == weight).await;
        match (sent, read) {
            (_, Ok(found)) if found == weight => {
                self.applied(seq, true, "set; read back from the target");
                self.target_failures = 0;
                let now = self.now();
                self.state.set_weight(weight, now);
                self.judge.new_step();
                self.extra.new_step();
                self.judged_until = now;
                self.emit(Event::WeightChanged { from, to: weight });
                self.refresh_granularity().await;
                Ok(
                    json!({"canary_weight": weight, "bake_seconds": self.state.limits.min_bake_seconds}),
                )
            }
            (Err(e), Ok(found)) if found == from => {
                self.applied(seq, false, &e.to_string());
                self.target_failed(&e).await;
                let ended = self.state.phase.is_terminal();
                Err(Failed {
                    error: format!("{e}; the target still serves {from}% (read back)"),
                    shown: json!({
                        "executed": false,
                        "error": "the target did not apply the change",
                        "canary_weight": from,
                        "note": if ended { "the rollout has ended" } else { "traffic is unchanged (read back from the target)" },
                    }),
                })
            }
            (sent, read) => {
                let found = read.as_ref().ok().copied();
                let detail = match (&sent, &read) {
                    (Err(e), _) => format!("the change failed: {e}"),
                    (Ok(()), Err(e)) => format!("the target cannot be read: {e}"),
                    (Ok(()), Ok(_)) => "the change was accepted".to_string(),
                };
                let shown = found.map_or("an unknown share".to_string(), |w| format!("{w}%"));
                let reason = format!(
                    "{} served {shown} after {weight}% was asked ({detail}): rolled back rather than leave traffic the judge does not see",
                    traffic.describe()
                );
                self.applied(seq, false, &reason);
                if let Some(w) = found.filter(|&w| w != from) {
                    self.emit(Event::WeightChanged { from, to: w });
                    self.state.weight = w;
                } else if found.is_none() {
                    // Unknown: assume the larger of the two, so the record never understates.
                    self.state.weight = from.max(weight);
                }
                self.emit(Event::AutoRollback {
                    reason: reason.clone(),
                });
                self.end_safely(Outcome::Aborted, reason.clone()).await;
                Err(Failed {
                    error: reason,
                    shown: json!({"executed": false, "note": "the target did not apply the change as asked; the rollout was rolled back"}),
                })
            }
        }
    }
}
