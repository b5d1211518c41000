//! Progress of long work (backtest, calibrate, bench, eval) on stderr.
//!
//! On a terminal: an indicatif bar with the count, the rate and the time left,
//! redrawn in place. Anywhere else (logs, CI, tests) a bar would be noise, so
//! nothing is drawn while the work runs and one plain line says what was done at
//! the end. `NO_COLOR` (any non-empty value, <https://no-color.org>) drops the
//! bar's colours. stdout is never touched: it carries the report.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How often the bar is redrawn at most: work that reports thousands of steps a
/// second must not spend its time drawing.
const REFRESH_PER_SECOND: u8 = 8;

/// One piece of long work, counted in `unit`s.
pub struct Progress {
    /// The bar, on a terminal only.
    bar: Option<ProgressBar>,
    what: String,
    unit: &'static str,
    done: u64,
    total: u64,
    started: Instant,
    finished: bool,
}

impl Progress {
    /// `what` names the work ("backtest"), `unit` what is counted ("commits
    /// scored"); `total` 0 while unknown.
    pub fn new(what: impl Into<String>, unit: &'static str, total: u64) -> Self {
        Self::on(std::io::stderr().is_terminal(), what, unit, total)
    }

    /// As [`Progress::new`], with a bar only when `terminal`.
    pub fn on(terminal: bool, what: impl Into<String>, unit: &'static str, total: u64) -> Self {
        let what = what.into();
        let bar = terminal.then(|| {
            let target = ProgressDrawTarget::stderr_with_hz(REFRESH_PER_SECOND);
            let bar = ProgressBar::with_draw_target(Some(total), target);
            bar.set_style(style(&what, unit, colours_allowed()));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            what,
            unit,
            done: 0,
            total,
            started: Instant::now(),
            finished: false,
        }
    }

    /// `done` of `total` units are done (the total may grow as work is found).
    pub fn set(&mut self, done: u64, total: u64) {
        (self.done, self.total) = (done, total);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// One more unit is done.
    pub fn inc(&mut self) {
        self.set(self.done + 1, self.total.max(self.done + 1));
    }

    /// What is being worked on now, shown after the bar (terminal only).
    pub fn message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    /// Clears the bar and prints the plain closing line, e.g.
    /// `backtest: 1200/1200 commits scored (14 s)`.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{}", self.summary());
    }

    /// The closing line.
    pub fn summary(&self) -> String {
        format!(
            "{}: {}/{} {} ({:.0} s)",
            self.what,
            self.done,
            self.total,
            self.unit,
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Whether a bar is drawn.
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }
}

impl Drop for Progress {
    /// Work that stopped early (an error) leaves no half-drawn bar behind.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether colours may be used: not when `NO_COLOR` is set to anything.
fn colours_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `what [bar] done/total unit  rate/s  ETA  message`, coloured or not.
fn style(what: &str, unit: &str, colour: bool) -> ProgressStyle {
    ProgressStyle::with_template(&template(what, unit, colour))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        // indicatif's `{per_sec}` prints four decimals; a whole rate reads better.
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}

/// The bar's indicatif template; braces in `what` and `unit` are escaped.
fn template(what: &str, unit: &str, colour: bool) -> String {
    let bar = if colour {
        "{bar:30.cyan/blue}"
    } else {
        "{bar:30}"
    };
    let escape = |s: &str| s.replace('{', "{{").replace('}', "}}");
    format!(
        "{} {bar} {{pos}}/{{len}} {} {{rate}} ETA {{eta}} {{wide_msg}}",
        escape(what),
        escape(unit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_nothing_is_drawn_and_the_closing_line_counts() {
        let mut p = Progress::on(false, "backtest", "commits scored", 3);
        assert!(!p.is_drawn());
        p.inc();
        p.set(3, 3);
        let line = p.summary();
        assert!(line.starts_with("backtest: 3/3 commits scored ("), "{line}");
        p.finish();
    }

    #[test]
    fn templates_parse_with_and_without_colour_and_with_braces_in_names() {
        for colour in [true, false] {
            let t = template("eval {x}", "episodes", colour);
            assert!(ProgressStyle::with_template(&t).is_ok(), "{t}");
            assert_eq!(t.contains("cyan"), colour, "{t}");
        }
    }
}
