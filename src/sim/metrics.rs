//! The simulated metrics backend: reads the simulated world's deterministic draws.

use std::sync::Arc;

use async_trait::async_trait;

use super::SimWorld;
use crate::canary::MetricsWindow;
use crate::metrics::{CatalogueEntry, ExtraWindow, MetricsError, MetricsSource};

/// Metrics of a [`SimWorld`]; cheap to clone (it shares the world).
#[derive(Debug, Clone)]
pub struct SimMetrics {
    world: Arc<SimWorld>,
}

impl SimMetrics {
    pub fn new(world: Arc<SimWorld>) -> Self {
        Self { world }
    }

    pub fn world(&self) -> &Arc<SimWorld> {
        &self.world
    }
}

#[async_trait]
impl MetricsSource for SimMetrics {
    /// Never waits: the world computes the window on the spot (see `SimWorld::window`).
    async fn window(&self, from: f64, to: f64) -> Result<MetricsWindow, MetricsError> {
        self.world.window(from, to)
    }

    /// The simulated service's endpoints (see [`super::ENDPOINTS`]).
    fn catalogue(&self) -> Vec<CatalogueEntry> {
        super::endpoints::catalogue()
    }

    async fn extra(
        &self,
        names: &[String],
        from: f64,
        to: f64,
    ) -> Result<Vec<ExtraWindow>, MetricsError> {
        self.world.extra(names, from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::sim::{Scenario, SimConfig};

    #[tokio::test]
    async fn async_window_is_the_worlds_window() {
        let clock = Arc::new(VirtualClock::new(1_000.0));
        let world = SimWorld::new(SimConfig::new(Scenario::ErrorSpike, 3), clock.clone());
        world.set_weight(30);
        clock.advance(600.0);
        let metrics = world.metrics();
        let w = metrics.window(1_000.0, 1_600.0).await.unwrap();
        assert_eq!(w, world.window(1_000.0, 1_600.0).unwrap());
        assert!(w.canary.is_some_and(|c| c.requests > 0));
        assert!(metrics.window(5.0, 1.0).await.is_err());
    }
}
