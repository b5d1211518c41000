//! Reference judges that reproduce what common canary tools do, so the
//! sequential judge can be benchmarked against them on the same traffic
//! (`deploy-agent bench canary`). None of them is meant for production use here.
//!
//! Each one implements [`Judge`](super::Judge) with the loop's contract: it is
//! fed one 10 s window at a time, aggregates windows into its own interval (by
//! window *end* time, as a Prometheus range query ending at that instant would)
//! and only decides at interval boundaries: `Fail` = roll back now, `Pass` =
//! promote now, anything else = keep going.
//!
//! For the whole-rollout benchmark (`deploy-agent bench rollouts`) Flagger,
//! Argo and Kayenta also run as the products run a rollout: each config has a
//! `documented()` example from the product's docs (and an `alternative()`
//! where its docs disagree), a `schedule()` giving its traffic steps as a
//! [`Strategy::Canary`](crate::policy::Strategy), and each judge a `for_loop`
//! constructor whose `Pass` means "this step's analysis succeeded, go to the
//! next step" (see each module's docs).

mod argo;
mod fixed_mw;
mod flagger;
mod kayenta;
mod oracle;

pub use argo::{ArgoAnalysis, ArgoAnalysisConfig, ArgoJudge};
pub use fixed_mw::{FixedMwConfig, FixedMwJudge};
pub use flagger::{FlaggerConfig, FlaggerJudge};
pub use kayenta::{KayentaClassifier, KayentaConfig, KayentaJudge};
pub use oracle::{wald_expected_n, OracleConfig, OracleSprt};

use super::{MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};

/// Splits the rollout clock into back-to-back intervals of a fixed length.
///
/// The first interval starts at the first window's start, so a judge reset in
/// the middle of a rollout counts its intervals from there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntervalClock {
    length: f64,
    next: Option<f64>,
}

/// Tolerance on boundary comparisons: window ends are sums of float seconds.
const EPS: f64 = 1e-6;

impl IntervalClock {
    pub(crate) fn new(length_s: f64) -> Self {
        Self {
            length: length_s.max(EPS),
            next: None,
        }
    }

    /// True when `window` ends on or after the current boundary, i.e. it
    /// completes an interval. A window spanning several boundaries (a gap in
    /// the feed) completes one interval only, so gaps never produce phantom checks.
    pub(crate) fn closes(&mut self, window: &MetricsWindow) -> bool {
        let next = *self.next.get_or_insert(window.start + self.length);
        if window.end + EPS < next {
            return false;
        }
        let mut following = next + self.length;
        while following <= window.end + EPS {
            following += self.length;
        }
        self.next = Some(following);
        true
    }
}

/// Requests seen per version since the judge started.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    pub canary: u64,
    pub baseline: u64,
}

impl Seen {
    pub(crate) fn absorb(&mut self, window: &MetricsWindow) {
        self.canary += window.canary.as_ref().map_or(0, |c| c.requests);
        self.baseline += window.stable.as_ref().map_or(0, |s| s.requests);
    }

    /// The verdict between two decision points: keep going.
    pub(crate) fn waiting(&self, what: &str) -> Verdict {
        verdict(
            VerdictKind::Inconclusive,
            what.to_string(),
            vec![],
            self.canary,
            self.baseline,
        )
    }
}

/// Both versions' samples over one interval; `None` = no window of the
/// interval carried metrics for that version (a range query would return
/// nothing, while a few missing scrapes inside the range still give a value).
#[derive(Debug, Clone, Default)]
pub(crate) struct Interval {
    pub stable: Option<VersionSample>,
    pub canary: Option<VersionSample>,
}

impl Interval {
    pub(crate) fn absorb(&mut self, window: &MetricsWindow) {
        absorb_into(&mut self.stable, window.stable.as_ref());
        absorb_into(&mut self.canary, window.canary.as_ref());
    }
}

fn absorb_into(into: &mut Option<VersionSample>, from: Option<&VersionSample>) {
    if let Some(sample) = from {
        into.get_or_insert_with(VersionSample::default)
            .absorb(sample);
    }
}

/// The `q` quantile (0..=1) by linear interpolation between order statistics,
/// as Prometheus and numpy's default do; `None` for no samples.
pub(crate) fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (v.get(lo)?, v.get(hi)?);
    Some(a + (b - a) * (pos - lo as f64))
}

/// A verdict with the request counts the loop reports.
pub(crate) fn verdict(
    kind: VerdictKind,
    summary: String,
    checks: Vec<MetricCheck>,
    canary_requests: u64,
    baseline_requests: u64,
) -> Verdict {
    Verdict {
        kind,
        checks,
        canary_requests,
        baseline_requests,
        summary,
        harm: None,
    }
}

/// A check with the numbers behind it.
pub(crate) fn check(
    metric: &str,
    verdict: VerdictKind,
    canary: Option<f64>,
    baseline: Option<f64>,
    statistic: Option<f64>,
    detail: String,
) -> MetricCheck {
    MetricCheck {
        metric: metric.into(),
        verdict,
        canary,
        baseline,
        statistic,
        detail,
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// A 10 s window ending at `end` with the given canary and stable counts.
    pub fn window(
        end: f64,
        stable: Option<(u64, u64, f64)>,
        canary: Option<(u64, u64, f64)>,
    ) -> MetricsWindow {
        let sample = |(requests, errors, latency): (u64, u64, f64)| VersionSample {
            requests,
            errors,
            latency_ms: if requests > 0 {
                vec![latency; requests.min(5) as usize]
            } else {
                vec![]
            },
        };
        MetricsWindow {
            start: end - 10.0,
            end,
            stable: stable.map(sample),
            canary: canary.map(sample),
        }
    }

    /// Feeds `n` windows (10 s each, continuing from `from_end`) and returns the kinds.
    pub fn feed(
        judge: &mut dyn super::super::Judge,
        from_end: f64,
        n: usize,
        stable: Option<(u64, u64, f64)>,
        canary: Option<(u64, u64, f64)>,
    ) -> Vec<VerdictKind> {
        (0..n)
            .map(|i| {
                let w = window(from_end + 10.0 * i as f64, stable, canary);
                judge.observe(&w).kind
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_clock_closes_on_window_ends() {
        let mut clock = IntervalClock::new(60.0);
        let closes: Vec<bool> = (1..=12)
            .map(|i| clock.closes(&testutil::window(10.0 * f64::from(i), None, None)))
            .collect();
        let at: Vec<usize> = closes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.then_some(i + 1))
            .collect();
        assert_eq!(at, vec![6, 12]);
    }

    #[test]
    fn interval_clock_counts_a_gap_once() {
        let mut clock = IntervalClock::new(60.0);
        assert!(!clock.closes(&testutil::window(10.0, None, None)));
        let gap = MetricsWindow {
            start: 10.0,
            end: 200.0,
            ..Default::default()
        };
        assert!(clock.closes(&gap));
        assert!(clock.closes(&testutil::window(240.0, None, None)));
    }

    #[test]
    fn quantile_interpolates() {
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.99), Some(100.0));
        assert_eq!(quantile(&[1.0, 3.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
