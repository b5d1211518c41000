//! The deterministic texts: what people read when no model is configured, or
//! when the model's text failed or was withheld. Built from the facts only, so
//! they pass the same grounding check as the model's.

use super::{Facts, Kind};

/// The text of `kind` from `facts`.
pub fn template(kind: Kind, facts: &Facts) -> String {
    match kind {
        Kind::Rollback => rollback(facts),
        Kind::Approval => approval(facts),
        Kind::Assessment => assessment(facts),
    }
}

/// A number as people write it: integers plain, others to 4 significant digits.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{v:.digits$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn rollback(f: &Facts) -> String {
    let from = f.get("rolled_back_from").map_or("?".into(), num);
    let mut s = format!("The canary was rolled back from {from}% to 0%");
    match f.text("failing_check") {
        Some(metric) => {
            s.push_str(&format!(" because the judge failed its {metric} check"));
            let canary = f.get(&format!("{metric}.canary"));
            let baseline = f.get(&format!("{metric}.baseline"));
            if let (Some(c), Some(b)) = (canary, baseline) {
                // Rates read best as percentages.
                let show = |v: f64| {
                    if metric.contains("rate") {
                        format!("{}%", num(100.0 * v))
                    } else {
                        num(v)
                    }
                };
                s.push_str(&format!(
                    ": {} on the canary against {} on the baseline",
                    show(c),
                    show(b)
                ));
                if b > 0.0 {
                    s.push_str(&format!(" ({}× as high)", num(c / b)));
                }
            }
            if let Some(n) = f.get("canary_requests") {
                s.push_str(&format!(", over {} canary requests", num(n)));
            }
            s.push('.');
        }
        None => {
            let verdict = f.text("verdict").unwrap_or("none yet");
            s.push_str(&format!(
                " by the planner; the judge's last verdict there was {verdict}."
            ));
        }
    }
    s.push_str(" Stable serves all traffic again.");
    s
}

fn approval(f: &Facts) -> String {
    if let Some(w) = f.get("go_on_at") {
        return format!(
            "Go on from {}% without a Pass? The judge's numbers are above.",
            num(w)
        );
    }
    let risk = f
        .get("risk_score")
        .map_or("?".into(), |r| format!("{r:.2}"));
    let level = f.text("level").unwrap_or("unknown");
    let mut s = format!("Risk {risk} ({level}).");
    if let Some(reasons) = f.text("reasons") {
        s.push_str(&format!(" Approval is needed: {reasons}."));
    }
    s
}

fn assessment(f: &Facts) -> String {
    let risk = f
        .get("risk_score")
        .map_or("?".into(), |r| format!("{r:.2}"));
    let det = f
        .get("deterministic_score")
        .map_or("?".into(), |r| format!("{r:.2}"));
    let level = f.text("level").unwrap_or("unknown");
    let mut s = format!("Risk {risk} ({level}), deterministic {det}.");
    if let Some(top) = f.text("top_factor") {
        if let Some(c) = f.get(&format!("factor.{top}")) {
            s.push_str(&format!(" The largest factor is {top} ({c:+.2})."));
        }
    }
    match f.text("approval_reasons") {
        Some(reasons) => s.push_str(&format!(" Approval is required: {reasons}.")),
        None => s.push_str(" No approval is required."),
    }
    if let Some(strategy) = f.text("strategy") {
        s.push_str(&format!(" Strategy: {strategy}."));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::ground;

    fn rollback_facts(failing: bool) -> Facts {
        let mut f = Facts::default();
        f.number("rolled_back_from", 20.0);
        f.word("verdict", if failing { "fail" } else { "inconclusive" });
        if failing {
            f.word("failing_check", "error_rate");
            f.number("error_rate.canary", 0.034_12);
            f.number("error_rate.baseline", 0.0049);
            f.number("canary_requests", 1234.0);
        }
        f
    }

    #[test]
    fn templates_say_the_numbers_and_are_grounded() {
        let f = rollback_facts(true);
        let text = template(Kind::Rollback, &f);
        assert_eq!(
            text,
            "The canary was rolled back from 20% to 0% because the judge failed its error_rate check: 3.412% on the canary against 0.49% on the baseline (6.963× as high), over 1234 canary requests. Stable serves all traffic again."
        );
        assert_eq!(ground(&text, &f), Ok(()));
        let f = rollback_facts(false);
        let text = template(Kind::Rollback, &f);
        assert!(
            text.contains("by the planner; the judge's last verdict there was inconclusive"),
            "{text}"
        );
        assert_eq!(ground(&text, &f), Ok(()));

        let mut f = Facts::default();
        f.number("risk_score", 0.7234);
        f.word("level", "high");
        f.word("reasons", "touches migrations/ (floor 0.60)");
        let text = template(Kind::Approval, &f);
        assert_eq!(
            text,
            "Risk 0.72 (high). Approval is needed: touches migrations/ (floor 0.60)."
        );
        assert_eq!(ground(&text, &f), Ok(()));
        f.number("go_on_at", 20.0);
        assert!(template(Kind::Approval, &f).starts_with("Go on from 20% without a Pass?"));

        let mut f = Facts::default();
        f.number("risk_score", 0.41);
        f.number("deterministic_score", 0.38);
        f.word("level", "medium");
        f.word("top_factor", "migrations");
        f.number("factor.migrations", 1.25);
        f.word(
            "strategy",
            "canary: 5% first, +15% per step, bake 300 s (5 → 20 → 35 → 50%)",
        );
        let text = template(Kind::Assessment, &f);
        assert_eq!(
            text,
            "Risk 0.41 (medium), deterministic 0.38. The largest factor is migrations (+1.25). No approval is required. Strategy: canary: 5% first, +15% per step, bake 300 s (5 → 20 → 35 → 50%)."
        );
        assert_eq!(ground(&text, &f), Ok(()));
    }

    #[test]
    fn numbers_are_written_plainly() {
        assert_eq!(num(20.0), "20");
        assert_eq!(num(0.034_123), "0.03412");
        assert_eq!(num(41.73), "41.73");
        assert_eq!(num(1234.5678), "1235");
    }
}
