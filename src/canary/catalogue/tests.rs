//! The extra metrics on seeded synthetic windows: 10 s, canary 10 % of 100 rps
//! overall, a third of the requests on the endpoint.

use super::*;
use crate::canary::{Judge, MetricsWindow, SequentialJudge, VersionSample};
use crate::metrics::RatioSample;
use crate::sim::{seeded, Draws, SimRng};

const ENDPOINT: &str = "endpoint:/checkout";

fn version(rng: &mut SimRng, n: u64) -> VersionSample {
    VersionSample {
        requests: n,
        errors: rng.binomial(n, 0.005),
        latency_ms: (0..n.min(50)).map(|_| rng.lognormal(80.0, 0.35)).collect(),
    }
}

/// One window: the overall numbers identical in law for both versions, the
/// endpoint's bad share `canary_bad` on the canary and 2 % on the baseline.
fn window(rng: &mut SimRng, i: u32, canary_bad: f64) -> (MetricsWindow, ExtraWindow) {
    let (n_c, n_s) = (rng.poisson(100.0), rng.poisson(900.0));
    let t = f64::from(i) * 10.0;
    let overall = MetricsWindow {
        start: t,
        end: t + 10.0,
        stable: Some(version(rng, n_s)),
        canary: Some(version(rng, n_c)),
    };
    let (e_c, e_s) = (n_c / 3, n_s / 3);
    let extra = ExtraWindow {
        name: ENDPOINT.into(),
        stable: Some(RatioSample {
            total: e_s,
            bad: rng.binomial(e_s, 0.02),
        }),
        canary: Some(RatioSample {
            total: e_c,
            bad: rng.binomial(e_c, canary_bad),
        }),
    };
    (overall, extra)
}

/// Feeds windows until the combined verdict decides; the verdict and the
/// required metrics' own verdict at that point.
fn run(seed: u64, canary_bad: f64, chosen: bool) -> (Verdict, VerdictKind) {
    let mut rng = seeded(seed);
    let mut judge = SequentialJudge::default();
    let mut extra = ExtraJudge::new(SequentialConfig::default());
    if chosen {
        extra.add(ENDPOINT);
    }
    let mut last = None;
    for i in 0..400 {
        let (w, e) = window(&mut rng, i, canary_bad);
        let required = judge.observe(&w);
        extra.observe(10.0, &[e]);
        let base = required.kind;
        let v = combine(required, extra.checks());
        if matches!(v.kind, VerdictKind::Fail | VerdictKind::Pass) {
            return (v, base);
        }
        last = Some((v, base));
    }
    last.unwrap()
}

#[test]
fn an_endpoint_regression_invisible_overall_fails_once_its_metric_is_added() {
    for seed in 0..5 {
        // Without the metric the overall numbers pass: the regression is invisible.
        let (v, _) = run(seed, 0.10, false);
        assert_eq!(v.kind, VerdictKind::Pass, "seed {seed}: {}", v.summary);
        // With it the same canary fails, and the verdict names the metric.
        let (v, required) = run(seed, 0.10, true);
        assert_eq!(v.kind, VerdictKind::Fail, "seed {seed}: {}", v.summary);
        assert_ne!(required, VerdictKind::Fail, "seed {seed}");
        assert!(v.summary.contains(ENDPOINT), "{}", v.summary);
        let check = v.checks.iter().find(|c| c.metric == ENDPOINT).unwrap();
        assert!(check.canary.unwrap() > 0.05, "{check:?}");
    }
}

#[test]
fn a_healthy_endpoint_passes_with_the_required_metrics() {
    let (v, _) = run(1, 0.02, true);
    assert_eq!(v.kind, VerdictKind::Pass, "{}", v.summary);
    assert!(v.checks.iter().any(|c| c.metric == ENDPOINT));
}

#[test]
fn a_chosen_metric_without_data_is_no_data_never_pass() {
    let mut rng = seeded(3);
    let mut judge = SequentialJudge::default();
    let mut extra = ExtraJudge::new(SequentialConfig::default());
    extra.add(ENDPOINT);
    for i in 0..200 {
        let (w, _) = window(&mut rng, i, 0.02);
        let required = judge.observe(&w);
        // The backend answers the metric missing for the canary.
        extra.observe(10.0, &[ExtraWindow::missing(ENDPOINT)]);
        let v = combine(required, extra.checks());
        assert_ne!(v.kind, VerdictKind::Pass, "window {i}: {}", v.summary);
        if i > 50 {
            assert_eq!(v.kind, VerdictKind::NoData, "{}", v.summary);
        }
    }
    // A metric the backend left out entirely is missing too.
    extra.observe(10.0, &[]);
    assert_eq!(extra.checks()[0].verdict, VerdictKind::NoData);
}
