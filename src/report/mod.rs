//! Rendering an assessment for people (text), PR comments (markdown) and machines (JSON).

mod markdown;
mod rollout;
mod text;

pub use markdown::{markdown, COMMENT_MARKER};
pub use rollout::rollout_text;
pub use text::text;

use crate::assess::Assessment;
use crate::policy::Strategy;

/// Whether to colour output on a stream: only a terminal, and never when
/// `NO_COLOR` is set to anything (<https://no-color.org>).
pub fn colour_on(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Output formats of `assess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Renders `a` in `format`.
pub fn render(a: &Assessment, format: Format) -> String {
    match format {
        Format::Text => text(a),
        Format::Markdown => markdown(a),
        Format::Json => {
            serde_json::to_string_pretty(a).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                + "\n"
        }
    }
}

/// "canary: 5% first, +15% per step, bake 300 s (5 → 20 → … → 100)".
pub fn describe_strategy(s: &Strategy) -> String {
    match s {
        Strategy::Direct { verify_seconds: 0 } => {
            "direct: all traffic at once, NOT verified (verify_seconds = 0)".to_string()
        }
        Strategy::Direct { verify_seconds } => format!(
            "direct: all traffic at once, verified for {verify_seconds} s against the previous version"
        ),
        Strategy::Canary {
            first_weight,
            step,
            bake_seconds,
            ..
        } => {
            let weights: Vec<String> = s.weights().iter().map(u8::to_string).collect();
            format!(
                "canary: {first_weight}% first, +{step}% per step, bake {bake_seconds} s ({}%)",
                weights.join(" → ")
            )
        }
    }
}

/// A UTC date `YYYY-MM-DD` from Unix seconds (civil-from-days, no time-zone data needed).
pub fn utc_date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_795_325_947), "2026-11-22");
    }
}
