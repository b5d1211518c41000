//! A simulated router that misbehaves the way real ones do, for the faulty-
//! target evals and tests: changes that fail, answers that are lost after the
//! change took effect, changes that land halfway, changes applied later than
//! asked, reads that lag, reads that fail, whole replicas instead of percents,
//! and rollbacks that never succeed.
//!
//! Whatever it does is recorded in the world's weight history — the target's
//! own record of what it served — which is what the evals check, never the
//! loop's belief. It is honest about what it promises: it declares its
//! granularity (whole pods of `replicas`) and a settle time that bounds its lag
//! and staleness. Every draw comes from a seeded generator, so an episode
//! replays exactly.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rand::RngExt;
use serde::Deserialize;

use super::{keyed, Draws, SimRng, SimWorld};
use crate::traffic::{Granularity, PromotionPlan, Staging, TrafficError, TrafficRouter};

/// How the router misbehaves. Probabilities are per call.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// A change fails before it takes effect.
    pub fail: f64,
    /// A change takes effect but its answer is lost (the call errs).
    pub lost_ack: f64,
    /// A change lands partly: a share strictly between the old and the new one.
    pub half_apply: f64,
    /// Changes take effect up to this many seconds after they were asked.
    pub max_apply_lag: f64,
    /// Reads answer what was served up to this many seconds ago.
    pub max_read_staleness: f64,
    /// A read fails.
    pub read_fail: f64,
    /// Whole pods of this many replicas instead of any percent (0: percent);
    /// a share is served rounded up to whole pods, like a replica-ratio canary.
    pub replicas: u32,
    /// Chance per episode that every rollback fails (the target is stuck).
    pub rollback_stuck: f64,
    /// The journal refuses every write after this many (`None`: never).
    pub journal_fails_after: Option<u32>,
    /// Promotion is staged, like Kubernetes rolling the stable Deployment to
    /// the new image: ready this many seconds after it was staged (`None`: a
    /// plain switch; infinite: it never finishes).
    pub staging_seconds: Option<f64>,
    /// Longest wait for a staged promotion, seconds (the plan's timeout).
    pub staging_timeout: f64,
}

impl Faults {
    /// Seconds within which a change shows in reads: the lag plus the staleness.
    pub fn settle_seconds(&self) -> f64 {
        self.max_apply_lag.max(0.0) + self.max_read_staleness.max(0.0)
    }

    pub fn granularity(&self) -> Granularity {
        match self.replicas {
            0 => Granularity::Percent,
            n => Granularity::Replicas { total: n },
        }
    }
}

struct State {
    rng: SimRng,
    /// When the last change takes effect: later ones never land before it.
    last_effect: f64,
    stuck: bool,
    /// When a staged promotion was staged (and not undone).
    staged_at: Option<f64>,
    /// Undo calls that found something staged.
    undone: u32,
}

/// The faulty router over a [`SimWorld`].
pub struct FaultyTraffic {
    world: Arc<SimWorld>,
    faults: Faults,
    state: Mutex<State>,
}

impl FaultyTraffic {
    pub fn new(world: Arc<SimWorld>, faults: Faults, seed: u64) -> Self {
        let mut rng = keyed(seed, &[0xFA17]);
        let stuck = rng.uniform() < faults.rollback_stuck;
        Self {
            world,
            faults,
            state: Mutex::new(State {
                rng,
                last_effect: f64::MIN,
                stuck,
                staged_at: None,
                undone: 0,
            }),
        }
    }

    /// Whether a staged promotion is in place now.
    pub fn staged(&self) -> bool {
        self.state().staged_at.is_some()
    }

