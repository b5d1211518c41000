//! `promote`, in up to three phases, with the judge watching throughout:
//!
//! 1. **Plan** (read-only): how the target promotes and what undoing it needs;
//!    the undo goes into the write-ahead intent before anything changes.
//! 2. **Stage** (targets that need it, e.g. Kubernetes: the stable Deployment
//!    rolls to the canary's image): wait for it with the judge still judging
//!    the canary; a Fail, a failed staging, a timeout or an operator's stop
//!    undoes it and rolls traffic back.
//! 3. **Switch**: all traffic to the new version, confirmed by reading the
//!    target back; a promotion the target does not show is rolled back.

use serde_json::{json, Value};

use super::events::Event;
use super::exec::Failed;
use super::runner::{Runner, StagedPromotion};
use super::state::{Outcome, PromotedOn};
use crate::canary::VerdictKind;
use crate::traffic::{PromotionPlan, Staging};

impl Runner<'_> {
    pub(super) async fn promote(&mut self, reason: String) -> Result<Value, Failed> {
        let traffic = self.backends.traffic.clone();
        let from = self.state.weight;
        // What the guard let this promotion through on, for the record.
        let basis = match self.state.verdict_kind() {
            Some(VerdictKind::Pass) => PromotedOn::Pass,
            _ if self.state.continued_at == Some(from) => PromotedOn::Human,
            _ => PromotedOn::Unverified,
        };
        let plan = match traffic.plan_promotion().await {
            Ok(plan) => plan,
            Err(e) => {
                self.target_failed(&e).await;
                return Err(Failed {
                    error: format!("cannot plan the promotion: {e}"),
                    shown: json!({"executed": false, "error": "the target could not be read; nothing changed"}),
                });
            }
        };
        let payload = json!({"from": from, "to": 100, "staged": plan.staged, "undo": plan.undo});
        let seq = self
            .intent_or_end("promote", payload)
            .await
            .map_err(|error| ended(error.to_string(), "the journal refused the promotion"))?;
        self.touched = true;
        if plan.staged {
            if let Err(why) = self.stage(&plan).await {
                let why = why.to_string();
                self.applied(seq, false, &why);
                return Err(ended(
                    why,
                    "the promotion did not complete; traffic is back on stable",
                ));
            }
        }
        let sent = traffic.promote().await;
        if sent.is_ok() && seq.is_some() {
            crate::failpoint::hit(crate::failpoint::Point::AfterEffect);
        }
        let confirmed = self.promotion_confirmed().await;
        if !confirmed {
            let why = format!(
                "{} does not show the promotion ({}): rolled back",
                traffic.describe(),
                sent.err()
                    .map_or("the change was accepted".into(), |e| e.to_string())
            );
            self.applied(seq, false, &why);
            self.emit(Event::AutoRollback {
                reason: why.clone(),
            });
            self.end_safely(Outcome::Aborted, why.clone()).await;
            return Err(ended(
                why,
                "the target did not show the promotion; rolled back",
            ));
        }
        self.staged = None;
        self.state.promoted_on = Some(basis);
        self.applied(seq, true, "promoted; read back from the target");
        if from != 100 {
            self.emit(Event::WeightChanged { from, to: 100 });
        }
        self.end_safely(
            Outcome::Promoted,
            format!("promoted on {}: {reason}", basis.as_str()),
        )
        .await;
        Ok(json!({"promoted": true}))
    }

    /// Reads the target until it shows the promotion, up to its settle time.
    async fn promotion_confirmed(&self) -> bool {
        let traffic = self.backends.traffic.clone();
        let deadline = self.now() + traffic.settle_seconds();
        loop {
            if matches!(traffic.promoted().await, Ok(true)) {
                return true;
            }
            if self.now() >= deadline {
                return false;
            }
            self.backends.clock.sleep(1.0).await;
        }
    }

    /// Phase 2: stage and wait, judging. `Err` says why it ended (the rollout
    /// has then ended, the staging undone and traffic rolled back).
    async fn stage(&mut self, plan: &PromotionPlan) -> Result<(), StagingEnded> {
        let traffic = self.backends.traffic.clone();
        self.staged = Some(StagedPromotion {
            undo: plan.undo.clone(),
            detail: plan.detail.clone(),
        });
        let detail = plan.detail.clone();
        if let Err(error) = traffic.stage_promotion().await {
            let why = StagingEnded::NotStaged { error, detail };
            self.end_safely(Outcome::Aborted, why.to_string()).await;
            return Err(why);
        }
        self.emit(Event::Promotion {
            stage: "staged".into(),
            detail: format!(
                "{}; waiting up to {:.0} s with the judge watching",
                plan.detail, plan.timeout_seconds
            ),
        });
        let deadline = self.now() + plan.timeout_seconds;
        let check = self.limits.check_interval_seconds;
        loop {
            let progress = match traffic.staging().await {
                Ok(Staging::Ready) => break,
                Ok(Staging::Failed(target_said)) => {
                    let why = StagingEnded::Failed {
                        target_said,
                        detail,
                    };
                    self.end_safely(Outcome::Aborted, why.to_string()).await;
                    return Err(why);
                }
                Ok(Staging::Waiting(progress)) => progress,
                Err(e) => format!("cannot read its progress: {e}"),
            };
            let now = self.now();
            if now >= deadline {
                let why = StagingEnded::TimedOut {
                    seconds: plan.timeout_seconds,
                    progress,
                    detail,
                };
                self.end_safely(Outcome::Aborted, why.to_string()).await;
                return Err(why);
            }
            if self.wait(check.min(deadline - now).max(0.1)).await {
                self.stop_if_asked().await;
                return Err(StagingEnded::Stopped { progress });
            }
            self.judge_now(false).await;
            if self.state.phase.is_terminal() {
                return Err(StagingEnded::CanaryFailed {
                    reason: self.reason.clone(),
                });
            }
        }
        self.emit(Event::Promotion {
            stage: "ready".into(),
            detail: format!("{}: the stable version runs it everywhere", plan.detail),
        });
        Ok(())
    }
}

/// Why a staged promotion ended the rollout (staging undone, traffic back on
/// stable); the text is the rollout's end reason and the tool's error.
#[derive(Debug, thiserror::Error)]
enum StagingEnded {
    #[error("the promotion could not be staged ({error}); {detail} undone")]
    NotStaged {
        error: crate::traffic::TrafficError,
        detail: String,
    },
    #[error("the promotion failed: {target_said}; {detail} undone")]
    Failed { target_said: String, detail: String },
    #[error("the promotion did not finish within {seconds:.0} s ({progress}); {detail} undone")]
    TimedOut {
        seconds: f64,
        progress: String,
        detail: String,
    },
    #[error("stopped by the operator while {progress}")]
    Stopped { progress: String },
    #[error("the canary failed while the promotion was staged: {reason}")]
    CanaryFailed { reason: String },
}

/// A failure after which the rollout has ended.
fn ended(error: String, note: &str) -> Failed {
    Failed {
        error,
        shown: json!({"executed": false, "note": note}),
    }
}
