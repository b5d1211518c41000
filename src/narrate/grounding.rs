//! Whether a text the model wrote may be shown as fact: every number in it is
//! one the measurements hold (in a form a person would write it: 0.034 as
//! 3.4 %, 0.25 s as 250 ms, rounded), it forms no link and pings nobody, and it
//! is short. Escaping is not done here: a grounded text is still escaped for
//! where it is shown.

use super::Facts;

/// The longest text a person is shown from the model, in characters.
pub const MAX_CHARS: usize = 600;

/// Counts written as words a person would use ("2 checks", "step 3"): they
/// cite no measurement, so they need none. A percentage never counts as one.
const SMALL_COUNT: f64 = 10.0;

/// Why a model's text is withheld. The message completes "withheld: …" and
/// names what to look at; it never repeats the text itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Ungrounded {
    #[error("it cites {cited}, which no measurement shows")]
    Number { cited: String },
    #[error("it contains a link (links from the model are never shown)")]
    Link,
    #[error("it mentions or pings someone (the model may not address people)")]
    Mention,
    #[error("it is {chars} characters long, more than the {max} allowed")]
    TooLong { chars: usize, max: usize },
    #[error("it is empty")]
    Empty,
}

/// Checks `text` against `facts`; `Ok` when it may be shown (escaped).
pub fn ground(text: &str, facts: &Facts) -> Result<(), Ungrounded> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Ungrounded::Empty);
    }
    let chars = trimmed.chars().count();
    if chars > MAX_CHARS {
        return Err(Ungrounded::TooLong {
            chars,
            max: MAX_CHARS,
        });
    }
    let lower = trimmed.to_lowercase();
    if ["://", "www.", "](", "mailto:", "<http"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return Err(Ungrounded::Link);
    }
    if ["<!", "<@", "<#"].iter().any(|p| lower.contains(p)) || has_at_mention(trimmed) {
        return Err(Ungrounded::Mention);
    }
    let known = facts.values();
    let stripped = facts.strip_words(trimmed);
    for cited in numbers(&stripped) {
        if !cited.grounded(&known) {
            return Err(Ungrounded::Number {
                cited: cited.written(),
            });
        }
    }
    Ok(())
}

/// `@name`, `@here`, `@channel`: an `@` followed by a letter or digit.
fn has_at_mention(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(2)
        .any(|w| w[0] == '@' && (w[1].is_alphanumeric() || w[1] == '_'))
}

/// A number as written in the text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cited {
    pub value: f64,
    /// Digits after the decimal point, as written (the rounding it allows).
    pub decimals: i32,
    pub percent: bool,
}

impl Cited {
    /// "37 %", "0.41".
    fn written(&self) -> String {
        let n = format!("{:.*}", self.decimals.max(0) as usize, self.value);
        if self.percent {
            format!("{n} %")
        } else {
            n
        }
    }

    /// Whether some fact, in a form a person writes it, rounds to this number.
    fn grounded(&self, known: &[f64]) -> bool {
        if !self.percent && self.value.fract() == 0.0 && self.value <= SMALL_COUNT {
            return true;
        }
        let tolerance = 0.5 * 10f64.powi(-self.decimals) + 1e-9;
        let near = |v: f64| (self.value - v.abs()).abs() <= tolerance;
        known
            .iter()
            .any(|&v| near(v) || near(100.0 * v) || near(1000.0 * v) || near(v / 100.0))
    }
}

/// The numbers in `text`. Identifiers that hold digits (revs, `p99`, paths,
/// versions like 1.2.3, times like 12:30) are not numbers.
pub(super) fn numbers(text: &str) -> Vec<Cited> {
    let text = without_thousands_commas(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if word.contains(['/', '_', '\\', '@', '#', '=']) || is_clock(word) {
            continue;
        }
        let next_is_percent = words
            .get(i + 1)
            .is_some_and(|n| n.starts_with('%') || n.to_lowercase().starts_with("percent"));
        let parts: Vec<&str> = word
            .split(|c: char| "-−–—→~≈()[],;:!?\"'`*<>+±$".contains(c))
            .filter(|p| !p.is_empty())
            .collect();
        let last = parts.len().saturating_sub(1);
        for (j, part) in parts.iter().enumerate() {
            if let Some(mut cited) = number(part) {
                cited.percent |= j == last && next_is_percent;
                out.push(cited);
            }
        }
    }
    out
}

/// `1,234` as `1234`: a comma between a digit and exactly three digits.
fn without_thousands_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    (0..chars.len())
        .filter(|&i| {
            let thousands = chars[i] == ','
                && i > 0
                && digit(i - 1)
                && (i + 1..=i + 3).all(digit)
                && !digit(i + 4);
            !thousands
        })
        .map(|i| chars[i])
        .collect()
}

