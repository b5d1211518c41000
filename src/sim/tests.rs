//! World-level tests: determinism, traffic shares, scenarios, router effects.

use std::sync::Arc;

use super::*;
use crate::clock::VirtualClock;

const T0: f64 = 1_700_000_000.0;

fn world(scenario: Scenario, seed: u64) -> (Arc<VirtualClock>, Arc<SimWorld>) {
    let clock = Arc::new(VirtualClock::new(T0));
    let world = SimWorld::new(SimConfig::new(scenario, seed), clock.clone());
    (clock, world)
}

/// A world whose canary went to `weight` at T0 and ran for `secs`.
fn ran(scenario: Scenario, seed: u64, weight: u8, secs: f64) -> Arc<SimWorld> {
    let (clock, world) = world(scenario, seed);
    world.set_weight(weight);
    clock.advance(secs);
    world
}

fn canary(w: &MetricsWindow) -> &VersionSample {
    w.canary.as_ref().unwrap()
}

fn stable(w: &MetricsWindow) -> &VersionSample {
    w.stable.as_ref().unwrap()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn same_seed_and_window_give_identical_metrics_in_any_order() {
    let a = ran(Scenario::Flapping, 42, 20, 1_800.0);
    let b = ran(Scenario::Flapping, 42, 20, 1_800.0);
    let windows = [
        (T0, T0 + 300.0),
        (T0 + 123.4, T0 + 456.7),
        (T0 + 900.0, T0 + 1_800.0),
    ];
    let forward: Vec<_> = windows
        .iter()
        .map(|&(f, t)| a.window(f, t).unwrap())
        .collect();
    let backward: Vec<_> = windows
        .iter()
        .rev()
        .map(|&(f, t)| b.window(f, t).unwrap())
        .collect();
    for (x, y) in forward.iter().zip(backward.iter().rev()) {
        assert_eq!(x, y);
    }
    assert_eq!(forward[0], a.window(T0, T0 + 300.0).unwrap());
    let other = ran(Scenario::Flapping, 43, 20, 1_800.0);
    assert_ne!(forward[2], other.window(T0 + 900.0, T0 + 1_800.0).unwrap());
}

#[test]
fn canary_share_follows_the_weight() {
    let w = ran(Scenario::Healthy, 1, 25, 600.0)
        .window(T0, T0 + 600.0)
        .unwrap();
    let (c, s) = (canary(&w).requests as f64, stable(&w).requests as f64);
    let expected = SimConfig::default().rps * 600.0;
    assert!((c + s - expected).abs() < 0.03 * expected, "{c} + {s}");
    assert!((c / (c + s) - 0.25).abs() < 0.015, "{c} / {s}");
}

#[test]
fn weight_zero_gives_zero_canary_requests_but_a_sample() {
    let (clock, world) = world(Scenario::ErrorSpike, 5);
    clock.advance(600.0);
    let w = world.window(T0 - 60.0, T0 + 600.0).unwrap();
    assert_eq!(w.canary, Some(VersionSample::default()));
    assert!(stable(&w).requests > 30_000);
    assert_eq!(world.canary_served(T0 + 600.0), (0, 0));
}

#[test]
fn error_rates_match_each_scenario_over_an_hour() {
    let expected = [
        (Scenario::Healthy, 0.005),
        (Scenario::ErrorSpike, 0.06),
        (Scenario::LatencyRegression, 0.005),
        (Scenario::Flapping, 0.0325),
    ];
    for (scenario, rate) in expected {
        let w = ran(scenario, 7, 50, 3_600.0)
            .window(T0, T0 + 3_600.0)
            .unwrap();
        let got = canary(&w).error_rate().unwrap();
        assert!((got - rate).abs() < 0.1 * rate + 0.001, "{scenario}: {got}");
        let base = stable(&w).error_rate().unwrap();
        assert!((base - 0.005).abs() < 0.0015, "{scenario} baseline: {base}");
    }
}

#[test]
fn slow_degradation_grows_one_point_per_five_minutes() {
    let world = ran(Scenario::SlowDegradation, 8, 50, 3_600.0);
    let rate = |from: f64| {
        let w = world.window(T0 + from, T0 + from + 600.0).unwrap();
        canary(&w).error_rate().unwrap()
    };
    // Window midpoints at 5 and 55 minutes: 1.5% and 11.5%.
    assert!((rate(0.0) - 0.015).abs() < 0.004, "{}", rate(0.0));
    assert!((rate(3_000.0) - 0.115).abs() < 0.012, "{}", rate(3_000.0));
}

#[test]
fn flapping_alternates_every_two_minutes_of_canary_time() {
    let (clock, world) = world(Scenario::Flapping, 9);
    clock.advance(1_000.0);
    let started = world.now();
    world.set_weight(100);
    clock.advance(960.0);
    let rate = |phase: f64| {
        let mut total = VersionSample::default();
        for k in 0..4 {
            let from = started + phase * 120.0 + k as f64 * 240.0;
            total.absorb(canary(&world.window(from, from + 120.0).unwrap()));
        }
        total.error_rate().unwrap()
    };
    assert!((rate(0.0) - 0.005).abs() < 0.003, "good {}", rate(0.0));
    assert!((rate(1.0) - 0.06).abs() < 0.012, "bad {}", rate(1.0));
}

#[test]
fn latency_regression_moves_the_canary_median_only() {
    let w = ran(Scenario::LatencyRegression, 10, 50, 600.0)
        .window(T0, T0 + 600.0)
        .unwrap();
    let cap = SimConfig::default().max_latency_samples_per_window;
    assert_eq!(canary(&w).latency_ms.len(), cap);
    assert_eq!(stable(&w).latency_ms.len(), cap);
    assert!((median(&canary(&w).latency_ms) - 128.0).abs() < 12.0);
    assert!((median(&stable(&w).latency_ms) - 80.0).abs() < 7.0);
}

#[test]
fn no_data_hides_the_canary_but_it_still_serves() {
    let world = ran(Scenario::NoData, 11, 40, 600.0);
    let w = world.window(T0, T0 + 600.0).unwrap();
    assert_eq!(w.canary, None);
    assert!(stable(&w).requests > 0);
    assert!(world.canary_served(T0 + 600.0).0 > 10_000);
}

#[test]
fn promote_sends_everything_to_the_canary_and_rollback_takes_it_back() {
    let (clock, world) = world(Scenario::Healthy, 12);
    world.set_weight(10);
    clock.advance(300.0);
    world.promote();
    clock.advance(300.0);
    let w = world.window(T0 + 300.0, T0 + 600.0).unwrap();
    assert_eq!(w.stable, Some(VersionSample::default()));
    assert!(canary(&w).requests > 14_000);
    world.rollback();
    clock.advance(300.0);
    let w = world.window(T0 + 600.0, T0 + 900.0).unwrap();
    assert_eq!(w.canary, Some(VersionSample::default()));
    assert!(world.rolled_back() && !world.promoted());
    assert_eq!(world.weight_at(T0 + 450.0), 100);
    assert_eq!(world.weight_at(T0 - 1.0), 0);
}

#[test]
fn canary_served_sums_the_same_draws_as_the_windows() {
    let (clock, world) = world(Scenario::ErrorSpike, 13);
    clock.advance(95.0);
    world.set_weight(5);
    clock.advance(307.0);
    world.set_weight(25);
    clock.advance(611.0);
    let mut total = VersionSample::default();
    let mut from = T0;
    while from < T0 + 1_013.0 {
        let to = (from + 77.7).min(T0 + 1_013.0);
        total.absorb(canary(&world.window(from, to).unwrap()));
        from = to;
    }
    let served = world.canary_served(T0 + 1_013.0);
    assert_eq!(served, (total.requests, total.errors));
    assert!(served.1 > 0 && served.1 < served.0);
    assert_eq!(world.canary_served(T0 + 50.0), (0, 0));
}

#[test]
fn invalid_windows_are_query_errors_and_empty_ones_are_empty() {
    let (_clock, world) = world(Scenario::Healthy, 14);
    assert!(world.window(T0 + 10.0, T0).is_err());
    assert!(world.window(f64::NAN, T0).is_err());
    assert!(world.window(0.0, T0).is_err());
    let w = world.window(T0, T0).unwrap();
    assert_eq!(w.stable, Some(VersionSample::default()));
}

#[test]
fn config_defaults_match_the_contract() {
    let c = SimConfig::default();
    assert_eq!((c.rps, c.max_latency_samples_per_window), (200.0, 1_000));
    assert_eq!(c.scenario, Scenario::Healthy);
}

/// Release-mode cost of one 5-minute window query:
/// `cargo test --release --lib sim::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_five_minute_window() {
    let world = ran(Scenario::SlowDegradation, 15, 25, 1_800.0);
    let n = 20_000;
    let started = std::time::Instant::now();
    let mut sink = 0;
    for i in 0..n {
        let from = T0 + (i % 1_500) as f64;
        let w = world.window(from, from + 300.0).unwrap();
        sink += canary(&w).requests + stable(&w).latency_ms.len() as u64;
    }
    let per = started.elapsed().as_secs_f64() / n as f64;
    println!("one 5-minute window: {:.2} µs ({sink})", per * 1e6);
    let started = std::time::Instant::now();
    for i in 0..n {
        sink += world.canary_served(T0 + 1_500.0 + (i % 300) as f64).0;
    }
    let per = started.elapsed().as_secs_f64() / n as f64;
    println!(
        "canary_served over 30 minutes: {:.2} µs ({sink})",
        per * 1e6
    );
}
