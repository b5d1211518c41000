//! Mermaid `xychart-beta` blocks: charts GitHub draws from Markdown, for a
//! pull-request comment or a check run summary, where no image can be hosted.
//!
//! Labels come from factor names and services, which a repository's policy or
//! a change's author can shape: [`mermaid_label`] keeps only characters that
//! cannot end a quoted label, open a list or start a new statement.

use std::fmt::Write;

use super::model::RolloutChart;
use crate::assess::Assessment;

/// How many factors the bar chart shows (the largest by contribution).
const TOP_FACTORS: usize = 6;
/// Points on the weight line: Mermaid draws one category per point.
const MAX_POINTS: usize = 24;

/// A label safe inside Mermaid's double quotes: letters, digits, spaces and
/// `_ - . / : % + = ≥ ×` only, whitespace collapsed, at most 40 characters.
pub fn mermaid_label(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _-./:%+=≥×".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = kept.split_whitespace().collect();
    words.join(" ").chars().take(40).collect()
}

/// The assessment's largest factors as bars (log-odds), with the score, the
/// level and the policy's level thresholds in the title.
pub fn risk_factors_mermaid(a: &Assessment) -> String {
    let mut factors: Vec<(String, f64)> = a
        .factors
        .iter()
        .filter(|f| f.contribution != 0.0)
        .map(|f| (mermaid_label(&f.name), f.contribution))
        .collect();
    factors.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    factors.truncate(TOP_FACTORS);
    if factors.is_empty() {
        return String::new();
    }
    let t = &a.policy.levels;
    let thresholds = format!(
        "; levels: medium ≥ {:.2}, high ≥ {:.2}, critical ≥ {:.2}",
        t.medium, t.high, t.critical
    );
    let title = format!(
        "risk {:.2} ({}){thresholds}: top factors, log-odds",
        a.risk_score,
        a.level.as_str()
    );
    let lo = factors.iter().map(|f| f.1).fold(0.0_f64, f64::min);
    let hi = factors.iter().map(|f| f.1).fold(0.0_f64, f64::max);
    let mut s = String::from("```mermaid\nxychart-beta\n");
    let _ = writeln!(s, "    title \"{}\"", title_label(&title));
    let names: Vec<String> = factors.iter().map(|f| format!("\"{}\"", f.0)).collect();
    let _ = writeln!(s, "    x-axis [{}]", names.join(", "));
    let _ = writeln!(
        s,
        "    y-axis \"contribution\" {} --> {}",
        round2(lo.min(0.0)),
        round2(hi.max(0.1))
    );
    let bars: Vec<String> = factors.iter().map(|f| round2(f.1)).collect();
    let _ = writeln!(s, "    bar [{}]", bars.join(", "));
    s.push_str("```\n");
    s
}

/// The canary weight at each change, as a line.
pub(super) fn weight_line(chart: &RolloutChart) -> String {
    // The steps' upper sides, deduplicated: one point per weight reached.
    let mut points: Vec<(f64, u8)> = Vec::new();
    for &(t, w) in &chart.weights {
        match points.last_mut() {
            Some(last) if last.0 == t => last.1 = w,
            _ => points.push((t, w)),
        }
    }
    if points.len() > MAX_POINTS {
        let step = points.len().div_ceil(MAX_POINTS);
        let last = points.last().copied();
        points = points.into_iter().step_by(step).collect();
        if let (Some(l), Some(p)) = (last, points.last()) {
            if p.0 != l.0 {
                points.push(l);
            }
        }
    }
    let title = format!(
        "{} {}: canary weight, {}",
        chart.service,
        chart.short_rev(),
        chart.outcome_text()
    );
    let mut s = String::from("```mermaid\nxychart-beta\n");
    let _ = writeln!(s, "    title \"{}\"", title_label(&title));
    let times: Vec<String> = points
        .iter()
        .map(|p| format!("\"{}\"", mermaid_label(&format!("{:.1}m", p.0 / 60.0))))
        .collect();
    let _ = writeln!(s, "    x-axis [{}]", times.join(", "));
    let _ = writeln!(s, "    y-axis \"canary weight %\" 0 --> 100");
    let weights: Vec<String> = points.iter().map(|p| p.1.to_string()).collect();
    let _ = writeln!(s, "    line [{}]", weights.join(", "));
    s.push_str("```\n");
    s
}

/// A title may be longer than a label; the same characters are kept, plus `(),;`.
fn title_label(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _-./:%+=≥×(),;".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = kept.split_whitespace().collect();
    words.join(" ").chars().take(160).collect()
}

fn round2(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    format!("{r}")
}