/// `12:30`, `10:05:00`: a time of day, not a measurement.
fn is_clock(word: &str) -> bool {
    let parts: Vec<&str> = word
        .trim_matches(|c: char| !c.is_ascii_digit())
        .split(':')
        .collect();
    parts.len() > 1
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// One token as a number: digits with at most one point (thousands commas
/// allowed), then nothing, `%`, or a unit (`ms`, `s`, `x`, `×`, `k`).
/// Anything else with digits in it is an identifier.
pub(super) fn number(token: &str) -> Option<Cited> {
    let token = token.trim_end_matches('.');
    let start = token.find(|c: char| c.is_ascii_digit() || c == '.')?;
    if start != 0 {
        return None;
    }
    let end = token
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(token.len());
    let (digits, suffix) = token.split_at(end);
    let digits = digits.trim_end_matches(',').replace(',', "");
    if digits.matches('.').count() > 1 || !digits.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let percent = match suffix.to_lowercase().as_str() {
        "%" | "pct" => true,
        "" | "ms" | "s" | "x" | "×" | "k" => false,
        _ => return None,
    };
    let value: f64 = digits.parse().ok()?;
    let decimals = digits.split_once('.').map_or(0, |(_, d)| d.len() as i32);
    Some(Cited {
        value,
        decimals,
        percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.number("risk_score", 0.72);
        f.number("weight_at_failure", 20.0);
        f.number("error_rate.canary", 0.0341);
        f.number("error_rate.baseline", 0.0049);
        f.number("latency_p99.canary", 0.25);
        f.number("canary_requests", 1234.0);
        f.word("rev", "3f9a2c1d00");
        f.word("reason", "canary verdict Fail at 20%: e-value 41.7 ≥ 20");
        f
    }

    #[test]
    fn grounded_texts_are_accepted_in_the_forms_people_write() {
        let f = facts();
        for text in [
            "The canary at 20% failed: its error rate was 3.4 % against 0.49 % on the baseline.",
            "Errors rose to 0.034 (baseline 0.0049) over 1,234 requests.",
            "p99 latency reached 250 ms at 20 percent; rev 3f9a2c1d00 is back at 0 %.",
            "The e-value 41.7 passed the threshold of 20; about 3% of requests failed.",
            "Risk 0.72; 2 checks looked at the canary.",
            "It failed at 10:05 after step 3.",
        ] {
            assert_eq!(ground(text, &f), Ok(()), "{text}");
        }
    }

    #[test]
    fn an_invented_number_is_rejected_and_named() {
        let f = facts();
        let cases = [
            ("Errors hit 37 % on the canary.", "37 %"),
            ("The error rate rose to 0.41.", "0.41"),
            ("It served 5,000 requests.", "5000"),
            ("Latency was 900ms.", "900"),
            ("Risk 0.35 only.", "0.35"),
            ("At 4% the canary failed.", "4 %"),
        ];
        for (text, cited) in cases {
            match ground(text, &f) {
                Err(Ungrounded::Number { cited: c }) => assert_eq!(c, cited, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = ground("Errors hit 37 % on the canary.", &f).unwrap_err();
        assert_eq!(e.to_string(), "it cites 37 %, which no measurement shows");
    }

    #[test]
    fn links_mentions_and_long_texts_are_rejected() {
        let f = facts();
        let cases = [
            ("see <http://x|click>", Ungrounded::Link),
            ("details: https://evil.example", Ungrounded::Link),
            ("[details](evil.example)", Ungrounded::Link),
            ("hey <!channel>", Ungrounded::Mention),
            ("ping @here now", Ungrounded::Mention),
            ("thanks @alice", Ungrounded::Mention),
            ("   ", Ungrounded::Empty),
        ];
        for (text, want) in cases {
            assert_eq!(ground(text, &f), Err(want), "{text}");
        }
        let long = "word ".repeat(200);
        assert!(matches!(ground(&long, &f), Err(Ungrounded::TooLong { .. })));
    }

    #[test]
    fn identifiers_with_digits_are_not_numbers() {
        let cited: Vec<f64> =
            numbers("p99 5xx 3f9a v1.2.3 1.2.3 migrations/002.sql latency_p99 99th")
                .iter()
                .map(|c| c.value)
                .collect();
        assert!(cited.is_empty(), "{cited:?}");
        let cited = numbers("from 5→20% (x 2.5×)");
        let values: Vec<(f64, bool)> = cited.iter().map(|c| (c.value, c.percent)).collect();
        assert_eq!(values, [(5.0, false), (20.0, true), (2.5, false)]);
    }
}
