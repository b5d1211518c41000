//! Change freezes: time windows, set in policy, during which a rollout needs a
//! human's approval ("break glass") or may not start at all.
//!
//! ```toml
//! [[freeze]]
//! name = "year-end"
//! start = "2026-12-20T00:00:00Z"     # one-off window, UTC, end exclusive
//! end = "2027-01-04T00:00:00Z"
//! block = true                       # no rollout at all (default: approval required)
//!
//! [[freeze]]
//! name = "friday-evening"
//! days = ["fri"]                     # weekly window, UTC
//! from = "16:00"
//! to = "24:00"
//! ```
//!
//! Times are UTC on purpose: a policy file is shared across teams and machines,
//! and a freeze must not move with the local time zone of whoever runs the agent.

use serde::Deserialize;

use super::RuleError;
use crate::clock::days_from_civil;

const DAY: i64 = 86_400;

/// One freeze window as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFreeze {
    name: String,
    start: Option<String>,
    end: Option<String>,
    days: Option<Vec<String>>,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    block: bool,
    reason: Option<String>,
}

/// When a freeze applies.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// `[start, end)` in Unix seconds.
    Once { start: i64, end: i64 },
    /// Days of the week (0 = Monday) and `[from, to)` minutes after midnight UTC.
    Weekly { days: Vec<u8>, from: u32, to: u32 },
}

/// A validated freeze.
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    pub name: String,
    pub window: Window,
    /// Block rollouts outright instead of requiring an approval.
    pub block: bool,
    pub reason: Option<String>,
}

impl Freeze {
    pub(super) fn from_raw(raw: RawFreeze) -> Result<Self, RuleError> {
        let what = raw.name.as_str();
        let window = match (raw.start, raw.end, raw.days, raw.from, raw.to) {
            (Some(start), Some(end), None, None, None) => {
                let (start, end) = (parse_utc(&start, what)?, parse_utc(&end, what)?);
                if end <= start {
                    return Err(RuleError::freeze(what, "end must be after start"));
                }
                Window::Once { start, end }
            }
            (None, None, Some(days), Some(from), Some(to)) => {
                let days = days
                    .iter()
                    .map(|d| weekday(d, what))
                    .collect::<Result<Vec<_>, _>>()?;
                let (from, to) = (minutes(&from, what)?, minutes(&to, what)?);
                if days.is_empty() || to <= from {
                    return Err(RuleError::freeze(
                        what,
                        "needs at least one day and `to` after `from`",
                    ));
                }
                Window::Weekly { days, from, to }
            }
            _ => {
                return Err(RuleError::freeze(
                    what,
                    "give either `start` and `end` (RFC 3339, UTC) or `days`, `from` and `to` (weekly, UTC)",
                ))
            }
        };
        Ok(Self {
            name: raw.name,
            window,
            block: raw.block,
            reason: raw.reason,
        })
    }

    /// Whether the freeze covers Unix time `now`.
    pub fn is_active(&self, now: f64) -> bool {
        let now = now.floor() as i64;
        match &self.window {
            Window::Once { start, end } => (*start..*end).contains(&now),
            Window::Weekly { days, from, to } => {
                let day = now.div_euclid(DAY);
                // 1970-01-01 was a Thursday (3 with Monday = 0).
                let weekday = (day + 3).rem_euclid(7) as u8;
                let minute = (now.rem_euclid(DAY) / 60) as u32;
                days.contains(&weekday) && (*from..*to).contains(&minute)
            }
        }
    }

    /// One line for reports and approval prompts.
    pub fn describe(&self) -> String {
        let kind = if self.block {
            "blocks rollouts"
        } else {
            "requires a human approval"
        };
        let why = self
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!("change freeze '{}' is active and {kind}{why}", self.name)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC only) → Unix seconds.
fn parse_utc(text: &str, what: &str) -> Result<i64, RuleError> {
    let bad = || {
        RuleError::freeze(
            what,
            format!("'{text}' is not a UTC time like 2026-12-20T00:00:00Z"),
        )
    };
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().map_err(|_| bad());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + s)
}

fn weekday(name: &str, what: &str) -> Result<u8, RuleError> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let key = name.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| key.starts_with(d))
        .map(|i| i as u8)
        .ok_or_else(|| {
            RuleError::freeze(what, format!("unknown day '{name}' (use mon, tue, … sun)"))
        })
}

/// `HH:MM` (00:00–24:00) → minutes after midnight.
fn minutes(text: &str, what: &str) -> Result<u32, RuleError> {
    let bad = || {
        RuleError::freeze(
            what,
            format!("'{text}' is not a time like 16:00 (UTC, 00:00–24:00)"),
        )
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h * 60 + m > 24 * 60 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freeze(toml_text: &str) -> Result<Freeze, RuleError> {
        Freeze::from_raw(toml::from_str(toml_text).unwrap())
    }

    #[test]
    fn utc_times_match_known_unix_seconds() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z", "t"), Ok(0));
        // `date -u -d 2026-12-20T00:00:00Z +%s`
        assert_eq!(parse_utc("2026-12-20T00:00:00Z", "t"), Ok(1_797_724_800));
        assert_eq!(parse_utc("2000-02-29T12:30:15Z", "t"), Ok(951_827_415));
        assert!(parse_utc("2026-12-20 00:00:00", "t").is_err());
        assert!(parse_utc("2026-13-20T00:00:00Z", "t").is_err());
    }

    #[test]
    fn one_off_window_is_end_exclusive() {
        let f = freeze(
            "name = \"ye\"\nstart = \"2026-12-20T00:00:00Z\"\nend = \"2026-12-21T00:00:00Z\"",
        )
        .unwrap();
        assert!(!f.is_active(1_797_724_799.0));
        assert!(f.is_active(1_797_724_800.0));
        assert!(!f.is_active(1_797_724_800.0 + 86_400.0));
        assert!(f.describe().contains("requires a human approval"));
    }

    #[test]
    fn weekly_window_follows_the_utc_weekday() {
        let f = freeze(
            "name = \"fri\"\ndays = [\"fri\"]\nfrom = \"16:00\"\nto = \"24:00\"\nblock = true",
        )
        .unwrap();
        // 2026-11-27 was a Friday: 17:00 UTC is frozen, 15:59 and Saturday 17:00 are not.
        let friday = 1_795_737_600.0; // 2026-11-27T00:00:00Z
        assert!(f.is_active(friday + 17.0 * 3600.0));
        assert!(!f.is_active(friday + 15.0 * 3600.0 + 59.0 * 60.0));
        assert!(!f.is_active(friday + 86_400.0 + 17.0 * 3600.0));
        assert!(f.describe().contains("blocks rollouts"));
    }

    #[test]
    fn bad_windows_name_the_freeze_and_the_fix() {
        let e = freeze("name = \"x\"\nstart = \"2026-12-20T00:00:00Z\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("freeze 'x'") && e.contains("`start` and `end`"),
            "{e}"
        );
        let e = freeze("name = \"y\"\ndays = [\"funday\"]\nfrom = \"1:00\"\nto = \"2:00\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown day"), "{e}");
        let e = freeze(
            "name = \"z\"\nstart = \"2026-12-21T00:00:00Z\"\nend = \"2026-12-20T00:00:00Z\"",
        )
        .unwrap_err();
        assert_eq!(e, RuleError::freeze("z", "end must be after start"));
    }
}
