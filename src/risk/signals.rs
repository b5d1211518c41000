//! History and message observations: the classic ones (reverts, fixes, churn,
//! authors, young files, experience; message cues), and the signals learned
//! from real history (issue 16): revert *rates* of the touched
//! files, directories and author relative to the repository's own base rate,
//! file age and idleness, the author's recent activity, bot dependency bumps,
//! relands and message length.
//!
//! Rates are log rate ratios against the repository's base rate, smoothed
//! toward it (`k` pseudo-commits): a file with 2 reverts in 10 commits means
//! much more in a repository where 0.2 % of commits are reverted than in one
//! where 5 % are. Ratios, not counts, are what carry from one repository to
//! another, which is what a shipped prior needs.

use super::features::{obs_count, truncate, Observation};
use super::history::HistoryFacts;
use super::message::MessageCues;
use crate::policy::Policy;

/// Pseudo-commits at the repository's base rate added to every rate.
const SMOOTHING: f64 = 10.0;

/// Signals from the history index, the author and the message (any commit).
pub fn push_history_signals(
    obs: &mut Vec<Observation>,
    h: &HistoryFacts,
    author: &str,
    message: &str,
    recent_days: u32,
    only_dependencies: bool,
) {
    let base = (h.repo_reverted as f64 + 0.5) / (h.repo_commits as f64 + 50.0);
    let mut rate = |name: &'static str, reverted: usize, commits: usize, what: &str| {
        if commits == 0 {
            return;
        }
        let smoothed = (reverted as f64 + SMOOTHING * base) / (commits as f64 + SMOOTHING);
        obs.push(Observation {
            name,
            value: (smoothed / base).ln(),
            evidence: format!(
                "{reverted} of {commits} earlier commits {what} were reverted ({:.1} % vs {:.1} % in this repository)",
                100.0 * reverted as f64 / commits as f64,
                100.0 * base
            ),
        });
    };
    rate(
        "file_revert_rate",
        h.reverted.len(),
        h.touching,
        "touching these files",
    );
    rate(
        "dir_revert_rate",
        h.dir_reverted,
        h.dir_commits,
        "in these directories",
    );
    rate(
        "author_revert_rate",
        h.author_reverted,
        h.author_commits,
        "by this author",
    );
    if h.author_recent > 0 {
        obs.push(Observation {
            name: "author_recent",
            value: (h.author_recent as f64).ln_1p(),
            evidence: format!(
                "{} commits by this author in the last {recent_days} days",
                h.author_recent
            ),
        });
    }
    if h.touching > 0 {
        obs.push(Observation {
            name: "author_ownership",
            value: h.author_touching as f64 / h.touching as f64,
            evidence: format!(
                "{} of {} earlier commits to these files are this author's",
                h.author_touching, h.touching
            ),
        });
    }
    if let Some(idle) = h.author_idle_days {
        obs.push(Observation {
            name: "author_idle",
            value: idle.ln_1p(),
            evidence: format!("the author's previous commit was {idle:.0} days before"),
        });
    }
    obs.push(Observation {
        name: "repo_busy",
        value: (h.repo_week as f64).ln_1p(),
        evidence: format!(
            "{} commits in the repository in the week before",
            h.repo_week
        ),
    });
    if h.known > 0 {
        obs.push(Observation {
            name: "file_age",
            value: h.mean_file_age_days.ln_1p(),
            evidence: format!(
                "touched files first appeared {:.0} days ago on average",
                h.mean_file_age_days
            ),
        });
    }
    if let Some(idle) = h.idle_days {
        obs.push(Observation {
            name: "file_idle",
            value: idle.ln_1p(),
            evidence: format!("a touched file last changed {idle:.0} days ago"),
        });
    }
    let mut cues = Cues::of(author, message);
    // A subject is the author's to write: "Bump x from 1 to 2" lowers risk
    // only when every file really is a dependency manifest or lockfile.
    cues.bump &= only_dependencies;
    let subject = message.lines().next().unwrap_or("");
    for (on, name) in [
        (cues.reland, "message_reland"),
        (cues.bot, "bot_author"),
        (cues.bump, "dependency_bump"),
    ] {
        if on {
            obs.push(Observation {
                name,
                value: 1.0,
                evidence: format!("{author}: \"{}\"", truncate(subject, 80)),
            });
        }
    }
    obs.push(Observation {
        name: "subject_length",
        value: (subject.chars().count() as f64).ln_1p(),
        evidence: format!("a {}-character subject", subject.chars().count()),
    });
    let body = message.len() - subject.len();
    obs.push(Observation {
        name: "message_length",
        value: (body as f64).ln_1p(),
        evidence: format!("{body} characters of commit message below the subject"),
    });
}

/// Signals of the diff itself (only where line counts are known).
pub fn push_change_signals(
    obs: &mut Vec<Observation>,
    added: u64,
    deleted: u64,
    new_files: usize,
    files: usize,
    directories: usize,
) {
    obs.push(Observation {
        name: "log_added",
        value: (added as f64).ln_1p(),
        evidence: format!("{added} lines added"),
    });
    obs.push(Observation {
        name: "log_deleted",
        value: (deleted as f64).ln_1p(),
        evidence: format!("{deleted} lines deleted"),
    });
    if files > 0 && new_files > 0 {
        obs.push(Observation {
            name: "new_files",
            value: new_files as f64 / files as f64,
            evidence: format!("{new_files} of {files} files are new"),
        });
    }
    obs.push(Observation {
        name: "log_dirs",
        value: (directories as f64).ln_1p(),
        evidence: format!("{directories} directories"),
    });
}

