//! The checklist for people (aligned, marked, coloured only on a terminal
//! without `NO_COLOR`) and for machines (JSON).

use super::{DoctorReport, Status};

/// One line per check, then its fix indented under it, then a verdict.
pub fn render_text(report: &DoctorReport, colour: bool) -> String {
    let width = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in &report.checks {
        let (mark, code) = match c.status {
            Status::Ok => ("ok  ", "32"),
            Status::Warn => ("warn", "33"),
            Status::Fail => ("FAIL", "31"),
            Status::Skip => ("skip", "2"),
        };
        let mark = if colour {
            format!("\x1b[{code}m{mark}\x1b[0m")
        } else {
            mark.to_string()
        };
        out.push_str(&format!("{mark}  {:<width$}  {}\n", c.name, c.detail));
        if let (Some(fix), Status::Warn | Status::Fail) = (&c.fix, c.status) {
            out.push_str(&format!("      {:<width$}  fix: {fix}\n", ""));
        }
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let warned = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .count();
    out.push_str(&match (failed, warned) {
        (0, 0) => "\nready: every check passed\n".to_string(),
        (0, w) => format!("\nready, with {w} warning(s) above\n"),
        (f, _) => format!(
            "\nnot ready: {f} check(s) failed; fix them and run `deploy-agent doctor` again\n"
        ),
    });
    out
}

/// The report as JSON (`{"checks": [...], "ready": bool}`).
pub fn render_json(report: &DoctorReport) -> String {
    let value = serde_json::json!({ "checks": report.checks, "ready": !report.failed() });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Check;

    #[test]
    fn failures_show_their_fix_and_the_verdict_says_not_ready() {
        let report = DoctorReport {
            checks: vec![
                Check::new("config", Status::Ok, "deploy-agent.toml"),
                Check::new("web: target", Status::Fail, "no backend be_x").fix("fix the name"),
            ],
        };
        let text = render_text(&report, false);
        assert!(
            text.contains("FAIL  web: target  no backend be_x"),
            "{text}"
        );
        assert!(text.contains("fix: fix the name"), "{text}");
        assert!(text.contains("not ready: 1 check(s) failed"), "{text}");
        assert!(!text.contains('\x1b'), "no colour when asked for none");
        assert!(render_text(&report, true).contains("\x1b[31mFAIL"));
        let json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert_eq!(json["ready"], false);
        assert_eq!(json["checks"][1]["status"], "fail");
    }
}
