//! The judge's three checks (errors, latency distribution, latency tail) and
//! the harm bounds, each from the evidence gathered so far.

use super::{SequentialJudge, ALPHA_SPLIT, PASS_WEIGHTS};
use crate::canary::evalue::{msprt, msprt_radius};
use crate::canary::histogram::LatencyHistogram;
use crate::canary::mw::mann_whitney;
use crate::canary::{HarmBound, MetricCheck, VerdictKind};

impl SequentialJudge {
    pub(super) fn error_check(&self) -> MetricCheck {
        let c = &self.config;
        let t = &self.errors;
        let alpha = c.alpha * ALPHA_SPLIT[0];
        let e_fail = t.fail_evalue();
        let e_pass = self.error_pass_evalue();
        let verdict = if e_fail >= 1.0 / alpha {
            VerdictKind::Fail
        } else if e_pass >= 1.0 / c.beta {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
        MetricCheck {
            metric: "error_rate".into(),
            verdict,
            canary: rate(t.canary_events, t.canary_n),
            baseline: rate(t.baseline_events, t.baseline_n),
            statistic: Some(e_fail),
            detail: format!(
                "canary {} of {} vs baseline {} of {} (ratio {}), e-value {:.3} (fail at {:.0}), pass evidence {:.2} (at {:.0}: ratio below {:.1}× or rate below {:.3} %), noise φ {:.2}{}",
                t.canary_events,
                t.canary_n,
                t.baseline_events,
                t.baseline_n,
                t.ratio_estimate().map_or("n/a".into(), |r| format!("{r:.2}")),
                e_fail,
                1.0 / alpha,
                e_pass,
                1.0 / c.beta,
                t.pass_null(),
                100.0 * self.floor.floor(),
                t.dispersion(),
                if self.before_after { ", baseline: the previous version (before/after)" } else { "" }
            ),
        }
    }

    /// Evidence against "the canary's error rate is at least the bad ratio
    /// times the baseline's and at least the floor": a fixed mixture of two
    /// e-values each valid under that null, so itself an e-value.
    fn error_pass_evalue(&self) -> f64 {
        PASS_WEIGHTS[0] * self.errors.pass_evalue() + PASS_WEIGHTS[1] * self.floor.evalue()
    }

    /// Upper bounds on what the canary could still be doing wrong (at 1 − β).
    pub(super) fn harm(&self) -> HarmBound {
        let c = &self.config;
        let t = &self.errors;
        let slower_upper =
            mann_whitney(&self.canary_latency.pairs(), &self.baseline_latency.pairs())
                .map(|mw| (mw.auc + msprt_radius(mw.auc_se, c.latency_tau, c.beta)).min(1.0));
        HarmBound {
            error_ratio_upper: t.ratio_upper(c.beta),
            baseline_error_rate: t.baseline_events as f64 / t.baseline_n.max(1) as f64,
            slower_upper,
            confidence: 1.0 - c.beta,
        }
    }

    pub(super) fn latency_check(&self) -> MetricCheck {
        let c = &self.config;
        let alpha = c.alpha * ALPHA_SPLIT[1];
        let Some(mw) = mann_whitney(&self.canary_latency.pairs(), &self.baseline_latency.pairs())
        else {
            return no_data("latency_distribution", "no latency samples for one version");
        };
        let effect = mw.auc - 0.5;
        // Only the excess over the margin is evidence of harm (one-sided).
        let e = msprt(
            (effect - c.latency_auc_margin).max(0.0),
            mw.auc_se,
            c.latency_tau,
        );
        let upper = effect + msprt_radius(mw.auc_se, c.latency_tau, c.beta);
        let verdict = if effect > c.latency_auc_margin && e >= 1.0 / alpha {
            VerdictKind::Fail
        } else if upper <= c.latency_auc_pass {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let median = |h: &LatencyHistogram| h.quantile(0.5);
        MetricCheck {
            metric: "latency_distribution".into(),
            verdict,
            canary: median(&self.canary_latency),
            baseline: median(&self.baseline_latency),
            statistic: Some(e),
            detail: format!(
                "P(canary slower) {:.3} (upper bound {:.3}), Mann-Whitney z {:.2} on {} vs {} samples, mSPRT e-value {:.3} (fail at {:.0})",
                mw.auc,
                0.5 + upper,
                mw.z,
                mw.n_canary,
                mw.n_baseline,
                e,
                1.0 / alpha
            ),
        }
    }

    pub(super) fn tail_check(&self) -> MetricCheck {
        let c = &self.config;
        let t = &self.tail;
        let alpha = c.alpha * ALPHA_SPLIT[2];
        let e_fail = t.fail_evalue();
        // Passing asks for evidence against "1.5 × the bad ratio": proving a 1 %
        // event is not merely doubled would take thousands of samples, yet a
        // canary at the bad ratio still drifts away from a Pass and toward a Fail.
        let verdict = if e_fail >= 1.0 / alpha {
            VerdictKind::Fail
        } else if t.pass_evalue() >= 1.0 / c.beta {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        MetricCheck {
            metric: "latency_tail".into(),
            verdict,
            canary: (t.canary_n > 0).then(|| t.canary_events as f64 / t.canary_n as f64),
            baseline: (t.baseline_n > 0).then(|| t.baseline_events as f64 / t.baseline_n as f64),
            statistic: Some(e_fail),
            detail: format!(
                "slower than the baseline's p{:.0}: canary {} of {} vs baseline {} of {}, e-value {:.3} (fail at {:.0})",
                c.tail_quantile * 100.0,
                t.canary_events,
                t.canary_n,
                t.baseline_events,
                t.baseline_n,
                e_fail,
                1.0 / alpha
            ),
        }
    }
}

pub(super) fn no_data(metric: &str, detail: &str) -> MetricCheck {
    MetricCheck {
        metric: metric.into(),
        verdict: VerdictKind::NoData,
        canary: None,
        baseline: None,
        statistic: None,
        detail: detail.into(),
    }
}