pub(super) fn push_history_features(obs: &mut Vec<Observation>, h: &HistoryFacts, policy: &Policy) {
    if !h.reverted.is_empty() {
        let shown: Vec<&str> = h
            .reverted
            .iter()
            .take(3)
            .map(|s| &s[..s.len().min(10)])
            .collect();
        obs.push(Observation {
            name: "history_reverts",
            value: (h.reverted.len() as f64).ln_1p(),
            evidence: format!(
                "{} earlier commit(s) touching these files were reverted: {}",
                h.reverted.len(),
                shown.join(", ")
            ),
        });
    }
    if h.fixes > 0 {
        obs.push(obs_count(
            "history_fixes",
            h.fixes,
            "earlier fix commits touched these files",
        ));
    }
    if h.recent > 0 {
        let what = format!(
            "commits touched these files in the last {} days",
            policy.history.recent_days
        );
        obs.push(obs_count("history_churn", h.recent, &what));
    }
    if h.authors > 0 {
        obs.push(obs_count(
            "history_authors",
            h.authors,
            "distinct authors touched these files",
        ));
    }
    if h.known > 0 && h.young > 0 {
        obs.push(Observation {
            name: "young_files",
            value: h.young as f64 / h.known as f64,
            evidence: format!(
                "{} of {} existing files first appeared in the last {} days",
                h.young, h.known, policy.history.young_days
            ),
        });
    }
    obs.push(obs_count(
        "author_experience",
        h.author_commits,
        "earlier commits by this author",
    ));
}

pub(super) fn push_message_features(obs: &mut Vec<Observation>, message: &str) {
    let cues = MessageCues::of(message);
    let subject = message.lines().next().unwrap_or("");
    for (on, name) in [
        (cues.revert, "message_revert"),
        (cues.hotfix, "message_hotfix"),
        (cues.fix, "message_fix"),
        (cues.wip, "message_wip"),
    ] {
        if on {
            obs.push(Observation {
                name,
                value: 1.0,
                evidence: format!("subject: \"{}\"", truncate(subject, 80)),
            });
        }
    }
}

/// Cues from the author and the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cues {
    /// A change landing again after a revert ("Reland", "Reapply", "Re-land").
    pub reland: bool,
    /// A bot account (dependabot, renovate, github-actions, `[bot]`).
    pub bot: bool,
    /// A dependency bump ("Bump X from 1.2 to 1.3", "chore(deps): update …").
    pub bump: bool,
}

impl Cues {
    pub fn of(author: &str, message: &str) -> Self {
        let subject = message.lines().next().unwrap_or("").to_lowercase();
        let author = author.to_lowercase();
        let reland = [
            "reland",
            "re-land",
            "reapply",
            "re-apply",
            "redo ",
            "revert \"revert",
        ]
        .iter()
        .any(|w| subject.starts_with(w) || subject.contains(&format!(": {w}")));
        let bot = author.contains("[bot]")
            || ["dependabot", "renovate", "github-actions", "greenkeeper"]
                .iter()
                .any(|b| author.contains(b));
        let bump = (subject.starts_with("bump ")
            && subject.contains(" from ")
            && subject.contains(" to "))
            || subject.contains("(deps)")
            || subject.contains("(deps-dev)")
            || (bot && (subject.starts_with("update ") || subject.starts_with("chore")));
        Self { reland, bot, bump }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues() {
        let c = Cues::of(
            "49699333+dependabot[bot]@users.noreply.github.com",
            "Bump golang.org/x/net from 0.17.0 to 0.23.0",
        );
        assert!(c.bot && c.bump && !c.reland);
        let c = Cues::of("dev@example.com", "Reland \"speed up the parser\"");
        assert!(c.reland && !c.bot && !c.bump);
        let c = Cues::of("dev@example.com", "Update README");
        assert_eq!(c, Cues::default());
    }

    #[test]
    fn rates_are_relative_to_the_repository() {
        let facts = |reverted: usize, touching: usize, repo_reverted: usize| HistoryFacts {
            reverted: vec!["x".into(); reverted],
            touching,
            repo_commits: 10_000,
            repo_reverted,
            ..HistoryFacts::default()
        };
        let value = |h: &HistoryFacts| {
            let mut obs = Vec::new();
            push_history_signals(&mut obs, h, "a", "m", 90, false);
            obs.iter()
                .find(|o| o.name == "file_revert_rate")
                .unwrap()
                .value
        };
        // At the base rate: about zero; above it: positive; the same count
        // means less in a repository that reverts more.
        assert!(value(&facts(1, 100, 100)).abs() < 0.05);
        assert!(value(&facts(5, 100, 100)) > 1.0);
        assert!(value(&facts(5, 100, 100)) > value(&facts(5, 100, 500)));
        assert!(value(&facts(0, 100, 100)) < 0.0);
    }
}
