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

/// How much more of the previous version's traffic a reference holds than the
/// window it serves: a baseline as short as the window doubles the noise of
/// the comparison (both sides vary), one six times as long adds a sixth.
/// Successive windows still map to disjoint spans, so no reference request is
/// counted twice.
const SCALE: u32 = 6;

/// Where a window's baseline comes from when the stable version serves nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Reference {
    /// The same span in each of the `weeks` weeks before (same hour of the week).
    WeeksEarlier { weeks: u32 },
    /// The span mirrored before `switch` (the time all traffic moved), stretched
    /// [`SCALE`] times.
    BeforeSwitch { switch: f64 },
}

impl Reference {
    /// The reference spans for `[start, end)`.
    fn spans(self, start: f64, end: f64) -> Vec<(f64, f64)> {
        match self {
            Reference::WeeksEarlier { weeks } => {
                (1..=weeks).map(|k| week_earlier(start, end, k)).collect()
            }
            Reference::BeforeSwitch { switch } => {
                let scale = f64::from(SCALE);
                let (from, to) = (
                    switch - scale * (end - switch),
                    switch - scale * (start - switch),
                );
                vec![(from.min(switch), to.min(switch))]
            }
        }
    }

    fn describe(self) -> String {
        match self {
            Reference::WeeksEarlier { weeks } => format!(
                "each window against the previous version at the same time of the week in each of the {weeks} weeks before"
            ),
            Reference::BeforeSwitch { .. } => format!(
                "each window against the previous version over a span {SCALE} times as long just before the switch (mirrored: no metrics from a week earlier)"
            ),
        }
    }
}

fn week_earlier(start: f64, end: f64, k: u32) -> (f64, f64) {
    let back = f64::from(k) * WEEK_SECONDS;
    (start - back, end - back)
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
        let mut baseline: Option<VersionSample> = None;
        for (from, to) in reference.spans(window.start, window.end) {
            // Every span must be there: a partial reference is missing data.
            let Some(part) = self.previous_version(from, to).await else {
                window.stable = None;
                return window;
            };
            match baseline.as_mut() {
                Some(b) => b.absorb(&part),
                None => baseline = Some(part),
            }
        }
        window.stable = baseline;
        window
    }

    /// Weeks earlier (as many as the source holds, up to [`SCALE`]) when it has
    /// the previous version's traffic a week back, else before the switch;
    /// announced with what the judge changes.
    async fn choose_reference(&mut self, window: &MetricsWindow) -> Reference {
        let mut weeks = 0;
        while weeks < SCALE {
            let (from, to) = week_earlier(window.start, window.end, weeks + 1);
            if self.previous_version(from, to).await.is_none() {
                break;
            }
            weeks += 1;
        }
        let reference = if weeks > 0 {
            Reference::WeeksEarlier { weeks }
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
    fn spans_are_reflected_stretched_and_disjoint() {
        let weeks = Reference::WeeksEarlier { weeks: 2 }.spans(1_000_000.0, 1_000_030.0);
        assert_eq!(
            weeks,
            vec![
                (1_000_000.0 - WEEK_SECONDS, 1_000_030.0 - WEEK_SECONDS),
                (
                    1_000_000.0 - 2.0 * WEEK_SECONDS,
                    1_000_030.0 - 2.0 * WEEK_SECONDS
                )
            ]
        );
        // 30–60 s after a switch at 1000 mirrors to 180–360 s before it, and
        // the window after it (60–90 s) to 360–540 s before: disjoint.
        let at = Reference::BeforeSwitch { switch: 1000.0 };
        assert_eq!(at.spans(1030.0, 1060.0), vec![(640.0, 820.0)]);
        assert_eq!(at.spans(1060.0, 1090.0), vec![(460.0, 640.0)]);
    }
}
