//! The rollout state unit tests start from (guard tables, the hand-over).

use super::{Limits, RiskSnapshot, RolloutState};
use crate::policy::{Level, Strategy};

impl RolloutState {
    /// A test rollout: a 5 % / +15 % canary baked 300 s, promotion from 50 %,
    /// risk 0.6 at `level`, nothing moved yet.
    pub(crate) fn canary_fixture(level: Level, requires_approval: bool) -> RolloutState {
        let strategy = Strategy::Canary {
            first_weight: 5,
            step: 15,
            bake_seconds: 300,
            promote_at: 50,
        };
        let risk = RiskSnapshot {
            score: 0.6,
            level,
            requires_approval,
            approval_reasons: vec!["policy requires approval at level high".into()],
            strategy: strategy.clone(),
        };
        let limits = Limits {
            max_first_weight: 5,
            max_step: 15,
            min_bake_seconds: 300.0,
            promote_min_weight: 50,
            direct: false,
            unverified: false,
        };
        Self::new("r1".into(), risk, limits, 0.0)
    }
}