    /// How many times a staged promotion was undone.
    pub fn undone(&self) -> u32 {
        self.state().undone
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the pods serve for `weight`: rounded up to whole pods.
    fn served(&self, weight: u8) -> u8 {
        match self.faults.replicas {
            0 => weight,
            n => {
                let pods = (u32::from(weight) * n).div_ceil(100);
                (pods * 100).div_ceil(n).min(100) as u8
            }
        }
    }

    /// Decides a change's fate and records what takes effect, when. `Err`
    /// when the caller is told it failed (whether or not it took effect).
    fn change(&self, want: u8, apply: impl FnOnce(&SimWorld, f64, u8)) -> Result<(), TrafficError> {
        let now = self.world.now();
        let f = self.faults;
        let mut s = self.state();
        if s.stuck && want == 0 {
            return Err(TrafficError::Unreachable(
                "simulated: the router is stuck".into(),
            ));
        }
        if s.rng.uniform() < f.fail {
            return Err(TrafficError::Unreachable(
                "simulated: the change failed".into(),
            ));
        }
        let old = self.world.weight_at(f64::MAX);
        let mut served = self.served(want);
        if served != old && s.rng.uniform() < f.half_apply {
            let (lo, hi) = (old.min(served), old.max(served));
            if hi - lo >= 2 {
                served = s.rng.random_range(lo + 1..hi);
            }
        }
        let at = (now + s.rng.uniform() * f.max_apply_lag.max(0.0)).max(s.last_effect);
        s.last_effect = at;
        let lost = s.rng.uniform() < f.lost_ack;
        drop(s);
        if served == want {
            apply(&self.world, at, served);
        } else {
            self.world.set_weight_at(at, served);
        }
        if lost {
            return Err(TrafficError::Unreachable(
                "simulated: no answer (the change took effect)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for FaultyTraffic {
    fn describe(&self) -> String {
        "the simulated faulty router".into()
    }

    fn manual_rollback(&self) -> String {
        "nothing to do by hand: the simulated world ends with this process".into()
    }

    fn settle_seconds(&self) -> f64 {
        self.faults.settle_seconds()
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        Ok(())
    }

    async fn granularity(&self) -> Result<Granularity, TrafficError> {
        Ok(self.faults.granularity())
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let now = self.world.now();
        let mut s = self.state();
        if s.rng.uniform() < self.faults.read_fail {
            return Err(TrafficError::Unreachable(
                "simulated: the read failed".into(),
            ));
        }
        let lag = s.rng.uniform() * self.faults.max_read_staleness.max(0.0);
        Ok(self.world.weight_at(now - lag))
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        if weight > 100 {
            return Err(TrafficError::Rejected(format!(
                "weight {weight} is above 100"
            )));
        }
        self.change(weight, |w, at, served| w.set_weight_at(at, served))
    }

    async fn plan_promotion(&self) -> Result<PromotionPlan, TrafficError> {
        Ok(match self.faults.staging_seconds {
            None => PromotionPlan::switch("all traffic to the new version"),
            Some(_) => PromotionPlan {
                undo: serde_json::json!({"image": "v1"}),
                staged: true,
                timeout_seconds: self.faults.staging_timeout,
                detail: "simulated stable: image v1 → v2".into(),
            },
        })
    }

    async fn stage_promotion(&self) -> Result<(), TrafficError> {
        let now = self.world.now();
        let mut s = self.state();
        if s.staged_at.is_none() {
            s.staged_at = Some(now);
        }
        Ok(())
    }

    async fn staging(&self) -> Result<Staging, TrafficError> {
        let now = self.world.now();
        let needed = self.faults.staging_seconds.unwrap_or(0.0);
        Ok(match self.state().staged_at {
            Some(at) if now - at >= needed => Staging::Ready,
            Some(at) => Staging::Waiting(format!("{:.0} s of {needed:.0} s", now - at)),
            None => Staging::Waiting("not staged".into()),
        })
    }

    async fn undo_promotion(&self, _undo: &serde_json::Value) -> Result<(), TrafficError> {
        let mut s = self.state();
        if s.staged_at.take().is_some() {
            s.undone += 1;
        }
        Ok(())
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        if self.faults.staging_seconds.is_some() && self.state().staged_at.is_none() {
            return Err(TrafficError::Rejected(
                "simulated: promote before staging".into(),
            ));
        }
        self.change(100, |w, at, _| w.promote_at(at))
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        let now = self.world.now();
        Ok(self.world.promoted() && self.world.weight_at(now) == 100)
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.change(0, |w, at, _| w.rollback_at(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::sim::SimConfig;

    fn router(faults: Faults) -> (Arc<VirtualClock>, Arc<SimWorld>, FaultyTraffic) {
        let clock = Arc::new(VirtualClock::new(0.0));
        let world = SimWorld::new(SimConfig::default(), clock.clone());
        let router = FaultyTraffic::new(world.clone(), faults, 7);
        (clock, world, router)
    }

    #[tokio::test]
    async fn late_changes_land_in_order_and_reads_lag_within_the_settle_time() {
        let faults = Faults {
            max_apply_lag: 10.0,
            max_read_staleness: 5.0,
            ..Faults::default()
        };
        let (clock, world, r) = router(faults);
        r.set_canary_weight(10).await.unwrap();
        r.set_canary_weight(20).await.unwrap();
        let history = world.weight_history();
        assert_eq!(
            history.iter().map(|&(_, w)| w).collect::<Vec<_>>(),
            [10, 20]
        );
        assert!(
            history[0].0 <= history[1].0 && history[1].0 <= 10.0,
            "{history:?}"
        );
        clock.advance(r.settle_seconds());
        assert_eq!(r.canary_weight().await.unwrap(), 20, "settled");
    }

    #[tokio::test]
    async fn whole_pods_round_up_and_a_stuck_router_never_rolls_back() {
        let faults = Faults {
            replicas: 4,
            rollback_stuck: 1.0,
            ..Faults::default()
        };
        let (_clock, world, r) = router(faults);
        r.set_canary_weight(5).await.unwrap();
        assert_eq!(world.canary_weight(), 25, "one pod of four");
        assert!(r.rollback().await.is_err());
        assert_eq!(world.canary_weight(), 25);
    }

    #[tokio::test]
    async fn a_lost_answer_still_changed_the_target() {
        let (_clock, world, r) = router(Faults {
            lost_ack: 1.0,
            ..Faults::default()
        });
        assert!(r.set_canary_weight(10).await.is_err());
        assert_eq!(world.canary_weight(), 10);
    }
}
