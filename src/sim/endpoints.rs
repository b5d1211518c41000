//! The simulated service's metrics catalogue: per-endpoint shares of failed
//! requests, so a planner can add the endpoint a change touches
//! (`add_metrics`) and a scenario can regress one endpoint where the overall
//! error rate cannot see it (`endpoint-regression`).
//!
//! An endpoint's "bad" events are business failures (a checkout that does not
//! complete: a declined payment, a 200 with an error body), which the HTTP
//! error rate does not count; so a regression there leaves the overall numbers
//! untouched. Each (window, version, endpoint) draws from its own stream keyed
//! by the window's bounds, like latencies: deterministic for a seed, not
//! additive across windows (the judge never needs them to be).

use super::draw::Version;
use super::{check_window, keyed, Draws, Scenario, SimWorld};
use crate::metrics::{CatalogueEntry, ExtraWindow, MetricsError, RatioSample};

/// One endpoint of the simulated service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Endpoint {
    /// The catalogue name (`endpoint:/checkout`).
    pub name: &'static str,
    /// Share of each version's requests that go to it.
    pub share: f64,
    /// Share of them that fail, on the stable version and a healthy canary.
    pub bad_rate: f64,
    pub description: &'static str,
}

/// The simulated service's endpoints: its metrics catalogue.
pub const ENDPOINTS: [Endpoint; 3] = [
    Endpoint {
        name: "endpoint:/checkout",
        share: 0.25,
        bad_rate: 0.02,
        description: "share of /checkout requests that fail to complete an order (declined payments, 200s with an error body), which the HTTP error rate does not count; add it when the change touches checkout, payments or orders",
    },
    Endpoint {
        name: "endpoint:/search",
        share: 0.5,
        bad_rate: 0.01,
        description: "share of /search requests answered with an empty or degraded result; add it when the change touches search or indexing",
    },
    Endpoint {
        name: "endpoint:/login",
        share: 0.1,
        bad_rate: 0.01,
        description: "share of /login attempts that fail for valid credentials; add it when the change touches authentication or sessions",
    },
];

/// The canary's checkout failure rate in `endpoint-regression`.
pub const CHECKOUT_REGRESSION_RATE: f64 = 0.10;

/// Stream tag for endpoint draws, kept apart from the other streams.
const ENDPOINT_STREAM: u64 = 0x454E_4450_4F49_4E54;

pub(super) fn catalogue() -> Vec<CatalogueEntry> {
    ENDPOINTS
        .iter()
        .map(|e| CatalogueEntry {
            name: e.name.into(),
            description: e.description.into(),
        })
        .collect()
}

impl Endpoint {
    fn bad_rate_for(&self, version: Version, scenario: Scenario) -> f64 {
        if version == Version::Canary
            && scenario == Scenario::EndpointRegression
            && self.name == "endpoint:/checkout"
        {
            CHECKOUT_REGRESSION_RATE
        } else {
            self.bad_rate
        }
    }
}

impl SimWorld {
    /// The chosen endpoints over `[from, to)`: a name the catalogue does not
    /// list is missing for both versions, and the canary's numbers are missing
    /// whenever its metrics are (`no-data`).
    pub fn extra(
        &self,
        names: &[String],
        from: f64,
        to: f64,
    ) -> Result<Vec<ExtraWindow>, MetricsError> {
        check_window(from, to)?;
        let (stable, canary) = self.drawer_with(|d| {
            (
                d.counts(Version::Stable, from, to).requests,
                d.counts(Version::Canary, from, to).requests,
            )
        });
        let scenario = self.config.scenario;
        Ok(names
            .iter()
            .map(|name| {
                let Some((i, e)) = ENDPOINTS.iter().enumerate().find(|(_, e)| e.name == name)
                else {
                    return ExtraWindow::missing(name);
                };
                let draw = |version: Version, requests: u64| {
                    let tag = match version {
                        Version::Stable => 1,
                        Version::Canary => 2,
                    };
                    let key = [
                        ENDPOINT_STREAM ^ i as u64,
                        tag,
                        from.to_bits(),
                        to.to_bits(),
                    ];
                    let mut rng = keyed(self.config.seed, &key);
                    let total = rng.binomial(requests, e.share);
                    let bad = rng.binomial(total, e.bad_rate_for(version, scenario));
                    RatioSample { total, bad }
                };
                ExtraWindow {
                    name: name.clone(),
                    stable: Some(draw(Version::Stable, stable)),
                    canary: (!scenario.canary_metrics_missing())
                        .then(|| draw(Version::Canary, canary)),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::VirtualClock;
    use crate::sim::SimConfig;

    fn world(scenario: Scenario) -> (Arc<VirtualClock>, Arc<SimWorld>) {
        let clock = Arc::new(VirtualClock::new(0.0));
        let world = SimWorld::new(SimConfig::new(scenario, 4), clock.clone());
        world.set_weight(50);
        clock.advance(600.0);
        (clock, world)
    }

    fn rates(w: &ExtraWindow) -> (f64, f64) {
        let r = |s: RatioSample| s.bad as f64 / s.total as f64;
        (r(w.canary.unwrap()), r(w.stable.unwrap()))
    }

    #[test]
    fn only_checkout_regresses_and_the_overall_rate_does_not_show_it() {
        let (_clock, world) = world(Scenario::EndpointRegression);
        let names = ["endpoint:/checkout".to_string(), "endpoint:/search".into()];
        let got = world.extra(&names, 0.0, 600.0).unwrap();
        let (canary, stable) = rates(&got[0]);
        assert!(canary > 0.07 && stable < 0.03, "{canary} {stable}");
        let (canary, stable) = rates(&got[1]);
        assert!(canary < 0.02 && stable < 0.02, "{canary} {stable}");
        let overall = world.window(0.0, 600.0).unwrap();
        let c = overall.canary.unwrap().error_rate().unwrap();
        assert!(c < 0.01, "overall canary error rate {c}");
        // Deterministic for a seed and window.
        assert_eq!(got, world.extra(&names, 0.0, 600.0).unwrap());
    }

    #[test]
    fn unknown_names_and_missing_canaries_are_missing() {
        let (_clock, world) = world(Scenario::NoData);
        let got = world
            .extra(
                &["endpoint:/checkout".into(), "endpoint:/nope".into()],
                0.0,
                600.0,
            )
            .unwrap();
        assert!(got[0].stable.is_some() && got[0].canary.is_none());
        assert_eq!(got[1], ExtraWindow::missing("endpoint:/nope"));
    }
}
