//! A simple, correct judge: one-sided tests with a practical margin on the
//! evidence gathered since the last reset. Issue "statistical canary judge"
//! replaces it with sequential tests; this one is only valid because the loop
//! judges once per bake period and stops at the first Fail.

use super::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};

/// Settings for [`SimpleJudge`].
#[derive(Debug, Clone, Copy)]
pub struct SimpleJudgeConfig {
    /// Canary requests needed before any verdict other than Inconclusive.
    pub min_requests: u64,
    /// Absolute error-rate margin the canary may exceed the baseline by.
    pub error_margin: f64,
    /// z above which the error rate fails (one-sided).
    pub z_fail: f64,
    /// Canary mean latency may be at most this factor of the baseline's.
    pub latency_ratio: f64,
}

impl Default for SimpleJudgeConfig {
    fn default() -> Self {
        Self {
            min_requests: 200,
            error_margin: 0.005,
            z_fail: 3.0,
            latency_ratio: 1.2,
        }
    }
}

/// Accumulates both versions' samples since the last reset.
#[derive(Debug, Clone, Default)]
pub struct SimpleJudge {
    config: SimpleJudgeConfig,
    stable: VersionSample,
    canary: VersionSample,
    canary_missing: bool,
}

impl SimpleJudge {
    pub fn new(config: SimpleJudgeConfig) -> Self {
        Self {
            config,
            ..Default::default()
        }
    }
}

impl Judge for SimpleJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        match &window.canary {
            Some(c) => self.canary.absorb(c),
            None => self.canary_missing = true,
        }
        if let Some(s) = &window.stable {
            self.stable.absorb(s);
        }
        self.verdict(window.stable.is_none())
    }

    fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

impl SimpleJudge {
    fn verdict(&self, stable_missing: bool) -> Verdict {
        let (c, s) = (&self.canary, &self.stable);
        let base = |kind, summary: String, checks| Verdict {
            kind,
            checks,
            canary_requests: c.requests,
            baseline_requests: s.requests,
            summary,
        };
        if self.canary_missing || stable_missing {
            let which = if self.canary_missing {
                "canary"
            } else {
                "baseline"
            };
            return base(
                VerdictKind::NoData,
                format!("{which} metrics are missing"),
                vec![],
            );
        }
        if c.requests < self.config.min_requests || s.requests == 0 {
            return base(
                VerdictKind::Inconclusive,
                format!(
                    "{} canary requests so far, {} needed",
                    c.requests, self.config.min_requests
                ),
                vec![],
            );
        }
        let checks = vec![self.error_check(), self.latency_check()];
        let kind = if checks.iter().any(|m| m.verdict == VerdictKind::Fail) {
            VerdictKind::Fail
        } else if checks.iter().all(|m| m.verdict == VerdictKind::Pass) {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let summary = checks
            .iter()
            .map(|m| format!("{} {}", m.metric, m.verdict.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        base(kind, summary, checks)
    }

    /// Two-proportion z-test of canary > baseline + margin (one-sided).
    fn error_check(&self) -> MetricCheck {
        let (c, s) = (&self.canary, &self.stable);
        let pc = c.errors as f64 / c.requests as f64;
        let ps = s.errors as f64 / s.requests as f64;
        let pooled = (c.errors + s.errors) as f64 / (c.requests + s.requests) as f64;
        let se = (pooled * (1.0 - pooled) * (1.0 / c.requests as f64 + 1.0 / s.requests as f64))
            .sqrt()
            .max(1e-9);
        let z = (pc - ps - self.config.error_margin) / se;
        let verdict = if z > self.config.z_fail {
            VerdictKind::Fail
        } else {
            VerdictKind::Pass
        };
        MetricCheck {
            metric: "error_rate".into(),
            verdict,
            canary: Some(pc),
            baseline: Some(ps),
            statistic: Some(z),
            detail: format!(
                "canary {:.2}% vs baseline {:.2}% (margin {:.2} pts), z = {z:.2}, fail above {}",
                pc * 100.0,
                ps * 100.0,
                self.config.error_margin * 100.0,
                self.config.z_fail
            ),
        }
    }

    /// Mean latency ratio against a fixed threshold.
    fn latency_check(&self) -> MetricCheck {
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let (Some(mc), Some(ms)) = (mean(&self.canary.latency_ms), mean(&self.stable.latency_ms))
        else {
            return MetricCheck {
                metric: "latency_mean".into(),
                verdict: VerdictKind::NoData,
                canary: None,
                baseline: None,
                statistic: None,
                detail: "no latency samples".into(),
            };
        };
        let ratio = mc / ms.max(1e-9);
        MetricCheck {
            metric: "latency_mean".into(),
            verdict: if ratio > self.config.latency_ratio {
                VerdictKind::Fail
            } else {
                VerdictKind::Pass
            },
            canary: Some(mc),
            baseline: Some(ms),
            statistic: Some(ratio),
            detail: format!(
                "canary {mc:.1} ms vs baseline {ms:.1} ms (×{ratio:.2}, fail above ×{})",
                self.config.latency_ratio
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(requests: u64, errors: u64, latency: f64) -> VersionSample {
        VersionSample {
            requests,
            errors,
            latency_ms: vec![latency; 50],
        }
    }

    fn window(stable: Option<VersionSample>, canary: Option<VersionSample>) -> MetricsWindow {
        MetricsWindow {
            start: 0.0,
            end: 60.0,
            stable,
            canary,
        }
    }

    #[test]
    fn verdict_table() {
        let cases = [
            (
                Some(sample(5000, 50, 100.0)),
                Some(sample(1000, 10, 101.0)),
                VerdictKind::Pass,
            ),
            (
                Some(sample(5000, 50, 100.0)),
                Some(sample(1000, 80, 100.0)),
                VerdictKind::Fail,
            ),
            (
                Some(sample(5000, 50, 100.0)),
                Some(sample(1000, 10, 150.0)),
                VerdictKind::Fail,
            ),
            (
                Some(sample(5000, 50, 100.0)),
                Some(sample(50, 0, 100.0)),
                VerdictKind::Inconclusive,
            ),
            (Some(sample(5000, 50, 100.0)), None, VerdictKind::NoData),
            (None, Some(sample(1000, 10, 100.0)), VerdictKind::NoData),
        ];
        for (stable, canary, want) in cases {
            let mut j = SimpleJudge::new(SimpleJudgeConfig::default());
            let v = j.observe(&window(stable.clone(), canary.clone()));
            assert_eq!(v.kind, want, "{stable:?} {canary:?}: {}", v.summary);
        }
    }

    #[test]
    fn missing_canary_data_sticks_until_reset() {
        let mut j = SimpleJudge::new(SimpleJudgeConfig::default());
        j.observe(&window(Some(sample(100, 1, 10.0)), None));
        let v = j.observe(&window(
            Some(sample(5000, 50, 100.0)),
            Some(sample(1000, 10, 100.0)),
        ));
        assert_eq!(v.kind, VerdictKind::NoData);
        j.reset();
        let v = j.observe(&window(
            Some(sample(5000, 50, 100.0)),
            Some(sample(1000, 10, 100.0)),
        ));
        assert_eq!(v.kind, VerdictKind::Pass);
    }
}
