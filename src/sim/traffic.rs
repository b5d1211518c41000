//! The simulated router: records weight changes in the simulated world.

use std::sync::Arc;

use async_trait::async_trait;

use super::SimWorld;
use crate::traffic::{TrafficError, TrafficRouter};

/// The router of a [`SimWorld`]; cheap to clone (it shares the world).
#[derive(Debug, Clone)]
pub struct SimTraffic {
    world: Arc<SimWorld>,
}

impl SimTraffic {
    pub fn new(world: Arc<SimWorld>) -> Self {
        Self { world }
    }

    pub fn world(&self) -> &Arc<SimWorld> {
        &self.world
    }
}

#[async_trait]
impl TrafficRouter for SimTraffic {
    fn describe(&self) -> String {
        format!(
            "the simulated world ({})",
            self.world.config().scenario.as_str()
        )
    }

    fn manual_rollback(&self) -> String {
        "nothing to do by hand: the simulated world ends with this process".into()
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        Ok(())
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(self.world.promoted())
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        Ok(self.world.canary_weight())
    }

    /// Records `(now, weight)`; weights above 100 are rejected, not clamped,
    /// so a bad call surfaces instead of silently sending all traffic.
    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        if weight > 100 {
            return Err(TrafficError::Rejected(format!(
                "canary weight must be 0-100, got {weight}"
            )));
        }
        self.world.set_weight(weight);
        Ok(())
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.world.promote();
        Ok(())
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.world.rollback();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::sim::SimConfig;

    fn world() -> (Arc<VirtualClock>, Arc<SimWorld>) {
        let clock = Arc::new(VirtualClock::new(0.0));
        let world = SimWorld::new(SimConfig::default(), clock.clone());
        (clock, world)
    }

    #[tokio::test]
    async fn weights_are_recorded_once_per_change_and_over_100_rejected() {
        let (clock, world) = world();
        let router = world.traffic();
        clock.advance(10.0);
        router.set_canary_weight(5).await.unwrap();
        router.set_canary_weight(5).await.unwrap();
        clock.advance(20.0);
        router.set_canary_weight(25).await.unwrap();
        assert!(matches!(
            router.set_canary_weight(101).await,
            Err(TrafficError::Rejected(_))
        ));
        assert_eq!(router.canary_weight().await.unwrap(), 25);
        assert_eq!(world.weight_history(), vec![(10.0, 5), (30.0, 25)]);
        assert_eq!(world.canary_started_at(), Some(10.0));
    }

    #[tokio::test]
    async fn promote_and_rollback_are_idempotent() {
        let (clock, world) = world();
        let router = world.traffic();
        router.set_canary_weight(50).await.unwrap();
        clock.advance(60.0);
        router.promote().await.unwrap();
        router.promote().await.unwrap();
        router.set_canary_weight(100).await.unwrap();
        assert!(world.promoted() && !world.rolled_back());
        assert_eq!(world.canary_weight(), 100);
        router.rollback().await.unwrap();
        router.rollback().await.unwrap();
        assert!(!world.promoted() && world.rolled_back());
        assert_eq!(world.canary_weight(), 0);
        let weights: Vec<u8> = world.weight_history().iter().map(|&(_, w)| w).collect();
        assert_eq!(weights, [50, 100, 0]);
    }

    #[tokio::test]
    async fn rollback_before_any_traffic_is_not_a_rollback() {
        let (_clock, world) = world();
        world.traffic().rollback().await.unwrap();
        assert!(!world.rolled_back());
        assert!(world.weight_history().is_empty());
    }
}
