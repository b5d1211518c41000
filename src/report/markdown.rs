//! The pull-request comment.

use std::fmt::Write;

use super::text::{model_line, trust_line};
use super::{describe_strategy, short};
use crate::assess::Assessment;
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
    if let Some(r) = &a.llm.rationale {
        let _ = writeln!(s, "\n> {}", escape(r));
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
