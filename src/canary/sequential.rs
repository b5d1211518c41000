//! The sequential judge (being written): always-valid e-value tests.

use super::{Judge, MetricsWindow, Verdict, VerdictKind};

/// Settings for [`SequentialJudge`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SequentialConfig {}

/// Anytime-valid canary judge.
#[derive(Debug, Clone, Default)]
pub struct SequentialJudge {
    config: SequentialConfig,
}

impl SequentialJudge {
    pub fn new(config: SequentialConfig) -> Self {
        Self { config }
    }
}

impl Judge for SequentialJudge {
    fn observe(&mut self, _window: &MetricsWindow) -> Verdict {
        let _ = self.config;
        Verdict {
            kind: VerdictKind::Inconclusive,
            checks: vec![],
            canary_requests: 0,
            baseline_requests: 0,
            summary: "not implemented yet".into(),
        }
    }

    fn reset(&mut self) {}
}
