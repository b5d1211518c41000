//! Commit-message cues: revert, hotfix, fix, work in progress.

/// Which cues a commit message carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCues {
    pub revert: bool,
    pub hotfix: bool,
    pub fix: bool,
    pub wip: bool,
}

impl MessageCues {
    /// Reads cues from the subject line and, for reverts, the body.
    pub fn of(message: &str) -> Self {
        let subject = message.lines().next().unwrap_or("").to_lowercase();
        let words: Vec<&str> = subject
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has = |w: &str| words.contains(&w);
        let revert = subject.starts_with("revert") || message.contains("This reverts commit ");
        let hotfix =
            has("hotfix") || subject.contains("hot fix") || has("emergency") || has("urgent");
        let fix = !hotfix
            && [
                "fix",
                "fixes",
                "fixed",
                "fixing",
                "bug",
                "bugfix",
                "regression",
                "patch",
            ]
            .iter()
            .any(|w| has(w));
        let wip = has("wip")
            || subject.contains("work in progress")
            || subject.contains("do not merge")
            || subject.contains("don't merge")
            || has("fixup")
            || has("squash");
        Self {
            revert,
            hotfix,
            fix,
            wip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MessageCues;

    #[test]
    fn cue_table() {
        let cases = [
            (
                "fix(parser): handle EOF",
                MessageCues {
                    fix: true,
                    ..Default::default()
                },
            ),
            (
                "HOTFIX: payments down",
                MessageCues {
                    hotfix: true,
                    ..Default::default()
                },
            ),
            (
                "WIP: new cache",
                MessageCues {
                    wip: true,
                    ..Default::default()
                },
            ),
            (
                "Revert \"add cache\"",
                MessageCues {
                    revert: true,
                    ..Default::default()
                },
            ),
            ("prefix handling for routes", MessageCues::default()),
            ("Add debugging flags", MessageCues::default()),
        ];
        for (msg, want) in cases {
            assert_eq!(MessageCues::of(msg), want, "{msg}");
        }
    }
}
