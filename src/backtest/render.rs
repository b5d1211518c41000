//! The backtest as a table for people (text or Markdown) or JSON for machines.

use super::Metrics;

/// Markdown (also readable as text).
pub fn markdown(m: &Metrics, what: &str) -> String {
    let mut out = format!(
        "## Backtest: {what}\n\n{} commits scored as of their own time, {} later reverted ({:.2} %).\n\n",
        m.commits,
        m.reverted,
        100.0 * m.reverted as f64 / m.commits as f64
    );
    out.push_str("| measure | figure |\n|---|---|\n");
    out.push_str(&format!(
        "| ROC AUC of the score | {:.3} [{:.3}, {:.3}] (95 % bootstrap) |\n",
        m.auc, m.auc_ci.0, m.auc_ci.1
    ));
    out.push_str(&format!(
        "| ROC AUC of lines changed alone | {:.3} |\n",
        m.lines_auc
    ));
    out.push_str(&format!(
        "| reverted commits in the top 10 % / 20 % of scores | {:.1} % / {:.1} % |\n\n",
        100.0 * m.top10_recall,
        100.0 * m.top20_recall
    ));
    out.push_str("Calibration: the score's level against what happened.\n\n| level | commits | mean score | reverted | observed revert rate |\n|---|---|---|---|---|\n");
    for l in &m.levels {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {} | {:.2} % |\n",
            l.level.as_str(),
            l.commits,
            l.mean_score,
            l.reverted,
            100.0 * l.observed_rate
        ));
    }
    out.push_str("\nFactors that separate reverted commits best here (AUC of the factor's contribution alone; ½ = no signal):\n\n| factor | present in | AUC |\n|---|---|---|\n");
    for f in m.factors.iter().take(8) {
        out.push_str(&format!(
            "| {} | {:.1} % | {:.3} |\n",
            f.name,
            100.0 * f.present,
            f.auc
        ));
    }
    out
}
