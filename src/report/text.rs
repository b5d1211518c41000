//! The terminal report.

use std::fmt::Write;

use super::{describe_strategy, short, utc_date};
use crate::assess::Assessment;
use crate::narrate::{By, Facts, Kind, Narrative};

pub fn text(a: &Assessment) -> String {
    let mut s = String::new();
    let base = a
        .base
        .as_deref()
        .map_or("the empty tree".to_string(), |b| short(b).to_string());
    let _ = writeln!(s, "deploy-agent assess {} (against {base})", short(&a.rev));
    let _ = writeln!(
        s,
        "  \"{}\" by {} <{}>, {}",
        a.commit.subject,
        a.commit.author,
        a.commit.email,
        utc_date(a.commit.time)
    );
    let _ = writeln!(s);
    let mut risk = format!(
        "{:.2}  {}  (deterministic {:.2}",
        a.risk_score,
        a.level.as_str().to_uppercase(),
        a.deterministic_score
    );
    if let Some(f) = &a.floor {
        let _ = write!(risk, "; floor {:.2} for {}", f.value, f.category.as_str());
    }
    risk.push(')');
    let _ = writeln!(s, "Risk      {risk}");
    let _ = writeln!(s, "Strategy  {}", describe_strategy(&a.strategy));
    let approval = if a.requires_approval {
        format!("required: {}", a.approval_reasons.join("; "))
    } else {
        "not required".to_string()
    };
    let _ = writeln!(s, "Approval  {approval}");
    let _ = writeln!(s, "Model     {}", model_line(a));
    if let Some(r) = &a.llm.rationale {
        // Shown as the model's only when grounded in the numbers above.
        let n = Narrative::check(Kind::Assessment, r, &Facts::for_assessment(a));
        match (n.by, &n.withheld) {
            (By::Model, _) => {
                let _ = writeln!(s, "          {}", n.text);
            }
            (By::Template, Some(why)) => {
                let _ = writeln!(s, "          ({why})");
            }
            (By::Template, None) => {}
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Factors (contribution in log-odds; + raises risk)");
    for f in &a.factors {
        let _ = writeln!(
            s,
            "  {:+6.2}  {:<20} {}",
            f.contribution, f.name, f.evidence
        );
    }
    let _ = writeln!(
        s,
        "  {:+6.2}  {:<20} policy baseline",
        a.intercept, "intercept"
    );
    let _ = writeln!(s);
    let st = &a.stats;
    let _ = writeln!(
        s,
        "Change    {} files, +{} −{} lines, {} directories, {} subsystems{}{}",
        st.files,
        st.lines_added,
        st.lines_deleted,
        st.directories,
        st.subsystems,
        if st.binary_files > 0 {
            format!(", {} binary", st.binary_files)
        } else {
            String::new()
        },
        if st.renames > 0 {
            format!(", {} renamed", st.renames)
        } else {
            String::new()
        },
    );
    let _ = writeln!(
        s,
        "History   {} ancestor commits read{}; calibration {} ({} reverts)",
        a.history.commits_read,
        if a.history.truncated {
            " (bounded)"
        } else {
            ""
        },
        a.calibration.status,
        a.calibration.reverts
    );
    let _ = writeln!(s, "Trust     {}", trust_line(a));
    let _ = writeln!(
        s,
        "Policy    {} v{} ({})",
        a.policy.name, a.policy.version, a.policy.hash
    );
    for w in &a.warnings {
        let _ = writeln!(s, "Warning   {w}");
    }
    s
}

/// Which model scored the change and how well it ranks this repository.
pub(super) fn trust_line(a: &Assessment) -> String {
    let m = &a.model;
    let mut line = match &m.how_well {
        Some(h) => format!(
            "this repository's model: ROC AUC {:.2} [{:.2}, {:.2}] ranking {} of its commits ({} later reverted; lines changed alone {:.2}), {}",
            h.auc, h.auc_low, h.auc_high, h.commits, h.reverted, h.lines_auc, h.method
        ),
        None => "the policy's weights".to_string(),
    };
    if let Some(hint) = &m.hint {
        line.push_str("; ");
        line.push_str(hint);
    }
    line
}

pub(super) fn model_line(a: &Assessment) -> String {
    match (a.llm.status.as_str(), a.llm.score) {
        ("used", Some(score)) => {
            let mut line = format!(
                "{} scored {score:.2}",
                a.llm.model.as_deref().unwrap_or("model")
            );
            if let Some(c) = &a.llm.clamped {
                line.push_str(&format!(" ({c})"));
            }
            line
        }
        ("off", _) => "off (--llm off)".into(),
        ("not_configured", _) => "not configured (set OPENAI_API_KEY or OPENAI_BASE_URL)".into(),
        (other, _) => format!("unavailable ({other}); deterministic score used"),
    }
}
