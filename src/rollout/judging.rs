//! The judge's side of the loop: it looks at the metrics every
//! `check_interval_seconds` while the canary has traffic, independently of the
//! planner, and a Fail rolls back without asking anyone.

use super::events::Event;
use super::runner::Runner;
use super::state::Outcome;
use crate::canary::{MetricsWindow, VerdictKind};

impl Runner<'_> {
    /// Waits `secs` on the rollout clock, or less if the operator asks to
    /// stop; true when a stop was asked.
    pub(super) async fn wait(&self, secs: f64) -> bool {
        let stop = self.backends.stop.clone();
        tokio::select! {
            biased;
            _ = stop.stopped() => true,
            _ = self.backends.clock.sleep(secs) => stop.requested().is_some(),
        }
    }

    fn bake_period(&self) -> f64 {
        self.state
            .limits
            .min_bake_seconds
            .max(self.limits.check_interval_seconds)
    }

    /// The end of the current bake period: the first bake boundary after now.
    pub(super) fn next_bake_boundary(&self) -> f64 {
        let bake = self.bake_period();
        let since = self.now() - self.state.weight_changed_at;
        let periods = (since / bake).floor() + 1.0;
        self.state.weight_changed_at + bake * periods
    }

    /// Looks at the metrics if a check is due (every `check_interval_seconds` while
    /// the canary has traffic), independently of the planner.
    pub(super) async fn judge_if_due(&mut self) {
        let due = self.judged_until + self.limits.check_interval_seconds;
        if self.state.weight > 0 && !self.state.phase.is_terminal() && self.now() >= due {
            let boundary = self.at_bake_boundary();
            self.judge_now(boundary).await;
        }
    }

    fn at_bake_boundary(&self) -> bool {
        let bake = self.bake_period();
        let baked = self.now() - self.state.weight_changed_at;
        let done = (baked / bake + 1e-9).floor();
        let before = ((self.judged_until - self.state.weight_changed_at) / bake + 1e-9).floor();
        done >= 1.0 && done > before
    }

    /// Feeds the metrics since the last look to the judge. A Fail rolls back at
    /// once; `bake_end` marks the judgement that closes a bake period.
    pub(super) async fn judge_now(&mut self, bake_end: bool) {
        let now = self.now();
        if self.state.weight == 0 || self.state.phase.is_terminal() || now <= self.judged_until {
            return;
        }
        let window = match self.backends.metrics.window(self.judged_until, now).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "metrics unavailable; judging as no data");
                MetricsWindow {
                    start: self.judged_until,
                    end: now,
                    stable: None,
                    canary: None,
                }
            }
        };
        self.judged_until = now;
        let window = self.with_reference(window).await;
        let verdict = self.judge.observe(&window);
        let verdict = self.judge_extra(verdict, window.start, now).await;
        let changed = self.state.verdict_kind() != Some(verdict.kind);
        if changed || bake_end || verdict.kind == VerdictKind::Fail {
            self.emit(Event::Judged {
                weight: self.state.weight,
                verdict: verdict.clone(),
            });
        }
        let failed = verdict.kind == VerdictKind::Fail;
        let summary = verdict.summary.clone();
        self.state.record_verdict(verdict, now, bake_end);
        if failed {
            let reason = format!("canary verdict Fail at {}%: {summary}", self.state.weight);
            self.emit(Event::AutoRollback {
                reason: reason.clone(),
            });
            self.end_safely(Outcome::RolledBack, reason).await;
        }
    }
}
