//! Before/after: when the stable version serves nothing (a `direct` deploy at
//! 100 %, verified before promotion) there is no side-by-side baseline, so each
//! window is paired with the previous version's metrics over a window of the
//! same length: at the same time a week earlier where the metrics source has
//! it (same hour of the week: daily and weekly cycles line up), otherwise
//! mirrored just before the switch. The choice is made once per rollout and
//! announced; a reference window that is missing is missing data (no Pass).
//!
//! The judge is told (`compare_before_after`): noise that cancels between two
//! versions serving side by side (a blip hitting both) does not cancel across
//! time, so it tempers its evidence for all of it.

use super::events::Event;
use super::runner::Runner;
use crate::canary::{MetricsWindow, VersionSample};

/// Seconds in a week.
const WEEK_SECONDS: f64 = 7.0 * 86_400.0;

/// Where a window's baseline comes from when the stable version serves nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Reference {
    /// The same span one week earlier.
    WeekEarlier,
    /// The span mirrored before `switch` (the time all traffic moved).
    BeforeSwitch { switch: f64 },
}

impl Reference {
    /// The reference span for `[start, end)`.
    fn span(self, start: f64, end: f64) -> (f64, f64) {
        match self {
            Reference::WeekEarlier => (start - WEEK_SECONDS, end - WEEK_SECONDS),
            Reference::BeforeSwitch { switch } => {
                let (from, to) = (2.0 * switch - end, 2.0 * switch - start);
                (from.min(switch), to.min(switch))
            }
        }
    }

    fn describe(self) -> String {
        match self {
            Reference::WeekEarlier => {
                "each window against the previous version at the same time one week earlier".into()
            }
            Reference::BeforeSwitch { .. } => {
                "each window against the previous version just before the switch (mirrored: no metrics from a week earlier)".into()
            }
        }
    }
}

impl Runner<'_> {
    /// `window` with its baseline filled from the reference when the stable
    /// version served nothing in it while the canary served everything.
    pub(super) async fn with_reference(&mut self, mut window: MetricsWindow) -> MetricsWindow {
        let stable_serves = window.stable.as_ref().is_some_and(|s| s.requests > 0);
        if stable_serves || self.state.weight < 100 || window.canary.is_none() {
            return window;
        }
        let reference = match self.reference {
            Some(r) => r,
            None => self.choose_reference(&window).await,
        };
        let (from, to) = reference.span(window.start, window.end);
        window.stable = self.previous_version(from, to).await;
        window
    }

    /// A week earlier when the source has the previous version's traffic
    /// there, else before the switch; announced with what the judge changes.
    async fn choose_reference(&mut self, window: &MetricsWindow) -> Reference {
        let (from, to) = Reference::WeekEarlier.span(window.start, window.end);
        let reference = if self.previous_version(from, to).await.is_some() {
            Reference::WeekEarlier
        } else {
            Reference::BeforeSwitch {
                switch: self.state.weight_changed_at,
            }
        };
        self.reference = Some(reference);
        let detail = format!(
            "before/after: the stable version serves nothing at {}%, so the judge compares {}; {}",
            self.state.weight,
            reference.describe(),
            self.judge.compare_before_after()
        );
        self.emit(Event::Calibrated { windows: 0, detail });
        reference
    }

    /// The stable version's metrics over `[from, to)`, if it served any.
    async fn previous_version(&self, from: f64, to: f64) -> Option<VersionSample> {
        match self.backends.metrics.window(from, to).await {
            Ok(w) => w.stable.filter(|s| s.requests > 0),
            Err(e) => {
                tracing::warn!(error = %e, from, to, "reference window unavailable");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        let week = Reference::WeekEarlier.span(1_000_000.0, 1_000_030.0);
        assert_eq!(
            week,
            (1_000_000.0 - WEEK_SECONDS, 1_000_030.0 - WEEK_SECONDS)
        );
        // 30–60 s after a switch at 100 mirrors to 40–70 s before it.
        let mirror = Reference::BeforeSwitch { switch: 100.0 }.span(130.0, 160.0);
        assert_eq!(mirror, (40.0, 70.0));
    }
}
