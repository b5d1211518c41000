//! The pull-request comment.

use std::fmt::Write;

use super::text::{model_line, trust_line};
use super::{describe_strategy, short};
use crate::assess::Assessment;
use crate::narrate::{By, Facts, Kind, Narrative};
use crate::policy::Level;

/// A hidden marker so a later run can find and update its own comment.
pub const COMMENT_MARKER: &str = "<!-- deploy-agent:assess -->";

pub fn markdown(a: &Assessment) -> String {
    let mut s = String::new();
    let icon = match a.level {
        Level::Low => "🟢",
        Level::Medium => "🟡",
        Level::High => "🟠",
        Level::Critical => "🔴",
    };
    let _ = writeln!(s, "{COMMENT_MARKER}");
    let _ = writeln!(
        s,
        "### {icon} deploy-agent risk: **{:.2} ({})**{}",
        a.risk_score,
        a.level.as_str(),
        if a.requires_approval {
            " — approval required"
        } else {
            ""
        }
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| Commit | `{}` {} |",
        short(&a.rev),
        escape(&a.commit.subject)
    );
    let _ = writeln!(s, "| Strategy | {} |", describe_strategy(&a.strategy));
    let approval = if a.requires_approval {
        escape(&a.approval_reasons.join("; "))
    } else {
        "not required".into()
    };
    let _ = writeln!(s, "| Approval | {approval} |");
    let mut det = format!("{:.2}", a.deterministic_score);
    if let Some(f) = &a.floor {
        let _ = write!(det, " (floor {:.2} for {})", f.value, f.category.as_str());
    }
    let _ = writeln!(s, "| Deterministic score | {det} |");
    let _ = writeln!(s, "| Model | {} |", escape(&model_line(a)));
    let _ = writeln!(s, "| Trust | {} |", escape(&trust_line(a)));
    let st = &a.stats;
    let _ = writeln!(
        s,
        "| Size | {} files, +{} −{} lines |",
        st.files, st.lines_added, st.lines_deleted
    );
    let _ = writeln!(s, "\n{}", in_short(a));
    // The chart GitHub draws, beside the table it summarises.
    let chart = crate::chart::risk_factors_mermaid(a);
    if !chart.is_empty() {
        let _ = write!(s, "\n{chart}");
    }
    let _ = writeln!(
        s,
        "\n<details><summary>Factors behind the score</summary>\n"
    );
    let _ = writeln!(s, "| factor | contribution | evidence |\n|---|---:|---|");
    for f in &a.factors {
        let _ = writeln!(
            s,
            "| `{}` | {:+.2} | {} |",
            f.name,
            f.contribution,
            escape(&f.evidence)
        );
    }
    let _ = writeln!(s, "| `intercept` | {:+.2} | policy baseline |", a.intercept);
    let _ = writeln!(
        s,
        "\nContributions are in log-odds; score = 1 / (1 + e^−sum).\n\n</details>"
    );
    for w in &a.warnings {
        let _ = writeln!(s, "\n> ⚠️ {}", escape(w));
    }
    let _ = writeln!(
        s,
        "\n<sub>policy {} v{} ({})</sub>",
        a.policy.name, a.policy.version, a.policy.hash
    );
    s
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The "In short" paragraph: the model's rationale when it is grounded in the
/// assessment's numbers (the table above shows Rust's), else the template,
/// saying why the rationale was withheld. Markdown-escaped either way.
pub fn in_short(a: &Assessment) -> String {
    let facts = Facts::for_assessment(a);
    let n = match &a.llm.rationale {
        Some(r) => Narrative::check(Kind::Assessment, r, &facts),
        None => Narrative::template(Kind::Assessment, &facts),
    };
    let by = match n.by {
        By::Model => " (the model's words, checked against the numbers above)",
        By::Template => "",
    };
    let mut out = format!("**In short**{by}: {}", escape_inline(&n.text));
    if let Some(why) = &n.withheld {
        out.push_str(&format!("\n\n_{}._", escape_inline(why)));
    }
    out
}

/// Text shown literally in a Markdown paragraph: every character that could
/// start emphasis, a link, an image, HTML, a table cell or code is
/// backslash-escaped, and lines are joined.
pub fn escape_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_inline;

    #[test]
    fn markdown_from_the_model_shows_literally() {
        assert_eq!(
            escape_inline("[click](http://x) <b>*hi*</b>\n| ok"),
            "\\[click\\](http://x) \\<b\\>\\*hi\\*\\</b\\> \\| ok"
        );
    }
}
